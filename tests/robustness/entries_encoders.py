"""Sweep entries of :mod:`comfy_editloss.encoders`: the weight-free encoders, preprocessing, the
encoder classes, the loaders of open_clip and timm weights and the checkpoint readers.

The argument kinds that :mod:`kinds` lacks are defined here (IMAGEs, preprocessing configs, files and
model names, devices, models, callbacks, names); :mod:`entries_depth` uses them too. Models are tiny
(an open_clip ViT of one 32-wide block, timm's ``test_vit``, a DINOv2 ViT-S/14 seeing a patch or two) and
are built once, on first use; their files live in one temporary folder removed at exit.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import json
import math
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import save_file

from comfy_editloss import encoders as E
from sweep_kinds import Bool, Choice, Int, Number, TensorArg, fresh, replaced
from sweep import Entry, Variant, close, equal_to_reference, tensors_in

MODULE = "comfy_editloss.encoders"


def _rand(*shape, seed=0, dtype=torch.float32):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Scratch files (one folder per session, removed at exit)
# ---------------------------------------------------------------------------------------------


@functools.cache
def scratch() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="editloss_sweep_"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def scratch_path(name: str) -> Path:
    path = scratch() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save_weights(state: dict, name: str) -> Path:
    """``state`` saved under ``name`` (safetensors or torch.save by the suffix), once."""
    path = scratch_path(name)
    if not path.exists():
        if path.suffix == ".safetensors":
            save_file({k: v.contiguous() for k, v in state.items()}, str(path))
        else:
            torch.save(state, path)
    return path


def _weights_file_in(path: Path) -> Path:
    if path.is_file():
        return path
    return max((p for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".pt", ".pth")), key=lambda p: p.stat().st_size)


@functools.cache
def _special_files() -> dict[str, Path]:
    """Paths that are no weights file: each must be refused by name, none may hang."""
    folder = scratch() / "special"
    folder.mkdir()
    paths = {
        "missing": folder / "missing.safetensors",
        "an empty folder": folder / "empty_folder.pth",
        "a FIFO": folder / "fifo.pth",
        "a symlink loop": folder / "loop.pth",
        "an empty file": folder / "empty.safetensors",
        "a text file": folder / "notes.pth",
        "a text file named .safetensors": folder / "notes.safetensors",
        "a pickle of no tensors": folder / "numbers.pt",
    }
    paths["an empty folder"].mkdir()
    os.mkfifo(paths["a FIFO"])
    paths["a symlink loop"].symlink_to(paths["a symlink loop"])
    paths["an empty file"].write_bytes(b"")
    paths["a text file"].write_text("not weights\n" * 50)
    paths["a text file named .safetensors"].write_text("not weights\n" * 50)
    torch.save({"epoch": 3, "lr": [0.1, 0.01]}, paths["a pickle of no tensors"])
    if Path("/dev/zero").exists():
        paths["/dev/zero"] = Path("/dev/zero")
    return paths


def truncated_copy(path: Path) -> Path:
    """A copy of a weights file (or of a folder with its weights file) cut to its first half, at most
    1000 bytes."""
    target = scratch_path(f"truncated/{path.name}")
    if not target.exists():
        if path.is_dir():
            shutil.copytree(path, target)
            weights = _weights_file_in(target)
            with open(weights, "r+b") as handle:
                handle.truncate(min(1000, weights.stat().st_size // 2))
        else:
            with open(path, "rb") as handle:
                target.write_bytes(handle.read(min(1000, path.stat().st_size // 2)))
    return target


# ---------------------------------------------------------------------------------------------
# Argument kinds
# ---------------------------------------------------------------------------------------------


def _error(argument, base, label, value, names=()):
    return Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "error", names=tuple(names))


def _valid(entry, argument, base, label, value, check=None, names=()):
    arguments = replaced(base, argument, value)
    return Variant(f"{argument}: {label}", argument, arguments, "valid", check or equal_to_reference(entry, arguments), names=tuple(names))


def _same_as_baseline(entry, base):
    return equal_to_reference(entry, fresh(base))


@dataclass
class ImageArg:
    """A ComfyUI IMAGE ``[B, H, W, C]``, C = 3 (or 1, grey), values in [0, 1].

    Besides a tensor's variants (:class:`kinds.TensorArg` with the range [0, 1]): channels first,
    RGBA, two channels and empty sides are refused; a grey image, all ones and the smallest image
    the call takes (``min_size`` pixels a side) must give the float64 result.
    """

    min_size: int = 1
    batch_shared: bool = False

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        x = base[argument].detach()
        out = TensorArg(batch_shared=self.batch_shared, minimum=0.0, maximum=1.0, min_dims=4).variants(argument, base, entry)
        assert x.shape[2] not in (1, 3), "the base image's width must not look like a channel count"
        out.append(_error(argument, base, "channels first [B, 3, H, W]", x.permute(0, 3, 1, 2).contiguous()))
        out.append(_error(argument, base, "4 channels (RGBA)", torch.cat([x, x[..., :1]], dim=-1)))
        out.append(_error(argument, base, "2 channels", x[..., :2].clone()))
        out.append(_error(argument, base, "height 0", x[:, :0].clone()))
        out.append(_error(argument, base, "width 0", x[:, :, :0].clone()))
        out.append(_valid(entry, argument, base, "grey [B, H, W, 1]", x[..., :1].clone()))
        out.append(_valid(entry, argument, base, "ones", torch.ones_like(x)))
        smallest = x[:, : self.min_size, : self.min_size].clone()
        out.append(_valid(entry, argument, base, f"{self.min_size}x{self.min_size}", smallest))
        if self.min_size > 1:
            out.append(_error(argument, base, f"{self.min_size - 1} rows", x[:, : self.min_size - 1].clone()))
        return out


@dataclass
class ConfigArg:
    """A :class:`PreprocessConfig`. ``optional``: ``None`` means the encoder's own, which the
    valid call passes explicitly, so ``None`` must give the same result."""

    optional: bool = False
    names: tuple[str, ...] = ()

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        config = base[argument]
        out = [
            _error(argument, base, "a dict", {"size": 8}, self.names),
            _error(argument, base, "a string", "shortest", self.names),
            _error(argument, base, "0", 0, self.names),
        ]
        if self.optional:
            out.append(Variant(f"{argument}: None", argument, replaced(base, argument, None), "valid", _same_as_baseline(entry, base), self.names))
        else:
            out.append(_error(argument, base, "None", None, self.names))
        if config is not None:
            out.append(Variant(f"{argument}: an equal copy", argument, replaced(base, argument, dataclasses.replace(config)), "valid", _same_as_baseline(entry, base), self.names))
        return out


@dataclass
class TripleArg:
    """Three finite numbers, one per RGB channel (``positive``: each > 0)."""

    positive: bool = False

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        a, b, c = base[argument]
        bad = [
            ("two numbers", (a, b)), ("four numbers", (a, b, c, c)), ("a string", "abc"), ("strings", (str(a), str(b), str(c))),
            ("a bool inside", (True, b, c)), ("NaN inside", (a, math.nan, c)), ("Inf inside", (a, b, math.inf)), ("None", None), ("a number", 0.5),
        ]
        if self.positive:
            bad += [("a zero inside", (a, 0.0, c)), ("a negative inside", (-a, b, c))]
        out = [_error(argument, base, label, value) for label, value in bad]
        out.append(Variant(f"{argument}: a list", argument, replaced(base, argument, [a, b, c]), "valid", _same_as_baseline(entry, base)))
        out.append(Variant(f"{argument}: a tensor", argument, replaced(base, argument, torch.tensor([a, b, c], dtype=torch.float64)), "valid", _same_as_baseline(entry, base)))
        return out


@dataclass
class TextArg:
    """A name (a string). ``unknown``: a string that names nothing and must be refused."""

    unknown: str | None = None

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        bad: list[tuple[str, Any]] = [("None", None), ("a number", 1), ("bytes", str(base[argument]).encode())]
        if self.unknown is not None:
            bad.append(("unknown", self.unknown))
        return [_error(argument, base, label, value) for label, value in bad]


HUB_NAME = "timm/vit_small_patch14_dinov2.lvd142m"


@dataclass
class FileArg:
    """The path of a weights file (or of a hub folder, when the valid value is one).

    Refused: a missing file, an empty folder, a FIFO, a symlink loop, an empty file, text files, a
    pickle of no tensors, a truncated copy of the valid file, ``/dev/zero``, a model hub's name (no
    download), ``other()`` (the weights of another model, when given), ``None`` and a number. A clear
    error names the argument or the path it was given (the file named is the input named). The valid
    path as a string and a symlink to it must give the same result."""

    other: Callable[[], Path] | None = None

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        path = Path(base[argument])
        out = [_error(argument, base, label, special, names=(str(special),)) for label, special in _special_files().items()]
        truncated = truncated_copy(path)
        out.append(_error(argument, base, "truncated", truncated, names=(str(truncated),)))
        out.append(_error(argument, base, "a hub name", HUB_NAME, names=(HUB_NAME,)))
        if self.other is not None:
            other = self.other()
            out.append(_error(argument, base, "another model's weights", other, names=(str(other),)))
        out += [_error(argument, base, "None", None), _error(argument, base, "a number", 3)]
        link = scratch_path(f"links/{path.name}")
        if not link.exists():
            link.symlink_to(path.resolve())
        out.append(_valid(entry, argument, base, "a string", str(path), _same_as_baseline(entry, base)))
        out.append(_valid(entry, argument, base, "a symlink to it", link, _same_as_baseline(entry, base)))
        return out


@dataclass
class DeviceArg:
    """Where a model goes: a ``torch.device`` or its string. Refused: no device name, a GPU that
    is not there, an int, ``None`` and ``meta`` (no values to run on)."""

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        absent = f"cuda:{torch.cuda.device_count()}"
        bad = [("not a device", "gpu"), ("an absent GPU", absent), ("an int", 0), ("None", None), ("meta", "meta"), ("a list", ["cpu"])]
        out = [_error(argument, base, label, value) for label, value in bad]
        out.append(_valid(entry, argument, base, "a torch.device", torch.device(base[argument]), _same_as_baseline(entry, base)))
        if torch.cuda.is_available():
            out.append(_valid(entry, argument, base, "cuda", "cuda", equal_to_reference(entry, fresh(base), entry_compare(entry, rtol=1e-3, atol=1e-4))))
        return out


def entry_compare(entry, rtol, atol):
    """The entry's comparison (results turned into tensors by its ``result_tensors``) at a tolerance."""
    tensors = entry.result_tensors or tensors_in
    inner = close(rtol=rtol, atol=atol)
    return lambda result, reference: inner(tensors(result), tensors(reference))


