"""The terminal table of a profile result (rendered from the JSON, like every kdbench table)."""

from __future__ import annotations

from typing import Any


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def profile_table(result: dict[str, Any]) -> Any:
    from rich.table import Table

    config = result["config"]
    table = Table(
        title=f"kdbench profile: {config['arch']} {config['scenario']} on {config['device']}"
    )
    entries = result["results"]
    baseline = next((e["vs_baseline"]["arch"] for e in entries if e.get("vs_baseline")), None)
    cache = next((e for e in entries if e.get("cache_bytes_per_passage") is not None), None)
    if cache is not None:
        table.caption = (
            f"passage cache: {cache['cache_bytes_per_passage'] / 1024:,.1f} KiB per passage "
            f"({cache['cache_tokens_per_passage']:.0f} tokens, {cache['cache_dtype']})"
        )
    for column in (
        "backend",
        "batch",
        "seq",
        "depth",
        "p50 ms",
        "p99 ms",
        "cv",
        "items/s",
        "×eager",
        *([f"×{baseline}"] if baseline else []),
        "parity",
        "ΔnDCG@10",
    ):
        table.add_column(column, justify="left" if column in ("backend", "parity") else "right")
    for entry in entries:
        parity = entry["parity"] or {}
        if entry["status"] == "ok":
            check = (
                f"ok {parity['max_abs_diff']:.1g}"
                if parity.get("max_abs_diff") is not None
                else "ok"
            )
        else:
            check = "[red]failed[/]" if entry["status"] == "failed_parity" else "[red]error[/]"
        latency = entry["latency_ms"] or {}
        throughput = entry["throughput"] or {}
        ratio = (entry.get("vs_eager_fp32") or {}).get("throughput_ratio")
        versus = (entry.get("vs_baseline") or {}).get("throughput_ratio")
        delta = parity.get("delta_ndcg_at_10")
        table.add_row(
            f"{entry['backend']}:{entry['precision']}",
            str(entry["batch_size"]),
            str(entry["seq_len"]),
            str(entry["depth"] or "-"),
            _number(latency.get("p50")),
            _number(latency.get("p99")),
            _number(latency.get("cv"), 3),
            _number(throughput.get("items_per_s"), 1),
            "-" if ratio is None else f"{ratio:.2f}",
            *(["-" if versus is None else f"{versus:.2f}"] if baseline else []),
            check,
            "-" if delta is None else f"{delta:+.4f}",
        )
    return table


def problems(result: dict[str, Any]) -> list[str]:
    """One line per backend that failed parity or preparation, then per cell warning."""
    lines: list[str] = []
    for key, entry in {f"{e['backend']}:{e['precision']}": e for e in result["results"]}.items():
        if entry["status"] == "failed_parity":
            lines.append(
                f"{key}: parity failed, not timed: {'; '.join(entry['parity'].get('failures', []))}"
            )
        elif entry["status"] == "error":
            lines.append(f"{key}: could not run: {entry['error']}")
    for entry in result["results"]:
        cell = f"{entry['backend']}:{entry['precision']} batch {entry['batch_size']} seq {entry['seq_len']}"
        lines.extend(f"{cell}: {warning}" for warning in entry.get("warnings") or [])
    return lines
