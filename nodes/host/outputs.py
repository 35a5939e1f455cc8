"""Files the nodes write: ComfyUI's numbering of saved files, and preview pictures."""

from __future__ import annotations

from pathlib import Path

from . import folders
from .comfy import folder_paths as _folder_paths


def save_path(prefix: str, folder: Path, width: int = 0, height: int = 0) -> tuple[Path, str, int, str]:
    """ComfyUI's numbering of saved files: (folder, file stem, next free counter, subfolder)."""
    fp = _folder_paths()
    if fp is not None:
        full_folder, stem, counter, subfolder, _ = fp.get_save_image_path(prefix, str(folder), width, height)
        return Path(full_folder), stem, counter, subfolder
    from ...comfy_editloss.report.files import numbered_path  # noqa: PLC0415

    return numbered_path(prefix, folder)


def save_preview(pictures, prefix: str = "editloss_report") -> list[dict]:
    """Save ``[H, W, 3]`` float arrays as PNGs in the temp folder, as PreviewImage does; returns the
    ``ui`` entries ComfyUI's frontend shows on the node."""
    import numpy as np  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    entries = []
    folder = folders.temp_directory()
    for picture in pictures:
        target, stem, counter, subfolder = save_path(prefix, folder, picture.shape[1], picture.shape[0])
        target.mkdir(parents=True, exist_ok=True)
        name = f"{stem}_{counter:05}_.png"
        Image.fromarray((np.clip(picture, 0, 1) * 255).round().astype(np.uint8)).save(target / name, compress_level=1)
        entries.append({"filename": name, "subfolder": subfolder, "type": "temp"})
    return entries
