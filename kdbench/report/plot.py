"""The trade-off plot: one self-contained SVG, quality against a cost axis, labels that never
overlap.

A point per measured row with both values (BM25, zero-shot and teacher rows included; a row
whose artifact was never evaluated has no quality and no point); published references are
dashed horizontal lines; the Pareto front is a step line (the best quality reachable at each
cost). The x axis is `--x`: p50 or p95 per query (end to end where the first stage was
profiled), throughput or the row's memory, on a log scale; y is any measured quality.

Labels are placed, not drawn where they fall: `layout` tries eight spots around each point,
then spots further out with a leader line, then a column beside the plot (leader-lined), and
keeps a spot only if its box meets no placed label, point or reference label. Label text is
monospace, so its box is known before the browser draws it (`label_box`); the boxes are in
the layout (and on each label as data attributes) for tests to check against the browser's.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from kdbench.report.budget import Constraint, budget_mark
from kdbench.report.rows import FIRST_STAGE_ARCHS, HIGHER_IS_BETTER, Row, artifact_name

FONT_SIZE = 11
CHAR_WIDTH = 0.62 * FONT_SIZE  # DejaVu Sans Mono's advance is 0.602 em: a little room
LINE_HEIGHT = 1.25 * FONT_SIZE
POINT_RADIUS = 6
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
UNIT = {"p50": "ms", "p95": "ms", "throughput": "/s", "memory": "MiB", "qps": "/s"}
X_TITLE = {
    "p50": "p50 latency per query (ms, log scale; end to end where the first stage was profiled)",
    "p95": "p95 latency per query (ms, log scale; end to end where the first stage was profiled)",
    "throughput": "throughput (items/s, log scale)",
    "qps": "max valid QPS under the row's latency bound (log scale)",
    "memory": "memory: weights + activations + index (MiB, log scale)",
}


@dataclass(frozen=True)
class Box:
    x: float  # left
    y: float  # top
    width: float
    height: float

    def overlaps(self, other: Box, gap: float = 1.0) -> bool:
        return not (
            self.x + self.width + gap <= other.x
            or other.x + other.width + gap <= self.x
            or self.y + self.height + gap <= other.y
            or other.y + other.height + gap <= self.y
        )

    def inside(self, area: Box) -> bool:
        return (
            self.x >= area.x
            and self.y >= area.y
            and self.x + self.width <= area.x + area.width
            and self.y + self.height <= area.y + area.height
        )


def label_box(text: str, left: float, baseline: float) -> Box:
    """The box a monospace label of `text` covers with its baseline at `baseline`."""
    return Box(left, baseline - 0.8 * FONT_SIZE, len(text) * CHAR_WIDTH, LINE_HEIGHT)


@dataclass
class Label:
    text: str
    box: Box
    anchor: tuple[float, float]  # the point (or line end) it names
    leader: bool = False  # drawn with a line to its point


@dataclass(frozen=True)
class Axes:
    """Data -> pixel maps of one plot: log10 x over whole decades, linear y."""

    area: Box
    x_lo: int
    x_hi: int
    y_lo: float
    y_hi: float

    def sx(self, value: float) -> float:
        fraction = (math.log10(value) - self.x_lo) / (self.x_hi - self.x_lo)
        return self.area.x + fraction * self.area.width

    def sy(self, value: float) -> float:
        fraction = (value - self.y_lo) / (self.y_hi - self.y_lo)
        return self.area.y + (1 - fraction) * self.area.height


@dataclass
class Layout:
    width: float
    height: float
    area: Box  # the plotting area inside the axes
    points: list[tuple[Row, float, float]] = field(default_factory=list)  # row, x, y in px
    labels: list[Label] = field(default_factory=list)
    references: list[tuple[Row, float]] = field(default_factory=list)  # row, y in px
    axes: Axes | None = None  # None: nothing to plot


def point_label(row: Row) -> str:
    """'dot-L2 onnx:int8', 'dot-L2 eager'; BM25 by its name alone."""
    if row.arch in FIRST_STAGE_ARCHS:
        return row.label
    return f"{row.label} {artifact_name(row.backend, row.precision)}"


def _spots(x: float, y: float, width: float) -> Iterator[tuple[float, float, bool]]:
    """(left, baseline, leader) of candidate spots for a `width`-wide label of point (x, y):
    eight around it, then rings further out (with a leader line)."""
    r, ascent = POINT_RADIUS + 3, 0.8 * FONT_SIZE
    yield x + r, y + ascent / 2 - 1, False  # right
    yield x - r - width, y + ascent / 2 - 1, False  # left
    yield x - width / 2, y - r, False  # above
    yield x - width / 2, y + r + ascent, False  # below
    yield x + r, y - r, False
    yield x - r - width, y - r, False
    yield x + r, y + r + ascent, False
    yield x - r - width, y + r + ascent, False
    for distance in range(24, 400, 12):
        for step in range(16):
            angle = 2 * math.pi * step / 16
            cx, cy = x + distance * math.cos(angle), y - distance * math.sin(angle)
            yield cx - (0 if math.cos(angle) >= 0 else width), cy + ascent / 2, True


def place_labels(layout: Layout) -> None:
    """A spot for every point's label that meets no other label, point or reference label;
    failing every spot in the plot, a column to its right (the SVG widens to hold it)."""
    taken = [label.box for label in layout.labels]  # the references' labels, placed first
    taken += [
        Box(x - POINT_RADIUS, y - POINT_RADIUS, 2 * POINT_RADIUS, 2 * POINT_RADIUS)
        for _, x, y in layout.points
    ]
    overflow: list[tuple[str, float, float]] = []
    for row, x, y in sorted(layout.points, key=lambda p: (p[2], p[1])):
        text = point_label(row)
        width = len(text) * CHAR_WIDTH
        for left, baseline, leader in _spots(x, y, width):
            box = label_box(text, left, baseline)
            if box.inside(layout.area) and not any(box.overlaps(other) for other in taken):
                layout.labels.append(Label(text, box, (x, y), leader))
                taken.append(box)
                break
        else:
            overflow.append((text, x, y))
    column = layout.area.x + layout.area.width + 12
    baseline = layout.area.y + FONT_SIZE
    for text, x, y in sorted(overflow, key=lambda item: item[2]):
        box = label_box(text, column, baseline)
        layout.labels.append(Label(text, box, (x, y), leader=True))
        layout.width = max(layout.width, box.x + box.width + 8)
        baseline += LINE_HEIGHT + 2
        layout.height = max(layout.height, baseline + 40)


def plotted(rows: list[Row], x: str, y: str) -> list[Row]:
    """The rows with a point: measured (not published), with a positive x and the quality y."""
    return [
        r
        for r in rows
        if not r.reference and (value := r.axis(x)) is not None and value > 0 and y in r.metrics
    ]


def layout(
    rows: list[Row], x: str = "p50", y: str = "nDCG@10", size: tuple[int, int] = (760, 460)
) -> Layout:
    """Where every point, reference line and label goes (pixels), labels placed apart."""
    width, height = size
    area = Box(70, 40, width - 100, height - 110)
    found = Layout(width, height, area)
    points = plotted(rows, x, y)
    references = [r for r in rows if r.reference and y in r.metrics]
    if not points:
        return found
    logs = [math.log10(r.axis(x) or 1.0) for r in points]
    x_lo = math.floor(min(logs))
    x_hi = max(math.ceil(max(logs)), x_lo + 1)
    qualities = [r.metrics[y] for r in [*points, *references]]
    pad = max(0.02, 0.08 * (max(qualities) - min(qualities)))
    axes = Axes(area, x_lo, x_hi, min(qualities) - pad, max(qualities) + pad)
    found.axes = axes
    found.points = [(r, axes.sx(r.axis(x) or 1.0), axes.sy(r.metrics[y])) for r in points]
    _place_references(found, references, axes, y)
    place_labels(found)
    return found


def _place_references(found: Layout, references: list[Row], axes: Axes, y: str) -> None:
    """Each published number as a line across the plot, its label at the right end, moved
    left along the line past any reference label already there or any point."""
    area = found.area
    dots = [
        Box(x - POINT_RADIUS, y - POINT_RADIUS, 2 * POINT_RADIUS, 2 * POINT_RADIUS)
        for _, x, y in found.points
    ]
    for row in references:
        line_y = axes.sy(row.metrics[y])
        found.references.append((row, line_y))
        text = f"{row.label} ({row.reference})"
        right = area.x + area.width - 2
        for shift in range(0, int(area.width), 20):
            box = label_box(text, right - len(text) * CHAR_WIDTH - shift, line_y - 3)
            if not box.inside(area):
                continue
            taken = [*(label.box for label in found.labels), *dots]
            if not any(box.overlaps(other) for other in taken):
                found.labels.append(Label(text, box, (right, line_y)))
                break


def pareto_path(found: Layout, x: str) -> str:
    """The front as steps: from each front point, level to the next one's cost, then up."""
    front = [(px, py) for row, px, py in found.points if row.pareto]
    front.sort(key=lambda p: -p[0] if x in HIGHER_IS_BETTER else p[0])
    steps: list[tuple[float, float]] = []
    for index, (px, py) in enumerate(front):
        steps.append((px, py))
        if index + 1 < len(front):
            steps.append((front[index + 1][0], py))
    return " ".join(f"{px:.1f},{py:.1f}" for px, py in steps)


