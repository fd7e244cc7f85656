"""The parity gate: does a backend compute what eager PyTorch computes, on real inputs?

Scores are compared per query over the same candidates: max abs diff, top-10 overlap and
Kendall's tau-b; with qrels, nDCG@10 of both rankings (trec_eval's definition). A backend
that fails the gate is reported as failed and never timed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

Qrels = Mapping[str, Mapping[str, int]]


def top_k_overlap(reference: np.ndarray, candidate: np.ndarray, k: int = 10) -> float:
    """Fraction of the reference's top-k candidates that are also in the candidate's top-k.

    >>> top_k_overlap(np.array([3.0, 2.0, 1.0, 0.0]), np.array([0.0, 2.0, 1.0, 3.0]), k=2)
    0.5
    """
    k = min(k, reference.size)
    if k == 0:
        return 1.0
    top_reference = set(np.argsort(-reference, kind="stable")[:k].tolist())
    top_candidate = set(np.argsort(-candidate, kind="stable")[:k].tolist())
    return len(top_reference & top_candidate) / k


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b between two score vectors (ties counted as in scipy.stats.kendalltau).

    >>> kendall_tau(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    1.0
    >>> kendall_tau(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0]))
    -1.0
    """
    if x.shape != y.shape:
        raise ValueError(f"score vectors differ in shape: {x.shape} vs {y.shape}")
    if x.size < 2:
        return 1.0
    # O(n^2) over pairs is fine for the few hundred candidates a parity check ranks.
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    upper = np.triu_indices(x.size, k=1)
    dx, dy = dx[upper], dy[upper]
    concordant_minus_discordant = float((dx * dy).sum())
    untied_x = float(np.count_nonzero(dx))
    untied_y = float(np.count_nonzero(dy))
    if untied_x == 0 or untied_y == 0:
        return 1.0 if untied_x == untied_y else 0.0
    return concordant_minus_discordant / math.sqrt(untied_x * untied_y)


def ndcg_at_k(run: Mapping[str, Mapping[str, float]], qrels: Qrels, k: int = 10) -> float:
    """Mean nDCG@k over the run's queries that have qrels, as trec_eval's ndcg_cut.

    Gains are the graded labels, the discount log2(rank + 1); score ties are broken by
    doc id, descending, like trec_eval; the ideal ranking uses every judged document.

    >>> ndcg_at_k({"q": {"a": 2.0, "b": 1.0}}, {"q": {"b": 1}}, k=10)
    0.6309297535714575
    """
    values = []
    for qid, scores in run.items():
        judged = qrels.get(qid)
        if not judged:
            continue
        ranked = sorted(scores, key=lambda doc_id: (scores[doc_id], doc_id), reverse=True)[:k]
        dcg = sum(
            max(judged.get(doc_id, 0), 0) / math.log2(rank + 2)
            for rank, doc_id in enumerate(ranked)
        )
        ideal = sorted((grade for grade in judged.values() if grade > 0), reverse=True)[:k]
        idcg = sum(grade / math.log2(rank + 2) for rank, grade in enumerate(ideal))
        values.append(dcg / idcg if idcg > 0 else 0.0)
    return float(np.mean(values)) if values else float("nan")


@dataclass(frozen=True)
class Thresholds:
    """What passing means for one precision."""

    max_abs_diff_rtol: (
        float | None
    )  # |diff| <= rtol * max(1, max |reference score|); None: not gated
    min_top10_overlap: float
    min_kendall_tau: float
    probe_rtol: float  # padded probe: max |diff| <= rtol * max |reference output|


# fp32 backends must agree with eager to rounding; the rankings then agree except among
# near-ties, so only the scores are gated. Reduced precision moves scores by design, so it
# is gated on the ranking it produces.
# The padded probe (a short and a long text in one batch) catches a graph that ignores the
# attention mask even where the scenario's texts fill every position (long passages).
THRESHOLDS: dict[str, Thresholds] = {
    "fp32": Thresholds(
        max_abs_diff_rtol=1e-3, min_top10_overlap=0.0, min_kendall_tau=-1.0, probe_rtol=1e-3
    ),
    "fp16": Thresholds(
        max_abs_diff_rtol=None, min_top10_overlap=0.8, min_kendall_tau=0.8, probe_rtol=0.05
    ),
    "bf16": Thresholds(
        max_abs_diff_rtol=None, min_top10_overlap=0.7, min_kendall_tau=0.7, probe_rtol=0.1
    ),
    "int8": Thresholds(
        max_abs_diff_rtol=None, min_top10_overlap=0.7, min_kendall_tau=0.7, probe_rtol=0.2
    ),
}


