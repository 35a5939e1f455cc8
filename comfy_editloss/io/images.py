"""Reading images as ComfyUI IMAGEs (``[B, H, W, 3]`` float32 in [0, 1]): one file, or a folder of
generations as one batch with their names."""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import check_choice, check_file, check_folder, check_path, describe

IMAGE_PATTERNS = ("*.png", "*.jpg", "*.jpeg", "*.webp", "*.bmp", "*.tif", "*.tiff")
SIZE_MISMATCH = ("error", "resize")

__all__ = ["IMAGE_PATTERNS", "SIZE_MISMATCH", "ImageReadError", "image_files", "load_image", "load_image_batch", "natural_key"]


class ImageReadError(ValueError):
    """An image file that cannot be read; the message names the file."""


def natural_key(name: str) -> list:
    """Sort key that puts ``gen_2`` before ``gen_10``: runs of decimal digits (any script's) compare
    as numbers, the rest without case. Superscripts such as ``²`` are text, not numbers."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {describe(name)}")
    return [int(part) if part.isdecimal() else part.lower() for part in re.split(r"(\d+)", name)]


# Integer grey modes Pillow gives for 16-bit files (PNG, TIFF), read by their full range.
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


def _pixels(picture, path: Path) -> np.ndarray:
    """``[H, W, 3]`` float32 in [0, 1] from a Pillow image of any mode, each integer mode scaled by
    its own range (8-bit by 255, 16-bit by 65535), grey repeated to three channels, alpha dropped."""
    mode = picture.mode
    if mode in _SIXTEEN_BIT_MODES or mode == "I":
        values = np.asarray(picture)
        if mode == "I":
            # 32-bit integers: what Pillow gives for 16-bit grey in some formats and versions. Values
            # that do not fit 16 bits have no range to scale by.
            low, high = (int(values.min()), int(values.max())) if values.size else (0, 0)
            if low < 0 or high > 65535:
                raise ImageReadError(
                    f"cannot read image {path}: 32-bit integer pixels from {low} to {high} do not fit 8 or 16 bits; "
                    "save it as an 8- or 16-bit image"
                )
        grey = values.astype(np.float32) / 65535.0
        return np.repeat(grey[..., None], 3, axis=-1)
    if mode == "F":
        grey = np.asarray(picture, dtype=np.float32)
        finite = grey[np.isfinite(grey)]
        if finite.size != grey.size or (grey.size and (finite.min() < 0 or finite.max() > 1)):
            shown = f"from {finite.min():g} to {finite.max():g}" if finite.size else "none finite"
            raise ImageReadError(
                f"cannot read image {path}: a floating-point image must hold values in [0, 1], got {shown}"
                + ("" if finite.size == grey.size else " and NaN/Inf")
            )
        return np.repeat(grey[..., None], 3, axis=-1)
    # Every other mode (1, L, LA, P, PA, RGB, RGBA, CMYK, YCbCr, ...) is 8 bits per channel.
    return np.asarray(picture.convert("RGB"), dtype=np.float32) / 255.0


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """One image file as an IMAGE ``[1, H, W, 3]`` (EXIF rotation applied, alpha dropped).

    Every integer mode is scaled by its own range: 8-bit files by 255, 16-bit grey files (Pillow's
    ``I;16`` modes, and ``I`` with values that fit 16 bits) by 65535; floating-point grey (``F``)
    must already lie in [0, 1]. (Pillow reads 16-bit colour PNGs as 8-bit RGB.)
    """
    from PIL import Image, ImageOps, UnidentifiedImageError  # noqa: PLC0415

    # A folder, a FIFO or a device is refused before Pillow opens it (a FIFO would block forever).
    path = check_file(path, "path", "image file", ImageReadError)
    try:
        with Image.open(path) as opened:
            array = _pixels(ImageOps.exif_transpose(opened), path)
    except ImageReadError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageReadError(f"cannot read image {path}: {exc}") from None
    return torch.from_numpy(np.ascontiguousarray(array))[None]


def image_files(folder: str | os.PathLike, patterns: str | Sequence[str] = IMAGE_PATTERNS) -> list[Path]:
    """The regular image files directly in ``folder`` matching any of ``patterns`` (``"*.png;*.jpg"``
    or a sequence of patterns, without case), in natural order. No pattern at all (``""``, ``()``)
    means :data:`IMAGE_PATTERNS`; hidden files, folders, FIFOs and broken links are left out."""
    folder = check_folder(folder, "folder")
    if isinstance(patterns, str):
        patterns = patterns.replace(",", ";").split(";")
    elif not isinstance(patterns, (list, tuple)) or not all(isinstance(p, str) for p in patterns):
        raise TypeError(f"patterns must be text like '*.png;*.jpg' or a list of such patterns, got {describe(patterns)}")
    patterns = tuple(p.strip().lower() for p in patterns if p.strip()) or IMAGE_PATTERNS
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and any(fnmatch.fnmatch(p.name.lower(), pat) for pat in patterns)]
    return sorted(files, key=lambda p: natural_key(p.name))


def load_image_batch(paths: list[Path], size_mismatch: str = "error") -> torch.Tensor:
    """Images of one size as one IMAGE batch. ``size_mismatch="resize"`` scales the others to the
    first one's size (bilinear, with antialiasing) instead of failing."""
    if not isinstance(paths, (list, tuple)):
        # A single path would be read letter by letter, a set in no particular order.
        raise TypeError(f"paths must be a list of image files, got {describe(paths)}")
    if not paths:
        raise ValueError("paths must name at least one image file, got an empty list: no image files to load")
    for i, path in enumerate(paths):
        check_path(path, f"paths[{i}]")
    check_choice(size_mismatch, "size_mismatch", SIZE_MISMATCH)
    images = []
    for path in paths:
        image = load_image(path)
        if images and image.shape[1:3] != images[0].shape[1:3]:
            first = images[0].shape
            if size_mismatch == "error":
                raise ValueError(
                    f"{Path(path).name} is {image.shape[2]}x{image.shape[1]} but {Path(paths[0]).name} is {first[2]}x{first[1]}: "
                    "generations of one batch must have one size (or choose size_mismatch = resize)"
                )
            image = F.interpolate(image.permute(0, 3, 1, 2), size=tuple(first[1:3]), mode="bilinear", antialias=True, align_corners=False).permute(0, 2, 3, 1).clamp(0, 1)
        images.append(image)
    return torch.cat(images)
