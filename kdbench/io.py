"""Atomic file writes, results-folder locks and ownership: no partial file ever looks complete,
and kdbench replaces nothing it did not write.

Ownership. A folder kdbench writes into (`train --output`, `run`'s results folder) is
kdbench's when it is new or empty, when it holds the marker `OWNER_FILE` (written when the
folder is claimed), or when it holds what an earlier kdbench wrote there before the marker
existed. Any other folder is refused, not written into a subfolder: scripts and
`kdbench run` find a training's files at `--output`, so moving them elsewhere would break
what reads them; the fix is one word on the command line. A file output (`--output
result.json`, a run file, a teacher-score file) may replace only a file of the kind the
command writes (`FileKind`): a user's notes.json is never overwritten.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from kdbench import __version__
from kdbench.errors import UserError


def _ensure_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"{path}: cannot create its folder ({exc.strerror}); choose a writable path"
        ) from exc


# A write that failed for want of room: a full disk, a quota, a file-size limit.
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
ROOM_NEEDED = 1 << 20  # bytes a folder must still take for a failed write not to be "no room"

OWNER_FILE = ".kdbench-folder.json"  # in a folder kdbench claimed: who writes it
LOCK_FILE = ".kdbench.lock"


@dataclass(frozen=True)
class FileKind:
    """What a command writes to a file output, and how to tell an existing one (`recognizes`
    reads the file's start: the kind of file kdbench writes, not a user's file)."""

    name: str  # "a kdbench result"
    recognizes: Callable[[Path], bool]


def _starts_with_result_header(path: Path) -> bool:
    # Result JSON is written with "schema" as its first key (kdbench.results.HEADER_KEYS).
    with path.open("rb") as handle:
        head = handle.read(256)
    return b'"schema": "kdbench.result"' in head


RESULT = FileKind("a kdbench result", _starts_with_result_header)


def first_line(path: Path) -> str:
    """The first non-blank line of `path` ("" for none or unreadable text), for `FileKind`s."""
    try:
        with path.open(encoding="utf-8-sig") as handle:
            return next((line.strip() for line in handle if line.strip()), "")
    except (OSError, UnicodeDecodeError):
        return ""


def check_writable(path: str | os.PathLike[str], option: str, kind: FileKind | None = None) -> Path:
    """Fail now, before hours of work, if `path` could not be written at the end.

    Probes with a real temporary file in the nearest existing folder (permission bits say
    nothing for root, and /proc or a read-only mount refuse files whatever the bits);
    creates no folder. `option` names the setting in the error (e.g. "--output"). With
    `kind`, an existing file is replaced only if it is of that kind (see the module notes).
    """
    target = Path(path)
    if target.is_dir():
        raise UserError(f"{option} {target}: is a folder; pass a file name")
    if kind is not None and target.is_file() and not kind.recognizes(target):
        raise UserError(
            f"{option} {target}: exists and is not {kind.name}; kdbench replaces only files "
            "it wrote: choose another name, or move the file away"
        )
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
        with reporting_no_room(target):
            yield tmp
        # mkstemp creates 0600; give the result the mode an ordinary file would get (0666 & ~umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def no_room_error(target: Path, reason: str) -> UserError:
    """The one line for a write that found no room (nothing was replaced: writes are atomic)."""
    return UserError(
        f"{target}: could not be written ({reason}); free some space or choose another "
        "output: nothing was replaced, earlier results are intact"
    )


def has_room(folder: Path, size: int = ROOM_NEEDED) -> bool:
    """Whether `folder`'s file system still takes `size` bytes (a real allocation: free-space
    figures say nothing of quotas or file-size limits)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".kdbench-room.", dir=folder)
    except OSError:
        return False
    try:
        os.posix_fallocate(fd, 0, size)
        return True
    except OSError as exc:
        return exc.errno not in NO_ROOM
    finally:
        os.close(fd)
        os.unlink(probe)


