"""Render trade-off rows as Markdown, CSV, JSON, a rich table or one self-contained HTML page.

Formatters live in `FORMATS` (STYLE.md habit 8). Markdown and HTML round to the digits
shown in each `ReportColumn`; CSV and JSON keep full precision. The "× baseline" column appears only
when some row was timed against a baseline architecture, so other reports stay as they were.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kdbench.errors import UserError
from kdbench.profile.stats import required_samples
from kdbench.report.conclusion import conclusion, number_text, pair_measures
from kdbench.report.meta import ALL, COMPACT, ReportMeta
from kdbench.report.page import page
from kdbench.report.plot import svg_plot
from kdbench.report.rows import SHOWN_QUALITY, Row, display_labels
from kdbench.report.scale import columns as predicted_columns
from kdbench.report.serving_chart import serving_curves_html
from kdbench.terminal import EDGE, console_width, fit_table, table_width, text_width
from kdbench.terminal import Column as Shown

if TYPE_CHECKING:
    from rich.console import RenderableType


@dataclass(frozen=True)
class ReportColumn:
    """One column of every table format: its header, how a row gives its value, and the
    decimals Markdown/HTML/terminal round it to (None: text). CSV and JSON keep full precision.
    `meaning` is its line in the legend below a table; `text` formats a value instead of
    `decimals`; `mark` is a one-character footnote mark a row's cell carries ('' for none)."""

    header: str
    get: Callable[[Row], object]
    decimals: int | None = None
    meaning: str = ""
    text: Callable[[float], str] | None = None
    mark: Callable[[Row], str] | None = None
    number: Callable[[Row], float | None] | None = None  # what sorts a text cell (HTML)

    @property
    def name(self) -> str:
        """How --columns names it: the header in lower case, spaces as dashes ('p50-ms')."""
        return column_name(self.header)

    def cell(self, row: Row) -> str:
        value = self.get(row)
        if self.text is not None and isinstance(value, int | float):
            return self.text(value)
        return cell_text(value, self.decimals)


def column_name(header: str) -> str:
    """'p50 95% CI' -> 'p50-95%-ci'; how --columns spells a header.

    >>> column_name("model · backend · precision"), column_name("items/s")
    ('model-backend-precision', 'items/s')
    """
    return "-".join(header.lower().replace("·", " ").split())


def quality_from_text(row: Row) -> str:
    """'eager', 'onnx:int8', 'eager (parity passed)' for an fp32 cell showing eager's quality."""
    if not row.quality_from:
        return "" if row.reference else "not evaluated"
    text = f"{row.quality_from} (parity passed)" if row.quality_reused else row.quality_from
    return f"{text}, another run" if row.quality_elsewhere else text


def notes(row: Row) -> str:
    """Flags a reader must see beside the numbers: never-run code, too few samples."""
    found = []
    if row.quality_elsewhere:
        found.append(f"quality measured by another run ({row.quality_elsewhere}), timed here")
    if row.never_run:
        found.append("never run on real hardware")
    if row.peak_from and row.fraction_of_peak is None:
        found.append("of peak: not shown, measured against torch's fp32 matmul alone")
    if row.undersampled and row.samples is not None:
        needs = ", ".join(f"{p} needs {required_samples(int(p[1:]))}" for p in row.undersampled)
        found.append(f"under-sampled: {row.samples} samples ({needs})")
    return "; ".join(found)


def max_qps_text(row: Row) -> str:
    """'212.5 @ p99<=50ms', 'none @ p99<=50ms' (no level held), '' (not a server row)."""
    if not row.qps_bound:
        return ""
    return f"{row.max_qps:,.1f} @ {row.qps_bound}" if row.max_qps else f"none @ {row.qps_bound}"


def _params(row: Row) -> float | None:
    return row.parameters / 1e6 if row.parameters else None


def _share(row: Row) -> float | None:
    return row.fraction_of_peak


def _process_memory(row: Row) -> float | None:
    """The whole process's peak: GPU memory when measured, else the host's peak RSS."""
    return row.peak_memory_mib


CI_MEANING = "distribution-free (order-statistic) 95% interval of that percentile"
END_TO_END_MEANING = "first stage + the row's timed call: what one query costs"
THROUGHPUT_MEANING = "items per second at the row's batch (queries, or passages for index)"
PARETO_MEANING = (
    "★ Pareto-optimal: no other measured row has both higher quality and a lower cost on the "
    "report's axis; only rows whose own artifact was evaluated (and passed parity) take part"
)

