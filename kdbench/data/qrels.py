"""Relevance judgements: TREC (`qid iter doc_id grade`) or BEIR (`query-id corpus-id score`, header)."""

from __future__ import annotations

import os
from pathlib import Path

from kdbench.data._files import iter_lines, parses_as, require_rows
from kdbench.errors import InputFileError

Qrels = dict[str, dict[str, int]]


def read_qrels(path: str | os.PathLike[str]) -> Qrels:
    """qid -> {doc_id: grade}; 4 columns are TREC, 3 columns BEIR (header optional).

    Columns may be separated by tabs or spaces; every row must have the same count.
    """
    p = Path(path)
    qrels: Qrels = {}
    first_line: dict[tuple[str, str], int] = {}
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
            if columns_expected == 3 and not parses_as(int, columns[2]):
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
        if not parses_as(int, grade):
            raise InputFileError(p, f"relevance grade {grade!r} is not an integer", number)
        if (qid, doc_id) in first_line:
            raise InputFileError(
                p,
                f"duplicate judgement for query {qid!r}, doc {doc_id!r} (first on line {first_line[qid, doc_id]})",
                number,
            )
        first_line[qid, doc_id] = number
        qrels.setdefault(qid, {})[doc_id] = int(grade)
    require_rows(p, len(first_line), "judgements", header=header)
    return qrels
