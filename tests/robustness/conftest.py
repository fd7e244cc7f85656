"""Helpers for the robustness suite: a tiny generated collection and the one-line-error check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdbench.cli import main

DOCS = {f"d{i}": f"passage {i} about topic {i % 3} and retrieval" for i in range(12)}
QUERIES = {"q1": "topic 1 retrieval", "q2": "topic 2", "q3": "passage about topic 0"}
QRELS = {"q1": {"d1": 1}, "q2": {"d2": 1, "d5": 2}, "q3": {"d3": 1}}


def write_beir(
    folder: Path,
    *,
    docs: dict[str, str] = DOCS,
    queries: dict[str, str] = QUERIES,
    qrels: dict[str, dict[str, int]] = QRELS,
    split: str = "test",
) -> Path:
    """A BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv (with BEIR's header)."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": "", "text": t}) + "\n" for i, t in docs.items())
    )
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in queries.items())
    )
    (folder / "qrels" / f"{split}.tsv").write_text(
        "query-id\tcorpus-id\tscore\n"
        + "".join(f"{q}\t{d}\t{g}\n" for q, docs_ in qrels.items() for d, g in docs_.items())
    )
    return folder


@pytest.fixture
def beir_dir(tmp_path: Path) -> Path:
    """A fresh, writable 12-passage BEIR folder (tests corrupt it as they need)."""
    return write_beir(tmp_path / "beir")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Doc indexes and BM25 indexes of generated folders stay out of the user's cache.
    monkeypatch.setenv("KDBENCH_CACHE", str(tmp_path / "kdbench-cache"))


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run `kdbench argv`; assert exit code 2 and exactly one stderr line without a traceback."""
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}; stderr:\n{err}"
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    assert lines[0].startswith("kdbench: error: "), lines[0]
    return lines[0]