IDENTITY = [
    ReportColumn("model", lambda r: r.label, meaning="the model's label in its run"),
    ReportColumn(
        "arch",
        lambda r: r.arch,
        meaning="architecture (dot: bi-encoder, cat: cross-encoder, colbert, bm25)",
    ),
    ReportColumn(
        "teacher", lambda r: r.teacher, meaning="the teacher it was distilled from (–: none)"
    ),
    ReportColumn("params (M)", _params, 1, meaning="parameters, millions"),
]
CELL = [
    ReportColumn(
        "quality from",
        quality_from_text,
        meaning="the artifact the quality was measured on (kdbench evaluate --backend); "
        "'(parity passed)': an fp32 cell of a backend that computes eager's scores shows eager's "
        "evaluation; 'not evaluated': that artifact was never evaluated, so the row shows no "
        "quality",
    ),
    ReportColumn(
        "backend", lambda r: r.backend, meaning="what ran the model (eager PyTorch, onnx, ...)"
    ),
    ReportColumn("device", lambda r: r.device, meaning="where it ran"),
    ReportColumn(
        "precision", lambda r: r.precision, meaning="the weights' and compute's number format"
    ),
    ReportColumn(
        "scenario",
        lambda r: r.scenario,
        meaning="what one timed call does (query, rerank, index, retrieve)",
    ),
    ReportColumn("includes", lambda r: r.includes, meaning="what the latency covers, in words"),
    ReportColumn("batch", lambda r: r.batch_size, 0, meaning="queries (or passages) per call"),
    ReportColumn("seq", lambda r: r.seq_len, 0, meaning="tokens per input"),
]
FIRST_STAGE = [
    ReportColumn(
        "first stage p50 ms",
        lambda r: r.first_stage_p50_ms,
        2,
        meaning="the BM25 row of the same depth: what retrieving the candidates costs",
    )
]
LATENCY = [
    ReportColumn("p50 ms", lambda r: r.p50_ms, 2, meaning="median latency of the row's timed call"),
    ReportColumn("p50 95% CI", lambda r: r.p50_ci_ms, 2, meaning=CI_MEANING),
    ReportColumn(
        "p95 ms", lambda r: r.p95_ms, 2, meaning="95th-percentile latency of the timed call"
    ),
    ReportColumn("p95 95% CI", lambda r: r.p95_ci_ms, 2, meaning=CI_MEANING),
    ReportColumn("n", lambda r: r.samples, 0, meaning="timed calls behind the percentiles"),
]
END_TO_END = [
    ReportColumn("end-to-end p50 ms", lambda r: r.end_to_end_p50_ms, 2, meaning=END_TO_END_MEANING),
    ReportColumn("end-to-end p95 ms", lambda r: r.end_to_end_p95_ms, 2, meaning=END_TO_END_MEANING),
]
COST = [
    ReportColumn("items/s", lambda r: r.throughput, 1, meaning=THROUGHPUT_MEANING),
    ReportColumn(
        "weights MiB", lambda r: r.weights_mib, 1, meaning="weights as the backend loaded them"
    ),
    ReportColumn(
        "activations MiB",
        lambda r: r.activations_mib,
        1,
        meaning="the cell's peak above what was resident when it started",
    ),
    ReportColumn("index MiB", lambda r: r.index_size_mib, 1, meaning="the index or cache it reads"),
    ReportColumn(
        "process MiB", _process_memory, 0, meaning="the whole process's peak (GPU, else RSS)"
    ),
    ReportColumn(
        "of peak",
        _share,
        2,
        meaning="achieved FLOP/s over the machine's best GEMM of the row's dtype",
    ),
    ReportColumn(
        "parity",
        lambda r: r.parity,
        meaning="the backend's scores checked against eager's on real inputs before timing",
    ),
    ReportColumn("notes", notes, meaning="what a reader must know beside the numbers"),
    ReportColumn("pareto", lambda r: "★" if r.pareto else "", meaning=PARETO_MEANING),
]
VS_BASELINE = ReportColumn(
    "× baseline",
    lambda r: r.p50_vs_baseline,
    2,
    meaning="the baseline's p50 ÷ the row's p50 on the same backend and cell (above 1: faster)",
)
INDEX_SIZE = ReportColumn("passages", lambda r: r.index_size, 0, meaning="passages searched")
MAX_QPS = ReportColumn(
    "max QPS @ bound",
    max_qps_text,
    meaning="the highest valid QPS of the server scenario under its latency bound (MLPerf's rules)",
)


def quality_column(measure: str) -> ReportColumn:
    def get(row: Row) -> float | None:
        return row.metrics.get(measure)

    return ReportColumn(measure, get, 3, meaning=QUALITY_MEANING)


def quality_columns(measures: Sequence[str]) -> list[ReportColumn]:
    return [quality_column(measure) for measure in measures]


