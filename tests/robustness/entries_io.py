"""Sweep entries of the file readers and writers and of the types between nodes:
:mod:`comfy_editloss.io.images`, :mod:`comfy_editloss.io.depth_files`, :mod:`comfy_editloss.types`,
:mod:`comfy_editloss.report.table` and :mod:`comfy_editloss.report.files`.

A path argument (:class:`PathArg`) gets the files a reader meets in the wild: missing, a folder, a
FIFO (reading one blocks forever), a symlink loop, ``/dev/zero`` (endless), an empty, a text and a
truncated file, and values that are not paths. A clear error for a bad file names the file. The
files live in one scratch folder made once per session and removed at exit.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import shutil
import stat
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from comfy_editloss.io import depth_files as D
from comfy_editloss.io import images as I
from comfy_editloss import types as T
from comfy_editloss.report import files as F
from comfy_editloss.report import table as R
from entries_edits import ImageArg
from sweep_kinds import Bool, Choice, Int, TensorArg, fresh, replaced
from sweep import Entry, Variant, close

SCRATCH = Path(tempfile.mkdtemp(prefix="editloss-sweep-io-"))
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)

IMAGE_IO, DEPTH_IO, TYPES = "comfy_editloss.io.images", "comfy_editloss.io.depth_files", "comfy_editloss.types"
TABLE, FILES = "comfy_editloss.report.table", "comfy_editloss.report.files"


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _same(expected):
    """A check: the result equals ``expected`` (plain values, arrays and tensors)."""

    def check(result) -> str | None:
        if isinstance(expected, (np.ndarray, torch.Tensor)):
            got = torch.as_tensor(np.asarray(result)).double()
            want = torch.as_tensor(np.asarray(expected)).double()
            return close(1e-6, 1e-6)(got, want)
        return None if result == expected else f"{result!r} where {expected!r} is expected"

    return check


# ---------------------------------------------------------------------------------------------
# Scratch files
# ---------------------------------------------------------------------------------------------


def _folder(name: str) -> Path:
    path = SCRATCH / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _special(path: Path, make) -> Path | None:
    """``path`` made by ``make(path)`` (a FIFO, a device, a symlink), or None where this system or
    user cannot make it (no FIFOs on Windows, devices only for root): its variants are then left out."""
    if os.path.lexists(path):
        return path
    try:
        make(path)
    except (AttributeError, NotImplementedError, OSError):
        return None
    return path


def _fifo(path: Path) -> Path | None:
    return _special(path, lambda p: os.mkfifo(p))


def _symlink(path: Path, target: str) -> Path | None:
    return _special(path, lambda p: os.symlink(target, p))


def _bad_files(suffix: str, like: Path | None) -> dict[str, Path]:
    """The bad files a reader must refuse by name, each with ``suffix`` (readers pick the format by it)."""
    folder = _folder(f"bad{suffix}")
    tag = suffix.lstrip(".") or "none"
    (folder / f"folder{suffix}").mkdir(exist_ok=True)
    (folder / f"empty{suffix}").write_bytes(b"")
    (folder / f"text{suffix}").write_text(f"not a {tag} file\n" * 4)
    made = {
        "missing": folder / f"missing{suffix}",
        "a folder": folder / f"folder{suffix}",
        "a FIFO": _fifo(folder / f"fifo{suffix}"),
        "a symlink loop": _symlink(folder / f"loop{suffix}", f"loop{suffix}"),
        "/dev/zero (through a symlink)": _symlink(folder / f"zero{suffix}", "/dev/zero") if os.path.exists("/dev/zero") else None,
        "an empty file": folder / f"empty{suffix}",
        "a text file": folder / f"text{suffix}",
    }
    made = {label: path for label, path in made.items() if path is not None}
    if like is not None:
        truncated = folder / f"truncated{suffix}"
        data = like.read_bytes()
        truncated.write_bytes(data[: max(1, len(data) // 2)])
        made["truncated"] = truncated
    return made


def _names_of(path: Any) -> tuple[str, ...]:
    if isinstance(path, (str, os.PathLike)) and str(path):
        return (str(path), Path(path).name)
    return ()


@dataclass
class PathArg:
    """A path to read: a ``str`` or ``os.PathLike`` naming an existing regular file (or folder).

    Attributes:
        suffixes: the suffixes the bad files get (one set of bad files for each).
        folder: the argument names a folder, not a file.
    """

    suffixes: tuple[str, ...] = ()
    folder: bool = False

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        path = Path(base[argument])
        out: list[Variant] = []

        def error(label: str, value: Any) -> None:
            out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "error", names=_names_of(value)))

        def valid(label: str, value: Any) -> None:
            out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "valid", _same_as_baseline(entry, base)))

        for label, value in (("None", None), ("an int", 3), ("bytes", bytes(path)), ("a list", [str(path)]), ("an empty string", ""), ("a NUL byte", str(path) + "\0")):
            error(label, value)
        suffixes = self.suffixes or (path.suffix,)
        for suffix in suffixes:
            for label, bad in _bad_files(suffix, None if self.folder or suffix != path.suffix else path).items():
                if self.folder and label == "a folder":
                    continue
                error(f"{label} ({suffix or 'no suffix'})", bad)
        if self.folder:
            error("a file", next(p for p in path.iterdir() if p.is_file()))
        valid("a str", str(path))
        link = _symlink(path.parent / f"link-to-{path.name}", path.name)
        if link is not None:
            valid("a symlink to it", link)
        return out


def _same_as_baseline(entry, base: dict):
    memo: dict = {}

    def check(result) -> str | None:
        if "value" not in memo:
            memo["value"] = entry.call(**fresh(base))
        expected = memo["value"]
        if isinstance(expected, torch.Tensor) or isinstance(expected, np.ndarray):
            return _same(expected)(result)
        if isinstance(expected, list) and expected and isinstance(expected[0], Path):
            return None if [p.name for p in result] == [p.name for p in expected] else f"{[p.name for p in result]} where {[p.name for p in expected]} is expected"
        return _same(expected)(result)

    return check


@dataclass
class TextArg:
    """A ``str`` option (a name, a label, text to parse)."""

    empty: str = "error"  # what "" must give: "error" or "valid"
    optional: bool = False
    names: tuple[str, ...] = ()

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        out = []
        bad: list[tuple[str, Any]] = [("an int", 3), ("bytes", b"name"), ("a list", ["name"]), ("True", True)]
        if not self.optional:
            bad.append(("None", None))
        if self.empty == "error":
            bad.append(("an empty string", ""))
        out += [Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "error", names=self.names) for label, value in bad]
        if self.empty == "valid":
            out.append(Variant(f"{argument}: an empty string", argument, replaced(base, argument, ""), "valid", lambda result: None))
        return out


# ---------------------------------------------------------------------------------------------
# comfy_editloss.io.images
# ---------------------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png16(path: Path, array: np.ndarray, colour_type: int) -> None:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit colour): colour type 2 = RGB."""
    height, width = array.shape[:2]
    rows = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b""))


