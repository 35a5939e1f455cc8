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

from .._checks import all_finite, check_bool, describe

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


class CheckpointError(ValueError):
    """A weights file that cannot be found or read, with what to do about it."""


def as_path(value: object, name: str) -> Path:
    """A non-empty ``str`` or ``os.PathLike`` as a ``Path`` (``Path("")`` would be the current folder)."""
    if isinstance(value, bool) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (a str or os.PathLike), got {describe(value)}")
    if not str(value):
        raise ValueError(f"{name} must name a file, got an empty path")
    return Path(value)


def _model_file_or_folder(path: Path) -> Path:
    """``path`` if it is a regular file or a folder: a FIFO or a device (``/dev/zero``) is no model, and
    reading one would block or never end."""
    if not (path.is_file() or path.is_dir()):
        raise CheckpointError(f"{path} is not a model file or folder (it is a FIFO, socket or device)")
    return path


def find_model_file(name: str | os.PathLike, folders: Iterable[str | os.PathLike] = ()) -> Path:
    """A model file or folder: an existing path, or a name found in one of ``folders``.

    Raises:
        CheckpointError: naming the file and every folder searched.
        TypeError: for a name that is no path, or ``folders`` that is no iterable of paths (a single
            string is refused: it would be searched letter by letter).
    """
    path = as_path(name, "name").expanduser()
    if isinstance(folders, (str, bytes)) or not isinstance(folders, Iterable):
        raise TypeError(f"folders must be an iterable of folder paths (a list or tuple), got {describe(folders)}")
    folders = [as_path(folder, "each of folders").expanduser() for folder in folders]
    if path.exists():
        return _model_file_or_folder(path)
    for folder in folders:
        candidate = folder / str(name)
        if candidate.exists():
            return _model_file_or_folder(candidate)
    where = ", ".join(str(folder) for folder in folders) if folders else "(no model folders given)"
    raise CheckpointError(f"model file {str(name)!r} not found; searched: {where}")


def is_torchscript_archive(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in archive.namelist())


def read_state_dict(path: str | os.PathLike, trusted_jit: bool = False) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, unwrapped from training checkpoints.

    Raises:
        CheckpointError: for what is no regular file (a folder, a FIFO, a device such as ``/dev/zero``:
            never read), a file that cannot be read as weights (truncated, another format), a file
            holding no tensors, and a TorchScript archive unless ``trusted_jit``.
    """
    path = as_path(path, "path")
    check_bool(trusted_jit, "trusted_jit")
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    if not path.is_file():
        raise CheckpointError(f"{path}: not a regular file (a folder, FIFO or device)")
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file  # noqa: PLC0415

        try:
            state = load_file(str(path), device="cpu")
        except Exception as exc:  # noqa: BLE001 - safetensors' own error type; the message is what matters
            raise CheckpointError(f"{path}: cannot read it as safetensors ({type(exc).__name__}: {exc})") from None
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
    tensors = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)} if isinstance(state, Mapping) else {}
    if not tensors:
        what = f"{len(state)} entries, none a tensor" if isinstance(state, Mapping) else type(state).__name__
        raise CheckpointError(f"{path}: holds no tensors (got {what})")
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


def check_state_dict(state: object, name: str = "state") -> Mapping[str, torch.Tensor]:
    """A state dict: a non-empty mapping of string names to tensors."""
    if not isinstance(state, Mapping):
        raise TypeError(f"{name} must be a state dict (a mapping of names to tensors), got {describe(state)}")
    if not state:
        raise ValueError(f"{name} must hold tensors, got an empty mapping")
    for key, value in state.items():
        if not isinstance(key, str):
            raise TypeError(f"{name} must have string names, got {describe(key)}")
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name}[{key!r}] must be a tensor, got {describe(value)}")
    return state


def _listed(names: list[str]) -> str:
    return f"{names[:5]}{'...' if len(names) > 5 else ''}"


def _joined(items: list[str]) -> str:
    return "; ".join(items[:5]) + ("; ..." if len(items) > 5 else "")


def fit_problems(expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> str | None:
    """What keeps ``state`` from loading exactly into a model whose state dict is ``expected``:
    tensors missing, unexpected, of another shape, or integer where the model holds floating point
    (``load_state_dict`` would raise for the shapes, and assign would store integer weights)."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k} {tuple(state[k].shape)} where the model has {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    kinds = [f"{k} ({state[k].dtype})" for k, v in expected.items() if k in state and v.is_floating_point() and not state[k].is_floating_point()]
    if not (missing or unexpected or shapes or kinds):
        return None
    parts = [f"missing {_listed(missing)}", f"unexpected {_listed(unexpected)}"]
    if shapes:
        parts.append(f"of another shape: {_joined(shapes)}")
    if kinds:
        parts.append(f"not floating point: {_joined(kinds)}")
    return ", ".join(parts)


def check_finite_parameters(module: torch.nn.Module, source: str) -> None:
    """Refuse weights holding NaN/Inf: every output of such a model is NaN, found far from the file.
    One reduction and one sync for the whole model; the tensors are searched only when one is bad."""
    parameters = [(n, p) for n, p in module.named_parameters() if p.is_floating_point() and p.numel() and not p.is_meta]
    if not parameters:
        return
    flags = torch.stack([all_finite(p).to(parameters[0][1].device) for _, p in parameters])
    if bool(flags.all()):
        return
    name, parameter = next((n, p) for (n, p), ok in zip(parameters, flags.tolist()) if not ok)
    count = int((~torch.isfinite(parameter.detach())).sum())
    raise CheckpointError(f"{source}: the weight {name} holds {count} NaN/Inf value(s); the file is damaged or was saved from a diverged run")