def budget_region(axes: Axes, constraints: Sequence[Constraint], x: str, y: str) -> str:
    """The budget's region on a plot (log x, linear y), shaded: the constraints on the
    plotted cost `x` and quality `y`; '' when none is on its axes."""
    area = axes.area
    left, right = area.x, area.x + area.width
    top, bottom = area.y, area.y + area.height
    shown = []
    for constraint in constraints:
        column, op, limit = constraint.column, constraint.op, constraint.limit
        below = op in ("<=", "<")  # the region is below (left of) the limit
        if column == x and limit > 0:
            at = min(max(axes.sx(limit), left), right)
            right, left = (min(right, at), left) if below else (right, max(left, at))
        elif column == y:
            at = min(max(axes.sy(limit), top), bottom)
            top, bottom = (max(top, at), bottom) if below else (top, min(bottom, at))
        else:
            continue
        shown.append(f"{column}{op}{limit:g}{constraint.unit}")
    if not shown or right <= left or bottom <= top:
        return ""
    return (
        f'<rect id="budget-region" x="{left:.1f}" y="{top:.1f}" width="{right - left:.1f}" '
        f'height="{bottom - top:.1f}" fill="#2a7" fill-opacity="0.10" stroke="#2a7" '
        f'stroke-dasharray="3 3"><title>inside the budget: {", ".join(shown)}</title></rect>'
    )


