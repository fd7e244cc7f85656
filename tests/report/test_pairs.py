"""Distilled / not-distilled pairs: the nDCG@10 difference and its paired t-test, by hand."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from kdbench.errors import UserError
from kdbench.report.pairs import pair_rows, with_holm
from kdbench.report.significance import holm, paired_test
from kdbench.results import new_result

ENV: dict[str, Any] = {"cpu": "test cpu"}
SCIFACT = {"path": "/data/scifact", "split": "test"}


def evaluate_result(
    label: str, per_query: dict[str, float], arch: str = "prettr", **config: Any
) -> dict[str, Any]:
    settings = {"model": label, "label": label, "arch": arch, "data": "scifact", "split": "test",
                "collection": SCIFACT} | config  # fmt: skip
    result = new_result("evaluate", settings, environment=ENV)
    result["metrics"] = {"nDCG@10": sum(per_query.values()) / len(per_query)}
    result["per_query"] = {"nDCG@10": per_query, "RR@10": dict.fromkeys(per_query, 1.0)}
    result["first_stage"] = {"method": "bm25", "k": 100}
    return result


KD = {"q1": 0.5, "q2": 0.7, "q3": 0.9, "q4": 0.4}
NOKD = {"q1": 0.4, "q2": 0.5, "q3": 0.8, "q4": 0.4}


def t3_two_sided_p(t: float) -> float:
    """Student's t with 3 degrees of freedom in closed form: F(t) = 1/2 + (θ + sin θ cos θ)/π, θ = atan(t/√3)."""
    theta = math.atan(t / math.sqrt(3))
    return 2 * (1 - (0.5 + (theta + math.sin(theta) * math.cos(theta)) / math.pi))


def test_difference_and_t_test_equal_the_hand_computation() -> None:
    pair = pair_rows(evaluate_result("kd", KD), evaluate_result("nokd", NOKD))
    (row,) = pair["rows"]
    # Differences 0.1, 0.2, 0.1, 0.0: mean 0.1, sd sqrt(0.02/3), t = 0.1 / (sd / 2) = sqrt(6).
    assert (pair["kd"], pair["nokd"], pair["arch"], pair["queries"]) == ("kd", "nokd", "prettr", 4)
    assert row["measure"] == "nDCG@10"
    assert row["kd"] == pytest.approx(0.625) and row["nokd"] == pytest.approx(0.525)
    assert row["difference"] == pytest.approx(0.1)
    assert row["relative_difference"] == pytest.approx(0.1 / 0.525)
    assert row["t"] == pytest.approx(math.sqrt(6))
    assert row["p_value"] == pytest.approx(t3_two_sided_p(math.sqrt(6)), rel=1e-9)  # 0.0917
    assert row["significant"] is False and pair["alpha"] == 0.05
    assert (row["wins"], row["losses"], row["ties"]) == (3, 0, 1)
    assert pair["warnings"] == [] and json.dumps(pair, allow_nan=False)


def test_the_test_is_symmetric_and_other_measures_can_join() -> None:
    forward = pair_rows(
        evaluate_result("kd", KD), evaluate_result("nokd", NOKD), measures=("nDCG@10", "RR@10")
    )
    backward = pair_rows(evaluate_result("nokd", NOKD), evaluate_result("kd", KD))
    assert backward["rows"][0]["t"] == pytest.approx(-forward["rows"][0]["t"])
    assert backward["rows"][0]["p_value"] == pytest.approx(forward["rows"][0]["p_value"])
    rr = forward["rows"][1]
    assert (rr["measure"], rr["difference"], rr["t"], rr["p_value"], rr["ties"]) == (
        "RR@10",
        0.0,
        None,
        1.0,
        4,
    )


def test_a_consistent_gain_is_significant() -> None:
    kd = {f"q{i}": 0.5 + 0.01 * (i % 3) + 0.1 for i in range(30)}
    nokd = {f"q{i}": 0.5 + 0.02 * (i % 2) for i in range(30)}
    (row,) = pair_rows(evaluate_result("kd", kd), evaluate_result("nokd", nokd))["rows"]
    assert row["significant"] is True and row["p_value"] < 1e-6 and row["wins"] == 30


def test_constant_differences_leave_t_undefined() -> None:
    shifted = paired_test([0.5, 0.6, 0.7], [0.4, 0.5, 0.6])
    assert (shifted.t, shifted.p_value) == (None, 0.0)
    assert shifted.ci95_t == pytest.approx((0.1, 0.1))
    same = paired_test([0.5, 0.6], [0.5, 0.6])
    assert (same.t, same.p_value, same.ci95_bootstrap) == (None, 1.0, (0.0, 0.0))


def test_intervals_equal_scipy_and_a_resampling_by_hand() -> None:
    import numpy as np
    from scipy import stats

    rng = np.random.default_rng(7)
    kd, nokd = rng.uniform(0, 1, 60), rng.uniform(0, 1, 60)
    (row,) = pair_rows(
        evaluate_result("kd", {f"q{i:02}": v for i, v in enumerate(kd)}),
        evaluate_result("nokd", {f"q{i:02}": v for i, v in enumerate(nokd)}),
    )["rows"]
    reference = stats.ttest_rel(kd, nokd)
    interval = reference.confidence_interval(0.95)
    assert row["ci95_t"] == pytest.approx([interval.low, interval.high], rel=1e-12)
    assert row["p_value"] == pytest.approx(reference.pvalue, rel=1e-12)
    # the bootstrap: 10,000 means of 60 differences drawn with replacement (seed 0)
    differences = kd - nokd
    draws = np.random.default_rng(0).integers(0, 60, size=(10_000, 60))
    means = differences[draws].mean(axis=1)
    assert row["ci95_bootstrap"] == pytest.approx(np.percentile(means, [2.5, 97.5]).tolist())
    low, high = row["ci95_bootstrap"]
    assert low < row["difference"] < high
    # the t interval is the mean difference ± t(0.975, 59) · s / √60
    half = stats.t.ppf(0.975, 59) * differences.std(ddof=1) / np.sqrt(60)
    assert row["ci95_t"] == pytest.approx([differences.mean() - half, differences.mean() + half])