@dataclass
class ModelArg:
    """A model object. Refused: ``None``, a string and ``wrong()`` (a module of another kind)."""

    wrong: Callable[[], Any]

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        bad = [("None", None), ("a string", "model"), ("a module of another kind", self.wrong())]
        return [_error(argument, base, label, value) for label, value in bad]


@dataclass
class CallbackArg:
    """An optional callback: ``None`` is valid (the same result); what cannot be called is refused."""

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        out = [_error(argument, base, "a string", "print"), _error(argument, base, "a number", 1)]
        out.append(Variant(f"{argument}: None", argument, replaced(base, argument, None), "valid", _same_as_baseline(entry, base)))
        return out


@dataclass
class ModelNameArg:
    """A model's name for :func:`find_model_file`: a path, or a name looked up in the folders.
    A folder is a valid find (a hub folder); a FIFO, a device file, an empty name and what is not
    there are refused."""

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        specials = _special_files()
        out = [_error(argument, base, label, value) for label, value in (("None", None), ("a number", 3), ("empty", ""))]
        for label in ("missing", "a FIFO", "a symlink loop", "/dev/zero"):
            if label in specials:
                out.append(_error(argument, base, label, str(specials[label]), names=(str(specials[label]),)))
        out.append(_error(argument, base, "a missing name", "nowhere.safetensors", names=("nowhere.safetensors",)))
        found = entry.call(**fresh(base))
        out.append(_valid(entry, argument, base, "a Path", Path(base[argument]), _same_as_baseline(entry, base)))
        out.append(_valid(entry, argument, base, "the absolute path", str(found), lambda r, found=found: None if r == found else f"{r} != {found}"))
        folder = specials["an empty folder"]
        out.append(_valid(entry, argument, base, "a folder", str(folder), lambda r, folder=folder: None if r == folder else f"{r} != {folder}"))
        return out