def columns_for(
    rows: list[Row],
    measures: Sequence[str] = SHOWN_QUALITY,
    predicted: bool = False,
    scale_to: int | None = None,
) -> list[ReportColumn]:
    """The table's columns: the first-stage and end-to-end ones only when some re-ranker has a
    profiled first stage, "× baseline" only when some row was timed against a baseline,
    "passages" only when some query row says how many it searched; then the budget's verdict
    and (`predicted`: CSV, one table) the predicted columns at `scale_to`, when asked for."""
    first_stage = any(r.first_stage_p50_ms is not None for r in rows)
    timed = [*LATENCY, *(END_TO_END if first_stage else [])]
    cost = list(COST)
    if any(r.p50_vs_baseline is not None for r in rows):
        cost.insert(1, VS_BASELINE)
    sized = any(r.index_size is not None for r in rows)
    if any(r.qps_bound for r in rows):  # server rows: the highest QPS that held the bound
        cost.insert(1, MAX_QPS)
    return [
        *IDENTITY,
        *quality_columns(measures),
        *CELL,
        *([INDEX_SIZE] if sized else []),
        *(FIRST_STAGE if first_stage else []),
        *timed,
        *cost,
        *([BUDGET] if any(r.budget for r in rows) else []),
        *(prediction_columns(rows, scale_to) if predicted else []),
    ]


QUALITY_MEANING = "quality of the row's own artifact over the test queries (ir_measures)"
BUDGET = ReportColumn(
    "budget",
    lambda r: r.budget,
    meaning="under the report's budget: chosen, runner-up, fits, or out and why",
)
# The compact table: one row per measured artifact, the columns a decision needs.
QUALITY_MARKS = {
    "†": "eager's evaluation, shown for this fp32 artifact because it passed parity",
    "‡": "quality measured by another run; timed here",
}
UNDERSAMPLED_MARK = "*"
NEVER_RUN_MARK = "!"


def _quality_mark(row: Row) -> str:
    if not row.metrics:
        return ""
    return "‡" if row.quality_elsewhere else ("†" if row.quality_reused else "")


def _undersampled_mark(percentile: str) -> Callable[[Row], str]:
    def mark(row: Row) -> str:
        return UNDERSAMPLED_MARK if percentile in row.undersampled else ""

    return mark


def _qps_header(rows: list[Row]) -> str:
    """'max QPS @ p99<=50ms' when every served row was held to one bound, else 'max QPS'
    (each cell then names its bound)."""
    bounds = {r.qps_bound for r in rows if r.qps_bound}
    return f"max QPS @ {bounds.pop()}" if len(bounds) == 1 else "max QPS"


def compact_columns(rows: list[Row], meta: ReportMeta) -> list[ReportColumn]:
    """The compact table's columns: `model · backend · precision`, the report's quality (with
    a mark saying where it came from), p50 and p95 per query (end to end where the first stage
    was profiled), throughput, the row's memory, max QPS when some row was served under load,
    the budget's verdict when a budget was set, and ★."""
    quality = meta.y or measures_of(meta)[0]
    names = dict(zip(map(id, rows), display_labels(rows), strict=True))
    end_to_end = any(r.first_stage_p50_ms is not None for r in rows)
    per_query = "per query, end to end where the first stage was profiled" if end_to_end else ""
    columns = [
        ReportColumn(
            LABEL_HEADER,
            lambda r: names[id(r)],
            meaning="the measured artifact; rows that would share a name add what tells "
            "them apart (device, scenario, batch, seq, depth)",
            mark=lambda r: NEVER_RUN_MARK if r.never_run else "",
        ),
        ReportColumn(
            quality,
            lambda r: r.metrics.get(quality),
            3,
            meaning=f"{quality} of the row's own artifact over the test queries; –: not evaluated",
            mark=_quality_mark,
        ),
        ReportColumn(
            "p50 ms",
            lambda r: r.query_p50_ms,
            meaning="median latency " + (per_query or "of the row's timed call"),
            text=number_text,
            mark=_undersampled_mark("p50"),
        ),
        ReportColumn(
            "p95 ms",
            lambda r: r.query_p95_ms,
            meaning="95th-percentile latency, the same way",
            text=number_text,
            mark=_undersampled_mark("p95"),
        ),
        ReportColumn(
            "items/s", lambda r: r.throughput, meaning=THROUGHPUT_MEANING, text=number_text
        ),
        ReportColumn(
            "memory MiB",
            lambda r: r.memory_mib,
            meaning="the row's own memory: weights + activations + index",
            text=number_text,
        ),
    ]
    if any(r.qps_bound for r in rows):
        header = _qps_header(rows)
        one_bound = header != "max QPS"
        columns.append(
            ReportColumn(
                header,
                lambda r: _qps_text(r, with_bound=not one_bound),
                number=lambda r: (r.max_qps or 0.0) if r.qps_bound else None,  # none: 0
                meaning="server scenario (Poisson arrivals): the highest queries/s whose "
                "latency bound held; none: no level held it; –: not served under load",
            )
        )
    if any(r.budget for r in rows):
        columns.append(
            ReportColumn(
                "budget",
                lambda r: r.budget.partition(":")[0],
                meaning="under the budget: chosen, runner-up, fits or out (why: below)",
            )
        )
    columns.append(ReportColumn("★", lambda r: "★" if r.pareto else " ", meaning=PARETO_MEANING))
    return columns


