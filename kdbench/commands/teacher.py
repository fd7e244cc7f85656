"""`kdbench teacher score`: score training triples with a teacher (any ranker, or BM25)."""

from __future__ import annotations

import typer

from kdbench.commands.options import command, settings
from kdbench.train.config import TeacherConfig

teacher_app = typer.Typer(
    help="Teachers for distillation: score triples into the paper's teacher-score format.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(teacher_app, name="teacher")


@command(teacher_app, "score")
def score(config: TeacherConfig = settings(TeacherConfig)) -> None:
    """Score triples with a teacher into pos_score<TAB>neg_score<TAB>qid<TAB>pid_pos<TAB>pid_neg."""
    from kdbench.io import check_writable
    from kdbench.train.teacher import score_teacher

    check_writable(config.output, "--output")
    check_writable(f"{config.output}.json", "--output")
    result = score_teacher(config)
    report = result["teacher_report"]
    dev = report.get("dev")
    dev_text = f", dev nDCG@10 {dev['nDCG@10']:.4f}" if dev else ""
    typer.echo(
        f"scored {report['triples']} triples ({report['pairs_scored']} pairs) -> {config.output}: pairwise accuracy "
        f"{report['pairwise_accuracy']:.1%}, margin mean {report['margin']['mean']:.3g} "
        f"std {report['margin']['std']:.3g}{dev_text}"
    )
