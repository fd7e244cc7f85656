"""Malformed input: every problem is an InputFileError naming the file and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kdbench.cli import main
from kdbench.data import OffsetDocStore, read_qrels, read_queries, read_run
from kdbench.errors import InputFileError


def jsonl_store(path: Path) -> Any:
    return OffsetDocStore(path, "jsonl", cache_dir=path.parent / "cache")


def tsv_store(path: Path) -> Any:
    return OffsetDocStore(path, "tsv", cache_dir=path.parent / "cache")


CASES: list[tuple[str, str, bytes, Callable[[Path], Any], int | None, str]] = [
    (
        "corpus bad json",
        "corpus.jsonl",
        b'{"_id": "1", "text": "a"}\n{"_id": "2", "text": \n',
        jsonl_store,
        2,
        "not valid JSON",
    ),
    (
        "corpus missing _id",
        "corpus.jsonl",
        b'{"_id": "1", "text": "a"}\n{"title": "t", "text": "b"}\n',
        jsonl_store,
        2,
        'missing "_id"',
    ),
    ("corpus missing text", "corpus.jsonl", b'{"_id": "1"}\n', jsonl_store, 1, 'non-string "text"'),
    (
        "corpus not an object",
        "corpus.jsonl",
        b'["1", "a"]\n',
        jsonl_store,
        1,
        "expected a JSON object",
    ),
    (
        "corpus bad utf-8",
        "corpus.jsonl",
        b'{"_id": "1", "text": "a"}\n{"_id": "2", "text": "\xff"}\n',
        jsonl_store,
        2,
        "not valid UTF-8 (byte 0xff at column 23)",
    ),
    (
        "corpus duplicate id",
        "corpus.jsonl",
        b'{"_id": "1", "text": "a"}\n{"_id": "2", "text": "b"}\n{"_id": "1", "text": "c"}\n',
        jsonl_store,
        3,
        "duplicate doc id '1' (first on line 1)",
    ),
    ("corpus empty", "corpus.jsonl", b"", jsonl_store, None, "is empty"),
    ("corpus blank lines only", "corpus.jsonl", b"\n\n", jsonl_store, None, "is empty"),
    (
        "collection wrong columns",
        "collection.tsv",
        b"1\tfine\n2\ttab\tinside\n",
        tsv_store,
        2,
        "expected 2 tab-separated columns (doc_id, text), found 3",
    ),
    ("collection one column", "collection.tsv", b"1\tfine\n2 no tab\n", tsv_store, 2, "found 1"),
    (
        "collection duplicate",
        "collection.tsv",
        b"1\ta\n1\tb\n",
        tsv_store,
        2,
        "duplicate doc id '1'",
    ),
    (
        "qrels header only",
        "test.tsv",
        b"query-id\tcorpus-id\tscore\n",
        read_qrels,
        None,
        "has a header but no judgements",
    ),
    ("qrels empty", "test.tsv", b"", read_qrels, None, "is empty"),
    (
        "qrels five columns",
        "qrels.txt",
        b"1 0 d1 1 extra\n",
        read_qrels,
        1,
        "expected 4 columns (TREC",
    ),
    (
        "qrels ragged",
        "qrels.txt",
        b"1 0 d1 1\n1 0 d2\n",
        read_qrels,
        2,
        "expected 4 columns like the first row, found 3",
    ),
    (
        "qrels grade",
        "qrels.txt",
        b"1 0 d1 1\n1 0 d2 high\n",
        read_qrels,
        2,
        "relevance grade 'high' is not a whole number; write 0, 1, 2, ...",
    ),
    (
        "qrels duplicate",
        "test.tsv",
        b"query-id\tcorpus-id\tscore\n1\td1\t1\n1\td1\t0\n",
        read_qrels,
        3,
        "duplicate judgement for query '1', doc 'd1' (first on line 2) with another grade (1, then 0)",
    ),
    (
        "qrels bad utf-8",
        "qrels.txt",
        b"1 0 d1 1\n1 0 d\xc3\x28 1\n",
        read_qrels,
        2,
        "not valid UTF-8",
    ),
    (
        "queries bad json",
        "queries.jsonl",
        b'{"_id": "1", "text": "a"}\n{"_id": "2"\n',
        read_queries,
        2,
        "not valid JSON",
    ),
    ("queries missing _id", "queries.jsonl", b'{"text": "a"}\n', read_queries, 1, 'missing "_id"'),
    (
        "queries duplicate",
        "queries.tsv",
        b"1\ta\n2\tb\n1\tc\n",
        read_queries,
        3,
        "duplicate query id '1' (first on line 1)",
    ),
    (
        "queries columns",
        "queries.tsv",
        b"1\ta\n2\n",
        read_queries,
        2,
        "expected 2 tab-separated columns (qid, text), found 1",
    ),
    (
        "run columns",
        "run.trec",
        b"1 Q0 d1 1 2.5 tag\n1 Q0 d2 2 1.5\n",
        read_run,
        2,
        "expected 6 columns (qid Q0 doc_id rank score tag), found 5",
    ),
    (
        "run score",
        "run.trec",
        b"1 Q0 d1 1 high tag\n",
        read_run,
        1,
        "score 'high' in column 5 is not a finite number",
    ),
    ("run nan score", "run.trec", b"1 Q0 d1 1 nan tag\n", read_run, 1, "not a finite number"),
    (
        "run duplicate",
        "run.trec",
        b"1 Q0 d1 1 2.5 tag\n1 Q0 d1 2 1.5 tag\n",
        read_run,
        2,
        "doc 'd1' listed twice for query '1' (first on line 1)",
    ),
    ("run empty", "run.trec", b"", read_run, None, "is empty"),
]


@pytest.mark.parametrize(
    ("name", "filename", "content", "reader", "line", "message"), CASES, ids=[c[0] for c in CASES]
)
def test_malformed_input_names_file_and_line(
    tmp_path: Path,
    name: str,
    filename: str,
    content: bytes,
    reader: Callable[[Path], Any],
    line: int | None,
    message: str,
) -> None:
    path = tmp_path / filename
    path.write_bytes(content)
    with pytest.raises(InputFileError) as caught:
        reader(path)
    error = caught.value
    assert error.path == str(path)
    assert error.line == line
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(error).startswith(where)
    assert message in str(error)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such run file"):
        read_run(tmp_path / "absent.trec")


def test_cli_reports_a_malformed_run_in_one_line(
    scifact_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run.trec"
    run.write_text("1 Q0 4983 1 2.0 tag\n1 Q0 5836 2\n", encoding="utf-8")
    code = main(["evaluate", "--data", str(scifact_dir), "--split", "test", "--run", str(run)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1]
        == f"kdbench: error: {run}:2: expected 6 columns (qid Q0 doc_id rank score tag), found 4"
    )
