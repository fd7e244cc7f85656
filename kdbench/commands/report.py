"""`kdbench report`: the effectiveness–efficiency trade-off table, plot and run comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from kdbench.commands.options import path_option
from kdbench.config import ReportConfig
from kdbench.errors import UserError
from kdbench.evaluate.metrics import parse_measures
from kdbench.io import atomic_write_text, check_writable
from kdbench.options import field_of, help_text, out_of_range
from kdbench.quantities import QuantityError, parse_rate_per_s
from kdbench.report import View, write_report
from kdbench.report.compare import compare_rows, render_comparison
from kdbench.report.like import ALLOW, differences, scope_of
from kdbench.report.pairs import common_measures, pair_rows
from kdbench.report.render import pair_markdown
from kdbench.report.rows import load_results, rows_from_results
from kdbench.report.scale import Scale, parse_count
from kdbench.results import load_result

FORMAT_NAMES = ("terminal", "markdown", "md", "csv", "json", "html")


def report(
    results: list[Path] = typer.Argument(
        None, help="Result JSON files or results folders (e.g. results/quickstart)."
    ),
    fmt: str = typer.Option(
        "terminal", "--format", "-f", help=f"One of: {', '.join(FORMAT_NAMES)}."
    ),
    output: Path | None = path_option(
        None, "--output", "-o", help="Write the report here (atomically)."
    ),
    compare: tuple[Path, Path] | None = typer.Option(
        None, "--compare", help="Compare two result files or folders: --compare OLD NEW."
    ),
    pair: tuple[Path, Path] | None = typer.Option(
        None,
        "--pair",
        help="Distillation effect: --pair KD_RESULT NOKD_RESULT (evaluate results; paired t-test).",
    ),
    fail_on_regression: bool = typer.Option(
        False, "--fail-on-regression", help="Exit 1 when --compare finds a regression."
    ),
    allow_different_queries: bool = typer.Option(
        False,
        "--allow-different-queries",
        help="--compare and --pair refuse results whose collection, split, queries or measures "
        "differ; with this flag they compare anyway, the differences printed above the table.",
    ),
    max_quality_drop: float = typer.Option(
        0.01, help="Regression threshold: absolute drop in nDCG@10/RR@10/R@100."
    ),
    max_latency_increase: float = typer.Option(
        0.10, help="Regression threshold: relative rise in p50/p95 latency."
    ),
    title: str = typer.Option("", help="Report title (default: the inputs' names)."),
    measure: str | None = typer.Option(
        None,
        "--measure",
        help="Quality columns, pairs and --compare measures as ir_measures strings, e.g. "
        '"nDCG@10 RR@10" (default: nDCG@10 RR@10 R@100).',
    ),
    x: str = typer.Option(
        "p50", "--x", help="Plot and Pareto axis: p50, p95 (per query), throughput or memory."
    ),
    y: str | None = typer.Option(
        None,
        "--y",
        help="Plot and Pareto quality: any measured one (default: the first --measure).",
    ),
    budget: str | None = typer.Option(
        None, "--budget", help=help_text(field_of(ReportConfig, "budget"))
    ),
    columns: str = typer.Option(
        "compact",
        "--columns",
        help="The table's columns: compact (one line per measured artifact: quality, p50, "
        "p95, items/s, memory, ★), all, or a comma list of column names (e.g. "
        '"model,nDCG@10,p50-ms,weights-mib"; a wrong name lists them).',
    ),
    scale_to: str | None = typer.Option(
        None, "--scale-to", help=help_text(field_of(ReportConfig, "scale_to"))
    ),
    queries_per_s: str | None = typer.Option(
        None, "--queries-per-s", help=help_text(field_of(ReportConfig, "queries_per_s"))
    ),
) -> None:
    """Build the trade-off table (quality, latency, memory, Pareto front) or compare two runs."""

    for flag, value in (
        ("--max-quality-drop", max_quality_drop),
        ("--max-latency-increase", max_latency_increase),
    ):
        if (problem := out_of_range(value, minimum=0)) is not None:
            raise UserError(f"{flag}: {problem}")
    if output is not None:
        check_writable(output, "--output")
    view = View(measures=parse_measures(measure) if measure else None, x=x, y=y)
    scale = _scale(scale_to, queries_per_s)
    if pair:
        _pair_report(pair, view, output, allow_different_queries)
        return
    if compare:
        thresholds = (max_quality_drop, max_latency_increase)
        regressed = _compare_report(
            compare, view, thresholds, allow_different_queries, gate=fail_on_regression
        )
        if regressed and fail_on_regression:
            raise typer.Exit(1)
        return
    if not results:
        raise UserError(
            "report: pass result files or a results folder (e.g. results/quickstart), or --compare OLD NEW"
        )
    if fmt not in FORMAT_NAMES:
        raise UserError(
            f"--format: unknown format {fmt!r}; choose one of {', '.join(FORMAT_NAMES)}"
        )
    shown = columns if columns in ("compact", "all") else [c.strip() for c in columns.split(",")]
    text, _ = write_report(
        [str(p) for p in results], fmt, output, title, view, budget, scale, shown
    )
    _show(text, output, written=True)


def _scale(scale_to: str | None, queries_per_s: str | None) -> Any:
    """What --scale-to and --queries-per-s ask for (a report.scale.Scale), read by the
    quantity grammar before any result is read; None when neither was given."""

    rate = None
    if queries_per_s is not None:
        try:
            rate = parse_rate_per_s(queries_per_s)
        except QuantityError as exc:
            raise UserError(f"--queries-per-s: {exc}") from None
        if not rate > 0:
            raise UserError(f"--queries-per-s {queries_per_s}: must be above 0")
    if scale_to is None and rate is None:
        return None
    return Scale(parse_count(scale_to) if scale_to is not None else None, rate)


def _show(text: str, output: Path | None, *, written: bool = False) -> None:
    """`text` on stdout, or (written to `output` already, or now) a line saying where."""
    if output is None:
        typer.echo(text, nl=False)
        return
    if not written:
        atomic_write_text(output, text)
    typer.echo(f"wrote {output}")


def _pair_report(pair: tuple[Path, Path], view: Any, output: Path | None, allow: bool) -> None:

    kd, nokd = load_result(pair[0]), load_result(pair[1])
    found = pair_rows(
        kd, nokd, measures=view.measures or common_measures(kd, nokd), allow_different=allow
    )
    _show(pair_markdown([found]), output)


def _compare_report(
    compare: tuple[Path, Path],
    view: Any,
    thresholds: tuple[float, float],
    allow: bool,
    *,
    gate: bool = False,
) -> bool:
    """Print NEW − OLD per matching row; True when some delta is a regression. Results that
    did not measure on the same collection, split, queries and measures are refused (with
    `allow`: compared, what differs printed first). As a `gate` (--fail-on-regression), a
    comparison with no row in common is refused: it checked nothing, so it cannot pass."""

    max_quality_drop, max_latency_increase = thresholds
    old_path, new_path = compare
    old, new = load_results([old_path]), load_results([new_path])
    differ = differences(scope_of(old), scope_of(new))
    if differ and not allow:
        raise UserError(
            f"--compare {old_path} {new_path}: not measured alike ({'; '.join(differ)}); "
            f"compare results of the same collection, split, queries and measures, or pass "
            f"{ALLOW}"
        )
    deltas = compare_rows(
        rows_from_results(old),
        rows_from_results(new),
        max_quality_drop=max_quality_drop,
        max_latency_increase=max_latency_increase,
        measures=view.shown,
    )
    if gate and not deltas:
        raise UserError(
            f"--compare {old_path} {new_path}: no row in common (rows match on model, backend, "
            "device, precision, scenario, batch size and sequence length), so "
            "--fail-on-regression has nothing to check; compare two runs of the same rows"
        )
    warning = "".join(f"warning: OLD and NEW differ in {line}\n" for line in differ)
    typer.echo(warning + render_comparison(deltas), nl=False)
    regressions = [d for d in deltas if d.regression]
    if regressions:
        typer.echo(
            f"{len(regressions)} regression(s) beyond thresholds "
            f"(quality drop > {max_quality_drop}, latency rise > {max_latency_increase:.0%})",
            err=True,
        )
    return bool(regressions)