@dataclass
class FoldersArg:
    """Folders to search: any iterable of paths. A single string (which would be searched letter by
    letter), ``None`` and entries that are no path are refused."""

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        folders = list(base[argument])
        bad = [("a string", str(folders[-1])), ("None", None), ("None inside", [None, *folders]), ("a number inside", [3, *folders])]
        out = [_error(argument, base, label, value) for label, value in bad]
        same = _same_as_baseline(entry, base)
        out.append(Variant(f"{argument}: a tuple", argument, replaced(base, argument, tuple(folders)), "valid", same))
        out.append(Variant(f"{argument}: a generator", argument, replaced(base, argument, (f for f in folders)), "valid", same))
        out.append(Variant(f"{argument}: a missing folder first", argument, replaced(base, argument, [scratch() / "absent", *folders]), "valid", same))
        return out


# ---------------------------------------------------------------------------------------------
# Models (tiny, built once)
# ---------------------------------------------------------------------------------------------

CLIP_MODEL_CFG = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16}}


@functools.cache
def clip_hub_folder() -> Path:
    """A hub folder (``open_clip_config.json`` + weights) of a one-block open_clip ViT with random weights."""
    from open_clip.model import _build_vision_tower  # noqa: PLC0415

    folder = scratch_path("clip_hub")
    folder.mkdir()
    torch.manual_seed(0)
    tower = _build_vision_tower(CLIP_MODEL_CFG["embed_dim"], dict(CLIP_MODEL_CFG["vision_cfg"])).eval()
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": CLIP_MODEL_CFG, "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}))
    save_file({"visual." + k: v.contiguous() for k, v in tower.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return folder


@functools.cache
def clip_encoder():
    return E.load_open_clip_encoder("", clip_hub_folder(), precision="fp32")


@functools.cache
def timm_test_vit_file() -> Path:
    import timm  # noqa: PLC0415

    torch.manual_seed(0)
    model = timm.create_model("test_vit", pretrained=False, num_classes=0, dynamic_img_size=True)
    return save_weights(model.state_dict(), "test_vit.safetensors")


@functools.cache
def dinov2_model():
    """timm's DINOv2 ViT-S/14 (without registers: Meta's position rule) with random weights."""
    import timm  # noqa: PLC0415

    torch.manual_seed(0)
    return timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0, dynamic_img_size=True).eval().requires_grad_(False)


def with_nan_weight(path: Path) -> Path:
    """A copy of a weights file (or folder) with one NaN in its first floating-point tensor."""
    target = scratch_path(f"nan/{path.name}")
    if not target.exists():
        if path.is_dir():
            shutil.copytree(path, target)
        weights = _weights_file_in(target if path.is_dir() else path)
        state = E.read_state_dict(weights)
        key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
        state[key] = state[key].clone()
        state[key].view(-1)[0] = math.nan
        destination = _weights_file_in(target) if path.is_dir() else target
        if destination.suffix == ".safetensors":
            save_file({k: v.contiguous() for k, v in state.items()}, str(destination))
        else:
            torch.save(state, destination)
    return target


class ProbeEncoder(E.ImageEncoder):
    """The smallest concrete :class:`ImageEncoder`: a fixed 1x1 convolution, mean-pooled."""

    def __init__(self, name, family, config):
        super().__init__(name, family, config)
        self.mix = torch.nn.Conv2d(3, 4, kernel_size=1)
        with torch.no_grad():
            self.mix.weight.copy_(torch.linspace(-1, 1, 12).view(4, 3, 1, 1))
            self.mix.bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.05]))
        self.requires_grad_(False)

    def encode_pixels(self, pixels):
        grid = self.mix(pixels)
        return grid.mean(dim=(2, 3)), grid.permute(0, 2, 3, 1)