def svg_plot(
    rows: list[Row],
    x: str = "p50",
    y: str = "nDCG@10",
    budget: Sequence[Constraint] | None = None,
    size: tuple[int, int] = (760, 460),
    numbers: dict[int, int] | None = None,
) -> str:
    """The plot as one <svg id="tradeoff-plot"> element of `size` pixels (its viewBox, so a
    page can scale it down); `budget` (a report's constraints) shades the region inside those
    on the plot's axes; `numbers` (id(row) -> its number on the page) tags each point with
    data-row, the row of the table it is."""
    found = layout(rows, x, y, size)
    head = (
        f'<svg id="tradeoff-plot" xmlns="http://www.w3.org/2000/svg" width="{found.width:.0f}" '
        f'height="{found.height:.0f}" viewBox="0 0 {found.width:.0f} {found.height:.0f}" '
        f'role="img" aria-label="{html.escape(y)} against {x}">'
        f'<rect width="100%" height="100%" fill="white"/>'
    )
    if found.axes is None:
        return (
            f'{head}<text x="{found.width / 2}" y="{found.height / 2}" text-anchor="middle">'
            f"no row has both {html.escape(x)} and {html.escape(y)}</text></svg>"
        )
    return head + "".join(_svg_parts(found, x, y, budget or [], numbers or {})) + "</svg>"


