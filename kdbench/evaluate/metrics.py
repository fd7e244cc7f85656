"""Effectiveness metrics through ir_measures, with one ranking order for every measure.

Result keys are always "nDCG@10", "RR@10", "R@100", "R@1000", "AP". `rel` is the grade at
which RR, R and AP count a doc as relevant (TREC-DL: 2); nDCG always uses the graded qrels.

Two choices keep the numbers equal to trec_eval's:
- ir_measures hands RR@10 to MS MARCO's script, which breaks score ties by doc id ascending,
  while trec_eval breaks them descending. kdbench ranks once (`kdbench.data.runs.ranked`,
  trec_eval's order) and passes rank-derived scores, so every measure sees the same list.
- The mean is over every judged query; a judged query missing from the run scores 0
  (trec_eval -c), so a run cannot look better by leaving hard queries out.
"""

from __future__ import annotations

from typing import Any

from kdbench.data.qrels import Qrels
from kdbench.data.runs import Run, ranked

MEASURE_NAMES = ("nDCG@10", "RR@10", "R@100", "R@1000", "AP")


def measures(rel: int = 1) -> dict[str, Any]:
    """Result key -> ir_measures measure, binarised at grade `rel` where the measure binarises."""
    import ir_measures

    if rel < 1:
        raise ValueError(f"rel must be at least 1 (got {rel})")
    return {
        "nDCG@10": ir_measures.nDCG @ 10,
        "RR@10": ir_measures.RR(rel=rel) @ 10,
        "R@100": ir_measures.R(rel=rel) @ 100,
        "R@1000": ir_measures.R(rel=rel) @ 1000,
        "AP": ir_measures.AP(rel=rel),
    }


def rank_scores(run: Run) -> Run:
    """The same rankings with scores n, n-1, ..., 1: no ties left for an evaluator to break."""
    rescored: Run = {}
    for qid, docs in run.items():
        order = ranked(docs)
        rescored[qid] = {
            doc_id: float(len(order) - position) for position, (doc_id, _) in enumerate(order)
        }
    return rescored


def compute_metrics(
    run: Run, qrels: Qrels, rel: int = 1
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(mean per measure, {measure: {qid: value}}) over every query in `qrels`."""
    import ir_measures

    chosen = measures(rel)
    key_of = {str(measure): key for key, measure in chosen.items()}
    per_query: dict[str, dict[str, float]] = {key: dict.fromkeys(qrels, 0.0) for key in chosen}
    judged_run = {qid: docs for qid, docs in rank_scores(run).items() if qid in qrels and docs}
    if judged_run:
        for metric in ir_measures.iter_calc(list(chosen.values()), qrels, judged_run):
            per_query[key_of[str(metric.measure)]][metric.query_id] = float(metric.value)
    means = {
        key: (sum(values.values()) / len(values) if values else 0.0)
        for key, values in per_query.items()
    }
    return means, per_query
