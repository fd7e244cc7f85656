"""`kdbench report --compare OLD NEW`: deltas per matching row and regressions past thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kdbench.report.rows import Row


@dataclass
class Delta:
    key: tuple[Any, ...]
    metric: str
    old: float
    new: float
    regression: bool

    @property
    def change(self) -> float:
        return self.new - self.old

    @property
    def relative(self) -> float | None:
        return (self.new - self.old) / self.old if self.old else None


def compare_rows(
    old: list[Row],
    new: list[Row],
    *,
    max_quality_drop: float = 0.01,
    max_latency_increase: float = 0.10,
) -> list[Delta]:
    """Match rows by model/backend/device/precision/scenario/shape; quality drops beyond
    `max_quality_drop` (absolute) and p50/p95 increases beyond `max_latency_increase`
    (relative) are regressions."""
    old_by_key = {r.key(): r for r in old if not r.reference}
    # a result written before index sizes were recorded matches the cell at any size
    unsized = {r.key()[:-1]: r for r in old if not r.reference and r.index_size is None}
    deltas: list[Delta] = []
    for row in new:
        before = old_by_key.get(row.key()) or unsized.get(row.key()[:-1])
        if before is None or row.reference:
            continue
        for metric in ("nDCG@10", "RR@10", "R@100"):
            if metric in row.metrics and metric in before.metrics:
                drop = before.metrics[metric] - row.metrics[metric]
                deltas.append(
                    Delta(
                        row.key(),
                        metric,
                        before.metrics[metric],
                        row.metrics[metric],
                        drop > max_quality_drop,
                    )
                )
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
    return deltas


def render_comparison(deltas: list[Delta]) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="kdbench: comparison (NEW − OLD)")
    sized = any(d.key[-1] is not None for d in deltas)  # query cells at a recorded index size
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
        "",
    ):
        table.add_column(header)
    for d in deltas:
        label, backend, device, precision, scenario, batch, seq, _, index = d.key
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
            "[bold red]REGRESSION[/]" if d.regression else "",
            style="red" if d.regression else None,
        )
    console = Console(record=True, width=200)
    console.print(table)
    if not deltas:
        console.print(
            "no rows in common between OLD and NEW (rows match on model, backend, device, precision, "
            "scenario, batch size and sequence length)"
        )
    return console.export_text()
