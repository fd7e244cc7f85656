"""Render trade-off rows as Markdown, CSV, JSON, a rich table or one self-contained HTML page.

Formatters live in `FORMATS` (STYLE.md habit 8). Markdown and HTML round to the digits
shown in each `Column`; CSV and JSON keep full precision. The "× baseline" column appears only
when some row was timed against a baseline architecture, so other reports stay as they were.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kdbench.profile.stats import required_samples
from kdbench.report.plot import svg_plot
from kdbench.report.rows import SHOWN_QUALITY, Row
from kdbench.report.scale import columns as predicted_columns
from kdbench.terminal import Column as Shown
from kdbench.terminal import console_width, fit_table


@dataclass(frozen=True)
class Column:
    """One column of every table format: its header, how a row gives its value, and the
    decimals Markdown/HTML/terminal round it to (None: text). CSV and JSON keep full precision."""

    header: str
    get: Callable[[Row], Any]
    decimals: int | None = None


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


def _params(row: Row) -> float | None:
    return row.parameters / 1e6 if row.parameters else None


def _share(row: Row) -> float | None:
    return row.fraction_of_peak


def _process_memory(row: Row) -> float | None:
    """The whole process's peak: GPU memory when measured, else the host's peak RSS."""
    return row.peak_memory_mib


IDENTITY = [
    Column("model", lambda r: r.label),
    Column("arch", lambda r: r.arch),
    Column("teacher", lambda r: r.teacher),
    Column("params (M)", _params, 1),
]
CELL = [
    Column("quality from", quality_from_text),
    Column("backend", lambda r: r.backend),
    Column("device", lambda r: r.device),
    Column("precision", lambda r: r.precision),
    Column("scenario", lambda r: r.scenario),
    Column("includes", lambda r: r.includes),
    Column("batch", lambda r: r.batch_size, 0),
    Column("seq", lambda r: r.seq_len, 0),
]
FIRST_STAGE = [Column("first stage p50 ms", lambda r: r.first_stage_p50_ms, 2)]
LATENCY = [
    Column("p50 ms", lambda r: r.p50_ms, 2),
    Column("p50 95% CI", lambda r: r.p50_ci_ms, 2),
    Column("p95 ms", lambda r: r.p95_ms, 2),
    Column("p95 95% CI", lambda r: r.p95_ci_ms, 2),
    Column("n", lambda r: r.samples, 0),
]
END_TO_END = [
    Column("end-to-end p50 ms", lambda r: r.end_to_end_p50_ms, 2),
    Column("end-to-end p95 ms", lambda r: r.end_to_end_p95_ms, 2),
]
COST = [
    Column("items/s", lambda r: r.throughput, 1),
    Column("weights MiB", lambda r: r.weights_mib, 1),
    Column("activations MiB", lambda r: r.activations_mib, 1),
    Column("index MiB", lambda r: r.index_size_mib, 1),
    Column("process MiB", _process_memory, 0),
    Column("of peak", _share, 2),
    Column("parity", lambda r: r.parity),
    Column("notes", notes),
    Column("pareto", lambda r: "★" if r.pareto else ""),
]
VS_BASELINE = Column("× baseline", lambda r: r.p50_vs_baseline, 2)
INDEX_SIZE = Column("passages", lambda r: r.index_size, 0)  # searched, by query cells


def quality_column(measure: str) -> Column:
    def get(row: Row) -> float | None:
        return row.metrics.get(measure)

    return Column(measure, get, 3)


def quality_columns(measures: Sequence[str]) -> list[Column]:
    return [quality_column(measure) for measure in measures]


def columns_for(
    rows: list[Row],
    measures: Sequence[str] = SHOWN_QUALITY,
    predicted: bool = False,
    scale_to: int | None = None,
) -> list[Column]:
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
    return [
        *IDENTITY,
        *quality_columns(measures),
        *CELL,
        *([INDEX_SIZE] if sized else []),
        *(FIRST_STAGE if first_stage else []),
        *timed,
        *cost,
        *([Column("budget", lambda r: r.budget)] if any(r.budget for r in rows) else []),
        *(prediction_columns(rows, scale_to) if predicted else []),
    ]


def prediction_columns(rows: list[Row], scale_to: int | None) -> list[Column]:
    """The predicted values some row has (each header says "predicted"), and their source."""
    return [Column(*column) for column in predicted_columns(rows, scale_to)]


def predicted_cells(rows: list[Row], meta: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The table of predictions the text formats show apart: each predicted row's identity
    and its predicted columns (empty when nothing was predicted)."""
    shown = [r for r in rows if r.predicted]
    identity = [IDENTITY[0], *CELL[1:], INDEX_SIZE]
    columns = [*identity, *prediction_columns(shown, _scale_to(meta))]
    body = [[cell_text(c.get(row), c.decimals) for c in columns] for row in shown]
    return ([c.header for c in columns], body) if shown else ([], [])


