"""Every part of a query has a cost: BM25 is a row, a re-ranker adds its first stage."""

from __future__ import annotations

from typing import Any

import pytest

from kdbench.report.meta import ReportMeta
from kdbench.report.render import to_markdown
from kdbench.report.rows import rows_from_results
from tests.report.test_report import evaluate_result, markdown_table, profile_result


def bm25_results(p50: float) -> list[dict[str, Any]]:
    evaluation = evaluate_result("bm25", "bm25", 0.66, 0.6)
    evaluation["config"]["model"] = "bm25"
    profile = profile_result("bm25", "bm25", [("bm25s", p50, 1000 / p50)])
    cell = profile["results"][0]
    cell.update(scenario="retrieve", depth=100, seq_len=None)
    del cell["parity"]
    return [evaluation, profile]


def reranker(label: str, p50: float, depth: int = 100) -> list[dict[str, Any]]:
    evaluation = evaluate_result(label, "cat", 0.7, 0.65)
    evaluation["config"]["reranked"] = True
    evaluation["first_stage"] = {"method": "bm25", "k": depth, "depth": depth}
    profile = profile_result(label, "cat", [("eager", p50, 1000 / p50)])
    profile["results"][0].update(scenario="rerank", depth=depth)
    return [evaluation, profile]


def test_reranker_rows_add_the_first_stage_and_bm25_is_a_row() -> None:
    rows = rows_from_results([*bm25_results(0.25), *reranker("cat", 40.0)])
    bm25 = next(r for r in rows if r.arch == "bm25")
    cat = next(r for r in rows if r.arch == "cat")
    assert (bm25.p50_ms, bm25.quality_from, bm25.end_to_end_p50_ms) == (0.25, "bm25s", 0.25)
    assert cat.first_stage_p50_ms == 0.25 and cat.p50_ms == 40.0
    assert cat.end_to_end_p50_ms == pytest.approx(40.25)
    assert cat.end_to_end_p95_ms == pytest.approx(0.25 * 1.2 + 40.0 * 1.2)
    assert cat.includes == "BM25 top 100 + re-rank 100 candidates of one query"
    assert bm25.pareto and cat.pareto  # cheaper vs better: both on the front
    table = {c["model"]: c for c in markdown_table(to_markdown(rows, ReportMeta()))}
    assert table["bm25"]["p50 ms"] == "0.25" and table["bm25"]["quality from"] == "bm25s"
    parts = [float(table["cat"][h]) for h in ("first stage p50 ms", "p50 ms", "end-to-end p50 ms")]
    assert parts[0] + parts[1] == pytest.approx(parts[2])


def test_no_first_stage_of_another_depth_or_another_run() -> None:
    other_depth = rows_from_results([*bm25_results(0.25), *reranker("cat", 40.0, depth=50)])
    assert next(r for r in other_depth if r.arch == "cat").end_to_end_p50_ms is None
    given_run = reranker("cat", 40.0)
    given_run[0]["first_stage"] = {"method": "run", "path": "run.trec"}
    rows = rows_from_results([*bm25_results(0.25), *given_run])
    assert next(r for r in rows if r.arch == "cat").first_stage_p50_ms is None


def test_a_dense_reranker_timed_on_its_candidates_adds_the_first_stage() -> None:
    """A dot model evaluated re-ranking BM25's top 100 and timed encoding the query and
    scoring 100 pre-encoded passages costs BM25 + that; timed on another index size it is
    a retrieval latency, shown as timed."""
    evaluation = evaluate_result("dot", "dot", 0.6, 0.55)
    evaluation["config"]["reranked"] = True
    evaluation["first_stage"] = {"method": "bm25", "k": 100, "depth": 100}
    profile = profile_result("dot", "dot", [("eager", 3.0, 333.0)])
    profile["results"][0].update(depth=100, index_size=100)
    rows = rows_from_results([*bm25_results(0.25), evaluation, profile])
    dot = next(r for r in rows if r.arch == "dot")
    assert (dot.first_stage_p50_ms, dot.end_to_end_p50_ms) == (0.25, pytest.approx(3.25))
    assert dot.includes == "BM25 top 100 + encode 1 query + score its 100 candidates (pre-encoded)"

    profile["results"][0].update(index_size=1000)
    rows = rows_from_results([*bm25_results(0.25), evaluation, profile])
    dot = next(r for r in rows if r.arch == "dot")
    assert (dot.first_stage_p50_ms, dot.end_to_end_p50_ms) == (None, 3.0)
