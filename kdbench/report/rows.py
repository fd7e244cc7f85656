"""Trade-off rows: one per model × measured cell, built only from result JSON.

A row joins a model's effectiveness (an `evaluate` result) with one efficiency cell of
its `profile` result, by the model's label. A profile result timed against a baseline
architecture (`kdbench profile --baseline-arch`) also gives the baseline's cells as rows of
their own, labelled "MODEL as ARCH (baseline)". Every number in every report format is read
from these rows, so a report can never disagree with the JSON it came from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kdbench.errors import UserError
from kdbench.profile.measurements import Cell, ProfileResult
from kdbench.results import load_result

QUALITY = ("nDCG@10", "RR@10", "R@100", "R@1000", "AP")


@dataclass
class Row:
    label: str
    arch: str = ""
    teacher: str = ""
    parameters: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    backend: str = ""
    device: str = ""
    precision: str = ""
    scenario: str = ""
    batch_size: int | None = None
    seq_len: int | None = None
    index_size: int | None = None  # query: passages searched
    p50_ms: float | None = None
    p95_ms: float | None = None
    throughput: float | None = None  # items/s (queries, or passages for `index`)
    peak_memory_mib: float | None = None
    index_size_mib: float | None = None
    parity: str = ""  # "passed", "failed: ...", or "" when not profiled
    # The profile's `vs_baseline` ratios, as stored: baseline p50 / this p50 and this
    # items/s / baseline items/s (above 1: faster than the baseline architecture).
    p50_vs_baseline: float | None = None
    throughput_vs_baseline: float | None = None
    baseline_for: str = ""  # on a baseline row: the label of the model it is the baseline of
    reference: str = ""  # non-empty for published numbers (not measured here)
    pareto: bool = False

    def key(self) -> tuple[Any, ...]:
        """Identity of a row across runs, for `--compare`."""
        return (
            self.label,
            self.backend,
            self.device,
            self.precision,
            self.scenario,
            self.batch_size,
            self.seq_len,
            self.index_size,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def label_of(config: dict[str, Any]) -> str:
    """The display name of a model in a result: an explicit label, else the model's name."""
    label = config.get("label") or config.get("model") or "model"
    text = str(label)
    return Path(text).name if "/" in text and Path(text).exists() else text


def profile_rows(profile: ProfileResult, base: Row) -> list[Row]:
    """One row per cell of a profile result, on top of `base` (the model's quality)."""
    rows = []
    device = str(profile.header.config.get("device") or "")
    for cell in profile.cells:
        row = Row(**{**base.to_dict(), "pareto": False})
        row.backend = cell.backend
        row.device = cell.device or device
        row.precision = cell.precision
        row.scenario = cell.scenario
        row.batch_size = cell.batch_size
        row.seq_len = cell.seq_len
        row.index_size = cell.index_size
        if cell.latency is not None:
            row.p50_ms, row.p95_ms = cell.latency.p50, cell.latency.p95
        row.throughput = cell.throughput.items_per_s if cell.throughput else None
        row.peak_memory_mib = cell.memory.peak_mib() if cell.memory else None
        row.index_size_mib = _index_size_mib(cell)
        row.parity = cell.parity.text() if cell.parity else ""
        if cell.vs_baseline is not None:
            row.p50_vs_baseline = cell.vs_baseline.p50_ratio
            row.throughput_vs_baseline = cell.vs_baseline.throughput_ratio
        rows.append(row)
    return rows


def _index_size_mib(cell: Cell) -> float | None:
    """The searched index's bytes (query cells), or what a hand-made or foreign result gives."""
    index_bytes = (
        cell.index_bytes
        or cell.extra.get("index_size_bytes")
        or (cell.extra.get("index") or {}).get("bytes")
    )
    return index_bytes / 2**20 if isinstance(index_bytes, int | float) else None


