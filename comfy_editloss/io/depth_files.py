"""Reading depth maps from files, as float32 arrays ``[H, W]`` with their values as stored.

* 16-bit (or 8-bit) PNG: the raw integers (e.g. millimetres; scale them yourself), no normalisation;
* ``.npy``: a 2-D array, or ``[1, H, W]`` / ``[H, W, 1]``;
* ``.npz``: the array named ``depth`` (or ``disparity``), or the only array in the file;
* ``.pfm``: the portable float map (``Pf`` grey or ``PF`` colour, first channel), rows bottom-up as stored;
* ``.exr``: through the ``OpenEXR`` package (``pip install OpenEXR``), the channel ``Z``, ``Y``, ``R``
  or ``depth``, else the only one.

A file that cannot be read is a ``ValueError`` naming it: a missing file, a folder, a FIFO or a device
(refused before anything opens them), a truncated or foreign file, an empty map, or values beyond
float32 (which would silently become infinite, the mark of a pixel without a value).
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .._checks import check_file, check_path

DEPTH_EXTENSIONS = (".png", ".npy", ".npz", ".pfm", ".exr")

__all__ = ["DEPTH_EXTENSIONS", "read_depth_file"]

# What numpy, zipfile and Pillow raise for a file that is not what its suffix says.
_UNREADABLE = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)
# A PFM header line is a few characters; a file without line breaks is not read to its end.
_PFM_LINE = 256


def _two_d(array: np.ndarray, path: Path) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 3 and 1 in (array.shape[0], array.shape[-1]):
        array = array.reshape(array.shape[1:] if array.shape[0] == 1 else array.shape[:-1])
    if array.ndim != 2:
        raise ValueError(f"{path.name}: a depth map must be 2-D ([H, W], [1, H, W] or [H, W, 1]), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"{path.name}: a depth map must hold real numbers, got {array.dtype}")
    if array.size == 0:
        raise ValueError(f"{path.name}: the depth map is empty (shape {array.shape})")
    if np.issubdtype(array.dtype, np.floating) and array.dtype.itemsize > 4:
        finite = np.abs(array[np.isfinite(array)])
        if finite.size and finite.max() > np.finfo(np.float32).max:
            raise ValueError(f"{path.name}: depth values up to {finite.max():g} do not fit float32; scale them down before saving")
    return array.astype(np.float32)


def _read_numpy(path: Path) -> np.ndarray:
    """The array of an ``.npy`` file, or the depth array of an ``.npz`` archive."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            array, names = loaded, None
        else:
            with loaded as archive:
                names = list(archive.files)
                chosen = next((n for n in ("depth", "disparity") if n in names), names[0] if len(names) == 1 else None)
                array = archive[chosen] if chosen is not None else None
    except _UNREADABLE as exc:
        raise ValueError(f"{path.name}: cannot read the {path.suffix} file: {exc}") from None
    if (names is None) != (path.suffix.lower() == ".npy"):
        holds = "an .npz archive" if names is not None else "a single .npy array"
        raise ValueError(f"{path.name}: the file holds {holds}; name it {'.npz' if names is not None else '.npy'}")
    if array is None:
        raise ValueError(f"{path.name}: no array named 'depth' or 'disparity' and not exactly one array (found {names})")
    return _two_d(array, path)


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    try:
        with Image.open(path) as image:
            mode = image.mode
            array = np.array(image) if mode in ("I;16", "I;16B", "I;16L", "I", "L", "F") else None
    except (UnidentifiedImageError, Image.DecompressionBombError, *_UNREADABLE) as exc:
        raise ValueError(f"{path.name}: cannot read the PNG: {exc}") from None
    if array is None:
        raise ValueError(
            f"{path.name}: a depth PNG must be one channel (16-bit or 8-bit grey), got mode {mode}; "
            "for a colour depth picture from another node, use EditLoss Depth from Image"
        )
    return _two_d(array, path)


def _read_pfm(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        kind = f.readline(_PFM_LINE).strip()
        if kind not in (b"Pf", b"PF"):
            raise ValueError(f"{path.name}: not a PFM file (header {kind[:8]!r}, expected Pf or PF)")
        dims = f.readline(_PFM_LINE).decode("ascii", "replace")
        match = re.match(r"^\s*(\d+)\s+(\d+)\s*$", dims)
        if not match or 0 in (int(match.group(1)), int(match.group(2))):
            raise ValueError(f"{path.name}: bad PFM size line {dims!r} (expected 'width height', both at least 1)")
        width, height = int(match.group(1)), int(match.group(2))
        line = f.readline(_PFM_LINE)
        try:
            scale = float(line.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            scale = float("nan")
        if not np.isfinite(scale) or scale == 0:
            raise ValueError(f"{path.name}: bad PFM scale line {line!r} (expected a non-zero number; its sign gives the byte order)")
        channels = 3 if kind == b"PF" else 1
        count = width * height * channels
        stored = (os.fstat(f.fileno()).st_size - f.tell()) // 4  # known before reading: a huge size line allocates nothing
        if stored < count:
            raise ValueError(f"{path.name}: PFM data holds {stored} values, {width}x{height}x{channels} expected")
        data = np.frombuffer(f.read(4 * count), dtype="<f4" if scale < 0 else ">f4")
    image = data.reshape(height, width, channels)[..., 0]
    return np.flipud(image).astype(np.float32)  # PFM rows go bottom to top


def _read_exr(path: Path) -> np.ndarray:
    try:
        import OpenEXR  # noqa: PLC0415 - optional
    except ImportError:
        raise ImportError(f"{path.name}: reading .exr needs the OpenEXR package (pip install OpenEXR)") from None
    try:
        with OpenEXR.File(str(path)) as f:
            channels = {name: np.asarray(channel.pixels) for name, channel in f.channels().items()}
    except (RuntimeError, *_UNREADABLE) as exc:  # OpenEXR raises RuntimeError for a file it cannot parse
        raise ValueError(f"{path.name}: cannot read the EXR file: {exc}") from None
    for name in ("Z", "Y", "depth", "R", "depth.Z", "depth.R"):
        if name in channels:
            return _two_d(channels[name], path)
    if len(channels) == 1:
        array = next(iter(channels.values()))
        return _two_d(array[..., 0] if array.ndim == 3 else array, path)
    if "RGB" in channels or "RGBA" in channels:
        return _two_d(channels.get("RGB", channels.get("RGBA"))[..., 0], path)
    raise ValueError(f"{path.name}: no depth channel (Z, Y, R or depth) among {sorted(channels)}")


_READERS = {".png": _read_png, ".npy": _read_numpy, ".npz": _read_numpy, ".pfm": _read_pfm, ".exr": _read_exr}


def read_depth_file(path: str | Path) -> np.ndarray:
    """The depth map stored in ``path`` as float32 ``[H, W]`` (see the module for the formats).

    NaN and Inf are kept as stored: they mark pixels without a value (see
    :class:`comfy_editloss.types.Depth`).
    """
    path = check_path(path, "path")
    suffix = path.suffix.lower()
    if suffix not in DEPTH_EXTENSIONS:
        raise ValueError(f"{path.name}: unsupported depth file type {suffix!r}; use one of {', '.join(DEPTH_EXTENSIONS)}")
    return _READERS[suffix](check_file(path, "path", "depth file"))