def _bomb(path: Path) -> None:
    """A PNG whose header claims 60000 x 60000 pixels (a decompression bomb) with almost no data."""
    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b""))


IMAGES = _folder("images")
RGB = _rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
RGB_B = _rng(1).integers(0, 256, (5, 6, 3), dtype=np.uint8)
Image.fromarray(RGB).save(IMAGES / "a.png")
Image.fromarray(RGB_B).save(IMAGES / "b.png")
Image.fromarray(_rng(2).integers(0, 256, (4, 4, 3), dtype=np.uint8)).save(IMAGES / "small.png")
Image.fromarray(np.concatenate([RGB, np.full((5, 6, 1), 9, np.uint8)], -1), mode="RGBA").save(IMAGES / "rgba.png")
GREY16 = _rng(3).integers(0, 65536, (5, 6), dtype=np.uint16)
Image.fromarray(GREY16).save(IMAGES / "grey16.png")
RGB16 = _rng(4).integers(0, 65536, (5, 6, 3), dtype=np.uint16)
_png16(IMAGES / "rgb16.png", RGB16, 2)
_bomb(IMAGES / "bomb.png")
_float_nan = np.linspace(0, 1, 30, dtype=np.float32).reshape(5, 6)
_float_nan[2, 3] = np.nan
Image.fromarray(_float_nan, mode="F").save(IMAGES / "nan.tif")
Image.fromarray(_rng(5).integers(0, 256, (5, 6, 3), dtype=np.uint8)).save(IMAGES / "photo.jpg")


def _as_image(array: np.ndarray, scale: float) -> np.ndarray:
    array = array.astype(np.float64) / scale
    return (np.repeat(array[..., None], 3, -1) if array.ndim == 2 else array[..., :3])[None]


def _load_image_extra(base: dict):
    cases = [
        ("RGB: the file's values / 255", "a.png", _as_image(RGB, 255)),
        ("RGBA: the colours, alpha dropped", "rgba.png", _as_image(RGB, 255)),
        ("16-bit grey: / 65535", "grey16.png", _as_image(GREY16, 65535)),
    ]
    for label, name, expected in cases:
        yield Variant(label, "path", {"path": IMAGES / name}, "valid", _same(expected))
    rgb16 = IMAGES / "rgb16.png"
    yield Variant("16-bit colour: within one 8-bit step", "path", {"path": rgb16}, "valid",
                  lambda image: close(0, 1 / 255 + 1e-6)(image, torch.from_numpy(_as_image(RGB16, 65535))))
    yield Variant("a decompression bomb", "path", {"path": IMAGES / "bomb.png"}, "error", names=_names_of(IMAGES / "bomb.png"))
    yield Variant("a float image with NaN", "path", {"path": IMAGES / "nan.tif"}, "error", names=_names_of(IMAGES / "nan.tif"))


ENTRIES: list[Entry] = []
ENTRIES.append(Entry(f"{IMAGE_IO}.load_image", I.load_image, lambda: {"path": IMAGES / "a.png"}, dict(path=PathArg((".png", ".jpg"))), extra=_load_image_extra))
ENTRIES.append(Entry(f"{IMAGE_IO}.ImageReadError", note="the error (a ValueError) of an image file that cannot be read, naming the file"))
ENTRIES.append(Entry(f"{IMAGE_IO}.IMAGE_PATTERNS", note="the file patterns image_files looks for by default: a tuple of strings"))
ENTRIES.append(Entry(f"{IMAGE_IO}.SIZE_MISMATCH", note="the choices of load_image_batch's size_mismatch: a tuple of strings"))


@dataclass
class PathListArg:
    """A list of image files to read as one batch."""

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        paths = list(base[argument])
        bad = _bad_files(".png", paths[0])
        out = []
        for label, value in (("a single path (str)", str(paths[0])), ("a single Path", paths[0]), ("None", None), ("empty", []), ("a list with None", [paths[0], None]),
                             ("a list with an int", [paths[0], 3]), ("a set", set(paths))):
            out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "error"))
        for label, file in bad.items():
            out.append(Variant(f"{argument}: a list with {label}", argument, replaced(base, argument, [paths[0], file]), "error", names=_names_of(file)))
        out.append(Variant(f"{argument}: a tuple", argument, replaced(base, argument, tuple(paths)), "valid", _same_as_baseline(entry, base)))
        out.append(Variant(f"{argument}: strs", argument, replaced(base, argument, [str(p) for p in paths]), "valid", _same_as_baseline(entry, base)))
        return out


