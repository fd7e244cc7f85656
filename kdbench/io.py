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


def check_writable(path: str | os.PathLike[str], option: str) -> Path:
    """Fail now, before hours of work, if `path` could not be written at the end.

    Probes with a real temporary file in the nearest existing folder (permission bits say
    nothing for root, and /proc or a read-only mount refuse files whatever the bits);
    creates no folder. `option` names the setting in the error (e.g. "--output").
    """
    target = Path(path)
    if target.is_dir():
        raise UserError(f"{option} {target}: is a folder; pass a file name")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"{option} {target}: {folder} is a file, not a folder; choose another path")
    try:
        fd, probe = tempfile.mkstemp(prefix=".kdbench-probe.", dir=folder)
    except OSError as exc:
        raise UserError(
            f"{option} {target}: cannot write in {folder} ({exc.strerror}); choose a writable path"
        ) from exc
    os.close(fd)
    os.unlink(probe)
    return target


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only on success."""
    target = Path(path)
    if target.is_dir():
        raise UserError(f"{target}: is a folder; pass a file name to write")
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
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: is a file, not a folder; choose another output folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path / ".kdbench.lock"))
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise UserError(
            f"{path}: another {what} is writing this folder; wait for it to finish or choose another output"
        ) from exc
    except OSError as exc:
        raise UserError(
            f"{path}: cannot write this folder ({exc.strerror}); choose a writable output folder"
        ) from exc
    try:
        yield
    finally:
        lock.release()
