"""`kdbench train`: train a ranker on labels (ranknet, ce) or distil a teacher's scores (margin-mse, mse, kl).

Under `torchrun --nproc-per-node N` the same command trains with DistributedDataParallel.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from kdbench.commands.options import settings
from kdbench.terminal import Column, fit_table
from kdbench.train.config import TrainConfig

if TYPE_CHECKING:
    from rich.console import RenderableType


def train_command(config: TrainConfig = settings(TrainConfig)) -> None:
    """Train (or distil) a ranker; writes OUTPUT/ (model), OUTPUT/training.json, OUTPUT/train_log.jsonl."""
    from kdbench.train.loop import train as run_training

    result = run_training(config)
    if result.status == "interrupted":
        if not result.summary.get("checkpoint") and result.summary:
            typer.echo("kdbench: no checkpoint was saved", err=True)
        typer.echo(
            f"kdbench: interrupted at step {result.steps_done}; rerun with --resume to continue",
            err=True,
        )
        raise typer.Exit(143 if result.signal == "SIGTERM" else 130)
    _print_summary(result.summary, Path(config.output))


def _print_summary(summary: dict[str, object], output: Path) -> None:
    from rich.console import Console

    if not summary:  # ranks other than 0 under torchrun: rank 0 reports
        return
    console = Console()
    best = summary.get("best")
    dev = (
        f"; dev nDCG@10 {best['nDCG@10']:.4f} (step {best['step']})"
        if isinstance(best, dict)
        else ""
    )
    report = summary.get("teacher_report")
    console.print(
        f"[bold]{summary.get('status')}[/] {summary.get('steps_done')} steps, final loss "
        f"{summary.get('final_loss'):.4f}{dev} -> {output}",
        highlight=False,
    )
    if isinstance(report, dict) and report.get("sample"):
        console.print(teacher_report_table(report, console.width))


def teacher_report_table(report: Mapping[str, object], width: int) -> RenderableType:
    """Pairwise accuracy and margin spread of the student (before and after) and the teacher."""

    scorers = [
        (f"student before ({report['sample']} triples)", report.get("student_before")),
        (f"student after ({report['sample']} triples)", report.get("student_after")),
        ("teacher (all triples)", report.get("teacher")),
    ]
    rows = [
        [name, f"{found['pairwise_accuracy']:.1%}", f"{found.get('margin', {}).get('std', 0):.3g}"]
        for name, found in scorers
        if isinstance(found, dict) and isinstance(found.get("pairwise_accuracy"), float)
    ]
    columns = [
        Column("scorer", "left", key=True),
        Column("pairwise accuracy"),
        Column("margin std"),
    ]
    return fit_table("what the student learnt, on training triples", columns, rows, width)