def _batch_extra(base: dict):
    expected = np.concatenate([_as_image(RGB, 255), _as_image(RGB_B, 255)])
    yield Variant("two images: their values in order", "paths", fresh(base), "valid", _same(expected))
    mixed = [IMAGES / "a.png", IMAGES / "small.png"]
    yield Variant("two sizes, size_mismatch error", "paths", {"paths": mixed, "size_mismatch": "error"}, "error", names=("small.png",))

    def resized(batch) -> str | None:
        if tuple(batch.shape) != (2, 5, 6, 3):
            return f"shape {tuple(batch.shape)}, expected the first image's (2, 5, 6, 3)"
        return _same(_as_image(RGB, 255))(batch[:1])

    yield Variant("two sizes, size_mismatch resize: the first image's size", "paths", {"paths": mixed, "size_mismatch": "resize"}, "valid", resized)


ENTRIES.append(Entry(
    f"{IMAGE_IO}.load_image_batch", I.load_image_batch, lambda: {"paths": [IMAGES / "a.png", IMAGES / "b.png"], "size_mismatch": "error"},
    dict(paths=PathListArg(), size_mismatch=Choice(I.SIZE_MISMATCH)), extra=_batch_extra,
))

GENERATIONS = _folder("generations")
for _name in ("gen_10.png", "gen_2.png", "Gen_1.JPG", ".hidden.png"):
    Image.fromarray(RGB).save(GENERATIONS / _name, format="PNG" if _name.lower().endswith("png") else "JPEG")
(GENERATIONS / "notes.txt").write_text("not an image")
(GENERATIONS / "sub.png").mkdir()
_fifo(GENERATIONS / "fifo.png")
_symlink(GENERATIONS / "loop.png", "loop.png")
_symlink(GENERATIONS / "broken.png", "missing.png")


@dataclass
class PatternsArg:
    """File patterns: ``"*.png;*.jpg"`` text or a sequence of patterns."""

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        out = []
        for label, value in (("None", None), ("an int", 3), ("bytes", b"*.png"), ("a list with an int", ["*.png", 3]), ("a dict", {"*.png": 1})):
            out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "error"))
        every = ["Gen_1.JPG", "gen_2.png", "gen_10.png"]
        for label, value, expected in (
            ("an empty string: the default patterns", "", every),
            ("an empty tuple: the default patterns", (), every),
            ("*.png", "*.png", ["gen_2.png", "gen_10.png"]),
            ("upper case *.PNG", "*.PNG", ["gen_2.png", "gen_10.png"]),
            ("a list", ["*.jpg"], ["Gen_1.JPG"]),
            ("commas and spaces", " *.png , *.jpg ", every),
        ):
            out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "valid", _file_names(expected)))
        return out


def _file_names(expected: list[str]):
    def check(files) -> str | None:
        names = [p.name for p in files]
        return None if names == expected else f"{names} where {expected} is expected"

    return check


ENTRIES.append(Entry(
    f"{IMAGE_IO}.image_files", I.image_files, lambda: {"folder": GENERATIONS, "patterns": I.IMAGE_PATTERNS},
    dict(folder=PathArg(folder=True), patterns=PatternsArg()),
    extra=lambda base: [Variant("the regular image files, in natural order", "folder", fresh(base), "valid", _file_names(["Gen_1.JPG", "gen_2.png", "gen_10.png"]))],
))


def _natural_extra(base: dict):
    names = ["gen_10", "Gen_2", "gen_1", "gen_2b", "x²", "a٣", "10", ""]
    yield Variant("sorting by it: numbers by value, letters without case", "name", {"name": "gen_10"}, "valid",
                  lambda _: (lambda got: None if got == ["", "10", "a٣", "gen_1", "Gen_2", "gen_2b", "gen_10", "x²"] else f"sorted as {got}")(sorted(names, key=I.natural_key)))
    for name in ("x²", "²", "a٣b"):
        yield Variant(f"{name!r}", "name", {"name": name}, "valid", lambda key: None if isinstance(key, list) else f"{key!r}")


ENTRIES.append(Entry(f"{IMAGE_IO}.natural_key", I.natural_key, lambda: {"name": "gen_10.png"}, dict(name=TextArg(empty="valid")), extra=_natural_extra))


# ---------------------------------------------------------------------------------------------
# comfy_editloss.io.depth_files
# ---------------------------------------------------------------------------------------------

DEPTHS = _folder("depths")
DEPTH = (2.0 + _rng(6).random((5, 6))).astype(np.float32)
DEPTH[1, 2] = np.nan  # a pixel without a value, kept as stored
np.save(DEPTHS / "d.npy", DEPTH)


def _pfm(path: Path, header: bytes, data: np.ndarray | bytes) -> None:
    path.write_bytes(header + (data if isinstance(data, bytes) else data.tobytes()))


