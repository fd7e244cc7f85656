"""Effectiveness metrics through ir_measures, with one ranking order for every measure.

By default the result keys are "nDCG@10", "RR@10", "R@100", "R@1000", "AP", and `rel` is the
grade at which RR, R and AP count a doc as relevant (TREC-DL: 2); nDCG always uses the
graded qrels. `--measure "nDCG@10 RR(rel=2)@10 R@1000"` (`[evaluate] measures` in a profile)
names the measures instead, as ir_measures strings that carry their own `rel`; each result
key is ir_measures' spelling of the measure.

Two choices keep the numbers equal to trec_eval's:
- ir_measures hands RR@10 to MS MARCO's script, which breaks score ties by doc id ascending,
  while trec_eval breaks them descending. kdbench ranks once (`kdbench.data.runs.ranked`,
  trec_eval's order) and passes rank-derived scores, so every measure sees the same list.
- The mean is over every judged query; a judged query missing from the run scores 0
  (trec_eval -c), so a run cannot look better by leaving hard queries out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kdbench.data.qrels import Qrels
from kdbench.data.runs import Run, ranked
from kdbench.errors import UserError

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


def parse_measures(text: str) -> tuple[str, ...]:
    """`--measure "nDCG@10 RR(rel=2)@10"` -> the measures, each as ir_measures spells it.

    >>> parse_measures("nDCG@10  RR(rel=2)@10,R@1000")
    ('nDCG@10', 'RR(rel=2)@10', 'R@1000')
    """
    import ir_measures

    found: list[str] = []
    for item in text.replace(",", " ").split():
        try:
            name = str(ir_measures.parse_measure(item))
        except (NameError, ValueError, SyntaxError, TypeError, AttributeError):
            raise UserError(
                f"--measure {item!r}: not an ir_measures measure; write e.g. "
                '--measure "nDCG@10 RR(rel=2)@10 R@1000"'
            ) from None
        if name not in found:
            found.append(name)
    if not found:
        raise UserError('--measure names no measure; write e.g. --measure "nDCG@10 RR@10"')
    return tuple(found)


def chosen_measures(names: Sequence[str] | None, rel: int = 1) -> dict[str, Any]:
    """Result key -> ir_measures measure: `names` as given, else the defaults at `rel`."""
    if not names:
        return measures(rel)
    import ir_measures

    return {name: ir_measures.parse_measure(name) for name in parse_measures(" ".join(names))}


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
    run: Run, qrels: Qrels, rel: int = 1, names: Sequence[str] | None = None
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(mean per measure, {measure: {qid: value}}) over every query in `qrels`, for the
    measures `names` (ir_measures strings; None: the defaults at `rel`)."""
    import ir_measures

    chosen = chosen_measures(names, rel)
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