def _qps_text(row: Row, with_bound: bool) -> str:
    """'1,234', 'none' (served, no level held the bound), '' (not served); `with_bound`:
    '1,234 @ p99<=50ms'."""
    if not row.qps_bound:
        return ""
    text = number_text(row.max_qps) if row.max_qps else "none"
    return f"{text} @ {row.qps_bound}" if with_bound else text


LABEL_HEADER = "model · backend · precision"


def check_shown_columns(choice: str | Sequence[str], rows: list[Row], meta: ReportMeta) -> None:
    """Every column --columns names exists here; else one line listing those that do."""
    if isinstance(choice, str):
        if choice in (COMPACT, ALL):
            return
        raise UserError(f"--columns {choice}: choose compact, all, or a comma list of column names")
    known = _column_pool(rows, meta)
    unknown = [name for name in choice if column_name(name) not in known]
    if unknown:
        raise UserError(
            f"--columns: no column {', '.join(unknown)}; these results have: "
            f"{', '.join(known)}, or 'compact' or 'all'"
        )


def _column_pool(rows: list[Row], meta: ReportMeta) -> dict[str, ReportColumn]:
    pool: dict[str, ReportColumn] = {}
    measured = [r for r in rows if not r.reference]
    for column in [*compact_columns(measured, meta), *columns_for(rows, measures_of(meta))]:
        pool.setdefault(column.name, column)
    return pool


def shown_columns(rows: list[Row], meta: ReportMeta) -> tuple[list[ReportColumn], bool]:
    """The main table's columns under meta.columns, and whether they are the compact ones
    (whose table leaves published rows to a block of their own)."""
    choice = meta.columns or COMPACT
    if choice == COMPACT:
        return compact_columns([r for r in rows if not r.reference], meta), True
    if choice == ALL:
        return columns_for(rows, measures_of(meta)), False
    pool = _column_pool(rows, meta)
    return [pool[column_name(name)] for name in choice], False


def body_cells(columns: Sequence[ReportColumn], rows: Sequence[Row]) -> list[list[str]]:
    """Each row's text cells; a column where some row has a mark pads the others by one
    space, so its numbers stay aligned."""
    marked = [column.mark is not None and any(column.mark(r) for r in rows) for column in columns]
    body = []
    for row in rows:
        cells = []
        for column, pad in zip(columns, marked, strict=True):
            text = column.cell(row)
            if pad:
                assert column.mark is not None
                text += column.mark(row) or " "
            cells.append(text)
        body.append(cells)
    return body


def column_legend(
    columns: Sequence[ReportColumn], rows: Sequence[Row], meta: ReportMeta
) -> list[str]:
    """Each shown column's meaning, once (columns sharing one are named together), then what
    each mark used in these rows means."""
    meanings: dict[str, list[str]] = {}
    for column in columns:
        if column.meaning:
            meanings.setdefault(column.meaning, []).append(column.header)
    lines = [
        pareto_line(meta) if meaning == PARETO_MEANING else f"{', '.join(headers)}: {meaning}"
        for meaning, headers in meanings.items()
    ]
    marks = {column.mark(r) for column in columns if column.mark for r in rows} - {""}
    words = {
        **QUALITY_MARKS,
        UNDERSAMPLED_MARK: "under-sampled: fewer timed calls than that percentile needs "
        "(MLPerf's rule); read it with care",
        NEVER_RUN_MARK: "never run on real hardware: the backend's code has not run on a GPU; "
        "its numbers are unverified",
    }
    lines += [f"{mark} {words[mark]}" for mark in words if mark in marks]
    return lines


def published_cells(rows: list[Row], meta: ReportMeta) -> tuple[list[str], list[list[str]]]:
    """The published rows' block: name, each shown quality one of them has, and its source."""
    published = [r for r in rows if r.reference]
    measures = [m for m in measures_of(meta) if any(m in r.metrics for r in published)]
    headers = ["published (not measured here)", *measures, "source"]
    body = [
        [r.label, *(cell_text(r.metrics.get(m), 3) for m in measures), r.reference]
        for r in published
    ]
    return (headers, body) if published else ([], [])


def prediction_columns(rows: list[Row], scale_to: int | None) -> list[ReportColumn]:
    """The predicted values some row has (each header says "predicted"), and their source."""
    return [ReportColumn(*column) for column in predicted_columns(rows, scale_to)]