def _depth_files() -> tuple[list, list]:
    """Valid files with the map they hold, and bad ones."""
    import OpenEXR  # noqa: PLC0415

    valid = []
    np.save(DEPTHS / "chw.npy", DEPTH[None])
    np.savez(DEPTHS / "named.npz", depth=DEPTH, other=np.zeros(3))
    np.savez(DEPTHS / "single.npz", DEPTH[..., None])
    _pfm(DEPTHS / "little.pfm", b"Pf\n6 5\n-1.0\n", np.flipud(DEPTH).astype("<f4"))
    _pfm(DEPTHS / "big.pfm", b"PF\n6 5\n1.0\n", np.flipud(np.stack([DEPTH, DEPTH * 0, DEPTH * 0], -1)).astype(">f4"))
    millimetres = (np.nan_to_num(DEPTH) * 1000).astype(np.uint16)
    Image.fromarray(millimetres).save(DEPTHS / "mm.png")
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, {"Z": DEPTH}).write(str(DEPTHS / "z.exr"))
    valid += [("chw.npy", DEPTH), ("named.npz", DEPTH), ("single.npz", DEPTH), ("little.pfm", DEPTH), ("big.pfm", DEPTH),
              ("mm.png", millimetres.astype(np.float32)), ("z.exr", DEPTH)]
    bad = []

    def add(name: str, make) -> None:
        make(DEPTHS / name)
        bad.append(name)

    add("3d.npy", lambda p: np.save(p, np.zeros((2, 3, 4), np.float32)))
    add("empty-map.npy", lambda p: np.save(p, np.zeros((0, 6), np.float32)))
    add("huge.npy", lambda p: np.save(p, np.full((5, 6), 1e300)))
    add("bool.npy", lambda p: np.save(p, np.zeros((5, 6), bool)))
    add("object.npy", lambda p: np.save(p, np.array([[None, 1]], dtype=object), allow_pickle=True))
    add("complex.npy", lambda p: np.save(p, np.zeros((5, 6), np.complex64)))
    add("npy-inside.npz", lambda p: p.write_bytes((DEPTHS / "d.npy").read_bytes()))
    add("two-arrays.npz", lambda p: np.savez(p, a=np.zeros((2, 2)), b=np.zeros((2, 2))))
    add("truncated.npz", lambda p: p.write_bytes((DEPTHS / "named.npz").read_bytes()[:200]))
    add("rgb.png", lambda p: Image.fromarray(RGB).save(p))
    add("bomb.png", _bomb)
    add("truncated-data.pfm", lambda p: _pfm(p, b"Pf\n6 5\n-1.0\n", np.zeros(7, "<f4")))
    add("bad-size.pfm", lambda p: _pfm(p, b"Pf\nsix five\n-1.0\n", np.zeros(30, "<f4")))
    add("bad-scale.pfm", lambda p: _pfm(p, b"Pf\n6 5\nabc\n", np.zeros(30, "<f4")))
    add("zero-scale.pfm", lambda p: _pfm(p, b"Pf\n6 5\n0\n", np.zeros(30, "<f4")))
    add("nan-scale.pfm", lambda p: _pfm(p, b"Pf\n6 5\nnan\n", np.zeros(30, "<f4")))
    add("non-ascii-scale.pfm", lambda p: _pfm(p, b"Pf\n6 5\n\xff\xfe\n", np.zeros(30, "<f4")))
    add("zero-size.pfm", lambda p: _pfm(p, b"Pf\n0 5\n-1.0\n", b""))
    add("no-newline.pfm", lambda p: p.write_bytes(b"Pf" + b" " * 100000))
    add("huge-size.pfm", lambda p: _pfm(p, b"Pf\n99999999 99999999\n-1.0\n", np.zeros(30, "<f4")))
    add("text.exr", lambda p: p.write_text("not an exr"))
    add("unsupported.tif", lambda p: p.write_text("II*"))
    add("no-suffix", lambda p: p.write_text("x"))
    return valid, bad


DEPTH_VALID, DEPTH_BAD = _depth_files()


def _depth_extra(base: dict):
    yield Variant("d.npy: the stored map, NaN kept", "path", fresh(base), "valid", _same(DEPTH))
    for name, expected in DEPTH_VALID:
        yield Variant(f"{name}: the stored map", "path", {"path": DEPTHS / name}, "valid", _same(expected))
    for name in DEPTH_BAD:
        yield Variant(name, "path", {"path": DEPTHS / name}, "error", names=(name,))


ENTRIES.append(Entry(
    f"{DEPTH_IO}.read_depth_file", D.read_depth_file, lambda: {"path": DEPTHS / "d.npy"}, dict(path=PathArg(D.DEPTH_EXTENSIONS)), extra=_depth_extra,
))
ENTRIES.append(Entry(f"{DEPTH_IO}.DEPTH_EXTENSIONS", note="the file types read_depth_file reads: a tuple of suffixes"))


# ---------------------------------------------------------------------------------------------
# comfy_editloss.types
# ---------------------------------------------------------------------------------------------


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@dataclass
class MappingArg:
    """A ``dict`` of settings."""

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        out = [Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "error") for label, value in (("None", None), ("a list", [("a", 1)]), ("a string", "a=1"))]
        out.append(Variant(f"{argument}: empty", argument, replaced(base, argument, {}), "valid", lambda result: None))
        return out


def _embedding(tensor, encoder, normalized):
    embedding = T.Embedding(tensor, encoder, normalized)
    return embedding.tensor, embedding.batch_size, embedding.grid, repr(embedding)


def _embedding_extra(base: dict):
    grid = {**fresh(base), "tensor": _randn(2, 3, 4, 5)}
    yield Variant("a grid [B, h, w, D]: its grid", "tensor", grid, "valid", lambda r: None if r[2] == (3, 4) and r[1] == 2 else f"grid {r[2]}, batch {r[1]}")
    yield Variant("a feature dim of 0", "tensor", {**fresh(base), "tensor": torch.zeros(2, 0)}, "error")