def baseline_label(label: str, arch: str) -> str:
    """The same weights timed as another architecture must not read as another model."""
    return f"{label} as {arch or '?'} (baseline)"


def baseline_rows(profile: ProfileResult, label: str) -> list[Row]:
    """Rows of the baseline nested in a profile result (none without one).

    Quality is not joined: an evaluation of `label` scored its own architecture, not this one.
    """
    baseline = profile.baseline
    if baseline is None:
        return []
    arch = str(baseline.header.config.get("arch") or "")
    base = Row(label=baseline_label(label, arch), arch=arch, baseline_for=label)
    return profile_rows(baseline, base)


def evaluate_row(result: dict[str, Any]) -> Row:
    config = result.get("config", {})
    metrics = {
        k: float(v) for k, v in result.get("metrics", {}).items() if isinstance(v, int | float)
    }
    return Row(
        label=label_of(config),
        arch=str(config.get("arch") or ""),
        teacher=str(config.get("teacher") or ""),
        parameters=config.get("parameters"),
        metrics=metrics,
    )


def rows_from_results(results: Iterable[dict[str, Any]]) -> list[Row]:
    """Join evaluate and profile results by label; a run result carries both already."""
    evaluated: dict[str, Row] = {}
    profiled: list[dict[str, Any]] = []
    references: list[Row] = []
    for result in results:
        kind = result.get("kind")
        if kind == "run":
            for model in result.get("models", []):
                if model.get("evaluate"):
                    row = evaluate_row(model["evaluate"])
                    row.label = model["label"]
                    row.arch = model.get("arch", row.arch)
                    row.teacher = model.get("teacher", row.teacher)
                    row.parameters = model.get("parameters", row.parameters)
                    evaluated[row.label] = row
                if model.get("profile"):
                    profiled.append(
                        {
                            **model["profile"],
                            "config": {
                                **model["profile"].get("config", {}),
                                "label": model["label"],
                            },
                        }
                    )
            references.extend(Row(**r) for r in result.get("references", []))
        elif kind == "evaluate":
            row = evaluate_row(result)
            evaluated[row.label] = row
        elif kind == "profile":
            profiled.append(result)
    rows: list[Row] = []
    seen: set[str] = set()
    for result in profiled:
        label = label_of(result.get("config", {}))
        base = evaluated.get(label) or Row(
            label=label, arch=str(result.get("config", {}).get("arch") or "")
        )
        profile = ProfileResult.from_dict(result)
        rows.extend(profile_rows(profile, base))
        rows.extend(baseline_rows(profile, label))
        seen.add(label)
    rows.extend(row for label, row in evaluated.items() if label not in seen)
    rows.extend(references)
    mark_pareto(rows)
    return rows


def mark_pareto(rows: list[Row], metric: str = "nDCG@10") -> None:
    """Mark rows no other row beats on both quality (higher) and p50 latency (lower)."""
    candidates = [
        r
        for r in rows
        if not r.reference
        and r.p50_ms is not None
        and metric in r.metrics
        and r.parity in ("", "passed")
    ]
    for row in candidates:
        row.pareto = not any(
            other.metrics[metric] >= row.metrics[metric]
            and other.p50_ms <= row.p50_ms  # type: ignore[operator]
            and (other.metrics[metric] > row.metrics[metric] or other.p50_ms < row.p50_ms)  # type: ignore[operator]
            for other in candidates
        )


def load_results(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Read result files; a folder means its results.json, else every *.json in it."""
    results: list[dict[str, Any]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            summary = path / "results.json"
            files = [summary] if summary.exists() else sorted(path.rglob("*.json"))
            if not files:
                raise UserError(
                    f"{path}: no result JSON here; run `kdbench run` or pass result files"
                )
            results.extend(load_result(f) for f in files)
        elif path.exists():
            results.append(load_result(path))
        else:
            raise UserError(
                f"{path}: no such file or folder; pass result JSON files or a results folder"
            )
    return results