def predicted_cells(rows: list[Row], meta: ReportMeta) -> tuple[list[str], list[list[str]]]:
    """The table of predictions the text formats show apart: each predicted row's identity
    and its predicted columns (empty when nothing was predicted)."""
    shown = [r for r in rows if r.predicted]
    identity = [IDENTITY[0], *CELL[1:], INDEX_SIZE]
    columns = [*identity, *prediction_columns(shown, _scale_to(meta))]
    body = [[cell_text(c.get(row), c.decimals) for c in columns] for row in shown]
    return ([c.header for c in columns], body) if shown else ([], [])


PREDICTED = "Predicted"  # the section whose table of predictions text formats show apart


def decision_sections(meta: ReportMeta) -> list[tuple[str, list[str]]]:
    """(title, lines) of the budget's choice and the predictions' notes, when asked for."""
    sections = []
    if meta.budget is not None:
        sections.append(("Budget", meta.budget.lines()))
    if meta.scale is not None:
        sections.append((PREDICTED, list(meta.scale.lines)))
    return sections


def _scale_to(meta: ReportMeta) -> int | None:
    return meta.scale.scale_to if meta.scale is not None else None


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


def cell_text(value: object, decimals: int | None) -> str:
    if value is None or value == "":
        return "–"
    if decimals is None:
        return str(value)
    if isinstance(value, list | tuple):  # an interval
        return "–".join(f"{v:.{decimals}f}" for v in value)
    return f"{value:.{decimals}f}"