def _svg_parts(
    found: Layout, x: str, y: str, budget: Sequence[Constraint], numbers: dict[int, int]
) -> Iterator[str]:
    assert found.axes is not None
    yield budget_region(found.axes, budget, x, y)
    yield from _svg_axes(found, found.axes, x, y)
    area = found.area
    for _, line_y in found.references:
        yield (
            f'<line class="reference" x1="{area.x}" y1="{line_y:.1f}" x2="{area.x + area.width}" '
            f'y2="{line_y:.1f}" stroke="#999" stroke-dasharray="4 4"/>'
        )
    if sum(row.pareto for row, _, _ in found.points) > 1:
        yield (
            f'<polyline id="pareto-front" points="{pareto_path(found, x)}" fill="none" '
            'stroke="#2a7" stroke-width="2"/>'
        )
    backends = sorted({_series(row) for row, _, _ in found.points})
    for row, px, py in found.points:
        colour = COLOURS[backends.index(_series(row)) % len(COLOURS)]
        stroke = ' stroke="#000" stroke-width="2"' if row.pareto else ""
        title = html.escape(
            f"{row.label} {row.backend}/{row.device}/{row.precision} {row.scenario}: "
            f"{x} {row.axis(x):.4g} {UNIT[x]}, {y} {row.metrics[y]:.3f}"
        )
        number = f' data-row="{numbers[id(row)]}"' if id(row) in numbers else ""
        yield (
            f'<circle class="point" cx="{px:.1f}" cy="{py:.1f}" r="{POINT_RADIUS}" '
            f'fill="{colour}"{stroke}{budget_mark(row)}{number}><title>{title}</title></circle>'
        )
    for label in found.labels:
        yield from _svg_label(label)
    for index, series in enumerate(backends):
        left = area.x + 10 + index * 130
        yield f'<circle cx="{left}" cy="{area.y - 22}" r="5" fill="{COLOURS[index % len(COLOURS)]}"/>'
        yield f'<text x="{left + 10}" y="{area.y - 18}" font-size="12">{html.escape(series)}</text>'


def _series(row: Row) -> str:
    """What a point's colour says: its backend (BM25: bm25s)."""
    return row.backend or row.quality_from or "?"


def _svg_label(label: Label) -> Iterator[str]:
    box = label.box
    if label.leader:
        ax, ay = label.anchor
        end_x = box.x if box.x >= ax else box.x + box.width
        yield (
            f'<line class="leader" x1="{ax:.1f}" y1="{ay:.1f}" x2="{end_x:.1f}" '
            f'y2="{box.y + box.height / 2:.1f}" stroke="#888" stroke-width="0.8"/>'
        )
    baseline = box.y + 0.8 * FONT_SIZE
    yield (
        f'<text class="label" x="{box.x:.1f}" y="{baseline:.1f}" font-size="{FONT_SIZE}" '
        f'font-family="DejaVu Sans Mono, monospace" data-box="{box.x:.1f} {box.y:.1f} '
        f'{box.width:.1f} {box.height:.1f}">{html.escape(label.text)}</text>'
    )


def _svg_axes(found: Layout, axes: Axes, x: str, y: str) -> Iterator[str]:
    area = found.area
    bottom, right = area.y + area.height, area.x + area.width
    line = 'stroke="#444" stroke-width="1"'
    yield f'<line x1="{area.x}" y1="{bottom}" x2="{right}" y2="{bottom}" {line}/>'
    yield f'<line x1="{area.x}" y1="{area.y}" x2="{area.x}" y2="{bottom}" {line}/>'
    for decade in range(axes.x_lo, axes.x_hi + 1):
        for factor in (1, 2, 5) if axes.x_hi - axes.x_lo == 1 else (1,):
            value = factor * 10.0**decade
            if math.log10(value) > axes.x_hi + 1e-9:
                continue
            tick = axes.sx(value)
            yield f'<line x1="{tick:.1f}" y1="{bottom}" x2="{tick:.1f}" y2="{bottom + 5}" {line}/>'
            yield (
                f'<text x="{tick:.1f}" y="{bottom + 20}" text-anchor="middle" font-size="12">'
                f"{value:g} {UNIT[x]}</text>"
            )
    for step in range(5):
        value = axes.y_lo + (axes.y_hi - axes.y_lo) * step / 4
        yield (
            f'<text x="{area.x - 8}" y="{axes.sy(value) + 4:.1f}" text-anchor="end" '
            f'font-size="12">{value:.3f}</text>'
        )
    yield (
        f'<text x="{area.x + area.width / 2}" y="{bottom + 45}" text-anchor="middle" '
        f'font-size="13">{html.escape(X_TITLE[x])}</text>'
    )
    middle = area.y + area.height / 2
    yield (
        f'<text x="18" y="{middle}" text-anchor="middle" font-size="13" '
        f'transform="rotate(-90 18 {middle})">{html.escape(y)}</text>'
    )
