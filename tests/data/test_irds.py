"""The ir_datasets loader on the offline SciFact cache (irds_home sets IR_DATASETS_HOME)."""

from __future__ import annotations

import os
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


def test_files_neither_read_nor_downloaded_say_where_they_were_looked_for(
    irds_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ir_datasets downloads what its folder lacks; offline that fails with a network error
    (an OSError): one line naming the folder, that the download failed, and what to do."""
    import ir_datasets

    real_load = ir_datasets.load

    class Unreachable:
        """The real dataset, but its files cannot be read nor fetched."""

        def __init__(self, dataset_id: str) -> None:
            self.real = real_load(dataset_id)

        def __getattr__(self, name: str) -> object:
            return getattr(self.real, name)

        def queries_iter(self) -> None:
            raise ConnectionError("HTTPSConnectionPool(host='example.org'): unreachable")

    monkeypatch.setattr(ir_datasets, "load", Unreachable)
    with pytest.raises(UserError) as error:
        load_collection("beir/scifact/test")
    message = str(error.value)
    assert message.startswith("--data beir/scifact/test: ir_datasets could neither read its ")
    assert f"files in {os.environ['IR_DATASETS_HOME']} nor" in message
    assert "nor download them (ConnectionError); offline, copy the dataset" in message
    assert "never downloads" not in message and "\n" not in message