def compare(
    reference: Sequence[np.ndarray],
    candidate: Sequence[np.ndarray],
    precision: str,
    *,
    qids: Sequence[str] | None = None,
    doc_ids: Sequence[Sequence[str]] | None = None,
    qrels: Qrels | None = None,
    probe: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Gate `candidate` scores against `reference` (one array of candidate scores per query).

    `probe`: (eager output, backend output) of the timed module on a padded batch.
    """
    if len(reference) != len(candidate) or not reference:
        raise ValueError(
            f"need the same, non-zero number of queries: {len(reference)} vs {len(candidate)}"
        )
    thresholds = THRESHOLDS[precision]
    diffs = [
        np.abs(r.astype(np.float64) - c.astype(np.float64))
        for r, c in zip(reference, candidate, strict=True)
    ]
    max_abs_diff = float(max(d.max() for d in diffs))
    scale = max(1.0, float(max(np.abs(r).max() for r in reference)))
    overlap = float(
        np.mean([top_k_overlap(r, c) for r, c in zip(reference, candidate, strict=True)])
    )
    tau = float(np.mean([kendall_tau(r, c) for r, c in zip(reference, candidate, strict=True)]))
    failures = []
    if not math.isfinite(max_abs_diff) or not math.isfinite(tau):
        failures.append("non-finite scores")
    elif (
        thresholds.max_abs_diff_rtol is not None
        and max_abs_diff > thresholds.max_abs_diff_rtol * scale
    ):
        failures.append(
            f"max abs diff {max_abs_diff:.3g} > {thresholds.max_abs_diff_rtol:g} x {scale:.3g}"
        )
    if overlap < thresholds.min_top10_overlap:
        failures.append(f"top-10 overlap {overlap:.3f} < {thresholds.min_top10_overlap}")
    if tau < thresholds.min_kendall_tau:
        failures.append(f"Kendall tau {tau:.3f} < {thresholds.min_kendall_tau}")
    probe_record = None
    if probe is not None:
        expected, got = (np.asarray(a, dtype=np.float64) for a in probe)
        probe_diff = (
            float(np.abs(expected - got).max()) if expected.shape == got.shape else math.inf
        )
        probe_scale = max(float(np.abs(expected).max()), 1e-12)
        probe_record = {
            "max_abs_diff": _finite_or_none(probe_diff),
            "relative": _finite_or_none(probe_diff / probe_scale),
            "shape": list(expected.shape),
        }
        if not probe_diff <= thresholds.probe_rtol * probe_scale:
            failures.append(
                f"padded probe differs by {probe_diff:.3g} (> {thresholds.probe_rtol:g} x {probe_scale:.3g}): "
                "is the attention mask ignored?"
            )
    report: dict[str, Any] = {
        "passed": not failures,
        "failures": failures,
        "max_abs_diff": _finite_or_none(max_abs_diff),
        "mean_abs_diff": _finite_or_none(float(np.mean(np.concatenate(diffs)))),
        "score_scale": _finite_or_none(scale),
        "top10_overlap": overlap,
        "kendall_tau": _finite_or_none(tau),
        "padded_probe": probe_record,
        "queries": len(reference),
        "candidates": int(sum(r.size for r in reference)),
        "precision": precision,
        "thresholds": asdict(thresholds),
    }
    if qrels is not None and qids is not None and doc_ids is not None:
        reference_ndcg = ndcg_at_k(_as_run(qids, doc_ids, reference), qrels)
        candidate_ndcg = ndcg_at_k(_as_run(qids, doc_ids, candidate), qrels)
        report.update(
            ndcg_at_10_eager=_finite_or_none(reference_ndcg),
            ndcg_at_10=_finite_or_none(candidate_ndcg),
            delta_ndcg_at_10=_finite_or_none(candidate_ndcg - reference_ndcg),
        )
    return report


def _finite_or_none(value: float) -> float | None:
    """JSON has no NaN: a non-finite number is recorded as null (and fails the gate above)."""
    return value if math.isfinite(value) else None


def _as_run(
    qids: Sequence[str], doc_ids: Sequence[Sequence[str]], scores: Sequence[np.ndarray]
) -> dict[str, dict[str, float]]:
    return {
        qid: dict(zip(ids, values.tolist(), strict=True))
        for qid, ids, values in zip(qids, doc_ids, scores, strict=True)
    }