@contextlib.contextmanager
def reporting_no_room(
    target: str | os.PathLike[str], shown: str | os.PathLike[str] | None = None
) -> Iterator[None]:
    """Turn a write into `target` (a file, or a folder being filled) that ran out of room
    into the one-line error, naming `shown` (default: `target`; e.g. the checkpoint that a
    scratch folder becomes). Libraries report it their own way: safetensors names the OS
    error in its message ("File too large (os error 27)"), torch.save raises a RuntimeError
    that names none ("unexpected pos"), so a failure while the folder has no room left
    counts too; any other failure is raised as it is."""
    path = Path(target)
    name = Path(shown) if shown is not None else path
    try:
        yield
    except UserError:
        raise
    except OSError as exc:
        if exc.errno in NO_ROOM:
            raise no_room_error(name, exc.strerror or "no space") from exc
        raise
    except Exception as exc:
        folder = path if path.is_dir() else path.parent
        named = next((os.strerror(code) for code in NO_ROOM if os.strerror(code) in str(exc)), None)
        if named is not None or (folder.is_dir() and not has_room(folder)):
            raise no_room_error(name, named or os.strerror(errno.ENOSPC)) from exc
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_json(path: str | os.PathLike[str], data: object) -> Path:
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
        lock = FileLock(str(path / LOCK_FILE))
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


def foreign_files(folder: Path, command: str, earlier: Collection[str] = ()) -> list[str]:
    """What in `folder` makes it not kdbench's to write for `command` ("train", "run"): the
    names of files kdbench did not write, or of the marker of another command; [] when the
    folder is new, empty, claimed by `command`, or holds what an earlier kdbench wrote
    there (`earlier`: the names it writes, for folders from before the marker existed)."""
    if not folder.is_dir():
        return []
    marker = folder / OWNER_FILE
    if marker.is_file():
        try:
            owner = json.loads(marker.read_text(encoding="utf-8")).get("command")
        except (OSError, ValueError, AttributeError):
            owner = None
        return [] if owner == command else [f"{OWNER_FILE} of `kdbench {owner}`"]
    names = sorted(p.name for p in folder.iterdir() if not _kdbench_scratch(p.name))
    if not names or any(name in earlier for name in names):
        return []
    return names


def _kdbench_scratch(name: str) -> bool:
    """The lock, and what a killed kdbench leaves: an atomic write's `.NAME.XXXX.tmp`, a probe.

    >>> _kdbench_scratch(".kdbench-folder.json.x1y2.tmp"), _kdbench_scratch("notes.tmp")
    (True, False)
    """
    return name == LOCK_FILE or (
        name.startswith(".") and (name.endswith(".tmp") or name.startswith(".kdbench-"))
    )


def claim_folder(folder: Path, command: str) -> None:
    """Mark `folder` as written by `kdbench command` (after `foreign_files` found nothing)."""
    marker = folder / OWNER_FILE
    if not marker.is_file():
        atomic_write_json(
            marker, {"written_by": "kdbench", "command": command, "version": __version__}
        )


def refuse_foreign(folder: Path, found: list[str], where: str) -> None:
    """The one-line refusal of a folder that is not kdbench's (`where`: "--output DIR")."""
    if found:
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise UserError(
            f"{where}: holds files kdbench did not write ({shown}); kdbench writes only into a "
            "new or empty folder or one it wrote before: choose another folder"
        )


@contextlib.contextmanager
def output_folder(
    folder: str | os.PathLike[str], command: str, *, where: str, earlier: Collection[str] = ()
) -> Iterator[None]:
    """Refuse a folder that is not kdbench's, then hold its lock and claim it for `command`
    (see the module notes); `where` names the folder in errors ("--output DIR")."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise UserError(f"{where}: is a file, not a folder; choose another output folder")
    refuse_foreign(path, foreign_files(path, command, earlier), where)
    with folder_lock(path, f"kdbench {command}"):
        claim_folder(path, command)
        yield