def test_holm_by_hand() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> monotone: 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == []  # 2 x 0.5, capped at 1


def test_holm_runs_over_every_comparison_of_the_report() -> None:
    strong = {f"q{i}": 0.5 + 0.01 * (i % 3) + 0.1 for i in range(30)}
    base = {f"q{i}": 0.5 + 0.02 * (i % 2) for i in range(30)}
    weak = {q: v + (0.05 if i % 2 else -0.03) for i, (q, v) in enumerate(base.items())}
    first = pair_rows(evaluate_result("kd", strong), evaluate_result("nokd", base))
    second = pair_rows(
        evaluate_result("kd2", weak), evaluate_result("nokd", base), measures=("nDCG@10", "RR@10")
    )
    adjusted = with_holm([first, second])
    rows = [row for pair in adjusted for row in pair["rows"]]
    expected = holm([row["p_value"] for row in rows])
    assert [row["p_holm"] for row in rows] == expected and len(rows) == 3
    assert all(row["significant"] == (row["p_holm"] < 0.05) for row in rows)
    only_ndcg = with_holm([first, second], ("nDCG@10",))
    assert [len(pair["rows"]) for pair in only_ndcg] == [1, 1]


def test_pairs_must_share_data_and_queries() -> None:
    kd = evaluate_result("kd", KD)
    fewer = evaluate_result("nokd", {q: NOKD[q] for q in ("q1", "q2", "q3")})
    with pytest.raises(
        UserError,
        match=r"--pair: kd and nokd were not measured alike \(queries: 4 vs 3 \(1 only in the "
        r"first, 0 only in the second\)\); .* or pass --allow-different-queries",
    ):
        pair_rows(kd, fewer)
    allowed = pair_rows(kd, fewer, allow_different=True)  # over the 3 queries both scored
    assert allowed["queries"] == 3 and allowed["warnings"] == [
        "KD and no-KD differ in queries: 4 vs 3 (1 only in the first, 0 only in the second)"
    ]
    other = evaluate_result("nokd", NOKD, collection={"path": "/data/nfcorpus", "split": "test"})
    with pytest.raises(UserError, match=r"not measured alike \(collection: scifact vs nfcorpus\)"):
        pair_rows(kd, other)
    dev = evaluate_result("nokd", NOKD, split="dev", collection={"path": "/data/scifact"})
    with pytest.raises(UserError, match=r"not measured alike \(split: test vs dev\)"):
        pair_rows(kd, dev)
    graded = evaluate_result("nokd", NOKD, rel=2)
    with pytest.raises(UserError, match=r"relevance grade \(rel\): 1 vs 2"):
        pair_rows(evaluate_result("kd", KD, rel=1), graded)
    with pytest.raises(UserError, match="at least 2 queries"):
        pair_rows(evaluate_result("kd", {"q1": 0.5}), evaluate_result("nokd", {"q1": 0.4}))
    with pytest.raises(UserError, match=r"no per-query AP \(it has RR@10, nDCG@10\)"):
        pair_rows(kd, evaluate_result("nokd", NOKD), measures=("AP",))
    profile = new_result("profile", {"model": "nokd"}, environment=ENV)
    with pytest.raises(UserError, match="the no-KD result \\(nokd\\) is a 'profile' result"):
        pair_rows(kd, profile)


def test_mismatched_architectures_are_flagged() -> None:
    pair = pair_rows(evaluate_result("kd", KD), evaluate_result("nokd", NOKD, arch="cat"))
    assert pair["warnings"] == ["architectures differ (prettr vs cat): not a KD/no-KD pair"]


def test_compare_tests_quality_deltas_paired_with_holm_over_the_report() -> None:
    import numpy as np
    from scipy import stats

    from kdbench.report.compare import compare_rows, render_comparison
    from kdbench.report.rows import rows_from_results

    rng = np.random.default_rng(3)
    old_values = rng.uniform(0, 1, (2, 40))
    new_values = old_values + rng.normal(0.05, 0.1, (2, 40))

    def results(values: np.ndarray) -> list[dict[str, Any]]:
        found = []
        for label, row in zip(("a", "b"), values, strict=True):
            result = evaluate_result(label, {f"q{i}": float(v) for i, v in enumerate(row)})
            result["per_query"].pop("RR@10")
            found.append(result)
        return found

    deltas = compare_rows(
        rows_from_results(results(old_values)), rows_from_results(results(new_values))
    )
    assert [(d.key[0], d.metric) for d in deltas] == [("a", "nDCG@10"), ("b", "nDCG@10")]
    for delta, old, new in zip(deltas, old_values, new_values, strict=True):
        reference = stats.ttest_rel(new, old)
        interval = reference.confidence_interval(0.95)
        assert delta.ci95_t == pytest.approx((interval.low, interval.high))
        assert delta.p_value == pytest.approx(reference.pvalue)
        assert delta.change == pytest.approx(float((new - old).mean()))
        low, high = delta.ci95_bootstrap or (0.0, 0.0)
        assert low < delta.change < high
    assert [d.p_holm for d in deltas] == holm([d.p_value or 0.0 for d in deltas])
    text = render_comparison(deltas)
    assert "p (Holm)" in text and f"{deltas[0].p_holm:.3g}" in text
