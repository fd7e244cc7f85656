"""`kdbench evaluate`: BM25, dense retrieval or re-ranking on a collection -> metrics JSON + table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdbench.commands.options import path_option, settings
from kdbench.evaluate.config import EvaluateConfig
from kdbench.evaluate.pipeline import evaluate as run_evaluation
from kdbench.evaluate.result import EvaluateResult
from kdbench.terminal import Column, console_width, fit_table

if TYPE_CHECKING:
    from rich.console import RenderableType


def evaluate_command(
    config: EvaluateConfig = settings(EvaluateConfig),
    output: Path | None = path_option(None, "--output", "-o", help="Write the result JSON here."),
) -> None:
    """Evaluate BM25, a dense retriever or a re-ranker: nDCG@10, RR@10, R@100, R@1000, AP."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    errors = Console(stderr=True)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=False,
    )
    bars = _BarsFromFirstTask(progress)
    try:
        result = run_evaluation(config, progress=bars, output=output)
    finally:
        if bars.started:  # stopping an unstarted Progress still prints a blank line
            progress.stop()
    if result is None:  # ranks other than 0 under torchrun: rank 0 merges and reports
        return
    for warning in result.warnings:
        errors.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    Console().print(metrics_table(result))
    if output is not None:
        errors.print(f"result written to {output}", highlight=False)


class _BarsFromFirstTask:
    """A rich Progress that starts drawing at its first task: an error found while loading
    (a bad file, a missing model) is then the only line on stderr."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.started = False

    def add_task(self, description: str, total: int) -> Any:
        if not self.started:
            self.progress.start()
            self.started = True
        return self.progress.add_task(description, total=total)

    def advance(self, task: Any, advance: int) -> None:
        self.progress.advance(task, advance)


def metrics_table(result: EvaluateResult, width: int | None = None) -> RenderableType:
    """The metrics of an evaluate result as a terminal table no wider than `width` (default:
    the terminal's)."""

    evaluated, first_stage = result.settings, result.first_stage
    what = evaluated.model or "run"
    if evaluated.reranked and first_stage is not None:
        what += f" re-ranking {first_stage.method} top {first_stage.depth}"
    collection = evaluated.collection
    return fit_table(
        f"{collection.get('id') or Path(str(collection['path'])).name}"
        f" ({collection.get('split')}, {result.queries} queries): {what}",
        [Column(name) for name in result.metrics],
        [[f"{value:.4f}" for value in result.metrics.values()]],
        width or console_width(),
    )
