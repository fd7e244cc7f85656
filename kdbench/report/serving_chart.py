"""The latency-QPS curve of each server row, as a small inline SVG for the HTML report.

Each level a search ran is a point: x its target QPS, y its p99 latency (both log scale);
a filled point held the bound (a valid level), a hollow one did not; the dashed line is the
bound. The curve bends up where queueing takes over; the highest filled point is the row's
max QPS. Rendered from the rows alone (`Row.qps_curve`), like every report format.
"""

from __future__ import annotations

import html
import math
import re

from kdbench.report.rows import Row

WIDTH, HEIGHT, PAD = 300, 180, 36


def serving_curves_html(rows: list[Row]) -> str:
    """A section of one chart per server row ("" when no row has a curve)."""
    charts = [_chart(row) for row in rows if row.qps_curve]
    if not charts:
        return ""
    return (
        "<h2>Latency under load</h2>\n<p>p99 latency (from scheduled arrival) against the "
        "offered QPS, per level of each row's search; filled: valid, hollow: not; dashed: "
        'the bound.</p>\n<div class="serving-curves">' + "".join(charts) + "</div>"
    )


def _bound_ms(bound: str) -> float | None:
    found = re.search(r"<=([0-9.]+)ms", bound)
    return float(found.group(1)) if found else None


def _chart(row: Row) -> str:
    points = [(q, p) for q, p, _ in row.qps_curve if q and p]
    if not points:
        return ""
    bound = _bound_ms(row.qps_bound)
    xs = [q for q, _ in points]
    ys = [p for _, p in points] + ([bound] if bound else [])
    x0, x1 = math.log10(min(xs)) - 0.05, math.log10(max(xs)) + 0.05
    y0, y1 = math.log10(min(ys)) - 0.1, math.log10(max(ys)) + 0.1

    def sx(value: float) -> float:
        return PAD + (math.log10(value) - x0) / (x1 - x0) * (WIDTH - 2 * PAD)

    def sy(value: float) -> float:
        return HEIGHT - PAD - (math.log10(value) - y0) / (y1 - y0) * (HEIGHT - 2 * PAD)

    parts = [
        f'<svg class="serving-curve" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img">',
        f'<text x="{PAD}" y="14" font-size="11">{html.escape(_title(row))}</text>',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 8}" font-size="10" text-anchor="middle">QPS '
        f"{min(xs):.3g}–{max(xs):.3g}</text>",
        f'<text x="4" y="{PAD - 4}" font-size="10">p99 ms</text>',
    ]
    if bound:
        y = sy(bound)
        parts.append(
            f'<line x1="{PAD}" y1="{y:.1f}" x2="{WIDTH - PAD}" y2="{y:.1f}" stroke="#c33" '
            f'stroke-dasharray="4 3"/><text x="{WIDTH - PAD}" y="{y - 3:.1f}" font-size="10" '
            f'text-anchor="end" fill="#c33">{html.escape(row.qps_bound)}</text>'
        )
    path = " ".join(f"{sx(q):.1f},{sy(p):.1f}" for q, p in points)
    parts.append(f'<polyline points="{path}" fill="none" stroke="#36c"/>')
    for q, p, valid in row.qps_curve:
        if q and p:
            fill = "#36c" if valid else "white"
            parts.append(
                f'<circle cx="{sx(q):.1f}" cy="{sy(p):.1f}" r="3.5" fill="{fill}" stroke="#36c">'
                f"<title>{q:.4g} QPS: p99 {p:.4g} ms, {'valid' if valid else 'invalid'}</title>"
                "</circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _title(row: Row) -> str:
    best = f"max {row.max_qps:.4g} QPS" if row.max_qps else "no valid level"
    return f"{row.label} {row.backend}:{row.precision}: {best}"
