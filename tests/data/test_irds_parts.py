"""The dataset's own run (scoreddocs) and training pairs (docpairs) through ir_datasets' API,
on a small fake shaped like msmarco-passage's: the real files are not on this machine."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

from kdbench.data import irds, load_collection
from kdbench.errors import UserError

ScoredDoc = namedtuple("ScoredDoc", "query_id doc_id score")  # ir_datasets' GenericScoredDoc
DocPair = namedtuple("DocPair", "query_id doc_id_a doc_id_b")  # ir_datasets' GenericDocPair


class FakeDataset:
    """The parts of an ir_datasets dataset that kdbench reads for runs and pairs."""

    def __init__(self, scored: list[ScoredDoc], pairs: list[DocPair]) -> None:
        self.scored, self.pairs = scored, pairs

    def has_scoreddocs(self) -> bool:
        return bool(self.scored)

    def scoreddocs_iter(self) -> Any:
        return iter(self.scored)

    def has_docpairs(self) -> bool:
        return bool(self.pairs)

    def docpairs_iter(self) -> Any:
        return iter(self.pairs)


def test_scoreddocs_and_docpairs_read_the_api() -> None:
    dataset = FakeDataset(
        [ScoredDoc("q1", "d1", 3.5), ScoredDoc("q1", "d2", 7.0), ScoredDoc("q2", "d1", 1.0)],
        [DocPair("q1", "d1", "d9"), DocPair("q2", "d3", "d4")],
    )
    assert irds.scoreddocs_run(dataset, "fake") == {"q1": {"d1": 3.5, "d2": 7.0}, "q2": {"d1": 1.0}}
    assert irds.scoreddocs_run(dataset, "fake", depth=1) == {"q1": {"d2": 7.0}, "q2": {"d1": 1.0}}
    triples = irds.docpairs_triples(dataset, "fake")
    assert [(t.qid, t.pos_id, t.neg_ids) for t in triples] == [
        ("q1", "d1", ("d9",)),
        ("q2", "d3", ("d4",)),
    ]
    with pytest.raises(UserError, match="no official run"):
        irds.scoreddocs_run(FakeDataset([], []), "fake")
    with pytest.raises(UserError, match="no training pairs"):
        irds.docpairs_triples(FakeDataset([], []), "fake")


def test_the_registry_knows_msmarco_parts(irds_home: Path) -> None:
    """What msmarco-paper.toml relies on (ir_datasets' metadata only, nothing is downloaded)."""
    import ir_datasets

    assert ir_datasets.load("msmarco-passage/dev/small").has_scoreddocs()
    assert ir_datasets.load("msmarco-passage/trec-dl-2019/judged").has_scoreddocs()
    assert ir_datasets.load("msmarco-passage/train").has_docpairs()


@pytest.fixture
def scifact_with_parts(irds_home: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """beir/scifact's real test split, its dataset given an official run and training pairs."""
    collection = load_collection("beir/scifact", "test")
    qids = list(collection.queries)[:4]
    relevant = {qid: next(iter(collection.qrels[qid])) for qid in qids}
    judged = {d for qid in qids for d in collection.qrels[qid]}
    doc_ids = [d for d in collection.docs.ids()[:20] if d not in judged][:6]
    scored = [
        ScoredDoc(q, d, float(i)) for q in qids for i, d in enumerate([relevant[q], *doc_ids])
    ]
    pairs = [DocPair(q, relevant[q], doc_ids[0]) for q in qids]
    seen: list[str] = []

    def open_dataset(found: Any, part: str, load: Any = None) -> FakeDataset:
        seen.append(f"{found.source['id']} {part}")
        return FakeDataset(scored, pairs)

    monkeypatch.setattr(irds, "open_dataset", open_dataset)
    return collection, qids, relevant, seen


def test_evaluate_reads_the_official_run(scifact_with_parts: Any) -> None:
    from kdbench.evaluate.pipeline import EvaluateConfig, evaluate

    _, qids, _, seen = scifact_with_parts
    result = evaluate(
        EvaluateConfig(data="beir/scifact", split="test", run=irds.SCOREDDOCS, queries=4)
    )
    assert seen == ["beir/scifact/test ir_datasets:scoreddocs"]
    # each query's relevant doc has the lowest score (0), so it ranks 7th: 0 < nDCG@10 < 1
    assert result is not None and result.per_query is not None
    assert set(result.per_query["nDCG@10"]) == set(qids)
    assert all(0 < v < 1 for v in result.per_query["nDCG@10"].values())


def test_training_reads_the_official_pairs(scifact_with_parts: Any) -> None:
    from kdbench.train.config import TrainConfig
    from kdbench.train.training_set import TrainingData, load_training_set

    collection, qids, relevant, seen = scifact_with_parts
    config = TrainConfig(model="unused", output="unused", data="beir/scifact", split="test",
                         triples=irds.DOCPAIRS, dev_queries=0, loss="ranknet")  # fmt: skip
    training = load_training_set(TrainingData.of(config), collection=collection)
    assert seen == ["beir/scifact/test ir_datasets:docpairs"]
    assert [t.qid for t in training.triples] == qids
    assert all(t.pos_id == relevant[t.qid] for t in training.triples)


def test_a_folder_has_no_dataset_parts(scifact_dir: Path) -> None:
    folder = load_collection(scifact_dir, "test")
    with pytest.raises(UserError, match="pass --data as an ir_datasets id"):
        irds.open_dataset(folder, irds.SCOREDDOCS)
