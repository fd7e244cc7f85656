"""Server rows in the report: the max-QPS column with its bound, `--x qps`, the budget
`qps>=N@p99<=X`, replicas from `--queries-per-s`, and the latency-QPS chart; all from the
result JSON a server profile writes (its search here is run on a stand-in, no model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kdbench.errors import UserError
from kdbench.profile.serving import Level, SearchSettings, find_peak
from kdbench.report import write_report
from kdbench.report.budget import parse_budget
from kdbench.report.rows import mark_pareto, rows_from_results
from kdbench.report.scale import Scale
from kdbench.results import save_result
from tests.report.test_report import evaluate_result, profile_result


def _level(qps: float, capacity: float) -> Level:
    valid = qps <= capacity
    p99 = 10.0 * (1 + qps / capacity) if valid else 10.0 * 10 * qps / capacity
    return Level(
        target_qps=qps,
        scheduled_qps=qps,
        achieved_qps=qps,
        queries=1024,
        answered=1024,
        duration_s=10.0,
        latency_ms={"p50": 5.0, "p99": p99},
        latency_ci_ms={},
        queue_ms=None,
        compute_ms=None,
        issue_lag_ms=None,
        batch_sizes={1: 1024},
        mean_batch=1.0,
        cpu_utilisation=0.5,
        valid=valid,
        reasons=[] if valid else ["p99 over"],
        bound="p99<=50ms",
    )


def server_result(label: str, capacity: float) -> dict[str, Any]:
    """A profile result as `kdbench profile --scenario server --p99-bound 50ms` writes it."""
    search = find_peak(lambda qps: _level(qps, capacity), SearchSettings(start_qps=10.0))
    result = profile_result(label, "dot", [("onnx", 6.0, capacity)])
    result["environment"]["threads"] = {"workers": 1, "cores": 2}
    cell = result["results"][0]
    cell["scenario"] = "server"
    cell["serving"] = {
        "load": "server",
        "served": "query",
        "settings": {"max_batch": 1, "max_wait_ms": 0.0, "workers": 1},
        "bound": "p99<=50ms",
        "search": search.to_dict(),
        "max_valid_qps": search.best.target_qps if search.best else None,
    }
    return result


@pytest.fixture
def served(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    save_result(folder / "eval-a.json", evaluate_result("dot-a", "dot", 0.60, 0.5))
    save_result(folder / "eval-b.json", evaluate_result("dot-b", "dot", 0.65, 0.5))
    save_result(folder / "serve-a.json", server_result("dot-a", 300.0))
    save_result(folder / "serve-b.json", server_result("dot-b", 120.0))
    return folder


def _rows(folder: Path) -> dict[str, Any]:
    from kdbench.report.rows import load_results

    rows = rows_from_results(load_results([folder]))
    return {row.label: row for row in rows}


def test_rows_carry_max_qps_bound_machine_and_curve(served: Path) -> None:
    rows = _rows(served)
    a = rows["dot-a"]
    assert a.qps_bound == "p99<=50ms"
    assert a.max_qps is not None and 300 / 1.05 <= a.max_qps <= 300
    assert "test cpu" in a.qps_machine and "2 cores" in a.qps_machine
    assert [q for q, _, _ in a.qps_curve] == sorted(q for q, _, _ in a.qps_curve)
    assert any(valid for *_, valid in a.qps_curve) and not all(v for *_, v in a.qps_curve)


def test_markdown_shows_max_qps_with_its_bound(served: Path) -> None:
    text, rows = write_report([served], "markdown", None)
    assert "max QPS @ bound" in text
    row = next(r for r in rows if r.label == "dot-a")
    assert f"{row.max_qps:,.1f} @ p99<=50ms" in text


def test_x_qps_front_prefers_more_qps(served: Path) -> None:
    rows = list(_rows(served).values())
    mark_pareto(rows, x="qps")
    # b has better quality, a more QPS: both on the front
    assert all(row.pareto for row in rows)
    assert rows[0].axis("qps") == rows[0].max_qps


def test_budget_qps_at_a_bound(served: Path) -> None:
    _, rows = write_report([served], "markdown", None, budget="qps>=200@p99<=50ms")
    verdicts = {row.label: row.budget for row in rows}
    assert verdicts["dot-a"].startswith("chosen")
    assert "max QPS @ p99<=50ms" in verdicts["dot-b"]
    # another bound is not the one measured: not measured, not fitted
    _, rows = write_report([served], "markdown", None, budget="qps>=10@p99<=20ms")
    assert all("not measured" in row.budget or "none" in row.budget for row in rows)


def test_budget_qps_syntax_errors_name_the_option() -> None:
    for bad in ("qps>=100@p99<50ms", "qps>=100@50ms", "qps>=100@p99<=soon", "qps>=fast@p99<=5"):
        with pytest.raises(UserError, match="--budget"):
            parse_budget(bad)


def test_replicas_from_max_valid_qps(served: Path) -> None:
    _, rows = write_report([served], "markdown", None, scale=Scale(None, 1000.0))
    row = next(r for r in rows if r.label == "dot-b")
    replicas = row.predicted["replicas"]
    assert replicas["value"] == -(-1000 // row.max_qps)
    assert "max valid QPS @ p99<=50ms" in replicas["source"] and "test cpu" in replicas["source"]


def test_html_has_a_latency_qps_curve_per_server_row(served: Path) -> None:
    text, _ = write_report([served], "html", None)
    assert text.count('class="serving-curve"') == 2
    assert "Latency under load" in text and "p99&lt;=50ms" in text
