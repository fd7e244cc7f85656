"""Trade-off reports rendered from result JSON: rows.py joins, render.py formats, compare.py
diffs; budget.py chooses within a budget, scale.py predicts at the user's collection size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kdbench.errors import UserError
from kdbench.io import atomic_write_text
from kdbench.json_types import JsonObject, JsonValue, is_json_object
from kdbench.report.budget import check_columns, decide, parse_budget
from kdbench.report.meta import ReportMeta
from kdbench.report.pairs import with_holm
from kdbench.report.render import FORMATS, check_shown_columns
from kdbench.report.rows import AXES, SHOWN_QUALITY, Row, load_results, rows_from_results
from kdbench.report.scale import Scale, apply_scale


def report_meta(results: Sequence[JsonObject], title: str) -> ReportMeta:
    """Command, machine and date of the results a report is built from, and the KD/no-KD
    pairs their runs tested."""
    first: JsonObject = results[0] if results else {}
    env = _json_table(first, "environment")
    threads = _json_table(env, "torch").get("threads")
    gpus = _json_table(env, "nvml").get("gpus") or []
    machine = f"{env.get('cpu', '?')} ({env.get('cpu_count', '?')} cores"
    machine += f", {threads} torch threads)" if threads else ")"
    if gpus and isinstance(gpus, list):
        machine += "; GPU: " + ", ".join(str(g["name"]) for g in gpus if is_json_object(g))
    data = _json_table(first, "config").get("data")
    pairs = [
        pair
        for result in results
        if result.get("kind") == "run"
        for pair in _list(result, "pairs")
        if is_json_object(pair)
    ]
    return ReportMeta(
        pairs=pairs,
        title=title,
        command=_text(first, "command"),
        machine=machine,
        created=_text(first, "created"),
        data=data.get("source") if is_json_object(data) else data,
    )


def _json_table(found: JsonObject, key: str) -> JsonObject:
    """`found[key]` where it is a JSON object, else an empty one (a key left out)."""
    value = found.get(key)
    return value if is_json_object(value) else {}


def _list(found: JsonObject, key: str) -> list[JsonValue]:
    value = found.get(key)
    return value if isinstance(value, list) else []


def _text(found: JsonObject, key: str) -> str:
    value = found.get(key)
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class View:
    """What a report shows: its quality columns, and the plot's and Pareto front's axes."""

    measures: tuple[str, ...] | None = None  # ir_measures strings; None: SHOWN_QUALITY
    x: str = "p50"  # one of rows.AXES
    y: str | None = None  # a measured quality; None: the first measure (nDCG@10)

    @property
    def shown(self) -> tuple[str, ...]:
        return self.measures or SHOWN_QUALITY

    @property
    def quality(self) -> str:
        return self.y or self.shown[0]

    def check(self, rows: list[Row]) -> None:
        """Every measure asked for was measured by some row (else one line saying which are)."""
        if self.x not in AXES:
            raise UserError(f"--x {self.x}: choose one of {', '.join(AXES)}")
        measured = sorted({m for r in rows for m in r.metrics})
        asked = (("--measure", self.measures or ()), ("--y", (self.y,) if self.y else ()))
        for flag, names in asked:
            missing = [m for m in names if m not in measured]
            if missing and rows:
                raise UserError(
                    f"{flag} {' '.join(missing)}: no row measured it (these results have "
                    f"{', '.join(measured) or 'no quality'}); rerun kdbench evaluate --measure"
                )


def report_rows(results: list[JsonObject], view: View) -> tuple[list[Row], ReportMeta]:
    """The rows (Pareto-marked on the view's axes) and the meta a formatter renders."""
    rows = rows_from_results(results, metric=view.quality, x=view.x)
    view.check([r for r in rows if not r.reference])
    meta = report_meta(results, "")
    meta.measures, meta.x, meta.y = list(view.shown), view.x, view.quality
    meta.pairs = with_holm(meta.pairs, view.shown)
    return rows, meta


def add_decisions(
    rows: list[Row],
    results: list[JsonObject],
    meta: ReportMeta,
    budget: str | None = None,
    scale: Scale | None = None,
    where: str = "--budget",
) -> None:
    """Predicted columns at `scale` (meta.scale) and the `budget`'s choice (meta.budget, each
    row's verdict), on rows already built; the budget is checked before anything else."""
    constraints = parse_budget(budget, where) if budget else []
    check_columns(constraints, [r for r in rows if not r.reference], where)
    if scale is not None and (scale.passages or scale.queries_per_s):
        meta.scale = apply_scale(rows, results, scale, constraints)
    if constraints:
        meta.budget = decide(rows, constraints, meta.y or "nDCG@10")


def write_report(
    paths: list[str | Path],
    fmt: str,
    output: str | Path | None,
    title: str = "",
    view: View | None = None,
    budget: str | None = None,
    scale: Scale | None = None,
    columns: str | list[str] = "compact",
) -> tuple[str, list[Row]]:
    """The report of `paths` in `fmt`; `columns` picks the main table's: "compact" (one line
    per measured artifact), "all", or a list of column names."""
    results = load_results(paths)
    rows, meta = report_rows(results, view or View())
    check_shown_columns(columns, rows, meta)
    meta.columns = columns
    add_decisions(rows, results, meta, budget, scale)
    meta.title = title or ", ".join(Path(p).name for p in paths)
    text = FORMATS[fmt](rows, meta)
    if output is not None:
        atomic_write_text(output, text)
    return text, rows