# The images every loaded encoder runs on to compare it with its reference.
PROBE = _rand(2, 9, 13, 3, seed=11)


def encoder_outputs(encoder) -> list[torch.Tensor]:
    with torch.no_grad():
        return tensors_in(encoder(PROBE))


def _encoders_compare(rtol=1e-5, atol=1e-6):
    inner = close(rtol=rtol, atol=atol)
    return lambda result, reference: inner(encoder_outputs(result), encoder_outputs(reference))


def _has_parameters_in(dtype):
    def check(encoder):
        found = {p.dtype for p in encoder.parameters()}
        if found != {dtype}:
            return f"parameters in {sorted(map(str, found))}, not {dtype}"
        outputs = encoder_outputs(encoder)
        if any(t.dtype != torch.float32 for t in outputs):
            return "outputs are not float32"
        cosine = torch.nn.functional.cosine_similarity(outputs[0], encoder_outputs(clip_or_timm_reference(encoder))[0], dim=-1)
        return None if bool((cosine > 0.99).all()) else f"global embeddings {cosine.tolist()} away from the float32 model's"

    return check


def clip_or_timm_reference(encoder):
    return clip_encoder() if encoder.family == "open_clip" else timm_encoder()


@functools.cache
def timm_encoder():
    return E.load_timm_encoder("test_vit", timm_test_vit_file(), precision="fp32", image_size=32)


