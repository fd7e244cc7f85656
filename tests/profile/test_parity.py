from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdbench.profile.parity import compare, kendall_tau, ndcg_at_k, top_k_overlap

scores = st.lists(
    st.integers(min_value=-5, max_value=5), min_size=2, max_size=30
)  # small ints: many ties


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_kendall_tau_matches_scipy_with_ties(data: st.DataObject) -> None:
    from scipy.stats import kendalltau

    x = data.draw(scores)
    y = data.draw(st.lists(st.integers(-5, 5), min_size=len(x), max_size=len(x)))
    expected = kendalltau(x, y).statistic
    got = kendall_tau(np.array(x, dtype=float), np.array(y, dtype=float))
    if math.isnan(expected):  # scipy: undefined when one side is all ties
        assert got in (0.0, 1.0)
    else:
        assert got == pytest.approx(expected)


def test_top_k_overlap_hand_computed() -> None:
    reference = np.arange(20, dtype=float)  # top-10: items 10..19
    candidate = reference.copy()
    candidate[[19, 18, 17]] = -1.0  # three of them drop out
    assert top_k_overlap(reference, candidate) == pytest.approx(0.7)
    assert top_k_overlap(reference, reference) == 1.0
    assert (
        top_k_overlap(np.array([1.0, 2.0]), np.array([2.0, 1.0])) == 1.0
    )  # k larger than the list


def _ir_measures_ndcg(run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]]) -> float:
    import ir_measures
    from ir_measures import nDCG

    return float(ir_measures.calc_aggregate([nDCG @ 10], qrels, run)[nDCG @ 10])


def test_ndcg_matches_ir_measures() -> None:
    rng = np.random.default_rng(0)
    qrels = {
        f"q{q}": {f"d{d}": int(rng.integers(0, 3)) for d in rng.choice(40, 8, replace=False)}
        for q in range(12)
    }
    run = {f"q{q}": {f"d{d}": float(rng.normal()) for d in range(40)} for q in range(12)}
    assert ndcg_at_k(run, qrels) == pytest.approx(_ir_measures_ndcg(run, qrels), abs=1e-9)


def test_ndcg_ties_broken_like_trec_eval() -> None:
    # equal scores: trec_eval ranks doc ids in descending order, so "b" comes before "a"
    qrels = {"q": {"a": 1}}
    run = {"q": {"a": 1.0, "b": 1.0}}
    assert ndcg_at_k(run, qrels) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(run, qrels) == pytest.approx(_ir_measures_ndcg(run, qrels))


def test_compare_fp32_passes_rounding_and_fails_real_change() -> None:
    reference = [np.array([3.0, 2.0, 1.0, 0.5]), np.array([1.0, 4.0, 2.0, 0.0])]
    rounded = [r + 1e-6 for r in reference]
    report = compare(reference, rounded, "fp32")
    assert report.passed and report.max_abs_diff == pytest.approx(1e-6)
    assert report.kendall_tau == 1.0 and report.top10_overlap == 1.0
    changed = [reference[0], reference[1] + np.array([0.0, 0.0, 0.1, 0.0])]
    report = compare(reference, changed, "fp32")
    assert not report.passed and "max abs diff" in report.failures[0]


def test_compare_int8_gates_on_ranking() -> None:
    reference = [np.arange(20, dtype=float)]
    shifted = [np.arange(20, dtype=float) * 1.1 + 0.3]  # scores move, ranking identical
    assert compare(reference, shifted, "int8").passed
    reversed_ranking = [-np.arange(20, dtype=float)]
    report = compare(reference, reversed_ranking, "int8")
    assert not report.passed and any("Kendall" in f for f in report.failures)


def test_compare_reports_delta_ndcg_with_qrels() -> None:
    reference = [np.array([3.0, 2.0, 1.0])]
    candidate = [np.array([1.0, 2.0, 3.0])]
    qrels = {"q": {"a": 1}}
    report = compare(
        reference, candidate, "fp16", qids=["q"], doc_ids=[["a", "b", "c"]], qrels=qrels
    )
    assert report.ndcg_at_10_eager == pytest.approx(1.0)
    assert report.ndcg_at_10 == pytest.approx(0.5)
    assert report.delta_ndcg_at_10 == pytest.approx(-0.5)


def test_compare_non_finite_fails_and_stays_json_safe() -> None:
    import json

    report = compare([np.array([1.0, 2.0])], [np.array([np.nan, 2.0])], "fp32")
    assert not report.passed and "non-finite scores" in report.failures
    json.dumps(report.to_dict(), allow_nan=False)


def test_padding_invariance_compares_real_tokens_only() -> None:
    from kdbench.profile.parity import padding_invariance

    # term vectors [n, L, d]: row 0 has 2 real tokens; what the padded run puts beyond them is ignored
    padded = np.array([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]], [[2.0, 0.0], [0.0, 2.0], [2.0, 2.0]]])
    alone = [np.array([[1.0, 0.0], [0.0, 1.0]]), padded[1]]
    assert padding_invariance(padded, alone, [2, 3]) == 0.0
    alone[0] = np.array([[1.0, 0.0], [0.0, 0.0]])
    assert padding_invariance(padded, alone, [2, 3]) == pytest.approx(
        1.0
    )  # ||diff|| 1 / max(||alone|| 1, 1)
    # scalar outputs (cat scores)
    assert padding_invariance(
        np.array([4.0, 1.0]), [np.array(4.0), np.array(1.5)], [5, 3]
    ) == pytest.approx(0.5 / 1.5)


def test_compare_gates_padding_invariance_per_precision() -> None:
    same = [np.array([3.0, 2.0, 1.0])]
    assert compare(same, same, "fp32", padding_error=1e-6).passed
    report = compare(same, same, "fp32", padding_error=0.5)
    assert not report.passed and "attention mask" in report.failures[0]
    assert report.padding_invariance_error == 0.5
    assert compare(
        same, same, "int8", padding_error=0.15
    ).passed  # quantisation noise, not a mask bug
    assert not compare(same, same, "int8", padding_error=0.9).passed
