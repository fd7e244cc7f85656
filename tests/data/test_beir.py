"""The BEIR folder loader on the real SciFact files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdbench.data import OffsetDocStore, load_collection
from kdbench.errors import UserError


def test_scifact_test_counts(scifact_dir: Path) -> None:
    collection = load_collection(scifact_dir, "test")
    assert len(collection.docs) == 5183
    assert len(collection.queries) == 300
    assert sum(len(judged) for judged in collection.qrels.values()) == 339
    assert set(collection.queries) == set(collection.qrels)
    assert collection.warnings == []
    assert collection.source["documents"] == 5183 and collection.source["queries_in_file"] == 1109


def test_scifact_train_split(scifact_dir: Path) -> None:
    collection = load_collection(scifact_dir, "train")
    assert len(collection.queries) == 809
    assert sum(len(judged) for judged in collection.qrels.values()) == 919


def test_doc_text_is_title_space_text(scifact_dir: Path) -> None:
    with (scifact_dir / "corpus.jsonl").open(encoding="utf-8") as handle:
        records = [json.loads(next(handle)) for _ in range(3)]
    docs = load_collection(scifact_dir, "test").docs
    for record in records:
        assert docs[record["_id"]] == record["title"] + " " + record["text"]
    assert docs.get_many([records[2]["_id"], records[0]["_id"]]) == [
        records[2]["title"] + " " + records[2]["text"],
        records[0]["title"] + " " + records[0]["text"],
    ]
    assert records[1]["_id"] in docs
    assert "no-such-doc" not in docs
    with pytest.raises(KeyError):
        docs.get_many([records[0]["_id"], "no-such-doc"])


def test_iter_batches_streams_every_doc_in_file_order(scifact_dir: Path) -> None:
    docs = load_collection(scifact_dir, "test").docs
    with (scifact_dir / "corpus.jsonl").open(encoding="utf-8") as handle:
        file_ids = [json.loads(line)["_id"] for line in handle]
    streamed: list[str] = []
    for ids, texts in docs.iter_batches(1000):
        assert len(ids) == len(texts) <= 1000
        streamed.extend(ids)
    assert streamed == file_ids == docs.ids().tolist()


def test_queries_keep_file_order_and_first_queries(scifact_dir: Path) -> None:
    collection = load_collection(scifact_dir, "test")
    assert list(collection.queries)[:3] == ["1", "3", "5"]
    assert collection.queries["1"] == "0-dimensional biomaterials show inductive properties."
    first = collection.first_queries(5)
    assert list(first.queries) == list(collection.queries)[:5]
    assert set(first.qrels) == set(first.queries)


def test_offset_index_is_cached(
    scifact_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = OffsetDocStore(scifact_dir / "corpus.jsonl", "jsonl", cache_dir=tmp_path)
    assert (first.index_dir / "meta.json").exists()

    def no_rebuild(self: OffsetDocStore) -> None:
        raise AssertionError("the cached index should be reused")

    monkeypatch.setattr(OffsetDocStore, "_build_index", no_rebuild)
    second = OffsetDocStore(scifact_dir / "corpus.jsonl", "jsonl", cache_dir=tmp_path)
    assert second.ids().tolist() == first.ids().tolist()
    assert second["4983"] == first["4983"]


def test_unknown_split_lists_the_available_ones(scifact_dir: Path) -> None:
    with pytest.raises(UserError, match=r"--split dev: .* available splits: test, train"):
        load_collection(scifact_dir, "dev")
    with pytest.raises(UserError, match=r"choose a split with --split \(test, train\)"):
        load_collection(scifact_dir)


def test_missing_source_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such folder"):
        load_collection(tmp_path / "nowhere", "test")