def _precision_variants(entry, base):
    for precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        yield Variant(f"precision: {precision}", "precision", replaced(base, "precision", precision), "valid", _has_parameters_in(dtype))
    yield Variant("precision: auto (fp32 on the CPU)", "precision", replaced(base, "precision", "auto"), "valid", _same_as_baseline(entry, base))


# ---------------------------------------------------------------------------------------------
# Entries
# ---------------------------------------------------------------------------------------------

IMAGE = ImageArg()
WEIGHT_FREE_IMAGE = ImageArg(min_size=2)
PRECISION = Choice(E.PRECISIONS)


def _equal(result, reference):
    return None if result == reference else f"{result!r} != {reference!r}"


def _name(name):
    return f"{MODULE}.{name}"


ENTRIES = [
    Entry(_name("KINDS"), note="constant: the weight-free encoder kinds (gradient, pixel, both)"),
    Entry(_name("GLOBAL_POOLS"), note="constant: the global embeddings a timm encoder offers"),
    Entry(_name("PRECISIONS"), note="constant: the weight precisions of the loaders"),
    Entry(_name("RESIZE_MODES"), note="constant: how preprocessing fits images to the model"),
    Entry(_name("INTERPOLATIONS"), note="constant: the resampling filters of preprocessing"),
    Entry(_name("CheckpointError"), note="exception (a ValueError) of the weight-file readers and loaders"),
    Entry(_name("EncoderOutput"), note="result dataclass of every encoder: global embedding and patch grid"),
]