ENTRIES.append(Entry(
    f"{TYPES}.Embedding", _embedding, lambda: {"tensor": _randn(3, 8), "encoder": "pixels", "normalized": False},
    dict(tensor=TensorArg(batch_shared=False, names=("Embedding.tensor",)), encoder=TextArg(), normalized=Bool()), extra=_embedding_extra,
))


def _scores(name, values, lower_is_better, details):
    scores = T.Scores(name, values, lower_is_better, details)
    return scores.values, len(scores), scores.tolist(), str(scores)


def _scores_extra(base: dict):
    yield Variant("values beyond float32", "values", {**fresh(base), "values": torch.tensor([1.0, 1e300, 2.0], dtype=torch.float64)}, "error")
    yield Variant("values on the CPU as float32", "values", {**fresh(base), "values": base["values"].double().requires_grad_(True)}, "valid",
                  lambda r: None if r[0].dtype == torch.float32 and not r[0].requires_grad else f"{r[0].dtype}, requires_grad={r[0].requires_grad}")


ENTRIES.append(Entry(
    f"{TYPES}.Scores", _scores, lambda: {"name": "geometry_match", "values": torch.tensor([0.5, 0.25, 1.5]), "lower_is_better": True, "details": {"margin": 1.0}},
    dict(name=TextArg(names=("Scores.name",)), values=TensorArg(batch_shared=False, nan="allowed", min_dims=1, names=("Scores.values",)),
         lower_is_better=Bool(), details=MappingArg()),
    extra=_scores_extra,
))


def _depth(values, space, confidence, source):
    depth = T.Depth(values, space, confidence, source)
    return depth.values, depth.confidence, depth.batch_size, repr(depth)


def _depth_type_extra(base: dict):
    yield Variant("values beyond float32", "values", {**fresh(base), "values": base["values"].double() * 1e300}, "error")
    yield Variant("confidence [B, H, W]", "confidence", {**fresh(base), "confidence": base["confidence"][:, 0].clone()}, "error")
    yield Variant("no finite value", "values", {**fresh(base), "values": torch.full_like(base["values"], math.nan)}, "valid",
                  lambda r: None if "no finite value" in r[3] else r[3])


ENTRIES.append(Entry(
    f"{TYPES}.Depth", _depth,
    lambda: {"values": 1.0 + torch.rand(2, 1, 4, 5, generator=torch.Generator().manual_seed(7)), "space": "depth",
             "confidence": torch.rand(2, 1, 4, 5, generator=torch.Generator().manual_seed(8)), "source": "d.npy"},
    dict(values=TensorArg(nan="allowed", min_dims=4, names=("Depth.values",)), space=Choice(T.DEPTH_SPACES, ),
         confidence=TensorArg(optional=True, minimum=0.0, maximum=1.0, min_dims=4, names=("Depth.confidence",)), source=TextArg()),
    extra=_depth_type_extra,
))
for _name, _what in (("EMBEDDING_TYPE", "an embedding"), ("SCORES_TYPE", "per-sample scores"), ("DEPTH_TYPE", "a depth map")):
    ENTRIES.append(Entry(f"{TYPES}.{_name}", note=f"the ComfyUI socket type name of {_what}: a string"))
ENTRIES.append(Entry(f"{TYPES}.DEPTH_SPACES", note="the spaces a Depth may be in: a tuple of strings"))


# ---------------------------------------------------------------------------------------------
# comfy_editloss.report.table
# ---------------------------------------------------------------------------------------------


def _weights_extra(base: dict):
    for label, value, expected in (
        ("text with commas, semicolons and lines", "a=1; b = 0.5\nc=2,", {"a": 1.0, "b": 0.5, "c": 2.0}),
        ("None", None, {}),
        ("an empty string", "", {}),
        ("a mapping", {"a": 1, "b": 0.5}, {"a": 1.0, "b": 0.5}),
        ("a negative weight", "a=-1", {"a": -1.0}),
    ):
        yield Variant(f"text: {label}", "text", {"text": value}, "valid", _same(expected))
    for label, value in (
        ("no =", "a"), ("no name", "=1"), ("not a number", "a=x"), ("two =", "a=1=2"), ("twice", "a=1,a=2"), ("NaN", "a=nan"),
        ("Inf", "a=1e400"), ("a mapping to True", {"a": True}), ("a mapping to None", {"a": None}), ("a mapping to NaN", {"a": math.nan}),
        ("a mapping with an int name", {1: 1.0}), ("a mapping with an empty name", {"": 1.0}), ("a list", ["a=1"]), ("an int", 1), ("bytes", b"a=1"),
    ):
        yield Variant(f"text: {label}", "text", {"text": value}, "error", names=("weights",))


ENTRIES.append(Entry(f"{TABLE}.parse_weights", R.parse_weights, lambda: {"text": "geometry_match=0.5, no_edit_identity=1"}, {}, extra=_weights_extra))


def _labels_extra(base: dict):
    for label, text, count, expected in (
        ("one per line", "a\n b \n\nc", 3, ["a", "b", "c"]),
        ("commas", "a, b,c", 3, ["a", "b", "c"]),
        ("None: generation 1, 2...", None, 2, ["generation 1", "generation 2"]),
        ("empty: generation 1, 2...", "", 2, ["generation 1", "generation 2"]),
        ("a list", ["x", "y"], 2, ["x", "y"]),
        ("a tuple", ("x",), 1, ["x"]),
    ):
        yield Variant(f"text: {label}", "text", {"text": text, "count": count}, "valid", _same(expected))
    for label, text in (("too few", "a,b"), ("too many", "a,b,c,d"), ("an int", 3), ("a list with an int", ["a", 1, "c"]), ("a set", {"a", "b", "c"}), ("bytes", b"a,b,c")):
        yield Variant(f"text: {label}", "text", {"text": text, "count": 3}, "error", names=("labels",))


