"""Reading depth maps from files, as float32 arrays ``[H, W]`` with their values as stored.

* 16-bit (or 8-bit) PNG: the raw integers (e.g. millimetres; scale them yourself), no normalisation;
* ``.npy``: a 2-D array, or ``[1, H, W]`` / ``[H, W, 1]``;
* ``.npz``: the array named ``depth`` (or ``disparity``), or the only array in the file;
* ``.pfm``: the portable float map (``Pf`` grey or ``PF`` colour, first channel), rows bottom-up as stored;
* ``.exr``: through the ``OpenEXR`` package (``pip install OpenEXR``), the channel ``Z``, ``Y``, ``R``
  or ``depth``, else the only one.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

DEPTH_EXTENSIONS = (".png", ".npy", ".npz", ".pfm", ".exr")

__all__ = ["DEPTH_EXTENSIONS", "read_depth_file"]


def _two_d(array: np.ndarray, path: Path) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 3 and 1 in (array.shape[0], array.shape[-1]):
        array = array.reshape(array.shape[1:] if array.shape[0] == 1 else array.shape[:-1])
    if array.ndim != 2:
        raise ValueError(f"{path.name}: a depth map must be 2-D ([H, W], [1, H, W] or [H, W, 1]), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"{path.name}: a depth map must hold real numbers, got {array.dtype}")
    return array.astype(np.float32)


def _read_pfm(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        kind = f.readline().strip()
        if kind not in (b"Pf", b"PF"):
            raise ValueError(f"{path.name}: not a PFM file (header {kind[:8]!r}, expected Pf or PF)")
        dims = f.readline().decode("ascii", "replace")
        match = re.match(r"^\s*(\d+)\s+(\d+)\s*$", dims)
        if not match:
            raise ValueError(f"{path.name}: bad PFM size line {dims!r}")
        width, height = int(match.group(1)), int(match.group(2))
        scale = float(f.readline().decode("ascii").strip())
        channels = 3 if kind == b"PF" else 1
        data = np.frombuffer(f.read(), dtype="<f4" if scale < 0 else ">f4")
    if data.size < width * height * channels:
        raise ValueError(f"{path.name}: PFM data holds {data.size} values, {width}x{height}x{channels} expected")
    image = data[: width * height * channels].reshape(height, width, channels)[..., 0]
    return np.flipud(image).astype(np.float32)  # PFM rows go bottom to top


def _read_exr(path: Path) -> np.ndarray:
    try:
        import OpenEXR  # noqa: PLC0415 - optional
    except ImportError:
        raise ImportError(f"{path.name}: reading .exr needs the OpenEXR package (pip install OpenEXR)") from None
    with OpenEXR.File(str(path)) as f:
        channels = {name: np.asarray(channel.pixels) for name, channel in f.channels().items()}
    for name in ("Z", "Y", "depth", "R", "depth.Z", "depth.R"):
        if name in channels:
            return _two_d(channels[name], path)
    if len(channels) == 1:
        array = next(iter(channels.values()))
        return _two_d(array[..., 0] if array.ndim == 3 else array, path)
    if "RGB" in channels or "RGBA" in channels:
        return _two_d(channels.get("RGB", channels.get("RGBA"))[..., 0], path)
    raise ValueError(f"{path.name}: no depth channel (Z, Y, R or depth) among {sorted(channels)}")


def read_depth_file(path: str | Path) -> np.ndarray:
    """The depth map stored in ``path`` as float32 ``[H, W]`` (see the module for the formats)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in DEPTH_EXTENSIONS:
        raise ValueError(f"{path.name}: unsupported depth file type {suffix!r}; use one of {', '.join(DEPTH_EXTENSIONS)}")
    if not path.is_file():
        raise FileNotFoundError(f"depth file not found: {path}")
    if suffix == ".png":
        from PIL import Image  # noqa: PLC0415

        with Image.open(path) as image:
            if image.mode in ("I;16", "I;16B", "I;16L", "I", "L", "F"):
                return _two_d(np.array(image), path)
            raise ValueError(
                f"{path.name}: a depth PNG must be one channel (16-bit or 8-bit grey), got mode {image.mode}; "
                "for a colour depth picture from another node, use EditLoss Depth from Image"
            )
    if suffix == ".npy":
        return _two_d(np.load(path, allow_pickle=False), path)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            for name in ("depth", "disparity"):
                if name in names:
                    return _two_d(archive[name], path)
            if len(names) == 1:
                return _two_d(archive[names[0]], path)
        raise ValueError(f"{path.name}: no array named 'depth' or 'disparity' and not exactly one array (found {names})")
    if suffix == ".pfm":
        return _read_pfm(path)
    return _read_exr(path)
