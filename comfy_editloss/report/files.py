"""Files that are written, never overwritten: ComfyUI's numbering (``scores_00001_.json``), atomic
writes (a temporary file and a rename, so an interrupted run leaves no half-written file). They get
the permissions a plain ``open()`` gives (``0666`` less the umask), as ComfyUI's own saved images do."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Mapping

__all__ = ["numbered_path", "write_atomic", "write_numbered"]


def numbered_path(prefix: str, output_dir: Path, width: int = 0, height: int = 0) -> tuple[Path, str, int, str]:
    """ComfyUI's ``folder_paths.get_save_image_path``: (folder, file stem, next free counter,
    subfolder) for a ``filename_prefix`` such as ``editloss/scores`` or ``%year%-%month%/run``. The
    counter is one more than the largest of the files named ``{stem}_{digits}_...`` in the folder."""
    if "%" in prefix:
        now = time.localtime()
        for key, value in (("%width%", width), ("%height%", height), ("%year%", now.tm_year), ("%month%", f"{now.tm_mon:02}"),
                           ("%day%", f"{now.tm_mday:02}"), ("%hour%", f"{now.tm_hour:02}"), ("%minute%", f"{now.tm_min:02}"),
                           ("%second%", f"{now.tm_sec:02}")):
            prefix = prefix.replace(key, str(value))
    normalized = os.path.normpath(prefix)
    subfolder, stem = os.path.dirname(normalized), os.path.basename(normalized)
    output_dir = Path(os.path.abspath(output_dir))
    folder = Path(os.path.abspath(output_dir / subfolder))
    if os.path.commonpath((output_dir, folder)) != str(output_dir):
        raise ValueError(f"saving outside the output folder is not allowed: filename_prefix {prefix!r}")
    folder.mkdir(parents=True, exist_ok=True)
    counter = 0
    for existing in os.listdir(folder):
        if existing.startswith(stem + "_"):
            digits = existing[len(stem) + 1 :].split("_")[0]
            if digits.isdigit():
                counter = max(counter, int(digits))
    return folder, stem, counter + 1, subfolder


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
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename, so that a
    reader (or an interrupted run) never sees half a file. ``exclusive``: fail if ``path`` exists."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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
    ``counter`` and moving on while any of those names exists: nothing is ever overwritten."""
    folder = Path(folder)
    while True:
        paths = [folder / f"{stem}_{counter:05}_.{ext}" for ext in texts]
        if any(p.exists() for p in paths):
            counter += 1
            continue
        written: list[Path] = []
        try:
            for path, text in zip(paths, texts.values()):
                written.append(write_atomic(path, text, exclusive=True))
        except FileExistsError:  # another run took this number between the check and the write
            for path in written:
                path.unlink()
            counter += 1
            continue
        return written
