"""`kdbench report --compare OLD NEW`: deltas per matching row and regressions past thresholds.

A quality delta of two rows whose evaluations scored the same queries is tested paired over
them (`kdbench.report.significance`): the mean difference NEW − OLD with its paired-t and
bootstrap 95% intervals, p, and p adjusted (Holm-Bonferroni) over every quality delta of the
comparison.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kdbench.report.rows import SHOWN_QUALITY, Row
from kdbench.report.significance import holm, paired_test


@dataclass
class Delta:
    key: tuple[Any, ...]
    metric: str
    old: float
    new: float
    regression: bool
    # paired over the queries both evaluations scored (quality only; None without per-query values)
    ci95_t: tuple[float, float] | None = None
    ci95_bootstrap: tuple[float, float] | None = None
    p_value: float | None = None
    p_holm: float | None = None
    queries: int | None = None

    @property
    def change(self) -> float:
        return self.new - self.old

    @property
    def relative(self) -> float | None:
        return (self.new - self.old) / self.old if self.old else None


def _unsized(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row's key without its index size (`Row.key` ends in index size, search)."""
    return (*key[:-2], key[-1])


def compare_rows(
    old: list[Row],
    new: list[Row],
    *,
    max_quality_drop: float = 0.01,
    max_latency_increase: float = 0.10,
    measures: Sequence[str] = SHOWN_QUALITY,
) -> list[Delta]:
    """Match rows by model/backend/device/precision/scenario/shape; quality drops beyond
    `max_quality_drop` (absolute) and p50/p95 increases beyond `max_latency_increase`
    (relative) are regressions."""
    old_by_key = {r.key(): r for r in old if not r.reference}
    # a result written before index sizes were recorded matches the cell at any size
    unsized = {_unsized(r.key()): r for r in old if not r.reference and r.index_size is None}
    deltas: list[Delta] = []
    for row in new:
        before = old_by_key.get(row.key()) or unsized.get(_unsized(row.key()))
        if before is None or row.reference:
            continue
        for metric in measures:
            if metric in row.metrics and metric in before.metrics:
                deltas.append(_quality_delta(before, row, metric, max_quality_drop))
        for metric, old_value, new_value in (
            ("p50 ms", before.p50_ms, row.p50_ms),
            ("p95 ms", before.p95_ms, row.p95_ms),
        ):
            if old_value and new_value is not None:
                deltas.append(
                    Delta(
                        row.key(),
                        metric,
                        old_value,
                        new_value,
                        (new_value - old_value) / old_value > max_latency_increase,
                    )
                )
        if before.throughput and row.throughput is not None:
            deltas.append(
                Delta(
                    row.key(),
                    "items/s",
                    before.throughput,
                    row.throughput,
                    (before.throughput - row.throughput) / before.throughput > max_latency_increase,
                )
            )
    tested = [d for d in deltas if d.p_value is not None]
    for delta, adjusted in zip(tested, holm([d.p_value or 0.0 for d in tested]), strict=True):
        delta.p_holm = adjusted
    return deltas


def _quality_delta(before: Row, row: Row, metric: str, max_drop: float) -> Delta:
    """NEW − OLD in `metric`, tested paired over the queries both scored (when they did)."""
    old_value, new_value = before.metrics[metric], row.metrics[metric]
    delta = Delta(row.key(), metric, old_value, new_value, old_value - new_value > max_drop)
    old_queries = before.per_query.get(metric) or {}
    new_queries = row.per_query.get(metric) or {}
    qids = sorted(set(old_queries) & set(new_queries))
    if len(qids) >= 2:
        test = paired_test([new_queries[q] for q in qids], [old_queries[q] for q in qids])
        delta.ci95_t, delta.ci95_bootstrap = test.ci95_t, test.ci95_bootstrap
        delta.p_value, delta.queries = test.p_value, test.queries
    return delta


def render_comparison(deltas: list[Delta]) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="kdbench: comparison (NEW − OLD)")
    sized = any(d.key[-2] is not None for d in deltas)  # query cells at a recorded index size
    for header in (
        "model",
        "backend",
        "device",
        "precision",
        "scenario",
        "batch",
        "seq",
        *(["index"] if sized else []),
        "metric",
        "old",
        "new",
        "change",
        "95% CI (t)",
        "95% CI (bootstrap)",
        "p",
        "p (Holm)",
        "",
    ):
        table.add_column(header)
    for d in deltas:
        label, backend, device, precision, scenario, batch, seq, _, index, _ = d.key
        relative = (
            f" ({d.relative:+.1%})"
            if (d.relative is not None and "ms" in d.metric) or "/s" in d.metric
            else ""
        )
        table.add_row(
            str(label),
            backend or "–",
            device or "–",
            precision or "–",
            scenario or "–",
            str(batch or "–"),
            str(seq or "–"),
            *([str(index or "–")] if sized else []),
            d.metric,
            f"{d.old:.4g}",
            f"{d.new:.4g}",
            f"{d.change:+.4g}{relative}",
            _bounds_text(d.ci95_t),
            _bounds_text(d.ci95_bootstrap),
            "–" if d.p_value is None else f"{d.p_value:.3g}",
            "–" if d.p_holm is None else f"{d.p_holm:.3g}",
            "[bold red]REGRESSION[/]" if d.regression else "",
            style="red" if d.regression else None,
        )
    # recorded into a buffer: the caller prints the text once
    console = Console(record=True, width=240, file=io.StringIO())
    console.print(table)
    if not deltas:
        console.print(
            "no rows in common between OLD and NEW (rows match on model, backend, device, precision, "
            "scenario, batch size and sequence length)"
        )
    return console.export_text()


def _bounds_text(bounds: tuple[float, float] | None) -> str:
    return "–" if bounds is None else f"{bounds[0]:+.4f} to {bounds[1]:+.4f}"
