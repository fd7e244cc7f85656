"""The ir_datasets loader on the offline SciFact cache (irds_home sets IR_DATASETS_HOME)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdbench.data import load_collection
from kdbench.errors import UserError


@pytest.mark.parametrize(
    ("source", "split"),
    [("beir/scifact/test", None), ("beir/scifact", "test"), ("beir/scifact/test", "test")],
)
def test_scifact_test_counts(irds_home: Path, source: str, split: str | None) -> None:
    collection = load_collection(source, split)
    assert collection.source["id"] == "beir/scifact/test"
    assert len(collection.docs) == 5183
    assert len(collection.queries) == 300
    assert sum(len(judged) for judged in collection.qrels.values()) == 339


def test_same_texts_as_the_beir_folder(irds_home: Path, scifact_dir: Path) -> None:
    irds = load_collection("beir/scifact/test")
    folder = load_collection(scifact_dir, "test")
    assert irds.queries == folder.queries
    assert irds.qrels == folder.qrels
    sample = folder.docs.ids()[:50].tolist()
    assert irds.docs.get_many(sample) == folder.docs.get_many(sample)
    ids, texts = next(irds.docs.iter_batches(10))
    assert ids == folder.docs.ids()[:10].tolist()
    assert texts == folder.docs.get_many(ids)
    assert irds.docs.ids().tolist() == folder.docs.ids().tolist()
    assert irds.docs.missing(["4983", "nope"]) == ["nope"]


def test_bad_ids_are_user_errors(irds_home: Path) -> None:
    with pytest.raises(UserError, match="not a registered ir_datasets id"):
        load_collection("beir/no-such-set", "test")
    with pytest.raises(
        UserError, match=r"add --split or use one of: beir/scifact/test, beir/scifact/train"
    ):
        load_collection("beir/scifact")