ENTRIES.append(Entry(f"{TABLE}.parse_labels", R.parse_labels, lambda: {"text": "a, b, c", "count": 3}, dict(count=Int(minimum=0)), extra=_labels_extra))


def _columns() -> list:
    return [T.Scores("no_edit_identity", torch.tensor([0.0, 1.4, 0.2])), T.Scores("geometry_match", torch.tensor([0.1, 1.0, 0.5])),
            T.Scores("clip", torch.tensor([0.3, 0.9, 0.1]), lower_is_better=False)]


def _score_table(how, labels, columns, weights, normalize, digits, images, thumb, per_row, panel=(340, 230), other=None):
    """The table's constructors (``from_scores`` or the dataclass itself), a merge, and every method a
    report uses."""
    table = R.ScoreTable.from_scores(columns, labels) if how == "from_scores" else R.ScoreTable(labels, columns)
    if other is not None:
        table = table.merged(other)
    total = table.weighted_total(weights, normalize)
    picture = table.render_table(images, total, thumb)
    chart = table.render_chart(total, panel, per_row)
    return {
        "labels": list(table.labels), "total": total.values, "ranking": table.ranking(total), "best": [table.best(c) for c in table.columns],
        "json": table.to_json(total), "csv": table.to_csv(total), "text": table.format_text(total, digits),
        "picture": torch.from_numpy(picture), "chart": torch.from_numpy(chart),
    }


def _table_valid() -> dict:
    return {"how": "from_scores", "labels": "correct, no edit, distorted", "columns": _columns(), "weights": "no_edit_identity=1, geometry_match=0.5, clip=1",
            "normalize": "none", "digits": 4, "images": torch.rand(3, 6, 7, 3, generator=torch.Generator().manual_seed(9)), "thumb": 16, "per_row": 2}


@dataclass
class ColumnsArg:
    """The scores of a table: a list of Scores of one length."""

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        columns = base[argument]
        out = []
        for label, value in (
            ("None", None), ("one Scores, not a list", columns[0]), ("empty", []), ("a tensor in it", [columns[0], torch.zeros(3)]),
            ("lengths differ", [columns[0], T.Scores("short", torch.tensor([1.0, 2.0]))]), ("a string", "scores"),
        ):
            out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "error", names=("scores",)))
        repeated = replaced(base, argument, [columns[0], columns[0]])
        repeated["weights"] = None
        out.append(Variant(f"{argument}: one name twice", argument, repeated, "valid",
                           lambda r: None if list(r["json"]["scores"])[:2] == ["no_edit_identity", "no_edit_identity_2"] else f"names {list(r['json']['scores'])}"))
        out.append(Variant(f"{argument}: a tuple", argument, replaced(base, argument, tuple(columns)), "valid", _same_table(entry, base)))
        return out


def _same_table(entry, base: dict):
    memo: dict = {}

    def check(result) -> str | None:
        if "value" not in memo:
            memo["value"] = entry.call(**fresh(base))
        expected = memo["value"]
        for key in ("labels", "ranking", "best", "json", "csv", "text"):
            if result[key] != expected[key]:
                return f"{key}: {result[key]!r} where {expected[key]!r} is expected"
        return close(1e-6, 1e-6)(result["total"], expected["total"])

    return check


def _nan_ranks_last(result) -> str | None:
    ranking = result["ranking"]
    return None if ranking[-1] == 1 else f"ranking {ranking}: the generation with a NaN score is not last"


def _table_extra(base: dict):
    direct = {**fresh(base), "how": "direct", "labels": ["correct", "no edit", "distorted"], "weights": "no_edit_identity=1, geometry_match=0.5, clip=1"}
    yield Variant("the dataclass itself: as from_scores", "how", direct, "valid", _same_table(_ENTRY_TABLE, base))
    for label, labels, columns in (
        ("labels a string", "a,b,c", _columns()), ("labels with an int", ["a", 2, "c"], _columns()), ("labels None", None, _columns()),
        ("columns of another length", ["a", "b"], _columns()), ("columns None", ["a", "b", "c"], None), ("a tensor column", ["a", "b", "c"], [torch.zeros(3)]),
    ):
        yield Variant(f"the dataclass: {label}", "labels" if "labels" in label else "columns", {**fresh(base), "how": "direct", "labels": labels, "columns": columns},
                      "error", names=("labels", "columns"))
    expected_total = torch.tensor([0.0 + 0.05 - 0.3, 1.4 + 0.5 - 0.9, 0.2 + 0.25 - 0.1], dtype=torch.float64)
    yield Variant("weighted total: the weighted sum", "weights", fresh(base), "valid", lambda r: close(1e-6, 1e-6)(r["total"], expected_total))
    for normalize in R.NORMALIZATIONS:
        with_nan = fresh(base)
        with_nan["normalize"] = normalize
        with_nan["columns"] = [T.Scores("no_edit_identity", torch.tensor([0.0, math.nan, 0.2])), *_columns()[1:]]
        yield Variant(f"normalize {normalize}: a NaN score ranks last", "normalize", with_nan, "valid", _nan_ranks_last)
    for label, images in (("images of another batch", torch.rand(2, 6, 7, 3)), ("images with NaN", torch.full((3, 6, 7, 3), math.nan)),
                          ("images above 1", torch.full((3, 6, 7, 3), 2.0)), ("images [B, C, H, W]", torch.rand(3, 3, 6, 7)), ("images a list", [[0.0]])):
        yield Variant(label, "images", {**fresh(base), "images": images}, "error")
    yield Variant("no images", "images", {**fresh(base), "images": None}, "valid", lambda r: None)
    for label, digits in (("digits 0", 0), ("digits 2.5", 2.5), ("digits True", True), ("digits None", None)):
        yield Variant(label, "digits", {**fresh(base), "digits": digits}, "error")
    for label, thumb in (("thumb 0", 0), ("thumb 2.5", 2.5), ("thumb None", None)):
        yield Variant(label, "thumb", {**fresh(base), "thumb": thumb}, "error")
    for label, per_row in (("per_row 0", 0), ("per_row 2.5", 2.5), ("per_row None", None)):
        yield Variant(label, "per_row", {**fresh(base), "per_row": per_row}, "error")
    yield Variant("weights naming an unknown score", "weights", {**fresh(base), "weights": "nope=1"}, "error")
    for label, panel in (("panel too small", (50, 50)), ("panel of floats", (340.5, 230)), ("panel a string", "big"), ("panel None", None)):
        yield Variant(label, "panel", {**fresh(base), "panel": panel}, "error")
    yield Variant("panel (200, 150): charts of that size", "panel", {**fresh(base), "panel": (200, 150)}, "valid",
                  lambda r: None if r["chart"].shape[1] == 2 * 200 else f"chart {tuple(r['chart'].shape)}")
    for label, other in (("merging a string", "table"), ("merging a table of two generations", R.ScoreTable(["a", "b"], [T.Scores("x", torch.ones(2))]))):
        yield Variant(label, "other", {**fresh(base), "other": other}, "error")
    merged = {**fresh(base), "other": R.ScoreTable(["a", "b", "c"], [T.Scores("clip", torch.tensor([0.5, 0.2, 0.9]))]), "weights": None}
    yield Variant("merging a table: its columns added, a repeated name numbered", "other", merged, "valid",
                  lambda r: None if list(r["json"]["scores"]) == ["no_edit_identity", "geometry_match", "clip", "clip_2", "weighted_total"] else f"{list(r['json']['scores'])}")


