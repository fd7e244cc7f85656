"""Building a training set: one tie rule (`ranked`) at every depth cut, and what it changed on SciFact."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from kdbench.data import InMemoryDocStore, ranked
from kdbench.data.collection import Collection
from kdbench.data.triples import Triple, dev_slice, mine_triples
from kdbench.train.training_set import TrainingData, load_training_set


def spec(**changes: Any) -> TrainingData:
    settings: dict[str, Any] = {
        "data": None,
        "split": "train",
        "triples": None,
        "teacher_scores": (),
        "teacher_normalize": "none",
        "negatives": 1,
        "mine_depth": 2,
        "triples_per_positive": 4,
        "negatives_run": None,
        "dev_queries": 0,
        "seed": 0,
        "validate_depth": 2,
    }
    return TrainingData(**(settings | changes))


def tiny_collection(queries: int) -> Collection:
    ids = ["p", "a", "b", "c", "d"]
    return Collection(
        name="tiny",
        split="train",
        docs=InMemoryDocStore(ids, [f"text of {i}" for i in ids]),
        queries={f"q{i}": f"query {i}" for i in range(queries)},
        qrels={f"q{i}": {"p": 1} for i in range(queries)},
        source={},
    )


# "a", "b" and "c" tie at the depth-2 cut (after the positive "p" and before "d").
TIED = {"p": 9.0, "a": 5.0, "b": 5.0, "c": 5.0, "d": 1.0}


def test_mining_cuts_a_tie_by_doc_id_descending() -> None:
    triples = mine_triples({"q": {"p": 1}}, {"q": TIED}, ["q"], depth=3, triples_per_positive=4)
    # The top 3 in ranked order: p, c, b; "a" is cut although it scores as "b" and "c" do.
    assert {t.neg_ids[0] for t in triples} == {"b", "c"}


def test_the_dev_slice_reranks_the_ranked_cut() -> None:
    collection = tiny_collection(queries=4)
    run = {q: dict(TIED) for q in collection.queries}
    training_set = load_training_set(
        spec(dev_queries=1, validate_depth=3), collection=collection, run=run
    )
    (dev_qid,) = training_set.dev_qids
    assert list(training_set.dev_run[dev_qid]) == ["p", "c", "b"]
    assert all(t.qid != dev_qid for t in training_set.triples)
    assert TrainingData.of(spec(seed=7)) == spec(seed=7)


def mine_with_ascending_ties(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], qids: list[str]
) -> list[Triple]:
    """`mine_triples` as it was before one tie rule: equal scores by doc id ascending."""
    rng = random.Random(42)
    triples = []
    for qid in sorted(qids):
        positives = sorted(d for d, g in qrels[qid].items() if g > 0)
        top = sorted(run[qid].items(), key=lambda item: (-item[1], item[0]))[:50]
        candidates = [d for d, _ in top if d not in positives]
        for pos_id in positives:
            pool = rng.sample(candidates, len(candidates))
            triples += [Triple(qid, pos_id, (pool[i % len(pool)],)) for i in range(8)]
    rng.shuffle(triples)
    return triples


def test_scifact_the_tie_rule_changes_mining_only_where_candidates_tie(
    scifact_dir: Path,
) -> None:
    """On SciFact's train BM25 top 50 (the defaults: mine depth 50, 8 triples per positive,
    50 dev queries, validation depth 30), only queries whose candidates hold equal scores get
    other triples, and the dev slice re-ranks the same candidates as with the old rule."""
    from kdbench.data import load_collection
    from kdbench.retrieval.bm25 import BM25

    collection = load_collection(scifact_dir, "train")
    judged = sorted(q for q, j in collection.qrels.items() if any(g > 0 for g in j.values()))
    run = BM25(collection.docs).search({q: collection.queries[q] for q in judged}, k=50)
    dev = dev_slice(collection.qrels, 50, 42)
    train_qids = [q for q in judged if q not in dev]
    new = mine_triples(collection.qrels, run, train_qids, depth=50, triples_per_positive=8)
    old = mine_with_ascending_ties(collection.qrels, run, train_qids)
    changed = {a.qid for a, b in zip(old, new, strict=True) if a != b}
    tied = {
        q
        for q in train_qids
        if len({s for d, s in run[q].items() if d not in collection.qrels[q]})
        < len([d for d in run[q] if d not in collection.qrels[q]])
    }
    assert changed and changed <= tied  # SciFact's BM25 does tie: the rule is not moot
    assert len(changed) < len(train_qids) / 20
    for q in dev:
        old_cut = sorted(run[q].items(), key=lambda item: (-item[1], item[0]))[:30]
        assert set(dict(ranked(run[q])[:30])) == set(dict(old_cut))