def csv_value(value: object) -> object:
    """Full precision (the value as it is, for `csv.writer`); an interval as "low–high"."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "–".join(str(v) for v in value)
    return value


def measures_of(meta: ReportMeta) -> tuple[str, ...]:
    return tuple(meta.measures or SHOWN_QUALITY)


def table_cells(rows: list[Row], meta: ReportMeta) -> tuple[list[str], list[list[str]]]:
    """The full table (every column, published rows in it, named in parentheses)."""
    columns = columns_for(rows, measures_of(meta))
    headers = [c.header for c in columns]
    body = []
    for row in rows:
        cells = [cell_text(c.get(row), c.decimals) for c in columns]
        if row.reference:
            cells[0] = f"{row.label} ({row.reference})"
        body.append(cells)
    return headers, body


@dataclass(frozen=True)
class MainTable:
    """The table a report leads with: its columns, rows and cells, and its legend."""

    columns: list[ReportColumn]
    rows: list[Row]
    body: list[list[str]]
    legend: list[str]
    compact: bool  # published rows sit in a block of their own, the full table goes below

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]


def main_table(rows: list[Row], meta: ReportMeta) -> MainTable:
    columns, compact = shown_columns(rows, meta)
    if compact:
        shown = [r for r in rows if not r.reference]
        return MainTable(
            columns, shown, body_cells(columns, shown), column_legend(columns, shown, meta), True
        )
    if meta.columns == ALL:
        _, body = table_cells(rows, meta)
        return MainTable(columns, rows, body, legend(rows, meta), False)
    body = body_cells(columns, rows)
    for cells, row in zip(body, rows, strict=True):
        if row.reference and columns and columns[0].name in ("model", column_name(LABEL_HEADER)):
            cells[0] = f"{row.label} ({row.reference})"
    return MainTable(columns, rows, body, column_legend(columns, rows, meta), False)


def markdown_text(text: str) -> str:
    """`text` with the under-sampled mark escaped, so "*" stays a character in Markdown
    (not the start of emphasis or of a list).

    >>> markdown_text("3,509*")
    '3,509\\\\*'
    """
    return text.replace(UNDERSAMPLED_MARK, "\\" + UNDERSAMPLED_MARK)


def _markdown_table(headers: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(cells) + " |" for cells in body]


def to_markdown(rows: list[Row], meta: ReportMeta) -> str:
    """The conclusion, the main table and its legend, published rows, the budget and
    predictions, the KD/no-KD pairs; under the compact table, every column in a <details>."""
    table = main_table(rows, meta)
    lines = [f"# kdbench report: {meta.title}", ""]
    lines += _meta_lines(meta)
    head, *found = conclusion(rows, meta)
    lines += ["", f"## {head.rstrip(':')}", "", *found]
    body = [[markdown_text(cell) for cell in cells] for cells in table.body]
    lines += ["", "## Trade-off", "", *_markdown_table(table.headers, body)]
    lines += ["", *(f"- {markdown_text(line)}" for line in table.legend)]
    published_headers, published_body = published_cells(rows, meta)
    if table.compact and published_headers:
        lines += ["", "## Published", "", *_markdown_table(published_headers, published_body)]
    for title, section in decision_sections(meta):
        lines += ["", f"## {title}", "", section[0]]
        predicted_headers, predicted_body = predicted_cells(rows, meta)
        if title == PREDICTED and predicted_headers:
            lines += ["", *_markdown_table(predicted_headers, predicted_body), ""]
        lines += section[1:]
    if meta.pairs:
        lines += ["", pair_markdown(meta.pairs)]
    if table.compact:
        headers, body = table_cells(rows, meta)
        lines += ["", "<details><summary>All columns</summary>", ""]
        lines += [*_markdown_table(headers, body), "", *(f"- {x}" for x in legend(rows, meta))]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


AXIS_WORDS = {
    "p50": ("lower p50 latency per query", "p50 latency per query (ms, log scale)"),
    "p95": ("lower p95 latency per query", "p95 latency per query (ms, log scale)"),
    "throughput": ("higher throughput", "throughput (items/s, log scale)"),
    "qps": ("higher max valid QPS", "max valid QPS under the row's bound (log scale)"),
    "memory": ("less memory", "memory: weights + activations + index (MiB, log scale)"),
}


def pareto_line(meta: ReportMeta) -> str:
    y, x = meta.y or "nDCG@10", meta.x or "p50"
    return (
        f"★ = Pareto-optimal: no other measured row has both higher {y} and {AXIS_WORDS[x][0]}; "
        "only rows whose own artifact was evaluated take part."
    )


def legend(rows: list[Row], meta: ReportMeta) -> list[str]:
    """Every column of the full table's meaning, once, and what its rows' flags mean."""
    lines = column_legend(columns_for(rows, measures_of(meta)), rows, meta)
    lines.append("Published rows (in parentheses) were not measured here.")
    if any(r.undersampled for r in rows):
        lines.append(
            "under-sampled: fewer timed calls than the percentile needs (MLPerf's rule); "
            "read that percentile with care."
        )
    if any(r.never_run for r in rows):
        lines.append(
            "never run on real hardware: the backend's code has not yet run on a GPU "
            "(TensorRT); its numbers are unverified."
        )
    if note := baseline_note(rows):
        lines.append(note)
    return lines


def _meta_lines(meta: ReportMeta) -> list[str]:
    lines = []
    if meta.command:
        lines.append(f"- command: `{meta.command}`")
    if meta.machine:
        lines.append(f"- machine: {meta.machine}")
    if meta.created:
        lines.append(f"- created: {meta.created}")
    if meta.data:
        lines.append(f"- data: {meta.data}")
    return lines


PAIR_HEADERS = (
    "KD",
    "no-KD",
    "measure",
    "KD",
    "no-KD",
    "difference",
    "95% CI (t)",
    "95% CI (bootstrap)",
    "t",
    "p",
    "p (Holm)",
    "significant",
    "wins/losses/ties",
)
PAIR_TITLE = (
    "Distillation effect (KD − no-KD over the same queries: paired t-test and bootstrap 95% "
    "intervals; p Holm-adjusted over every comparison shown)"
)


def _interval_text(bounds: object) -> str:
    if not isinstance(bounds, list | tuple) or not bounds:
        return "–"
    return f"{bounds[0]:+.3f} to {bounds[1]:+.3f}"


def pair_cells(pairs: Sequence[Mapping[str, object]]) -> list[list[str]]:
    """One line of text cells per (pair, measure): what Markdown, HTML and terminal show."""
    lines = []
    for pair in pairs:
        for row in pair_measures(pair):
            holm = row.get("p_holm")
            lines.append(
                [
                    str(pair["kd"]),  # labels and a measure name: text already
                    str(pair["nokd"]),
                    str(row["measure"]),
                    f"{row['kd']:.3f}",
                    f"{row['nokd']:.3f}",
                    f"{row['difference']:+.3f}",
                    _interval_text(row.get("ci95_t")),
                    _interval_text(row.get("ci95_bootstrap")),
                    "–" if row["t"] is None else f"{row['t']:.2f}",
                    f"{row['p_value']:.3g}",
                    "–" if holm is None else f"{holm:.3g}",
                    "yes" if row["significant"] else "no",
                    f"{row['wins']}/{row['losses']}/{row['ties']}",
                ]
            )
    return lines


def pair_markdown(pairs: Sequence[Mapping[str, object]]) -> str:
    """Distilled vs not-distilled pairs: the difference per measure, its intervals and tests."""
    if not pairs:
        return ""
    lines = [f"## {PAIR_TITLE}", "", "| " + " | ".join(PAIR_HEADERS) + " |"]
    lines.append("|" + "---|" * len(PAIR_HEADERS))
    lines += ["| " + " | ".join(cells) + " |" for cells in pair_cells(pairs)]
    for pair in pairs:
        warnings = pair.get("warnings", [])
        lines.extend(
            f"- warning ({pair['kd']} vs {pair['nokd']}): {w}"
            for w in (warnings if isinstance(warnings, list) else [])
        )
    return "\n".join(lines) + "\n"


def to_csv(rows: list[Row], meta: ReportMeta) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    columns = columns_for(rows, measures_of(meta), predicted=True, scale_to=_scale_to(meta))
    writer.writerow([c.header for c in columns])
    for row in rows:
        writer.writerow([csv_value(c.get(row)) for c in columns])
    return out.getvalue()


def to_json(rows: list[Row], meta: ReportMeta) -> str:
    return (
        json.dumps({"meta": meta.to_dict(), "rows": [r.to_dict() for r in rows]}, indent=2) + "\n"
    )


LEFT = ("model", "arch", "teacher", "backend", "KD", "no-KD", LABEL_HEADER)


def fold_headers(headers: Sequence[str], body: Sequence[Sequence[str]], width: int) -> list[str]:
    """Headers wrapped onto two lines at a space, widest-first, while the table is wider
    than `width` and a header is what makes its column wide ('p50 ms' -> 'p50\\nms').

    >>> fold_headers(["memory MiB", "x"], [["12", "y"]], 16)
    ['memory\\nMiB', 'x']
    """
    shown = list(headers)

    def widths() -> list[int]:
        return [
            max([text_width(h), *(text_width(row[i]) for row in body)]) for i, h in enumerate(shown)
        ]

    while table_width(widths()) > width:
        cells = [max((text_width(row[i]) for row in body), default=0) for i in range(len(shown))]
        foldable = [
            i for i, h in enumerate(shown) if " " in h.split("\n")[-1] and text_width(h) > cells[i]
        ]
        if not foldable:
            break
        i = max(foldable, key=lambda j: text_width(shown[j]) - cells[j])
        head, _, last = shown[i].rpartition("\n")
        words = last.split(" ")
        cut = min(
            range(1, len(words)),
            key=lambda k: max(len(" ".join(words[:k])), len(" ".join(words[k:]))),
        )
        folded = " ".join(words[:cut]) + "\n" + " ".join(words[cut:])
        shown[i] = f"{head}\n{folded}" if head else folded
    return shown


def to_terminal(rows: list[Row], meta: ReportMeta, width: int | None = None) -> str:
    """The report for a terminal of `width` columns (default: this one's): the main table
    (compact by default: one line per measured row), its legend, published rows, the budget
    and predictions, then the conclusion. A table wider than `width` is split, never cut
    (`kdbench.terminal`)."""
    from rich.console import Console

    width = width or console_width()

    def fitted(
        title: str | None,
        headers: Sequence[str],
        body: Sequence[Sequence[str]],
        styles: Sequence[str | None] | None = None,
        edge: bool = True,
    ) -> RenderableType:
        shown = [
            Shown(h, "left" if h in LEFT else "right", key=i == 0) for i, h in enumerate(headers)
        ]
        return fit_table(title, shown, body, width, row_styles=styles, edge=edge)

    table = main_table(rows, meta)
    # The compact table keeps one line per row: no outer border and, where that is not
    # enough, headers folded onto two lines. Wider tables split (kdbench.terminal).
    headers = table.headers
    if table.compact:
        headers = fold_headers(table.headers, table.body, width + EDGE)
    styles = ["bold green" if r.pareto else ("dim" if r.reference else None) for r in table.rows]
    # Recorded only: the command prints the text (a console on stdout would print it twice).
    console = Console(record=True, width=width, file=io.StringIO())
    title = f"kdbench: {meta.title}"
    console.print(fitted(title, headers, table.body, styles, edge=not table.compact))
    console.print()
    for line in table.legend:
        console.print(line, markup=False)
    published = published_lines(rows, meta) if table.compact else []
    for block in (published, _meta_lines(meta)):
        if block:
            console.print()
        for line in block:
            console.print(line, markup=False)
    for title, section in decision_sections(meta):
        console.print(f"\n{title}", style="bold")
        console.print(section[0], markup=False)
        predicted_headers, predicted_body = predicted_cells(rows, meta)
        if title == PREDICTED and predicted_headers:
            console.print(fitted(None, predicted_headers, predicted_body))
        for line in section[1:]:
            console.print(line, markup=False)
    if meta.pairs and not table.compact:
        console.print(fitted(PAIR_TITLE, PAIR_HEADERS, pair_cells(meta.pairs)))
    head, *found = conclusion(rows, meta)
    console.print(f"\n{head}", style="bold", markup=False)
    for line in found:
        console.print(line, markup=False)
    return console.export_text()


def published_lines(rows: list[Row], meta: ReportMeta) -> list[str]:
    """The published rows as a few lines: 'Published (not measured here): ...'."""
    headers, body = published_cells(rows, meta)
    if not headers:
        return []
    measures = headers[1:-1]
    lines = ["Published (not measured here):"]
    for cells in body:
        values = ", ".join(
            f"{m} {v}" for m, v in zip(measures, cells[1:-1], strict=True) if v != "–"
        )
        lines.append(f"- {cells[0]}: {values} ({cells[-1]})")
    return lines


def pair_html(pairs: Sequence[Mapping[str, object]]) -> str:
    if not pairs:
        return ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in PAIR_HEADERS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
        for cells in pair_cells(pairs)
    )
    return (
        f'<h2>{html.escape(PAIR_TITLE)}</h2><div class="scroll"><table id="pairs-table">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def decision_html(rows: list[Row], meta: ReportMeta) -> str:
    """The budget's choice and the predictions (their table, id predicted-table) as HTML."""
    parts = []
    for title, section in decision_sections(meta):
        items = "".join(f"<li>{html.escape(line[2:])}</li>" for line in section[1:])
        table = ""
        headers, body = predicted_cells(rows, meta)
        if title == PREDICTED and headers:
            head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
            trs = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
                for cells in body
            )
            table = (
                f'<div class="scroll"><table id="predicted-table"><thead><tr>{head}</tr></thead>'
                f"{trs}</table></div>"
            )
        parts.append(
            f'<h2>{title}</h2><div id="{title.lower()}"><p>{html.escape(section[0])}</p>'
            f"{table}<ul>{items}</ul></div>"
        )
    return "".join(parts)