@dataclass
class LabelsArg:
    """The generations' names as ``from_scores`` takes them: text, a list, or None."""

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        out = [Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "error")
               for label, value in (("too few", "a, b"), ("an int", 3), ("a list of ints", [1, 2, 3]))]
        out.append(Variant(f"{argument}: None", argument, replaced(base, argument, None), "valid",
                           lambda r: None if r["labels"] == ["generation 1", "generation 2", "generation 3"] else f"labels {r['labels']}"))
        out.append(Variant(f"{argument}: a list", argument, replaced(base, argument, ["correct", "no edit", "distorted"]), "valid", _same_table(entry, base)))
        return out


_ENTRY_TABLE = Entry(
    f"{TABLE}.ScoreTable", _score_table, _table_valid,
    dict(labels=LabelsArg(), columns=ColumnsArg(), weights=TextArg(optional=True, empty="valid"), normalize=Choice(R.NORMALIZATIONS),
         digits=Int(minimum=1), thumb=Int(minimum=1), per_row=Int(minimum=1), images=ImageArg(batch_one=False, optional=True, half=False)),
    extra=_table_extra,
)
ENTRIES.append(_ENTRY_TABLE)


def _json_extra(base: dict):
    data = {"generations": ["a", "é"], "scores": {"x": {"values": [1.0, None]}}, "n": 3}
    yield Variant("nested values and non-ASCII: JSON that reads back", "data", {"data": data}, "valid",
                  lambda text: None if json.loads(text) == data and text.endswith("\n") and "é" in text else text)
    circular: dict = {}
    circular["self"] = circular
    for label, value in (("NaN in it", {"a": math.nan}), ("Inf in it", {"a": [math.inf]}), ("a tensor in it", {"a": torch.zeros(2)}), ("circular", circular),
                         ("a list", [1, 2]), ("None", None), ("a string", "{}")):
        yield Variant(f"data: {label}", "data", {"data": value}, "error")


ENTRIES.append(Entry(f"{TABLE}.table_json_text", R.table_json_text, lambda: {"data": {"a": 1}}, {}, extra=_json_extra))
ENTRIES.append(Entry(f"{TABLE}.NORMALIZATIONS", note="the choices of ScoreTable.weighted_total's normalize: a tuple of strings"))
ENTRIES.append(Entry(f"{TABLE}.TOTAL", note="the name of the weighted total's column: a string"))


# ---------------------------------------------------------------------------------------------
# comfy_editloss.report.files
# ---------------------------------------------------------------------------------------------

OUTPUT = _folder("output")
(OUTPUT / "a-file").write_text("x")
# Not the real /dev/zero: a file write must never get near one that matters.
SPECIAL_OUTPUTS = {
    "a-file": OUTPUT / "a-file",
    "fifo": _fifo(OUTPUT / "fifo"),
    "device": _special(OUTPUT / "device", lambda p: os.mknod(p, stat.S_IFCHR | 0o666, os.makedev(1, 5))),
    "loop": _symlink(OUTPUT / "loop", "loop"),
}
SPECIAL_OUTPUTS = {label: path for label, path in SPECIAL_OUTPUTS.items() if path is not None}


@dataclass
class FolderArg:
    """A folder to write in: a ``str`` or ``os.PathLike``; a missing one is created."""

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        out = []
        for label, value in (("None", None), ("an int", 3), ("bytes", b"output"), ("an empty string", ""), ("a NUL byte", f"{OUTPUT}/x\0")):
            out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "error", names=_names_of(value)))
        for label, value in SPECIAL_OUTPUTS.items():
            out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "error", names=_names_of(value)))
        return out


