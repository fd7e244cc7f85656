"""Relevance judgements: TREC (`qid iter doc_id grade`) or BEIR (`query-id corpus-id score`, header)."""

from __future__ import annotations

import os
from pathlib import Path

from kdbench.data._files import iter_lines, parses_as, require_rows, warn
from kdbench.errors import InputFileError

Qrels = dict[str, dict[str, int]]

# pytrec_eval (behind ir_measures) holds a grade in a C int: a larger one cannot be evaluated.
LARGEST_GRADE = 2**31 - 1


def read_qrels(path: str | os.PathLike[str], warnings: list[str] | None = None) -> Qrels:
    """qid -> {doc_id: grade}; 4 columns are TREC, 3 columns BEIR (header optional).

    Columns may be separated by tabs or spaces; every row must have the same count. A line
    that repeats an earlier judgement word for word is counted once, with a warning (merged
    qrels files have them); the same query and doc with another grade is an error, since
    which grade is meant cannot be told. Negative grades are kept with a warning (see
    `check_grades`). Warnings are logged and added to `warnings`.
    """
    p = Path(path)
    qrels: Qrels = {}
    first_line: dict[tuple[str, str], int] = {}
    repeated: list[int] = []
    decimals: list[int] = []  # lines whose grade is written `1.0`
    columns_expected: int | None = None
    header = False
    for number, line in iter_lines(p, "qrels"):
        columns = line.split()
        if columns_expected is None:
            if len(columns) not in (3, 4):
                raise InputFileError(
                    p,
                    f"expected 4 columns (TREC: qid iter doc_id grade) or 3 (BEIR: query-id corpus-id score), found {len(columns)}",
                    number,
                )
            columns_expected = len(columns)
            if columns_expected == 3 and not parses_as(float, columns[2]):
                header = True  # BEIR's `query-id corpus-id score`
                continue
        if len(columns) != columns_expected:
            raise InputFileError(
                p,
                f"expected {columns_expected} columns like the first row, found {len(columns)}",
                number,
            )
        qid, doc_id, grade = (
            (columns[0], columns[1], columns[2])
            if columns_expected == 3
            else (columns[0], columns[2], columns[3])
        )
        value = _grade(grade, p, number)
        if not parses_as(int, grade):
            decimals.append(number)
        if (qid, doc_id) in first_line:
            if qrels[qid][doc_id] == value:
                repeated.append(number)
                continue
            raise InputFileError(
                p,
                f"duplicate judgement for query {qid!r}, doc {doc_id!r} (first on line "
                f"{first_line[qid, doc_id]}) with another grade ({qrels[qid][doc_id]}, then "
                f"{value}); keep one line",
                number,
            )
        first_line[qid, doc_id] = number
        qrels.setdefault(qid, {})[doc_id] = value
    require_rows(p, len(first_line), "judgements", header=header)
    if repeated:
        warn(
            f"{p}: {len(repeated)} line(s) repeat an earlier judgement and are counted once "
            f"(e.g. line {repeated[0]})",
            warnings,
        )
    if decimals:
        warn(
            f"{p}: {len(decimals)} grade(s) are written as decimals (e.g. line {decimals[0]}); "
            "each is a whole number and is read as one, as trec_eval reads it",
            warnings,
        )
    check_grades(qrels, origin=str(p), warnings=warnings)
    return qrels


def _grade(text: str, path: Path, line: int) -> int:
    """A relevance grade: a whole number (`2`, or `2.0` as some tools write it) that
    pytrec_eval can hold; anything else names the file and line."""
    if parses_as(int, text):
        value = int(text)
    elif parses_as(float, text) and float(text).is_integer():
        value = int(float(text))
    else:
        raise InputFileError(
            path, f"relevance grade {text!r} is not a whole number; write 0, 1, 2, ...", line
        )
    if abs(value) > LARGEST_GRADE:
        raise InputFileError(
            path,
            f"relevance grade {text} is out of range: grades are whole numbers from "
            f"-{LARGEST_GRADE} to {LARGEST_GRADE} (usually 0 to 3)",
            line,
        )
    return value


def check_grades(qrels: Qrels, *, origin: str, warnings: list[str] | None) -> None:
    """Warn about negative grades (TREC's spam and junk labels): kept, and trec_eval counts
    them as not relevant (gain 0 in nDCG, below every `rel` in RR, R and AP)."""
    negative = [
        (qid, doc_id) for qid, judged in qrels.items() for doc_id, g in judged.items() if g < 0
    ]
    if negative:
        qid, doc_id = negative[0]
        warn(
            f"{origin}: {len(negative)} judgement(s) have a negative grade (e.g. query {qid!r}, "
            f"doc {doc_id!r}); they count as not relevant, as in trec_eval",
            warnings,
        )