PREDICTED = "Predicted"  # the section whose table of predictions text formats show apart


def decision_sections(meta: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(title, lines) of the budget's choice and the predictions' notes, when asked for."""
    sections = []
    if meta.get("budget"):
        sections.append(("Budget", list(meta["budget"]["lines"])))
    if meta.get("scale"):
        sections.append((PREDICTED, list(meta["scale"]["lines"])))
    return sections


def _scale_to(meta: dict[str, Any]) -> int | None:
    return (meta.get("scale") or {}).get("scale_to")


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
    if isinstance(value, list | tuple):  # an interval
        return "–".join(f"{v:.{decimals}f}" for v in value)
    return f"{value:.{decimals}f}"


def csv_value(value: Any) -> Any:
    """Full precision; an interval as "low–high"."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "–".join(str(v) for v in value)
    return value


def measures_of(meta: dict[str, Any]) -> tuple[str, ...]:
    return tuple(meta.get("measures") or SHOWN_QUALITY)


def table_cells(rows: list[Row], meta: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    columns = columns_for(rows, measures_of(meta))
    headers = [c.header for c in columns]
    body = []
    for row in rows:
        cells = [cell_text(c.get(row), c.decimals) for c in columns]
        if row.reference:
            cells[0] = f"{row.label} ({row.reference})"
        body.append(cells)
    return headers, body


def to_markdown(rows: list[Row], meta: dict[str, Any]) -> str:
    headers, body = table_cells(rows, meta)
    lines = [f"# kdbench report: {meta.get('title', 'trade-off')}", ""]
    lines += _meta_lines(meta)
    lines += ["", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    lines += ["", *legend(rows, meta)]
    for title, section in decision_sections(meta):
        lines += ["", f"## {title}", "", section[0]]
        predicted_headers, predicted_body = predicted_cells(rows, meta)
        if title == PREDICTED and predicted_headers:
            lines += ["", "| " + " | ".join(predicted_headers) + " |"]
            lines += ["|" + "---|" * len(predicted_headers)]
            lines += ["| " + " | ".join(cells) + " |" for cells in predicted_body]
            lines.append("")
        lines += section[1:]
    if meta.get("pairs"):
        lines += ["", pair_markdown(meta["pairs"])]
    return "\n".join(lines) + "\n"


AXIS_WORDS = {
    "p50": ("lower p50 latency per query", "p50 latency per query (ms, log scale)"),
    "p95": ("lower p95 latency per query", "p95 latency per query (ms, log scale)"),
    "throughput": ("higher throughput", "throughput (items/s, log scale)"),
    "memory": ("less memory", "memory: weights + activations + index (MiB, log scale)"),
}


def legend(rows: list[Row], meta: dict[str, Any]) -> list[str]:
    """What the table's marks and columns mean, in every text format."""
    y, x = meta.get("y") or "nDCG@10", meta.get("x") or "p50"
    lines = [
        f"★ = Pareto-optimal: no other measured row has both higher {y} and {AXIS_WORDS[x][0]}; "
        "only rows whose own artifact was evaluated take part.",
        "quality from: the artifact the quality was measured on (kdbench evaluate --backend); "
        "'(parity passed)': an fp32 cell of a backend that computes eager's scores shows eager's "
        "evaluation; 'not evaluated': that artifact was never evaluated, so the row shows no quality.",
        "p50/p95 ms: the row's timed call in its scenario; 95% CI: distribution-free "
        "(order-statistic) interval of that percentile; n: timed calls.",
        "Memory: weights as the backend loaded them, activations = the cell's peak above what was "
        "resident when it started, index = the index or cache it reads; process = the whole "
        "process's peak (GPU, else RSS). of peak: achieved FLOP/s over the machine's best GEMM "
        "of the row's dtype.",
        "Published rows (in parentheses) were not measured here.",
    ]
    if any(r.first_stage_p50_ms is not None for r in rows):
        lines.insert(
            3,
            "end-to-end = first stage (the BM25 row of the same depth) + the row's "
            "timed call: what one query costs, as the 'includes' of each row says.",
        )
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


def _interval_text(bounds: Any) -> str:
    return "–" if not bounds else f"{bounds[0]:+.3f} to {bounds[1]:+.3f}"


def pair_cells(pairs: list[dict[str, Any]]) -> list[list[str]]:
    """One line of text cells per (pair, measure): what Markdown, HTML and terminal show."""
    lines = []
    for pair in pairs:
        for row in pair["rows"]:
            holm = row.get("p_holm")
            lines.append(
                [
                    pair["kd"],
                    pair["nokd"],
                    row["measure"],
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


def pair_markdown(pairs: list[dict[str, Any]]) -> str:
    """Distilled vs not-distilled pairs: the difference per measure, its intervals and tests."""
    if not pairs:
        return ""
    lines = [f"## {PAIR_TITLE}", "", "| " + " | ".join(PAIR_HEADERS) + " |"]
    lines.append("|" + "---|" * len(PAIR_HEADERS))
    lines += ["| " + " | ".join(cells) + " |" for cells in pair_cells(pairs)]
    for pair in pairs:
        lines.extend(
            f"- warning ({pair['kd']} vs {pair['nokd']}): {w}" for w in pair.get("warnings", [])
        )
    return "\n".join(lines) + "\n"


def to_csv(rows: list[Row], meta: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    columns = columns_for(rows, measures_of(meta), predicted=True, scale_to=_scale_to(meta))
    writer.writerow([c.header for c in columns])
    for row in rows:
        writer.writerow([csv_value(c.get(row)) for c in columns])
    return out.getvalue()


def to_json(rows: list[Row], meta: dict[str, Any]) -> str:
    return json.dumps({"meta": meta, "rows": [r.to_dict() for r in rows]}, indent=2) + "\n"


def to_terminal(rows: list[Row], meta: dict[str, Any], width: int | None = None) -> str:
    """The table for a terminal of `width` columns (default: this one's); split, never cut,
    when it is narrower than the table (`kdbench.terminal`)."""
    from rich.console import Console

    width = width or console_width()

    def fitted(
        title: str | None,
        headers: Sequence[str],
        body: Sequence[Sequence[str]],
        styles: Sequence[str | None] | None = None,
    ) -> Any:
        text = ("model", "arch", "teacher", "backend", "KD", "no-KD")
        shown = [
            Shown(h, "left" if h in text else "right", key=i == 0) for i, h in enumerate(headers)
        ]
        return fit_table(title, shown, body, width, row_styles=styles)

    headers, body = table_cells(rows, meta)
    styles = ["bold green" if r.pareto else ("dim" if r.reference else None) for r in rows]
    # Recorded only: the command prints the text (a console on stdout would print it twice).
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(fitted(f"kdbench: {meta.get('title', 'trade-off')}", headers, body, styles))
    for line in _meta_lines(meta):
        console.print(line, markup=False)
    for line in legend(rows, meta):
        console.print(line, markup=False)
    for title, section in decision_sections(meta):
        console.print(f"\n{title}", style="bold")
        console.print(section[0], markup=False)
        predicted_headers, predicted_body = predicted_cells(rows, meta)
        if title == PREDICTED and predicted_headers:
            console.print(fitted(None, predicted_headers, predicted_body))
        for line in section[1:]:
            console.print(line, markup=False)
    if meta.get("pairs"):
        console.print(fitted(PAIR_TITLE, PAIR_HEADERS, pair_cells(meta["pairs"])))
    return console.export_text()


def pair_html(pairs: list[dict[str, Any]]) -> str:
    if not pairs:
        return ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in PAIR_HEADERS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
        for cells in pair_cells(pairs)
    )
    return (
        f'<h2>{html.escape(PAIR_TITLE)}</h2><table id="pairs-table">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def decision_html(rows: list[Row], meta: dict[str, Any]) -> str:
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
            table = f'<table id="predicted-table"><thead><tr>{head}</tr></thead>{trs}</table>'
        parts.append(
            f'<h2>{title}</h2><div id="{title.lower()}"><p>{html.escape(section[0])}</p>'
            f"{table}<ul>{items}</ul></div>"
        )
    return "".join(parts)


def to_html(rows: list[Row], meta: dict[str, Any]) -> str:
    headers, body = table_cells(rows, meta)
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
<h2>{html.escape(str(meta.get("y") or "nDCG@10"))} against {html.escape(str(meta.get("x") or "p50"))}</h2>
{svg_plot(rows, meta.get("x") or "p50", meta.get("y") or "nDCG@10", (meta.get("budget") or {}).get("constraints"))}
<h2>Trade-off table</h2>
<table id="tradeoff-table"><thead><tr>{head}</tr></thead><tbody>
{"".join(trs)}
</tbody></table>
{decision_html(rows, meta)}
{pair_html(meta.get("pairs") or [])}
<ul id="legend">{"".join(f"<li>{html.escape(line)}</li>" for line in legend(rows, meta))}</ul>
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