def to_html(rows: list[Row], meta: ReportMeta) -> str:
    """The plot first (large), the conclusion, the main table (sortable) and its legend,
    published rows, the budget and predictions, KD/no-KD pairs, every column behind a toggle."""
    numbers = {id(row): index for index, row in enumerate(rows)}
    table = main_table(rows, meta)
    x, y = meta.x or "p50", meta.y or "nDCG@10"
    budget = meta.budget.constraints if meta.budget is not None else None
    meta_items = "".join(f"<li>{html.escape(line[2:])}</li>" for line in _meta_lines(meta))
    head, *found = conclusion(rows, meta)
    parts = [
        f'<ul class="meta">{meta_items}</ul>',
        f'<figure id="plot">{svg_plot(rows, x, y, budget, size=(960, 540), numbers=numbers)}</figure>',
        f'<section id="conclusion"><h2>{html.escape(head.rstrip(":"))}</h2><ul>'
        + "".join(f"<li>{html.escape(line[2:])}</li>" for line in found)
        + "</ul></section>",
        "<h2>Trade-off</h2>",
        # the compact table fits the window; a wider choice scrolls inside its own box
        ("{}" if table.compact else '<div class="scroll">{}</div>').format(
            _page_table(
                "tradeoff-table", table.columns, table.headers, table.body, table.rows, numbers
            )
        ),
        '<ul class="legend" id="legend">'
        + "".join(f"<li>{html.escape(line)}</li>" for line in table.legend)
        + "</ul>",
        serving_curves_html(rows),  # a latency–QPS curve per server row (empty without one)
    ]
    published_headers, published_body = published_cells(rows, meta)
    if table.compact and published_headers:
        published = [r for r in rows if r.reference]
        parts += [
            "<h2>Published</h2>",
            _page_table(
                "published-table", None, published_headers, published_body, published, numbers
            ),
        ]
    parts += [decision_html(rows, meta), pair_html(meta.pairs)]
    if table.compact:
        columns = columns_for(rows, measures_of(meta))
        headers, body = table_cells(rows, meta)
        parts.append(
            f'<details id="all-columns"><summary>All columns ({len(headers)})</summary>'
            '<div class="scroll">'
            + _page_table("full-table", columns, headers, body, rows, numbers)
            + '</div><ul class="legend">'
            + "".join(f"<li>{html.escape(line)}</li>" for line in legend(rows, meta))
            + "</ul></details>"
        )
    return page(meta.title, "\n".join(parts))


