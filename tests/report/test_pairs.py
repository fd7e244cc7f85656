"""Distilled / not-distilled pairs: the nDCG@10 difference and its paired t-test, by hand."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from kdbench.errors import UserError
from kdbench.report.pairs import pair_rows, paired_t_test
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
    assert paired_t_test([0.5, 0.6, 0.7], [0.4, 0.5, 0.6]) == (None, 0.0)
    assert paired_t_test([0.5, 0.6], [0.5, 0.6]) == (None, 1.0)


def test_pairs_must_share_data_and_queries() -> None:
    kd = evaluate_result("kd", KD)
    with pytest.raises(
        UserError, match=r"--pair: kd and nokd scored different queries \(4 vs 3; 1 only"
    ):
        pair_rows(kd, evaluate_result("nokd", {q: NOKD[q] for q in ("q1", "q2", "q3")}))
    other = evaluate_result("nokd", NOKD, collection={"path": "/data/nfcorpus", "split": "test"})
    with pytest.raises(UserError, match="evaluate both on the same --data and --split"):
        pair_rows(kd, other)
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
