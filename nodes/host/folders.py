"""Folders: where model files are looked for, and ComfyUI's input, output and temp folders.

Model files: inside ComfyUI they come from its model folders: ``models/editloss_encoders`` (registered
by this pack), plus ``clip_vision`` and ``checkpoints`` where a file may be reused. Outside ComfyUI
the same sub-folder names are looked up under each folder of ``EDITLOSS_MODELS_DIR`` (separated by
``os.pathsep``), default ``./models``. Headless, the input, output and temp folders are the runner's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .comfy import folder_paths as _folder_paths

ENCODER_FOLDER = "editloss_encoders"
ENCODER_FOLDERS = (ENCODER_FOLDER, "clip_vision", "checkpoints")
MODEL_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")

DEPTH_FOLDER = "editloss_depth"
# Where other depth packs keep the same files: kijai's ComfyUI-DepthAnythingV2 (models/depthanything,
# fp16/fp32 .safetensors with the official names) and comfyui_controlnet_aux (its ckpts/ folder, in
# sub-folders named after the Hugging Face repositories).
OTHER_DEPTH_FOLDERS = ("depthanything", "depth_anything")
CONTROLNET_AUX_CKPTS = ("comfyui_controlnet_aux/ckpts",)
OFFICIAL_DEPTH_FILES = (
    "depth_anything_v2_vits.pth",
    "depth_anything_v2_vitb.pth",
    "depth_anything_v2_vitl.pth",
    "depth_anything_v2_vitg.pth",
    "dpt_large_384.pt",
    "dpt_base_384.pt",
    "midas_v21_small_256.pt",
)


def register_model_folders() -> None:
    """Add ``models/editloss_encoders`` and ``models/editloss_depth`` to ComfyUI's model folders
    (no-op outside ComfyUI)."""
    fp = _folder_paths()
    if fp is None:
        return
    for name in (ENCODER_FOLDER, DEPTH_FOLDER):
        if name not in getattr(fp, "folder_names_and_paths", {}):
            fp.add_model_folder_path(name, os.path.join(fp.models_dir, name))


def standalone_model_dirs() -> list[Path]:
    value = os.environ.get("EDITLOSS_MODELS_DIR")
    roots = [Path(p) for p in value.split(os.pathsep) if p] if value else [Path.cwd() / "models"]
    return roots


def model_folders(kinds=ENCODER_FOLDERS) -> list[str]:
    """Every folder searched for model files of these kinds, in order."""
    fp = _folder_paths()
    folders: list[str] = []
    for kind in kinds:
        if fp is not None:
            try:
                folders += list(fp.get_folder_paths(kind))
            except Exception:  # noqa: BLE001 - a kind this ComfyUI does not know
                pass
        else:
            folders += [str(root / kind) for root in standalone_model_dirs()]
    return folders


def list_model_files(kinds=ENCODER_FOLDERS) -> list[str]:
    """Model files (and hub-layout folders) found in the model folders, as names to pick from."""
    names: list[str] = []
    for folder in model_folders(kinds):
        base = Path(folder)
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(base).as_posix()
            if path.is_file() and path.suffix.lower() in MODEL_SUFFIXES and path.parent == base:
                names.append(relative)
            elif path.is_dir() and ((path / "open_clip_config.json").is_file() or (path / "config.json").is_file()):
                names.append(relative)
    return sorted(dict.fromkeys(names))


def depth_model_folders() -> list[str]:
    """Folders searched for depth model files, in order: ``editloss_depth``, then the other packs'
    folders (``models/depthanything``, ``models/depth_anything``, ``comfyui_controlnet_aux/ckpts``)."""
    folders = model_folders((DEPTH_FOLDER,))
    fp = _folder_paths()
    roots = [Path(fp.models_dir)] if fp is not None else standalone_model_dirs()
    folders += [str(root / name) for root in roots for name in OTHER_DEPTH_FOLDERS]
    if fp is not None:
        try:
            custom = list(fp.get_folder_paths("custom_nodes"))
        except Exception:  # noqa: BLE001
            custom = []
        folders += [str(Path(c) / sub) for c in custom for sub in CONTROLNET_AUX_CKPTS]
    return list(dict.fromkeys(folders))


def list_depth_model_files() -> list[str]:
    """Depth model files as names relative to their folder: every weight file directly in a depth
    folder, and the official file names anywhere below it (controlnet_aux nests them)."""
    names: list[str] = []
    for folder in depth_model_folders():
        base = Path(folder)
        if not base.is_dir():
            continue
        for path in sorted(base.iterdir()):
            if path.is_file() and path.suffix.lower() in MODEL_SUFFIXES:
                names.append(path.name)
        for official in OFFICIAL_DEPTH_FILES:
            names += [p.relative_to(base).as_posix() for p in sorted(base.rglob(official)) if p.parent != base]
    return sorted(dict.fromkeys(names))


def _headless_host():
    """The headless runner's host module, when the runner is running this pack (found by module
    name, since the pack imports its own copy of the library)."""
    return sys.modules.get("comfy_editloss.graph.host")


def input_directory() -> Path:
    """ComfyUI's input folder; headless, the runner's input folder; else the working directory."""
    fp = _folder_paths()
    if fp is not None:
        return Path(fp.get_input_directory())
    host = _headless_host()
    return Path(host.folders().input) if host is not None else Path.cwd()


def output_directory() -> Path:
    """ComfyUI's output folder; headless, the runner's; else ``./output``."""
    fp = _folder_paths()
    if fp is not None:
        return Path(fp.get_output_directory())
    host = _headless_host()
    return Path(host.folders().output) if host is not None else Path.cwd() / "output"


def temp_directory() -> Path:
    """ComfyUI's temp folder (previews); headless, the runner's; else ``./output/temp``."""
    fp = _folder_paths()
    if fp is not None:
        return Path(fp.get_temp_directory())
    host = _headless_host()
    return Path(host.folders().temp) if host is not None else Path.cwd() / "output" / "temp"
