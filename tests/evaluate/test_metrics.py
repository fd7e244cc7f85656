"""kdbench's metrics against hand-computed values and against pytrec_eval called directly."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from kdbench.data import Run, load_collection, ranked
from kdbench.evaluate.metrics import MEASURE_NAMES, compute_metrics


def pytrec_eval_reference(
    run: Run, qrels: dict[str, dict[str, int]], rel: int
) -> dict[str, dict[str, float]]:
    """Per-query values straight from pytrec_eval, RR@10 on the run cut at 10 in trec_eval's order."""
    import pytrec_eval

    graded = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    binary = pytrec_eval.RelevanceEvaluator(
        qrels, {"recall.100", "recall.1000", "map"}, relevance_level=rel
    ).evaluate(run)
    top10 = {qid: dict(ranked(docs)[:10]) for qid, docs in run.items()}
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}, relevance_level=rel).evaluate(top10)
    return {
        "nDCG@10": {q: v["ndcg_cut_10"] for q, v in graded.items()},
        "RR@10": {q: v["recip_rank"] for q, v in rr.items()},
        "R@100": {q: v["recall_100"] for q, v in binary.items()},
        "R@1000": {q: v["recall_1000"] for q, v in binary.items()},
        "AP": {q: v["map"] for q, v in binary.items()},
    }


def synthetic_run(qrels: dict[str, dict[str, int]], seed: int) -> Run:
    """Judged docs plus unjudged ones, scores rounded to one decimal so ties are common."""
    rng = random.Random(seed)
    run: Run = {}
    for qid, judged in qrels.items():
        docs = list(judged) + [f"unjudged-{qid}-{i}" for i in range(rng.randint(0, 1200))]
        rng.shuffle(docs)
        run[qid] = {doc_id: round(rng.uniform(0, 10), 1) for doc_id in docs[: rng.randint(1, 1100)]}
    return run


def assert_equal_to_pytrec_eval(run: Run, qrels: dict[str, dict[str, int]], rel: int) -> None:
    means, per_query = compute_metrics(run, qrels, rel=rel)
    reference = pytrec_eval_reference(run, qrels, rel)
    assert tuple(means) == MEASURE_NAMES
    for name in MEASURE_NAMES:
        assert set(per_query[name]) == set(qrels)
        for qid in qrels:
            assert per_query[name][qid] == pytest.approx(reference[name][qid], abs=1e-6), (
                name,
                qid,
            )
        assert means[name] == pytest.approx(sum(reference[name].values()) / len(qrels), abs=1e-6), (
            name
        )


def test_hand_computed_values() -> None:
    qrels = {"q1": {"d1": 1, "d2": 0, "d3": 2}, "q2": {"d7": 1}}
    run = {"q1": {"d2": 3.0, "d1": 2.0, "d4": 1.0, "d3": 0.5}}  # q2 retrieved nothing: scores 0
    means, per_query = compute_metrics(run, qrels)
    dcg = 1 / math.log2(3) + 2 / math.log2(5)
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert per_query["nDCG@10"]["q1"] == pytest.approx(dcg / ideal)
    assert per_query["RR@10"]["q1"] == pytest.approx(1 / 2)
    assert per_query["R@100"]["q1"] == pytest.approx(1.0)
    assert per_query["AP"]["q1"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert per_query["AP"]["q2"] == 0.0
    assert means["RR@10"] == pytest.approx(1 / 4)
    binarised, per_query_2 = compute_metrics(run, qrels, rel=2)
    assert per_query_2["RR@10"]["q1"] == pytest.approx(1 / 4)
    assert per_query_2["AP"]["q1"] == pytest.approx(1 / 4)
    assert binarised["nDCG@10"] == means["nDCG@10"]  # nDCG keeps the grades whatever rel is


def test_rr_cutoff_and_ties() -> None:
    qrels = {"q": {"a": 1}}
    # All tied: trec_eval's order is doc id descending, so "a" comes last, at rank 11.
    tied = {"q": {doc_id: 1.0 for doc_id in "abcdefghijk"}}
    assert compute_metrics(tied, qrels)[1]["RR@10"]["q"] == 0.0
    assert compute_metrics({"q": {**tied["q"], "a": 1.5}}, qrels)[1]["RR@10"]["q"] == 1.0


def test_binary_scifact_equals_pytrec_eval(scifact_dir: Path) -> None:
    collection = load_collection(scifact_dir, "test")
    assert_equal_to_pytrec_eval(synthetic_run(collection.qrels, seed=1), collection.qrels, rel=1)


@pytest.mark.parametrize("rel", [1, 2])
def test_graded_trec_dl_2019_equals_pytrec_eval(msmarco_eval_dir: Path, rel: int) -> None:
    collection = load_collection(msmarco_eval_dir, "dl19")
    assert max(g for judged in collection.qrels.values() for g in judged.values()) == 3
    assert_equal_to_pytrec_eval(synthetic_run(collection.qrels, seed=2), collection.qrels, rel=rel)


def test_measures_by_ir_measures_strings_carry_their_own_rel(msmarco_eval_dir: Path) -> None:
    import ir_measures

    from kdbench.errors import UserError
    from kdbench.evaluate.metrics import parse_measures

    collection = load_collection(msmarco_eval_dir, "dl19")
    rng = random.Random(1)
    run: Run = {
        qid: {doc: rng.random() for doc in list(docs)[:30]}
        for qid, docs in collection.qrels.items()
    }
    names = parse_measures("nDCG@10 RR(rel=2)@10 R(rel=2)@1000")
    means, per_query = compute_metrics(run, collection.qrels, names=names)
    assert tuple(means) == tuple(per_query) == ("nDCG@10", "RR(rel=2)@10", "R(rel=2)@1000")
    reference = ir_measures.calc_aggregate(
        [ir_measures.parse_measure(n) for n in names], collection.qrels, run
    )
    for name in names:
        assert means[name] == pytest.approx(reference[ir_measures.parse_measure(name)], abs=1e-9)
    # the default RR@10 at rel=2 is the same number under its default name
    assert compute_metrics(run, collection.qrels, rel=2)[0]["RR@10"] == pytest.approx(
        means["RR(rel=2)@10"]
    )
    with pytest.raises(UserError, match="--measure 'Foo@10': not an ir_measures measure"):
        parse_measures("nDCG@10 Foo@10")
