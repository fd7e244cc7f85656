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

from kdbench.data.runs import ranked
from kdbench.profile.measurements import Parity

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

    Not ir_measures (kdbench.evaluate.metrics): the GPU check runs where it is not installed;
    tests/profile/test_parity.py holds this to ir_measures' values.

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
        dcg = sum(
            max(judged.get(doc_id, 0), 0) / math.log2(rank + 2)
            for rank, (doc_id, _) in enumerate(ranked(scores)[:k])
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
    padding_rtol: float  # padding_invariance <= this
    # eager's nDCG@10 - this backend's, on the parity queries (with qrels), <= this: a loss
    # of quality fails, a gain on a few queries is noise the ranking gates above judge; None:
    # not gated
    max_delta_ndcg: float | None = None


# fp32 backends must agree with eager to rounding; the rankings then agree except among
# near-ties, so only the scores are gated. Reduced precision moves scores by design, so it
# is gated on the ranking it produces.
# Padding invariance (a text run alone vs padded in a batch) catches a graph that ignores the
# attention mask even where the scenario's texts fill every position (long passages).
THRESHOLDS: dict[str, Thresholds] = {
    "fp32": Thresholds(
        max_abs_diff_rtol=1e-3, min_top10_overlap=0.0, min_kendall_tau=-1.0, padding_rtol=1e-3
    ),
    "fp16": Thresholds(
        max_abs_diff_rtol=None,
        min_top10_overlap=0.8,
        min_kendall_tau=0.8,
        padding_rtol=0.02,
        max_delta_ndcg=0.02,
    ),
    "bf16": Thresholds(
        max_abs_diff_rtol=None,
        min_top10_overlap=0.7,
        min_kendall_tau=0.7,
        padding_rtol=0.05,
        max_delta_ndcg=0.03,
    ),
    # int8's ΔnDCG@10 gate catches a broken graph (drops of 0.2 and more), not quantisation's
    # cost, which the row's own evaluation reports: on the 10 parity queries a 2-layer dot
    # student's dynamic int8 graph lost 0.038 where its full-test loss is 0.019 (quickstart,
    # 2026-12-06), so 0.03 failed a sound graph on noise.
    "int8": Thresholds(
        max_abs_diff_rtol=None,
        min_top10_overlap=0.7,
        min_kendall_tau=0.7,
        padding_rtol=0.3,
        max_delta_ndcg=0.06,
    ),
}
THRESHOLDS["int8-static"] = THRESHOLDS["int8"]  # judged as int8: only its calibration differs


def compare(
    reference: Sequence[np.ndarray],
    candidate: Sequence[np.ndarray],
    precision: str,
    *,
    qids: Sequence[str] | None = None,
    doc_ids: Sequence[Sequence[str]] | None = None,
    qrels: Qrels | None = None,
    padding_error: float | None = None,
) -> Parity:
    """Gate `candidate` scores against `reference` (one array of candidate scores per query).

    `padding_error`: the backend's `padding_invariance` on a padded batch of real text.
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
    if padding_error is not None and not padding_error <= thresholds.padding_rtol:
        failures.append(
            f"output changes by {padding_error:.3g} (> {thresholds.padding_rtol:g}) when the same text is "
            "padded: the attention mask is ignored or mishandled"
        )
    ndcg: dict[str, Any] = {}
    if qrels is not None and qids is not None and doc_ids is not None:
        reference_ndcg = ndcg_at_k(_as_run(qids, doc_ids, reference), qrels)
        candidate_ndcg = ndcg_at_k(_as_run(qids, doc_ids, candidate), qrels)
        delta = candidate_ndcg - reference_ndcg
        ndcg = {
            "ndcg_at_10_eager": _finite_or_none(reference_ndcg),
            "ndcg_at_10": _finite_or_none(candidate_ndcg),
            "delta_ndcg_at_10": _finite_or_none(delta),
        }
        limit = thresholds.max_delta_ndcg
        if limit is not None and math.isfinite(delta) and delta < -limit:
            failures.append(f"nDCG@10 drops by {-delta:.4f} (more than {limit:g}) from eager's")
    return Parity(
        passed=not failures,
        failures=failures,
        max_abs_diff=_finite_or_none(max_abs_diff),
        mean_abs_diff=_finite_or_none(float(np.mean(np.concatenate(diffs)))),
        score_scale=_finite_or_none(scale),
        top10_overlap=overlap,
        kendall_tau=_finite_or_none(tau),
        padding_invariance_error=None if padding_error is None else _finite_or_none(padding_error),
        queries=len(reference),
        candidates=int(sum(r.size for r in reference)),
        precision=precision,
        thresholds=asdict(thresholds),
        **ndcg,
    )


def _finite_or_none(value: float) -> float | None:
    """JSON has no NaN: a non-finite number is recorded as null (and fails the gate above)."""
    return value if math.isfinite(value) else None


def padding_invariance(
    padded: np.ndarray, alone: Sequence[np.ndarray], lengths: Sequence[int]
) -> float:
    """Largest relative change of a row's output between running it padded in a batch and alone.

    `padded`: outputs [n, ...] of a batch padded to one length; `alone[i]`: row i's output run
    unpadded (its own `lengths[i]` tokens). Term-vector outputs [n, L, d] are compared on the
    real tokens only. The change is ||alone - padded|| / max(||alone||, 1): a correct graph
    moves only by rounding (by quantisation noise for int8); one that ignores the mask moves
    by the size of the output.

    >>> padding_invariance(np.array([[1.0, 0.0], [0.0, 2.0]]), [np.array([1.0, 0.0]), np.array([0.0, 1.0])], [2, 2])
    1.0
    """
    worst = 0.0
    for row, (single, length) in enumerate(zip(alone, lengths, strict=True)):
        expected = np.asarray(single, dtype=np.float64)
        got = np.asarray(padded[row], dtype=np.float64)
        if got.ndim == 2:  # term vectors: positions beyond the text are padding
            got, expected = got[:length], expected[:length]
        error = float(np.linalg.norm(expected - got)) / max(float(np.linalg.norm(expected)), 1.0)
        worst = max(worst, error if math.isfinite(error) else math.inf)
    return worst


def _as_run(
    qids: Sequence[str], doc_ids: Sequence[Sequence[str]], scores: Sequence[np.ndarray]
) -> dict[str, dict[str, float]]:
    return {
        qid: dict(zip(ids, values.tolist(), strict=True))
        for qid, ids, values in zip(qids, doc_ids, scores, strict=True)
    }
