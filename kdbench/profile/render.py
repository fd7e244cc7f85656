"""The terminal table of a profile result (rendered from the JSON, like every kdbench table)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kdbench.profile.measurements import Cell, ProfileResult
from kdbench.terminal import Column, console_width, fit_table

if TYPE_CHECKING:
    from rich.console import RenderableType

# The columns that say which cell a row is: repeated in each part when the table is split.
KEYS = ("backend", "batch", "seq", "depth", "index")


def _number_text(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def profile_table(profile: ProfileResult, width: int | None = None) -> RenderableType:
    """The result's cells as a terminal table no wider than `width` (default: the terminal's)."""
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


def problems(profile: ProfileResult) -> list[str]:
    """One line per backend that failed parity or preparation, then per cell warning."""
    cells = profile.cells
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


def serving_table(profile: ProfileResult, width: int | None = None) -> RenderableType | None:
    """A server/offline result's loads: the answer per cell and every level a search ran
    (None: not a load result)."""
    cells = [c for c in profile.cells if c.serving is not None]
    if not cells:
        return None
    headers = (
        "backend",
        "depth",
        "load",
        "QPS",
        "scheduled",
        "answered",
        "p50 ms",
        "p99 ms",
        "queue p50",
        "compute p50",
        "batch",
        "cpu",
        "verdict",
    )
    columns = [
        Column(h, "left" if h in ("backend", "load", "verdict") else "right", key=h == "backend")
        for h in headers
    ]
    rows = []
    for cell in cells:
        serving = cell.serving or {}
        name = f"{cell.backend}:{cell.precision}"
        depth = str(cell.depth or "-")
        if "offline" in serving:
            offline = serving["offline"]
            rows.append(
                [
                    name,
                    depth,
                    "offline",
                    _number_text(offline["queries_per_s"], 1),
                    "-",
                    str(offline["answered"]),
                    "-",
                    "-",
                    "-",
                    _number_text((offline["compute_ms"] or {}).get("p50")),
                    _batch(offline["batch_sizes"]),
                    f"{offline['cpu_utilisation']:.0%}",
                    "valid" if offline["valid"] else "; ".join(offline["reasons"]),
                ]
            )
            continue
        levels = serving["search"]["levels"] if "search" in serving else [serving["level"]]
        best = serving.get("max_valid_qps")
        for level in sorted(levels, key=lambda lv: lv["target_qps"]):
            answer = "search" in serving and level["target_qps"] == best
            verdict = "valid" if level["valid"] else "; ".join(level["reasons"])
            rows.append(
                [
                    name,
                    depth,
                    ("[bold]max[/] " if answer else "") + (level["bound"] or "server"),
                    _number_text(level["target_qps"], 1),
                    _number_text(level["scheduled_qps"], 1),
                    _number_text(level["achieved_qps"], 1),
                    _number_text((level["latency_ms"] or {}).get("p50")),
                    _number_text((level["latency_ms"] or {}).get("p99")),
                    _number_text((level["queue_ms"] or {}).get("p50")),
                    _number_text((level["compute_ms"] or {}).get("p50")),
                    _batch(level["batch_sizes"]),
                    f"{level['cpu_utilisation']:.0%}",
                    verdict,
                ]
            )
        if "search" in serving and not serving["search"]["levels"]:
            rows.append(
                [
                    name,
                    depth,
                    serving["bound"],
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    serving["search"]["stopped_by"],
                ]
            )
    config = profile.header.config
    return fit_table(
        f"kdbench profile: {config['arch']} {config['scenario']} on {config['device']} "
        f"({config.get('workers', 1)} worker(s), max batch {config.get('max_batch', 1)}, "
        f"max wait {config.get('max_wait_ms', 0):g} ms)",
        columns,
        rows,
        width or console_width(),
    )


def _batch(sizes: dict[str, int]) -> str:
    """The mean batch size over the model calls ({size: calls})."""
    calls = sum(sizes.values())
    return "-" if not calls else f"{sum(int(k) * v for k, v in sizes.items()) / calls:.1f}"
