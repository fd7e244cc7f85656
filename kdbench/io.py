"""Atomic file writes and results-folder locks: no partial file ever looks complete."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kdbench.errors import UserError


def _ensure_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"{path}: cannot create its folder ({exc.strerror}); choose a writable path"
        ) from exc


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only on success."""
    target = Path(path)
    _ensure_parent(target)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UserError(
            f"{target}: cannot write here ({exc.strerror}); choose a writable path"
        ) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600; give the result the mode an ordinary file would get (0666 & ~umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> Path:
    return atomic_write_text(
        path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    )


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str], what: str = "kdbench") -> Iterator[None]:
    """Hold an exclusive lock on `folder` so two runs never write the same results."""
    from filelock import FileLock, Timeout

    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path / ".kdbench.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise UserError(
            f"{path}: another {what} is writing this folder; wait for it to finish or choose another output"
        ) from exc
    try:
        yield
    finally:
        lock.release()