ENTRIES.append(Entry(
    _name("gradient_embedding"), E.gradient_embedding,
    lambda: dict(images=_rand(2, 9, 11, 3), patch_size=4, bins=4, scales=2, shift_tolerance=1),
    dict(images=WEIGHT_FREE_IMAGE, patch_size=Int(minimum=1), bins=Int(minimum=2), scales=Int(minimum=1), shift_tolerance=Int(minimum=0)),
))
ENTRIES.append(Entry(
    _name("pixel_embedding"), E.pixel_embedding,
    lambda: dict(images=_rand(2, 9, 11, 3), patch_size=4, sub=2, blur=1),
    dict(images=WEIGHT_FREE_IMAGE, patch_size=Int(minimum=1), sub=Int(minimum=1), blur=Int(minimum=0)),
))
ENTRIES.append(Entry(
    _name("weight_free_embedding"), E.weight_free_embedding,
    lambda: dict(images=_rand(2, 9, 11, 3), kind="gradient+pixel", patch_size=4),
    dict(images=WEIGHT_FREE_IMAGE, kind=Choice(E.KINDS), patch_size=Int(minimum=1)),
))
ENTRIES.append(Entry(
    _name("PreprocessConfig"), E.PreprocessConfig,
    lambda: dict(size=8, mean=(0.5, 0.4, 0.3), std=(0.2, 0.3, 0.4), resize_mode="longest", interpolation="bilinear", patch_size=2, fill=1.0),
    dict(size=Int(minimum=1), mean=TripleArg(), std=TripleArg(positive=True), resize_mode=Choice(E.RESIZE_MODES), interpolation=Choice(E.INTERPOLATIONS),
         patch_size=Int(minimum=1), fill=Number(minimum=0.0, maximum=1.0)),
    compare=_equal,
))


def _preprocess_modes(base):
    for mode in E.RESIZE_MODES:
        arguments = replaced(base, "config", E.PreprocessConfig(size=4, resize_mode=mode, patch_size=2, fill=0.5))
        yield Variant(f"config: resize_mode {mode}", "config", arguments, "valid", equal_to_reference(ENTRY_PREPROCESS, arguments))


ENTRY_PREPROCESS = Entry(
    _name("preprocess"), E.preprocess,
    lambda: dict(images=_rand(2, 5, 7, 3), config=E.PreprocessConfig(size=4)),
    dict(images=IMAGE, config=ConfigArg()),
    extra=_preprocess_modes,
)
ENTRIES.append(ENTRY_PREPROCESS)

ENTRIES.append(Entry(
    _name("ImageEncoder"),
    lambda name, family, config, images, forward_config: ProbeEncoder(name, family, config)(images, forward_config),
    lambda: dict(name="probe", family="test", config=E.PreprocessConfig(size=4, resize_mode="squash"), images=_rand(2, 5, 7, 3), forward_config=E.PreprocessConfig(size=4, resize_mode="squash")),
    dict(name=TextArg(), family=TextArg(), config=ConfigArg(), images=IMAGE, forward_config=ConfigArg(optional=True, names=("config",))),
))
ENTRIES.append(Entry(
    _name("WeightFreeImageEncoder"),
    lambda kind, patch_size, images, config: E.WeightFreeImageEncoder(kind, patch_size)(images, config),
    lambda: dict(kind="gradient+pixel", patch_size=4, images=_rand(2, 9, 11, 3), config=None),
    dict(kind=Choice(E.KINDS), patch_size=Int(minimum=1), images=WEIGHT_FREE_IMAGE, config=ConfigArg(optional=True)),
))
ENTRIES.append(Entry(
    _name("OpenCLIPImageEncoder"),
    lambda visual, name, config, images: E.OpenCLIPImageEncoder(visual, name, config)(images),
    lambda: dict(visual=clip_encoder().visual, name="tiny", config=E.PreprocessConfig(size=32), images=_rand(2, 5, 7, 3)),
    dict(visual=ModelArg(lambda: torch.nn.Linear(3, 3)), name=TextArg(), config=ConfigArg(), images=IMAGE),
))
ENTRY_TIMM_CLASS = Entry(
    _name("TimmImageEncoder"),
    lambda model, name, config, global_pool, images: E.TimmImageEncoder(model, name, config, global_pool)(images),
    lambda: dict(model=dinov2_model(), name="vit_small_patch14_dinov2", config=E.PreprocessConfig(size=14, resize_mode="multiple", patch_size=14), global_pool="cls", images=_rand(2, 5, 7, 3)),
    dict(model=ModelArg(lambda: torch.nn.Linear(3, 3)), name=TextArg(), config=ConfigArg(), global_pool=Choice(E.GLOBAL_POOLS), images=IMAGE),
    extra=lambda base: [
        Variant(f"global_pool: {pool}", "global_pool", replaced(base, "global_pool", pool), "valid", equal_to_reference(ENTRY_TIMM_CLASS, replaced(base, "global_pool", pool)))
        for pool in ("mean", "head")
    ],
)
ENTRIES.append(ENTRY_TIMM_CLASS)


