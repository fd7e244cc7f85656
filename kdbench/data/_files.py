"""Line-by-line reading that locates every problem by file and line."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from kdbench.errors import InputFileError

log = logging.getLogger("kdbench")

# Editors on Windows often save UTF-8 with a byte-order mark; it is not part of the first field.
BOM = b"\xef\xbb\xbf"


def decode_line(path: Path, raw: bytes, line: int) -> str:
    """`raw` as UTF-8 without its line ending (nor, on line 1, a BOM); bad bytes name file, line, column."""
    if line == 1:
        raw = raw.removeprefix(BOM)
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            path,
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); re-save the file as UTF-8",
            line,
        ) from exc


def iter_lines(path: str | os.PathLike[str], what: str) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, text) for every non-blank line; `what` names the file's role."""
    p = Path(path)
    try:
        handle = p.open("rb")
    except FileNotFoundError as exc:
        raise InputFileError(p, f"no such {what} file; check the path") from exc
    except IsADirectoryError as exc:
        raise InputFileError(p, f"is a folder, expected a {what} file") from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            text = decode_line(p, raw, number)
            if text.strip():
                yield number, text


def require_rows(
    path: str | os.PathLike[str], count: int, what: str, *, header: bool = False
) -> None:
    """Raise if a file held no rows: say whether it was empty or only a header."""
    if count:
        return
    if header:
        raise InputFileError(path, f"has a header but no {what}; is this the right file?")
    raise InputFileError(path, f"is empty; expected {what}")


def warn(message: str, warnings: list[str] | None) -> None:
    """A tolerated data problem: logged, and kept in `warnings` (the result carries them)."""
    log.warning(message)
    if warnings is not None:
        warnings.append(message)


def parses_as(kind: Callable[[str], object], text: str) -> bool:
    """Whether `kind(text)` reads `text` as a number in a file is written: ASCII digits,
    no `_` (a column's type, when telling file layouts apart, and before reading a number).

    Python's int and float also read `1_0` (10), `٣` and `５`, which trec_eval's C reader
    takes as 1, 0 and 0: such a column is not a number here, never another one.

    >>> parses_as(int, "3"), parses_as(int, "0.5"), parses_as(float, "0.5")
    (True, False, True)
    >>> parses_as(int, "1_0"), parses_as(float, "５"), parses_as(int, "٣")
    (False, False, False)
    """
    if not text.isascii() or "_" in text:
        return False
    try:
        kind(text)
    except ValueError:
        return False
    return True


def warn_same_passage(path: Path, pairs: Sequence[tuple[int, str, str]]) -> None:
    """A warning counting the lines whose positive and negative are one passage: kept (as the
    file is), though such a pair teaches nothing (every loss's margin is 0)."""
    same = [number for number, positive, negative in pairs if positive == negative]
    if same:
        warn(
            f"{path}: {len(same)} triple(s) have the same passage as positive and negative "
            f"(e.g. line {same[0]}); they carry no training signal",
            None,
        )
