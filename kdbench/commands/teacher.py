"""`kdbench teacher score`: score training triples with a teacher (any ranker, or BM25)."""

from __future__ import annotations

from pathlib import Path

import typer

from kdbench.commands.options import command, settings
from kdbench.data.runs import RUN_FILE
from kdbench.data.teacher_scores import SCORES_FILE
from kdbench.io import RESULT, check_writable
from kdbench.train.config import EnsembleConfig, TeacherConfig
from kdbench.train.ensemble import write_ensemble

teacher_app = typer.Typer(
    help="Teachers for distillation: score triples into the paper's teacher-score format.",
    no_args_is_help=True,
)


@command(teacher_app, "score")
def score(config: TeacherConfig = settings(TeacherConfig)) -> None:
    """Score triples with a teacher into pos_score<TAB>neg_score<TAB>qid<TAB>pid_pos<TAB>pid_neg."""
    from kdbench.train.teacher import score_teacher

    _check_outputs(config.output)
    result = score_teacher(config)
    if not result:  # ranks other than 0 under torchrun: rank 0 merges and reports
        return
    report = result["teacher_report"]
    dev = report.get("dev")
    dev_text = f", dev nDCG@10 {dev['nDCG@10']:.4f}" if dev else ""
    student = report.get("student_dev")
    if student:
        dev_text += f" (student {student['nDCG@10']:.4f})"
    typer.echo(
        f"scored {report['triples']} triples ({report['pairs_scored']} pairs) -> {config.output}: pairwise accuracy "
        f"{report['pairwise_accuracy']:.1%} ({report['contradicted']} contradict their labels), "
        f"margin mean {report['margin']['mean']:.3g} std {report['margin']['std']:.3g}{dev_text}"
    )
    for note in report.get("warnings", []):
        typer.echo(f"warning: {note}", err=True)


@command(teacher_app, "ensemble")
def ensemble(config: EnsembleConfig = settings(EnsembleConfig)) -> None:
    """Combine teachers of any architecture into one (the paper's T2), weighted on the dev slice."""
    _check_outputs(config.output)

    weights = config.weight_list()
    report = write_ensemble(config)["teacher_report"]
    members = ", ".join(
        f"{Path(m['scores']).name} x{m['weight']:g} ({m['dev']['nDCG@10']:.4f})"
        for m in report["members"]
    )
    held_out = report.get("dev_held_out")
    fitted = " (weights fitted on it" + (
        f"; {held_out['nDCG@10']:.4f} on queries held out of the fit, {held_out['folds']} folds)"
        if held_out
        else ")"
    )
    typer.echo(
        f"ensemble of {members} -> {config.output}: dev nDCG@10 {report['dev']['nDCG@10']:.4f}"
        f"{fitted if weights is None else ''}, pairwise accuracy "
        f"{report['pairwise_accuracy']:.1%}"
    )


def _check_outputs(scores: str) -> None:
    """The score file, its report and its dev run: writable, and not a file kdbench did not write."""
    from kdbench.train.teacher import dev_run_path

    check_writable(scores, "--output", SCORES_FILE)
    check_writable(f"{scores}.json", "--output", RESULT)
    check_writable(dev_run_path(scores), "--output", RUN_FILE)
