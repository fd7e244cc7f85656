"""Derived files (doc offset indexes, BM25 indexes) go to one temporary cache per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import cache_in_tmp, kdbench_cache  # noqa: F401 (fixtures)


@pytest.fixture(scope="session")
def small_scifact_dir(scifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BEIR folder cut from SciFact: its first 300 docs plus every doc judged for the first 5 test queries."""
    import json

    folder = tmp_path_factory.mktemp("small-scifact")
    qrels_lines = (scifact_dir / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    header, rows = qrels_lines[0], [line.split("\t") for line in qrels_lines[1:]]
    qids = list(dict.fromkeys(row[0] for row in rows))[:5]
    kept_rows = [row for row in rows if row[0] in qids]
    judged = {row[1] for row in kept_rows}
    corpus_lines = (scifact_dir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    kept_docs = [
        line for i, line in enumerate(corpus_lines) if i < 300 or json.loads(line)["_id"] in judged
    ]
    (folder / "corpus.jsonl").write_text("\n".join(kept_docs) + "\n", encoding="utf-8")
    queries = [
        line
        for line in (scifact_dir / "queries.jsonl").read_text(encoding="utf-8").splitlines()
        if json.loads(line)["_id"] in qids
    ]
    (folder / "queries.jsonl").write_text("\n".join(queries) + "\n", encoding="utf-8")
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text(
        "\n".join([header, *("\t".join(r) for r in kept_rows)]) + "\n", encoding="utf-8"
    )
    return folder
