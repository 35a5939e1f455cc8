"""One loaded copy of each model, shared between nodes, runs and callers.

A model is identified by its family, architecture, the file's resolved path, size and modification
time, and the loading options; a changed file loads again.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, Hashable

_CACHE: dict[Hashable, Any] = {}
_LOCK = threading.Lock()


def file_identity(path: str | os.PathLike) -> tuple:
    path = Path(path).resolve()
    if path.is_dir():
        stats = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in path.iterdir() if p.is_file())
        return (str(path), tuple(stats))
    stat = path.stat()
    return (str(path), stat.st_size, stat.st_mtime_ns)


def cached(key: Hashable, load: Callable[[], Any]) -> tuple[Any, bool]:
    """``(model, was_cached)``: the cached model for ``key``, loading it first if needed."""
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key], True
    model = load()
    with _LOCK:
        return _CACHE.setdefault(key, model), False


def clear() -> None:
    with _LOCK:
        _CACHE.clear()


def size() -> int:
    return len(_CACHE)
