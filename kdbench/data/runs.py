"""TREC run files (`qid Q0 doc_id rank score tag`) and the one ranking order kdbench uses.

Ties are broken as trec_eval breaks them, by doc id in descending string order, so the
rank column written here is the ranking every metric sees.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

from kdbench.data._files import iter_lines, parses_as, require_rows
from kdbench.errors import InputFileError
from kdbench.io import FileKind, atomic_path, first_line

Run = dict[str, dict[str, float]]


def _is_run_line(line: str) -> bool:
    """`qid Q0 doc_id rank score tag`: six columns, a whole rank and a number.

    >>> _is_run_line("q1 Q0 d1 1 2.5 bm25"), _is_run_line("my notes")
    (True, False)
    """
    columns = line.split()
    return len(columns) == 6 and parses_as(int, columns[3]) and parses_as(float, columns[4])


# What `--run-file` may replace: a TREC run (any writer's; a user's notes are left alone).
RUN_FILE = FileKind("a TREC run file", lambda path: _is_run_line(first_line(path)))


def ranked(doc_scores: Mapping[str, float]) -> list[tuple[str, float]]:
    """(doc_id, score) best first: score descending, then doc id descending (trec_eval's order).

    >>> ranked({"a": 1.0, "b": 2.0, "c": 1.0})
    [('b', 2.0), ('c', 1.0), ('a', 1.0)]
    """
    by_doc = sorted(doc_scores.items(), key=lambda item: item[0], reverse=True)
    return sorted(by_doc, key=lambda item: item[1], reverse=True)


def truncate(run: Run, depth: int) -> Run:
    """Each query's top `depth` docs in ranked order."""
    return {qid: dict(ranked(docs)[:depth]) for qid, docs in run.items()}


def read_run(path: str | os.PathLike[str]) -> Run:
    """qid -> {doc_id: score}; the rank column is ignored, as trec_eval ignores it."""
    p = Path(path)
    run: Run = {}
    first_line: dict[tuple[str, str], int] = {}
    for number, line in iter_lines(p, "run"):
        columns = line.split()
        if len(columns) != 6:
            raise InputFileError(
                p,
                f"expected 6 columns (qid Q0 doc_id rank score tag), found {len(columns)}",
                number,
            )
        qid, _, doc_id, _, score_text, _ = columns
        score = float(score_text) if parses_as(float, score_text) else math.nan
        if not math.isfinite(score):
            raise InputFileError(
                p,
                f"score {score_text!r} in column 5 is not a finite number (write it with "
                "ASCII digits, a point and no separators: 12.5, -3e-2)",
                number,
            )
        if (qid, doc_id) in first_line:
            raise InputFileError(
                p,
                f"doc {doc_id!r} listed twice for query {qid!r} (first on line {first_line[qid, doc_id]})",
                number,
            )
        first_line[qid, doc_id] = number
        run.setdefault(qid, {})[doc_id] = score
    require_rows(p, len(first_line), "run lines")
    return run


def write_run(path: str | os.PathLike[str], run: Run, tag: str = "kdbench") -> Path:
    """Write `run` atomically in TREC format, queries in `run` order, docs in `ranked` order."""
    if not tag or any(c.isspace() for c in tag):
        raise ValueError(f"run tag {tag!r} must be one word")
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for qid, docs in run.items():
            for rank, (doc_id, score) in enumerate(ranked(docs), start=1):
                # repr() is the shortest text that reads back as the same float.
                handle.write(f"{qid} Q0 {doc_id} {rank} {float(score)!r} {tag}\n")
    return Path(path)
