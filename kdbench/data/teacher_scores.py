"""Teacher-score files: the paper's `pos_score<TAB>neg_score<TAB>qid<TAB>pid_pos<TAB>pid_neg`.

This is the format of the published MS MARCO teacher scores (Zenodo 4068216) and of
`kdbench teacher score`. Several files (one per teacher) combine into an ensemble by averaging
the scores of the same (qid, pid_pos, pid_neg) triple, optionally after normalising each teacher.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kdbench.data._files import iter_lines, parses_as, require_rows, warn_same_passage
from kdbench.errors import InputFileError, UserError
from kdbench.io import FileKind, atomic_path, first_line

# Per teacher, before averaging: over the whole file (zscore, minmax) or per query (query-zscore:
# each query's scores over the distinct passages scored for it; scorers of different
# architectures differ in scale from query to query, not only overall).
NORMALIZATIONS = ("none", "zscore", "minmax", "query-zscore")


def _is_score_line(line: str) -> bool:
    """`pos_score<TAB>neg_score<TAB>qid<TAB>pid_pos<TAB>pid_neg`.

    >>> tab = chr(9)
    >>> _is_score_line(tab.join(["1.5", "-0.5", "q1", "d1", "d2"])), _is_score_line("q1 d1 d2")
    (True, False)
    """
    fields = line.split("\t")
    return len(fields) == 5 and parses_as(float, fields[0]) and parses_as(float, fields[1])


# What `teacher score --output` may replace: a teacher-score file (a user's file is left alone).
SCORES_FILE = FileKind("a teacher-score file", lambda path: _is_score_line(first_line(path)))


@dataclass(frozen=True)
class ScoredTriple:
    qid: str
    pos_id: str
    neg_id: str
    pos_score: float
    neg_score: float

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.qid, self.pos_id, self.neg_id)

    @property
    def margin(self) -> float:
        return self.pos_score - self.neg_score


def _score(text: str, path: Path, line: int, column: str) -> float:
    if not parses_as(float, text):  # not `1_5` or `５`, which float() reads as numbers
        raise InputFileError(
            path,
            f"{column} {text!r} is not a number; expected pos_score<TAB>neg_score<TAB>qid"
            "<TAB>pid_pos<TAB>pid_neg",
            line,
        )
    value = float(text)
    if not math.isfinite(value):
        raise InputFileError(
            path, f"{column} is {text}; teacher scores must be finite numbers", line
        )
    return value


def read_teacher_scores(path: str | os.PathLike[str]) -> list[ScoredTriple]:
    """Read a teacher-score file; a malformed row is an `InputFileError` naming the file and line."""
    p = Path(path)
    rows: list[ScoredTriple] = []
    pairs: list[tuple[int, str, str]] = []
    for number, line in iter_lines(p, "teacher-score"):
        fields = line.split("\t")
        if len(fields) != 5:
            raise InputFileError(
                p,
                f"{len(fields)} tab-separated fields; expected 5: pos_score<TAB>neg_score<TAB>qid"
                "<TAB>pid_pos<TAB>pid_neg",
                number,
            )
        pos_score = _score(fields[0], p, number, "pos_score")
        neg_score = _score(fields[1], p, number, "neg_score")
        qid, pos_id, neg_id = (f.strip() for f in fields[2:])
        if not (qid and pos_id and neg_id):
            raise InputFileError(p, "empty qid, pid_pos or pid_neg", number)
        rows.append(ScoredTriple(qid, pos_id, neg_id, pos_score, neg_score))
        pairs.append((number, pos_id, neg_id))
    warn_same_passage(p, pairs)
    require_rows(
        p, len(rows), "teacher scores (pos_score<TAB>neg_score<TAB>qid<TAB>pid_pos<TAB>pid_neg)"
    )
    return rows


def format_teacher_scores(rows: Iterable[ScoredTriple]) -> str:
    # repr of a float round-trips exactly, so a re-read file trains the same student.
    return "".join(
        f"{r.pos_score!r}\t{r.neg_score!r}\t{r.qid}\t{r.pos_id}\t{r.neg_id}\n" for r in rows
    )


def write_teacher_scores(path: str | os.PathLike[str], rows: Iterable[ScoredTriple]) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(format_teacher_scores(rows), encoding="utf-8")
    return Path(path)


def zscore(values: dict[str, float]) -> dict[str, float]:
    """Scores of one query to mean 0 and standard deviation 1 (a constant query stays at 0).

    >>> zscore({"a": 3.0, "b": 1.0})
    {'a': 1.0, 'b': -1.0}
    """
    mean = sum(values.values()) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values.values()) / len(values)) or 1.0
    return {key: (value - mean) / std for key, value in values.items()}


def query_zscore_rows(rows: Sequence[ScoredTriple]) -> list[ScoredTriple]:
    """Each query's pair scores z-scored over the distinct passages scored for it.

    >>> rows = [ScoredTriple("q", "p", "a", 5.0, 1.0), ScoredTriple("q", "p", "b", 5.0, 3.0)]
    >>> [(r.pos_score, r.neg_score) for r in query_zscore_rows(rows)]
    [(1.224744871391589, -1.224744871391589), (1.224744871391589, 0.0)]
    """
    pairs: dict[str, dict[str, float]] = {}
    for r in rows:
        pairs.setdefault(r.qid, {}).update({r.pos_id: r.pos_score, r.neg_id: r.neg_score})
    scaled = {qid: zscore(docs) for qid, docs in pairs.items()}
    return [
        ScoredTriple(r.qid, r.pos_id, r.neg_id, scaled[r.qid][r.pos_id], scaled[r.qid][r.neg_id])
        for r in rows
    ]


def normalize_scores(rows: Sequence[ScoredTriple], method: str) -> list[ScoredTriple]:
    """Rescale one teacher's scores (over all its pos and neg scores) so teachers are comparable.

    >>> rows = [ScoredTriple("q", "a", "b", 3.0, 1.0)]
    >>> [(r.pos_score, r.neg_score) for r in normalize_scores(rows, "zscore")]
    [(1.0, -1.0)]
    >>> [(r.pos_score, r.neg_score) for r in normalize_scores(rows, "minmax")]
    [(1.0, 0.0)]
    """
    if method == "none":
        return list(rows)
    if method == "query-zscore":
        return query_zscore_rows(rows)
    values = [s for r in rows for s in (r.pos_score, r.neg_score)]
    if method == "zscore":
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        offset, scale = mean, std
    elif method == "minmax":
        offset, scale = min(values), max(values) - min(values)
    else:
        raise UserError(
            f"--teacher-normalize {method!r}: choose one of {', '.join(NORMALIZATIONS)}"
        )
    scale = scale or 1.0  # a constant teacher stays constant instead of dividing by zero
    return [
        ScoredTriple(
            r.qid,
            r.pos_id,
            r.neg_id,
            (r.pos_score - offset) / scale,
            (r.neg_score - offset) / scale,
        )
        for r in rows
    ]


def ensemble_teacher_scores(
    teachers: Sequence[Sequence[ScoredTriple]],
    normalize: str = "none",
    names: Sequence[str] | None = None,
) -> list[ScoredTriple]:
    """The mean of several teachers' scores per triple, in the first teacher's order (the paper's T2).

    Every teacher must score the same triples; `names` (file paths) make the error say which does not.

    >>> a = [ScoredTriple("q", "p", "n", 4.0, 0.0)]
    >>> b = [ScoredTriple("q", "p", "n", 2.0, 1.0)]
    >>> ensemble_teacher_scores([a, b])[0]
    ScoredTriple(qid='q', pos_id='p', neg_id='n', pos_score=3.0, neg_score=0.5)
    """
    if not teachers:
        raise ValueError("ensemble_teacher_scores: no teachers given")
    labels = (
        list(names) if names is not None else [f"teacher {i + 1}" for i in range(len(teachers))]
    )
    if len(teachers) == 1 and normalize == "none":
        return list(teachers[0])
    normalized = [normalize_scores(rows, normalize) for rows in teachers]
    base_keys = [r.key for r in normalized[0]]
    if len(set(base_keys)) != len(base_keys):
        raise InputFileError(
            labels[0],
            "lists the same (qid, pid_pos, pid_neg) twice; an ensemble needs unique triples",
        )
    totals = {r.key: [r.pos_score, r.neg_score] for r in normalized[0]}
    for label, rows in zip(labels[1:], normalized[1:], strict=True):
        by_key = {r.key: r for r in rows}
        missing = [key for key in base_keys if key not in by_key]
        if missing or len(by_key) != len(base_keys):
            example = "\t".join(missing[0]) if missing else "extra triples"
            raise InputFileError(
                label,
                f"does not score the same triples as {labels[0]} (e.g. {example}); "
                "score one triples file with every teacher",
            )
        for key in base_keys:
            totals[key][0] += by_key[key].pos_score
            totals[key][1] += by_key[key].neg_score
    count = len(normalized)
    return [ScoredTriple(*key, totals[key][0] / count, totals[key][1] / count) for key in base_keys]