def _numbered(prefix, output_dir, width, height):
    return F.numbered_path(prefix, output_dir, width, height)


def _numbered_extra(base: dict):
    root = _folder("numbered")
    (root / "editloss").mkdir(exist_ok=True)
    for name in ("scores_00007_.json", "scores_00003_.csv", "scores_x_.json", "other_00099_.json"):
        (root / "editloss" / name).write_text("")
    yield Variant("the next counter after the largest", "prefix", {**fresh(base), "prefix": "editloss/scores", "output_dir": root}, "valid",
                  _same((root / "editloss", "scores", 8, "editloss")))
    yield Variant("%width% and %height%", "prefix", {**fresh(base), "prefix": "run_%width%x%height%", "output_dir": root, "width": 64, "height": 32}, "valid",
                  lambda r: None if r[1] == "run_64x32" else f"stem {r[1]!r}")
    fresh_root = root / "new" / "deeper"
    yield Variant("a missing output folder is created", "output_dir", {**fresh(base), "output_dir": fresh_root}, "valid",
                  lambda r: None if r[0].is_dir() and r[2] == 1 else f"{r}")
    for label, prefix in (("outside the output folder", "../escape"), ("absolute", "/tmp/escape"), ("empty", ""),
                          ("a NUL byte", "a\0b"), ("the output folder itself", ".")):
        yield Variant(f"prefix: {label}", "prefix", {**fresh(base), "prefix": prefix}, "error", names=("filename_prefix",))


ENTRIES.append(Entry(
    f"{FILES}.numbered_path", _numbered, lambda: {"prefix": "editloss/scores", "output_dir": OUTPUT / "numbered", "width": 0, "height": 0},
    dict(prefix=TextArg(names=("filename_prefix",)), output_dir=FolderArg(), width=Int(minimum=0), height=Int(minimum=0)), extra=_numbered_extra,
))


def _written(arguments: dict):
    def check(path) -> str | None:
        text = Path(path).read_text(encoding="utf-8")
        return None if text == arguments["text"] and Path(path).is_file() else f"{text!r} in {path}"

    return check


@dataclass
class WritePathArg:
    """A file to write: a ``str`` or ``os.PathLike`` whose folder exists or can be made."""

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        out = []
        cases = [("None", None), ("an int", 3), ("bytes", b"scores.json"), ("an empty string", ""), ("a NUL byte", f"{OUTPUT}/x\0.json"),
                 ("a folder", OUTPUT), ("in a file", OUTPUT / "a-file" / "x.json")]
        for label, special in (("a FIFO", "fifo"), ("a device", "device"), ("a symlink loop", "loop")):
            if special in SPECIAL_OUTPUTS:
                cases += [(label, SPECIAL_OUTPUTS[special]), (f"in {label}", SPECIAL_OUTPUTS[special] / "x.json")]
        for label, value in cases:
            out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "error", names=_names_of(value)))
        for label, value in (("a str", str(OUTPUT / "str.json")), ("in a missing folder", OUTPUT / "made" / "x.json"), ("an existing file", OUTPUT / "existing.json")):
            arguments = replaced(base, argument, value)
            out.append(Variant(f"{argument}: {label}", argument, arguments, "valid", _written(arguments)))
        return out


(OUTPUT / "existing.json").write_text("old")
ENTRIES.append(Entry(
    f"{FILES}.write_atomic", F.write_atomic, lambda: {"path": OUTPUT / "atomic" / "scores.json", "text": "{\"é\": 1}\n", "exclusive": False},
    dict(path=WritePathArg(), text=TextArg(empty="valid"), exclusive=Bool()),
    extra=lambda base: [Variant("the text is written", "text", fresh(base), "valid", _written(base))],
))


@dataclass
class TextsArg:
    """Texts by file extension: ``{"json": ..., "csv": ...}``."""

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        out = []
        for label, value in (("None", None), ("a list", ["{}"]), ("a string", "{}"), ("empty", {}), ("a non-str text", {"json": "{}", "csv": 3}),
                             ("an extension with a slash", {"../json": "{}"}), ("an empty extension", {"": "{}"}), ("an int extension", {1: "{}"})):
            out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "error"))
        return out


def _numbered_files(arguments: dict):
    def check(paths) -> str | None:
        folder = Path(arguments["folder"])
        if [p.parent for p in paths] != [folder] * len(arguments["texts"]):
            return f"written to {[str(p.parent) for p in paths]}"
        counters = {p.name.split("_")[-2] for p in paths}
        if len(counters) != 1 or int(counters.pop()) < arguments["counter"]:
            return f"names {[p.name for p in paths]}"
        if [p.read_text() for p in paths] != list(arguments["texts"].values()):
            return "contents differ"
        return None

    return check


def _write_numbered_extra(base: dict):
    yield Variant("the files, one counter, their texts", "texts", fresh(base), "valid", _numbered_files(base))
    for label, stem in (("a slash", "a/b"), ("..", ".."), ("a parent", "../x")):
        yield Variant(f"stem: {label}", "stem", {**fresh(base), "stem": stem}, "error")
    yield Variant("folder: a missing one", "folder", {**fresh(base), "folder": OUTPUT / "numbered-new"}, "valid", _numbered_files({**base, "folder": OUTPUT / "numbered-new"}))


ENTRIES.append(Entry(
    f"{FILES}.write_numbered", F.write_numbered, lambda: {"folder": OUTPUT / "numbered-files", "stem": "scores", "counter": 1, "texts": {"json": "{}", "csv": "a\n"}},
    dict(folder=FolderArg(), stem=TextArg(), counter=Int(minimum=0), texts=TextsArg()), extra=_write_numbered_extra,
))
