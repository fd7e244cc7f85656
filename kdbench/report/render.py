"""Render trade-off rows as Markdown, CSV, JSON, a rich table or one self-contained HTML page.

Formatters live in `FORMATS` (STYLE.md habit 8). Markdown and HTML round to the digits
shown in `COLUMNS`; CSV and JSON keep full precision. The "× baseline" column appears only
when some row was timed against a baseline architecture, so other reports stay as they were.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from collections.abc import Callable
from typing import Any

from kdbench.report.rows import Row

# (header, getter, decimals) — decimals None means text.
Column = tuple[str, Callable[[Row], Any], int | None]
COLUMNS: list[Column] = [
    ("model", lambda r: r.label, None),
    ("arch", lambda r: r.arch, None),
    ("teacher", lambda r: r.teacher, None),
    ("params (M)", lambda r: r.parameters / 1e6 if r.parameters else None, 1),
    ("nDCG@10", lambda r: r.metrics.get("nDCG@10"), 3),
    ("RR@10", lambda r: r.metrics.get("RR@10"), 3),
    ("R@100", lambda r: r.metrics.get("R@100"), 3),
    ("backend", lambda r: r.backend, None),
    ("device", lambda r: r.device, None),
    ("precision", lambda r: r.precision, None),
    ("scenario", lambda r: r.scenario, None),
    ("batch", lambda r: r.batch_size, 0),
    ("seq", lambda r: r.seq_len, 0),
    ("p50 ms", lambda r: r.p50_ms, 2),
    ("p95 ms", lambda r: r.p95_ms, 2),
    ("items/s", lambda r: r.throughput, 1),
    ("peak MiB", lambda r: r.peak_memory_mib, 0),
    ("index MiB", lambda r: r.index_size_mib, 1),
    ("parity", lambda r: r.parity, None),
    ("pareto", lambda r: "★" if r.pareto else "", None),
]
VS_BASELINE: Column = ("× baseline", lambda r: r.p50_vs_baseline, 2)
INDEX_SIZE: Column = ("passages", lambda r: r.index_size, 0)  # searched (query cells)


def columns_for(rows: list[Row]) -> list[Column]:
    columns = list(COLUMNS)
    if any(r.index_size is not None for r in rows):
        after = [c[0] for c in columns].index("seq") + 1
        columns.insert(after, INDEX_SIZE)
    if any(r.p50_vs_baseline is not None for r in rows):
        after = [c[0] for c in columns].index("items/s") + 1
        columns.insert(after, VS_BASELINE)
    return columns


def baseline_note(rows: list[Row]) -> str:
    """What the "× baseline" column and the "(baseline)" rows are; empty when there are none."""
    if not any(r.p50_vs_baseline is not None or r.baseline_for for r in rows):
        return ""
    archs = ", ".join(sorted({r.arch for r in rows if r.baseline_for})) or "another architecture"
    return (
        f'Rows "MODEL as ARCH (baseline)" are the same weights built as {archs} and timed '
        "interleaved with the model in the same run. × baseline = the baseline's p50 ÷ the row's "
        "p50 on the same backend and cell (above 1: faster than the baseline)."
    )


def cell_text(value: Any, decimals: int | None) -> str:
    if value is None or value == "":
        return "–"
    if decimals is None:
        return str(value)
    return f"{value:.{decimals}f}"


def table_cells(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    columns = columns_for(rows)
    headers = [c[0] for c in columns]
    body = []
    for row in rows:
        cells = [cell_text(get(row), decimals) for _, get, decimals in columns]
        if row.reference:
            cells[0] = f"{row.label} ({row.reference})"
        body.append(cells)
    return headers, body


def to_markdown(rows: list[Row], meta: dict[str, Any]) -> str:
    headers, body = table_cells(rows)
    lines = [f"# kdbench report: {meta.get('title', 'trade-off')}", ""]
    lines += _meta_lines(meta)
    lines += ["", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    lines += [
        "",
        "★ = Pareto-optimal: no other measured row has both higher nDCG@10 and lower p50 latency.",
        "Published rows (in parentheses) were not measured here; latency is per query in the row's scenario.",
    ]
    if note := baseline_note(rows):
        lines.append(note)
    if meta.get("pairs"):
        lines += ["", pair_markdown(meta["pairs"])]
    return "\n".join(lines) + "\n"


def _meta_lines(meta: dict[str, Any]) -> list[str]:
    lines = []
    if meta.get("command"):
        lines.append(f"- command: `{meta['command']}`")
    if meta.get("machine"):
        lines.append(f"- machine: {meta['machine']}")
    if meta.get("created"):
        lines.append(f"- created: {meta['created']}")
    if meta.get("data"):
        lines.append(f"- data: {meta['data']}")
    return lines


def pair_markdown(pairs: list[dict[str, Any]]) -> str:
    """Distilled vs not-distilled pairs: the difference per measure with its paired t-test."""
    if not pairs:
        return ""
    lines = [
        "## Distillation effect (KD − no-KD, paired t-test over queries)",
        "",
        "| KD | no-KD | measure | KD | no-KD | difference | t | p | significant | wins/losses/ties |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for pair in pairs:
        for row in pair["rows"]:
            t = "–" if row["t"] is None else f"{row['t']:.2f}"
            lines.append(
                f"| {pair['kd']} | {pair['nokd']} | {row['measure']} | {row['kd']:.3f} | {row['nokd']:.3f} | "
                f"{row['difference']:+.3f} | {t} | {row['p_value']:.3g} | {'yes' if row['significant'] else 'no'} | "
                f"{row['wins']}/{row['losses']}/{row['ties']} |"
            )
        lines.extend(
            f"- warning ({pair['kd']} vs {pair['nokd']}): {w}" for w in pair.get("warnings", [])
        )
    return "\n".join(lines) + "\n"


def to_csv(rows: list[Row], meta: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    columns = columns_for(rows)
    writer.writerow([c[0] for c in columns])
    for row in rows:
        writer.writerow(["" if (v := get(row)) is None else v for _, get, _ in columns])
    return out.getvalue()


def to_json(rows: list[Row], meta: dict[str, Any]) -> str:
    return json.dumps({"meta": meta, "rows": [r.to_dict() for r in rows]}, indent=2) + "\n"


def to_terminal(rows: list[Row], meta: dict[str, Any]) -> str:
    from rich.console import Console
    from rich.table import Table

    headers, body = table_cells(rows)
    table = Table(title=f"kdbench: {meta.get('title', 'trade-off')}")
    for header in headers:
        table.add_column(
            header, justify="left" if header in ("model", "arch", "teacher", "backend") else "right"
        )
    for cells, row in zip(body, rows, strict=True):
        table.add_row(
            *cells, style="bold green" if row.pareto else ("dim" if row.reference else None)
        )
    console = Console(record=True, width=220)
    console.print(table)
    for line in _meta_lines(meta):
        console.print(line, markup=False)
    if note := baseline_note(rows):
        console.print(note, markup=False)
    return console.export_text()


def svg_plot(rows: list[Row], width: int = 760, height: int = 440) -> str:
    """Query latency (log axis) against nDCG@10, a point per model × backend, Pareto front drawn."""
    points = [
        r for r in rows if r.p50_ms and r.p50_ms > 0 and "nDCG@10" in r.metrics and not r.reference
    ]
    pad_l, pad_r, pad_t, pad_b = 70, 30, 30, 60
    parts = [
        f'<svg id="tradeoff-plot" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="p50 latency against nDCG@10">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    if not points:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no row has both latency and '
            "nDCG@10</text></svg>"
        )
        return "".join(parts)
    lat = [math.log10(r.p50_ms) for r in points]  # type: ignore[arg-type]
    qual = [r.metrics["nDCG@10"] for r in points]
    refs = [r.metrics["nDCG@10"] for r in rows if r.reference and "nDCG@10" in r.metrics]
    x_lo, x_hi = (
        math.floor(min(lat)),
        math.ceil(max(lat)) if max(lat) > math.floor(min(lat)) else math.floor(min(lat)) + 1,
    )
    y_all = qual + refs
    y_lo, y_hi = min(y_all) - 0.02, max(y_all) + 0.02

    def sx(v: float) -> float:
        return pad_l + (v - x_lo) / (x_hi - x_lo) * (width - pad_l - pad_r)

    def sy(v: float) -> float:
        return height - pad_b - (v - y_lo) / (y_hi - y_lo) * (height - pad_t - pad_b)

    axis = 'stroke="#444" stroke-width="1"'
    parts.append(
        f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - pad_r}" y2="{height - pad_b}" {axis}/>'
    )
    parts.append(f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{height - pad_b}" {axis}/>')
    for decade in range(x_lo, x_hi + 1):
        x = sx(decade)
        parts.append(
            f'<line x1="{x:.1f}" y1="{height - pad_b}" x2="{x:.1f}" y2="{height - pad_b + 5}" {axis}/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{height - pad_b + 20}" text-anchor="middle" font-size="12">'
            f"{10.0**decade:g} ms</text>"
        )
    for i in range(5):
        v = y_lo + (y_hi - y_lo) * i / 4
        parts.append(
            f'<text x="{pad_l - 8}" y="{sy(v) + 4:.1f}" text-anchor="end" font-size="12">{v:.3f}</text>'
        )
    parts.append(
        f'<text x="{(width + pad_l) / 2}" y="{height - 15}" text-anchor="middle" font-size="13">'
        "p50 query latency (ms, log scale)</text>"
    )
    parts.append(
        f'<text x="18" y="{height / 2}" text-anchor="middle" font-size="13" '
        f'transform="rotate(-90 18 {height / 2})">nDCG@10</text>'
    )
    for ref in rows:
        if ref.reference and "nDCG@10" in ref.metrics:
            y = sy(ref.metrics["nDCG@10"])
            parts.append(
                f'<line x1="{pad_l}" y1="{y:.1f}" x2="{width - pad_r}" y2="{y:.1f}" stroke="#999" '
                'stroke-dasharray="4 4"/>'
            )
            parts.append(
                f'<text x="{width - pad_r}" y="{y - 4:.1f}" text-anchor="end" font-size="11" fill="#666">'
                f"{html.escape(ref.label)} ({html.escape(ref.reference)})</text>"
            )
    front = sorted((r for r in points if r.pareto), key=lambda r: r.p50_ms or 0.0)
    if len(front) > 1:
        path = " ".join(
            f"{sx(math.log10(r.p50_ms or 1.0)):.1f},{sy(r.metrics['nDCG@10']):.1f}" for r in front
        )
        parts.append(
            f'<polyline id="pareto-front" points="{path}" fill="none" stroke="#2a7" stroke-width="2"/>'
        )
    colours = [
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#17becf",
    ]
    backends = sorted({r.backend for r in points})
    for r, lx in zip(points, lat, strict=True):
        colour = colours[backends.index(r.backend) % len(colours)]
        x, y = sx(lx), sy(r.metrics["nDCG@10"])
        title = html.escape(
            f"{r.label} {r.backend}/{r.device}/{r.precision} {r.scenario} b{r.batch_size}: "
            f"p50 {r.p50_ms:.2f} ms, nDCG@10 {r.metrics['nDCG@10']:.3f}"
        )
        stroke = ' stroke="#000" stroke-width="2"' if r.pareto else ""
        parts.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{colour}"{stroke}>'
            f"<title>{title}</title></circle>"
        )
        parts.append(
            f'<text x="{x + 8:.1f}" y="{y - 6:.1f}" font-size="11">{html.escape(r.label)}</text>'
        )
    for i, backend in enumerate(backends):
        colour = colours[i % len(colours)]
        parts.append(
            f'<circle cx="{pad_l + 15 + i * 110}" cy="{pad_t - 12}" r="5" fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{pad_l + 25 + i * 110}" y="{pad_t - 8}" font-size="12">{html.escape(backend)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def pair_html(pairs: list[dict[str, Any]]) -> str:
    if not pairs:
        return ""
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "KD",
            "no-KD",
            "measure",
            "KD",
            "no-KD",
            "difference",
            "t",
            "p",
            "significant",
            "wins/losses/ties",
        )
    )
    body = []
    for pair in pairs:
        for row in pair["rows"]:
            t = "–" if row["t"] is None else f"{row['t']:.2f}"
            cells = [
                pair["kd"],
                pair["nokd"],
                row["measure"],
                f"{row['kd']:.3f}",
                f"{row['nokd']:.3f}",
                f"{row['difference']:+.3f}",
                t,
                f"{row['p_value']:.3g}",
                "yes" if row["significant"] else "no",
                f"{row['wins']}/{row['losses']}/{row['ties']}",
            ]
            body.append(
                "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"
            )
    return (
        f'<h2>Distillation effect (KD − no-KD, paired t-test over queries)</h2><table id="pairs-table">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def to_html(rows: list[Row], meta: dict[str, Any]) -> str:
    headers, body = table_cells(rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    trs = []
    for cells, row in zip(body, rows, strict=True):
        cls = "pareto" if row.pareto else ("reference" if row.reference else "")
        trs.append(
            f'<tr class="{cls}">' + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
        )
    meta_items = "".join(f"<li>{html.escape(line[2:])}</li>" for line in _meta_lines(meta))
    title = html.escape(str(meta.get("title", "trade-off")))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kdbench report: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 7px; text-align: right; }}
th {{ background: #f0f0f0; }}
td:first-child, td:nth-child(2), td:nth-child(3) {{ text-align: left; }}
tr.pareto {{ background: #e8f6ee; font-weight: 600; }}
tr.reference {{ color: #777; font-style: italic; }}
</style></head><body>
<h1>kdbench report: {title}</h1>
<ul>{meta_items}</ul>
<h2>Quality against query latency</h2>
{svg_plot(rows)}
<h2>Trade-off table</h2>
<table id="tradeoff-table"><thead><tr>{head}</tr></thead><tbody>
{"".join(trs)}
</tbody></table>
{pair_html(meta.get("pairs") or [])}
<p>Highlighted rows are Pareto-optimal: no other measured row has both higher nDCG@10 and lower p50
latency. Rows in italics are published numbers, not measured here.</p>
{f"<p>{html.escape(note)}</p>" if (note := baseline_note(rows)) else ""}
</body></html>
"""


FORMATS: dict[str, Callable[[list[Row], dict[str, Any]], str]] = {
    "terminal": to_terminal,
    "markdown": to_markdown,
    "md": to_markdown,
    "csv": to_csv,
    "json": to_json,
    "html": to_html,
}