def _progress_calls(base):
    """Chunks of 2 over 3 images: progress (2, 3) then (3, 3), an interrupt check before each."""
    calls = []
    arguments = replaced(base, "progress", lambda done, total: calls.append((done, total)))
    arguments["check_interrupt"] = lambda: calls.append("check")

    def check(_):
        return None if calls == ["check", (2, 3), "check", (3, 3)] else f"callbacks {calls}"

    yield Variant("progress: the calls", "progress", arguments, "valid", check)
    for batch_size in (1, 5):
        arguments = replaced(base, "batch_size", batch_size)
        yield Variant(f"batch_size: {batch_size}", "batch_size", arguments, "valid", _same_as_baseline(ENTRY_ENCODE, base))


ENTRY_ENCODE = Entry(
    _name("encode_images"), E.encode_images,
    lambda: dict(encoder=clip_encoder(), images=_rand(3, 5, 7, 3), batch_size=2, config=clip_encoder().preprocess_config, progress=lambda done, total: None, check_interrupt=lambda: None),
    dict(encoder=ModelArg(lambda: torch.nn.Linear(3, 3)), images=IMAGE, batch_size=Int(minimum=1), config=ConfigArg(optional=True), progress=CallbackArg(), check_interrupt=CallbackArg()),
    extra=_progress_calls,
)
ENTRIES.append(ENTRY_ENCODE)


@functools.cache
def _model_folders() -> tuple[Path, Path]:
    first, second = scratch_path("models/first"), scratch_path("models/second")
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    (second / "model.pth").write_bytes(b"weights")
    return first, second


ENTRIES.append(Entry(
    _name("find_model_file"), E.find_model_file,
    lambda: dict(name="model.pth", folders=list(_model_folders())),
    dict(name=ModelNameArg(), folders=FoldersArg()),
    compare=_equal,
))


@functools.cache
def _small_weights() -> Path:
    return save_weights({"layer.weight": _rand(3, 2, seed=1), "layer.bias": _rand(3, seed=2), "steps": torch.arange(4)}, "small.safetensors")


class _Holder(torch.nn.Module):
    """The tensors of a state dict as parameters and buffers, to be saved as a TorchScript archive."""

    def __init__(self, state):
        super().__init__()
        self.layer = torch.nn.Linear(2, 3)
        with torch.no_grad():
            self.layer.weight.copy_(state["layer.weight"])
            self.layer.bias.copy_(state["layer.bias"])
        self.register_buffer("steps", state["steps"].clone())

    def forward(self, x):
        return self.layer(x)


@functools.cache
def _jit_archive() -> Path:
    path = scratch_path("formats/archive.pt")
    with warnings.catch_warnings():  # torch deprecates TorchScript; the archives still exist
        warnings.simplefilter("ignore")
        torch.jit.script(_Holder(E.read_state_dict(_small_weights()))).save(str(path))
    return path


def _state_dict_formats(base):
    """The same tensors as a torch.save file and as a training checkpoint must read the same; a
    TorchScript archive only with ``trusted_jit``."""
    state = E.read_state_dict(_small_weights())
    for label, content in (("torch.save", state), ("a training checkpoint", {"epoch": 2, "state_dict": {"module." + k: v for k, v in state.items()}})):
        path = save_weights(content, f"formats/{label.replace(' ', '_')}.pth")
        yield Variant(f"path: {label}", "path", replaced(base, "path", path), "valid", _same_as_baseline(ENTRY_READ, base))
    archive = _jit_archive()
    yield Variant("trusted_jit: False for a TorchScript archive", "trusted_jit", replaced(base, "path", archive), "error")
    trusted = replaced(base, "path", archive)
    trusted["trusted_jit"] = True
    yield Variant("trusted_jit: True for a TorchScript archive", "trusted_jit", trusted, "valid", _same_as_baseline(ENTRY_READ, base))


