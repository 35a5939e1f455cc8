"""Files that are written, never overwritten: ComfyUI's numbering (``scores_00001_.json``), atomic
writes (a temporary file and a rename, so an interrupted run leaves no half-written file). They get
the permissions a plain ``open()`` gives (``0666`` less the umask), as ComfyUI's own saved images do."""

from __future__ import annotations

import errno
import os
import secrets
import stat
import time
from pathlib import Path
from typing import Mapping

from .._checks import check_bool, check_int, check_path, describe

__all__ = ["numbered_path", "write_atomic", "write_numbered"]


def numbered_path(prefix: str, output_dir: Path, width: int = 0, height: int = 0) -> tuple[Path, str, int, str]:
    """ComfyUI's ``folder_paths.get_save_image_path``: (folder, file stem, next free counter,
    subfolder) for a ``filename_prefix`` such as ``editloss/scores`` or ``%year%-%month%/run``. The
    counter is one more than the largest of the files named ``{stem}_{digits}_...`` in the folder.
    The folder is made if missing; ``width`` and ``height`` (ints >= 0) fill ``%width%`` and ``%height%``."""
    if not isinstance(prefix, str):
        raise TypeError(f"filename_prefix must be a str, got {describe(prefix)}")
    if "\0" in prefix:
        raise ValueError(f"filename_prefix must not contain a NUL byte, got {prefix!r}")
    output_dir = check_path(output_dir, "output_dir")
    width, height = check_int(width, "width", minimum=0), check_int(height, "height", minimum=0)
    if "%" in prefix:
        now = time.localtime()
        for key, value in (("%width%", width), ("%height%", height), ("%year%", now.tm_year), ("%month%", f"{now.tm_mon:02}"),
                           ("%day%", f"{now.tm_mday:02}"), ("%hour%", f"{now.tm_hour:02}"), ("%minute%", f"{now.tm_min:02}"),
                           ("%second%", f"{now.tm_sec:02}")):
            prefix = prefix.replace(key, str(value))
    normalized = os.path.normpath(prefix)
    subfolder, stem = os.path.dirname(normalized), os.path.basename(normalized)
    if stem in ("", ".", ".."):
        raise ValueError(f"filename_prefix must end in a file name, got {prefix!r}")
    output_dir = Path(os.path.abspath(output_dir))
    folder = Path(os.path.abspath(output_dir / subfolder))
    if os.path.commonpath((output_dir, folder)) != str(output_dir):
        raise ValueError(f"saving outside the output folder is not allowed: filename_prefix {prefix!r}")
    _folder_to_write(output_dir, "output_dir")
    _folder_to_write(folder, f"the folder of filename_prefix {prefix!r}")
    counter = 0
    for existing in os.listdir(folder):
        if existing.startswith(stem + "_"):
            digits = existing[len(stem) + 1 :].split("_")[0]
            if digits.isdigit():
                counter = max(counter, int(digits))
    return folder, stem, counter + 1, subfolder


def _folder_to_write(folder: Path, what: str) -> Path:
    """``folder``, made (with its parents) if missing; an error naming ``what`` if it cannot be one."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # the name is taken by a file, a FIFO, a device or a symlink loop
        raise ValueError(f"{what} {folder} is not a folder") from None
    except OSError as exc:
        raise ValueError(f"{what} {folder} cannot be made a folder: {exc.strerror}") from None
    return folder


def _check_target(path: Path, name: str) -> None:
    """A file name to write to: missing, or a regular file (or a link to one) to be replaced. A
    folder, a FIFO, a device or a socket is never replaced by a file."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(f"{name} {path} is a symlink loop") from None
        raise ValueError(f"{name} {path} cannot be written: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise ValueError(f"{name} {path} is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{name} {path} is not a regular file (a FIFO, a device or a socket): it is never replaced by one")


def _new_temporary(path: Path) -> tuple[int, Path]:
    """A new, exclusively created temporary file next to ``path``. Unlike ``tempfile.mkstemp`` (always
    ``0600``) it is created with mode ``0666`` for the umask to reduce, so the renamed file can be
    read by whoever may read the folder's other outputs (a web server, a sync job, a colleague)."""
    while True:
        temporary = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), temporary
        except FileExistsError:  # a name another writer drew: draw again
            continue


def write_atomic(path: str | os.PathLike, text: str, exclusive: bool = False) -> Path:
    """Write ``text`` (a str, as UTF-8) to ``path`` through a temporary file in the same folder and a
    rename, so that a reader (or an interrupted run) never sees half a file. The folder is made if
    missing; an existing regular file is replaced, anything else at ``path`` (a folder, a FIFO, a
    device) is an error. ``exclusive``: fail with ``FileExistsError`` if ``path`` exists."""
    path = check_path(path, "path")
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {describe(text)}")
    check_bool(exclusive, "exclusive")
    _folder_to_write(path.parent, f"path {path}: its folder")
    _check_target(path, "path")
    handle, temporary = _new_temporary(path)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if exclusive:
            os.link(temporary, path)  # fails with FileExistsError instead of replacing
            os.unlink(temporary)
        else:
            os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def write_numbered(folder: str | os.PathLike, stem: str, counter: int, texts: Mapping[str, str]) -> list[Path]:
    """Write ``{stem}_{counter:05}_.{ext}`` for each ``ext -> text``, all with one counter, starting at
    ``counter`` (an int >= 0) and moving on while any of those names exists: nothing is ever
    overwritten. ``stem`` and each ``ext`` are plain names (no folder); ``folder`` is made if missing."""
    folder = _folder_to_write(check_path(folder, "folder"), "folder")
    _check_plain_name(stem, "stem")
    counter = check_int(counter, "counter", minimum=0)
    if not isinstance(texts, Mapping) or not texts:
        raise TypeError(f"texts must be a non-empty mapping of file extension to text, e.g. {{'json': ...}}, got {describe(texts)}")
    for ext, text in texts.items():
        _check_plain_name(ext, "texts: each extension")
        if not isinstance(text, str):
            raise TypeError(f"texts[{ext!r}] must be a str, got {describe(text)}")
    while True:
        paths = [folder / f"{stem}_{counter:05}_.{ext}" for ext in texts]
        if any(os.path.lexists(p) for p in paths):  # a dangling link takes a name too
            counter += 1
            continue
        written: list[Path] = []
        try:
            for path, text in zip(paths, texts.values()):
                written.append(write_atomic(path, text, exclusive=True))
        except FileExistsError:  # another run took this number between the check and the write
            for path in written:
                path.unlink()
            if not any(os.path.lexists(p) for p in paths):
                raise
            counter += 1
            continue
        return written


def _check_plain_name(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {describe(value)}")
    if value in ("", ".", "..") or "/" in value or "\\" in value or "\0" in value:
        raise ValueError(f"{name} must be a plain file name (no folder, not empty), got {value!r}")
    return value
