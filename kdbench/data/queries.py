"""Query files: BEIR JSONL (`_id`, `text`) or TSV (`qid<TAB>text`, MS MARCO queries.*.tsv)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from kdbench.data._files import iter_lines, require_rows
from kdbench.errors import InputFileError


def read_queries(path: str | os.PathLike[str]) -> dict[str, str]:
    """qid -> text in file order; the format follows the suffix (.jsonl, else TSV).

    A query with empty text is returned as it is; the collection skips it with a count
    (`kdbench.data.collection.drop_empty_queries`).
    """
    p = Path(path)
    queries: dict[str, str] = {}
    first_line: dict[str, int] = {}
    jsonl = p.suffix == ".jsonl"
    for number, line in iter_lines(p, "queries"):
        if jsonl:
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputFileError(
                    p,
                    f"not valid JSON ({exc.msg} at column {exc.colno}); one JSON object per line",
                    number,
                ) from exc
            if not isinstance(record, dict) or "_id" not in record:
                raise InputFileError(
                    p, 'missing "_id"; every BEIR query line needs "_id" and "text"', number
                )
            if not isinstance(record.get("text"), str):
                raise InputFileError(
                    p,
                    'missing or non-string "text"; every BEIR query line needs "_id" and "text"',
                    number,
                )
            qid, text = str(record["_id"]), record["text"]
        else:
            columns = line.split("\t")
            if len(columns) != 2:
                raise InputFileError(
                    p, f"expected 2 tab-separated columns (qid, text), found {len(columns)}", number
                )
            qid, text = columns[0].strip(), columns[1]
        if not qid:
            raise InputFileError(p, "empty query id; every query needs an id", number)
        if qid in first_line:
            raise InputFileError(
                p,
                f"duplicate query id {qid!r} (first on line {first_line[qid]}); query ids must be unique",
                number,
            )
        first_line[qid] = number
        queries[qid] = text
    require_rows(p, len(queries), "queries")
    return queries