def _same_tensors_by_name(result, reference):
    """State dicts compared name by name (files keep their own order)."""
    if set(result) != set(reference):
        return f"names {sorted(result)} where the reference has {sorted(reference)}"
    names = sorted(reference)
    return close()([result[k] for k in names], [reference[k] for k in names])


ENTRY_READ = Entry(
    _name("read_state_dict"), E.read_state_dict,
    lambda: dict(path=_small_weights(), trusted_jit=False),
    dict(path=FileArg(), trusted_jit=Bool()),
    compare=_same_tensors_by_name,
    extra=_state_dict_formats,
)
ENTRIES.append(ENTRY_READ)


def _loader_extras(entry_name, nan_source):
    def extra(base):
        entry = next(e for e in ENTRIES if e.name == entry_name)
        yield from _precision_variants(entry, base)
        nan_file = with_nan_weight(nan_source())
        yield Variant("checkpoint: NaN in a weight", "checkpoint", replaced(base, "checkpoint", nan_file), "error", names=(str(nan_file),))

    return extra


def _clip_plain_file() -> Path:
    """The open_clip tower's weights as a plain file (no hub configuration beside it)."""
    return save_weights(E.read_state_dict(_weights_file_in(clip_hub_folder())), "clip_plain.safetensors")


def _clip_architecture_variants(base):
    plain = _clip_plain_file()
    unknown = replaced(base, "checkpoint", plain)
    unknown["architecture"] = "ViT-Q-99"
    yield Variant("architecture: not an open_clip model", "architecture", unknown, "error")
    wrong = replaced(base, "checkpoint", plain)
    wrong["architecture"] = "ViT-S-32"
    yield Variant("architecture: weights of another size", "architecture", wrong, "error", names=(str(plain),))


ENTRIES.append(Entry(
    _name("load_open_clip_encoder"), E.load_open_clip_encoder,
    # A hub folder's own configuration wins over the architecture's: the name is that of the
    # smallest open_clip ViT, so that the other checkpoints tried are read as that architecture.
    lambda: dict(architecture="ViT-S-32", checkpoint=clip_hub_folder(), precision="fp32", device="cpu", trusted_jit=False),
    dict(architecture=TextArg(), checkpoint=FileArg(other=timm_test_vit_file), precision=PRECISION, device=DeviceArg(), trusted_jit=Bool()),
    result_tensors=encoder_outputs,
    compare=_encoders_compare(),
    extra=lambda base: [*_loader_extras(_name("load_open_clip_encoder"), clip_hub_folder)(base), *_clip_architecture_variants(base)],
))


def _timm_hub_folder(base):
    folder = scratch_path("timm_hub")
    if not folder.exists():
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"architecture": "test_vit", "num_classes": 0}))
        shutil.copyfile(timm_test_vit_file(), folder / "model.safetensors")
    yield Variant("checkpoint: a hub folder", "checkpoint", replaced(base, "checkpoint", folder), "valid", _same_as_baseline(ENTRY_TIMM, base))


ENTRY_TIMM = Entry(
    _name("load_timm_encoder"), E.load_timm_encoder,
    lambda: dict(architecture="test_vit", checkpoint=timm_test_vit_file(), precision="fp32", device="cpu", image_size=32, global_pool="cls"),
    dict(architecture=TextArg(unknown="not_a_model"), checkpoint=FileArg(other=_clip_plain_file), precision=PRECISION, device=DeviceArg(), image_size=Int(minimum=1, optional=True), global_pool=Choice(E.GLOBAL_POOLS)),
    result_tensors=encoder_outputs,
    compare=_encoders_compare(),
    extra=lambda base: [*_loader_extras(_name("load_timm_encoder"), timm_test_vit_file)(base), *_timm_hub_folder(base)],
)
ENTRIES.append(ENTRY_TIMM)
