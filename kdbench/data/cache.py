"""Where kdbench keeps derived files (doc offset indexes, BM25 indexes): never next to read-only data."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """`cache_dir`, else $KDBENCH_CACHE, else $XDG_CACHE_HOME/kdbench (~/.cache/kdbench)."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("KDBENCH_CACHE"):
        return Path(os.environ["KDBENCH_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "kdbench"


def file_fingerprint(path: Path) -> str:
    """Identity of a file's content version: resolved path, size and modification time."""
    stat = path.stat()
    key = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]
