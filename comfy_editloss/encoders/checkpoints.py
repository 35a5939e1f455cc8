"""Reading model weights from local files only.

safetensors first; ``torch.load(..., weights_only=True)`` otherwise; a TorchScript (JIT) archive,
such as OpenAI's original CLIP files, runs code when loaded and is read only when the caller says
it is trusted. Training checkpoints (``{"state_dict": ...}``, ``module.`` prefixes of
DataParallel/DDP) are unwrapped. Nothing here touches the network: a name that is not an existing
file is refused with the way to get the file.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path
from typing import Iterable, Mapping

import torch

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


class CheckpointError(ValueError):
    """A weights file that cannot be found or read, with what to do about it."""


def find_model_file(name: str | os.PathLike, folders: Iterable[str | os.PathLike] = ()) -> Path:
    """A model file or folder: an existing path, or a name found in one of ``folders``.

    Raises:
        CheckpointError: naming the file and every folder searched.
    """
    path = Path(name).expanduser()
    if path.exists():
        return path
    searched = []
    for folder in folders:
        candidate = Path(folder).expanduser() / str(name)
        searched.append(str(Path(folder).expanduser()))
        if candidate.exists():
            return candidate
    where = ", ".join(searched) if searched else "(no model folders given)"
    raise CheckpointError(f"model file {str(name)!r} not found; searched: {where}")


def is_torchscript_archive(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in archive.namelist())


def read_state_dict(path: str | os.PathLike, trusted_jit: bool = False) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, unwrapped from training checkpoints."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file")
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file  # noqa: PLC0415

        state = load_file(str(path), device="cpu")
    elif is_torchscript_archive(path):
        if not trusted_jit:
            raise CheckpointError(
                f"{path} is a TorchScript (JIT) archive, such as OpenAI's original CLIP files: loading one runs code "
                "stored in the file. Load it only if you trust its source, with trusted_jit=True (in ComfyUI: start the "
                "server with the environment variable EDITLOSS_TRUSTED_JIT=1), or convert it to .safetensors"
            )
        with warnings.catch_warnings():  # torch deprecates TorchScript; these archives still need it
            warnings.simplefilter("ignore", FutureWarning)
            state = torch.jit.load(str(path), map_location="cpu").state_dict()
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - the message is what matters to the user
            raise CheckpointError(f"{path}: cannot read it as weights ({type(exc).__name__}: {exc})") from None
    return unwrap_state_dict(state, path)


def unwrap_state_dict(state: object, path: Path | str = "<state dict>") -> dict[str, torch.Tensor]:
    if isinstance(state, Mapping):
        for key in ("state_dict", "model", "model_state_dict", "module"):
            inner = state.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                state = inner
                break
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(f"{path}: holds no tensors (got {type(state).__name__})")
    tensors = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if tensors and all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module.") :]: v for k, v in tensors.items()}
    return tensors


def strip_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries under ``prefix`` with it removed; the dict unchanged if no key has it."""
    if any(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return dict(state)


def find_weights_in_folder(folder: Path, names: Iterable[str]) -> Path:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p.name for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    if len(found) == 1:
        return folder / found[0]
    raise CheckpointError(f"{folder}: no weights file found (looked for {', '.join(names)}; found {found or 'none'})")
