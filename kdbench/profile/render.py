"""The terminal table of a profile result (rendered from the JSON, like every kdbench table)."""

from __future__ import annotations

from typing import Any

from kdbench.profile.measurements import Cell, ProfileResult
from kdbench.terminal import Column, console_width, fit_table

# The columns that say which cell a row is: repeated in each part when the table is split.
KEYS = ("backend", "batch", "seq", "depth", "index")


def _number_text(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def profile_table(result: dict[str, Any], width: int | None = None) -> Any:
    """The result's cells as a terminal table no wider than `width` (default: the terminal's)."""
    profile = ProfileResult.from_dict(result)
    config = profile.header.config
    cells = profile.cells
    baseline = next((c.vs_baseline.arch for c in cells if c.vs_baseline), None)
    cache = next((c.cache for c in cells if c.cache is not None), None)
    sized = any(c.index_size is not None for c in cells)  # query: passages searched
    caption = None
    if cache is not None:
        caption = (
            f"passage cache: {cache.bytes_per_passage / 1024:,.1f} KiB per passage "
            f"({cache.tokens_per_passage:.0f} tokens, {cache.dtype})"
        )
    headers = (
        "backend",
        "batch",
        "seq",
        "depth",
        *(["index"] if sized else []),
        "p50 ms",
        "p99 ms",
        "cv",
        "items/s",
        "×eager",
        *([f"×{baseline}"] if baseline else []),
        "parity",
        "ΔnDCG@10",
    )
    columns = [
        Column(h, "left" if h in ("backend", "parity") else "right", key=h in KEYS) for h in headers
    ]
    return fit_table(
        f"kdbench profile: {config['arch']} {config['scenario']} on {config['device']}",
        columns,
        [_cell_row(cell, with_baseline=baseline is not None, sized=sized) for cell in cells],
        width or console_width(),
        caption=caption,
    )


def _cell_row(cell: Cell, with_baseline: bool, sized: bool = False) -> list[str]:
    parity = cell.parity
    if cell.status == "ok":
        diff = parity.max_abs_diff if parity is not None else None
        check = f"ok {diff:.1g}" if diff is not None else "ok"
    else:
        check = "[red]failed[/]" if cell.status == "failed_parity" else "[red]error[/]"
    latency, throughput = cell.latency, cell.throughput
    ratio = cell.vs_eager_fp32.throughput_ratio if cell.vs_eager_fp32 else None
    versus = cell.vs_baseline.throughput_ratio if cell.vs_baseline else None
    delta = parity.delta_ndcg_at_10 if parity is not None else None
    return [
        f"{cell.backend}:{cell.precision}",
        str(cell.batch_size),
        str(cell.seq_len or "-"),
        str(cell.depth or "-"),
        *([f"{cell.index_size:,}" if cell.index_size else "-"] if sized else []),
        _number_text(latency.p50 if latency else None),
        _number_text(latency.p99 if latency else None),
        _number_text(latency.cv if latency else None, 3),
        _number_text(throughput.items_per_s if throughput else None, 1),
        "-" if ratio is None else f"{ratio:.2f}",
        *(["-" if versus is None else f"{versus:.2f}"] if with_baseline else []),
        check,
        "-" if delta is None else f"{delta:+.4f}",
    ]


def problems(result: dict[str, Any]) -> list[str]:
    """One line per backend that failed parity or preparation, then per cell warning."""
    cells = ProfileResult.from_dict(result).cells
    lines: list[str] = []
    for key, cell in {f"{c.backend}:{c.precision}": c for c in cells}.items():
        if cell.status == "failed_parity":
            failures = cell.parity.failures if cell.parity is not None else []
            lines.append(f"{key}: parity failed, not timed: {'; '.join(failures)}")
        elif cell.status == "error":
            lines.append(f"{key}: could not run: {cell.error}")
    for cell in cells:
        where = f"{cell.backend}:{cell.precision} batch {cell.batch_size}"
        where += f" seq {cell.seq_len}" if cell.seq_len is not None else f" depth {cell.depth}"
        where += f" index {cell.index_size}" if cell.index_size is not None else ""
        lines.extend(f"{where}: {warning}" for warning in cell.warnings or [])
    return lines
