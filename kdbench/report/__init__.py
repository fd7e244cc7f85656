"""Trade-off reports rendered from result JSON: rows.py joins, render.py formats, compare.py diffs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kdbench.io import atomic_write_text
from kdbench.report.render import FORMATS
from kdbench.report.rows import Row, load_results, rows_from_results


def report_meta(results: list[dict[str, Any]], title: str) -> dict[str, Any]:
    """Command, machine and date of the results a report is built from."""
    first = results[0] if results else {}
    env = first.get("environment", {})
    threads = env.get("torch", {}).get("threads")
    gpus = env.get("nvml", {}).get("gpus") or []
    machine = f"{env.get('cpu', '?')} ({env.get('cpu_count', '?')} cores"
    machine += f", {threads} torch threads)" if threads else ")"
    if gpus:
        machine += "; GPU: " + ", ".join(g["name"] for g in gpus)
    data = first.get("config", {}).get("data")
    pairs = [
        pair
        for result in results
        if result.get("kind") == "run"
        for pair in result.get("pairs", [])
    ]
    return {
        "pairs": pairs,
        "title": title,
        "command": first.get("command", ""),
        "machine": machine,
        "created": first.get("created", ""),
        "data": data.get("source") if isinstance(data, dict) else data,
    }


def write_report(
    paths: list[str | Path], fmt: str, output: str | Path | None, title: str = ""
) -> tuple[str, list[Row]]:
    results = load_results(paths)
    rows = rows_from_results(results)
    text = FORMATS[fmt](rows, report_meta(results, title or ", ".join(Path(p).name for p in paths)))
    if output is not None:
        atomic_write_text(output, text)
    return text, rows