def _page_table(
    table_id: str,
    columns: Sequence[ReportColumn] | None,
    headers: Sequence[str],
    body: Sequence[Sequence[str]],
    rows: Sequence[Row],
    numbers: dict[int, int],
) -> str:
    """A sortable table whose rows carry their number among the report's rows (data-row)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    trs = []
    for cells, row in zip(body, rows, strict=True):
        cls = "pareto" if row.pareto else ("reference" if row.reference else "")
        tds = []
        for i, cell in enumerate(cells):
            column = columns[i] if columns is not None else None
            raw = None if column is None else (column.number or column.get)(row)
            number = isinstance(raw, int | float) and not isinstance(raw, bool)
            sort = f' data-v="{raw:g}"' if number else ""
            tds.append(f"<td{sort}>{html.escape(cell)}</td>")
        trs.append(f'<tr class="{cls}" data-row="{numbers[id(row)]}">{"".join(tds)}</tr>')
    return (
        f'<table id="{table_id}" class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(trs)}</tbody></table>"
    )


FORMATS: dict[str, Callable[[list[Row], ReportMeta], str]] = {
    "terminal": to_terminal,
    "markdown": to_markdown,
    "md": to_markdown,
    "csv": to_csv,
    "json": to_json,
    "html": to_html,
}
