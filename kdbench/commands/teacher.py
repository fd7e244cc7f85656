"""`kdbench teacher score`: score training triples with a teacher (any ranker, or BM25)."""

from __future__ import annotations

from pathlib import Path

import typer

from kdbench.commands.options import allow_pickle_option, trust_remote_code_option

teacher_app = typer.Typer(
    help="Teachers for distillation: score triples into the paper's teacher-score format.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(teacher_app, name="teacher")


@teacher_app.command("score")
def score(
    model: str = typer.Option(
        ..., "--model", help="bm25, a kdbench checkpoint, a folder or hub id."
    ),
    output: Path = typer.Option(
        ...,
        "--output",
        "-o",
        help="Teacher-score file to write (SCORES.tsv); the report goes to SCORES.tsv.json.",
    ),
    data: str | None = typer.Option(
        None,
        "--data",
        help="Collection: triples are mined from its train split exactly "
        "as `kdbench train` mines them.",
    ),
    arch: str | None = typer.Option(
        None, "--arch", help="dot | cat | colbert (a checkpoint carries its own)."
    ),
    triples: str | None = typer.Option(
        None, "--triples", help="Score these triples (text, id or score file) instead of mining."
    ),
    split: str = typer.Option("train", "--split", help="Split of --data the triples come from."),
    mine_depth: int = typer.Option(
        50, "--mine-depth", help="Negatives from the first stage's top-k (as in train)."
    ),
    triples_per_positive: int = typer.Option(
        8, "--triples-per-positive", help="Mined triples per (query, positive)."
    ),
    negatives_run: str | None = typer.Option(
        None, "--negatives-run", help="TREC run to mine negatives from instead of BM25."
    ),
    dev_queries: int = typer.Option(
        50,
        "--dev-queries",
        help="Train queries held out (never scored; the "
        "teacher's dev nDCG@10 is measured on them).",
    ),
    seed: int = typer.Option(
        42, "--seed", help="Seed for mining and the dev slice (use the student's)."
    ),
    batch_size: int = typer.Option(64, "--batch-size", help="Pairs per forward pass."),
    max_query_len: int | None = typer.Option(
        None, "--max-query-len", help="Query tokens (default: the model's)."
    ),
    max_doc_len: int | None = typer.Option(
        None, "--max-doc-len", help="Passage tokens (default: the model's)."
    ),
    layers: int | None = typer.Option(None, "--layers", help="Keep the first N encoder layers."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N."),
    folds: int = typer.Option(
        0,
        "--folds",
        help="Cross-fit: train K teachers from --model, each scoring the "
        "queries it did not train on (0: score with --model as it is).",
    ),
    fold_steps: int = typer.Option(100, "--fold-steps", help="Training steps per fold teacher."),
    fold_loss: str = typer.Option(
        "ranknet", "--fold-loss", help="Loss of the fold teachers (ranknet | ce)."
    ),
    fold_batch_size: int = typer.Option(
        16, "--fold-batch-size", help="Triples per step for fold teachers."
    ),
    fold_learning_rate: float = typer.Option(
        2e-5, "--fold-learning-rate", help="Fold teachers' learning rate."
    ),
    compare_student: str | None = typer.Option(
        None,
        "--compare-student",
        help="A no-teacher student (checkpoint folder) to measure on the same dev slice; "
        "warns when the teacher is not better.",
    ),
    allow_pickle: bool = allow_pickle_option(),
    trust_remote_code: bool = trust_remote_code_option(),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Score triples with a teacher into pos_score<TAB>neg_score<TAB>qid<TAB>pid_pos<TAB>pid_neg."""
    from kdbench.io import check_writable
    from kdbench.train.teacher import TeacherConfig, score_teacher

    check_writable(output, "--output")
    check_writable(f"{output}.json", "--output")

    config = TeacherConfig(
        model=model,
        output=str(output),
        arch=arch,
        data=data,
        split=split,
        triples=triples,
        mine_depth=mine_depth,
        triples_per_positive=triples_per_positive,
        negatives_run=negatives_run,
        dev_queries=dev_queries,
        seed=seed,
        batch_size=batch_size,
        max_query_len=max_query_len,
        max_doc_len=max_doc_len,
        layers=layers,
        allow_pickle=allow_pickle,
        trust_remote_code=trust_remote_code,
        device=device,
        folds=folds,
        fold_steps=fold_steps,
        fold_loss=fold_loss,
        fold_batch_size=fold_batch_size,
        fold_learning_rate=fold_learning_rate,
        compare_student=compare_student,
        quiet=quiet,
    )
    result = score_teacher(config)
    report = result["teacher_report"]
    dev = report.get("dev")
    dev_text = f", dev nDCG@10 {dev['nDCG@10']:.4f}" if dev else ""
    student = report.get("student_dev")
    if student:
        dev_text += f" (student {student['nDCG@10']:.4f})"
    typer.echo(
        f"scored {report['triples']} triples ({report['pairs_scored']} pairs) -> {output}: pairwise accuracy "
        f"{report['pairwise_accuracy']:.1%} ({report['contradicted']} contradict their labels), "
        f"margin mean {report['margin']['mean']:.3g} std {report['margin']['std']:.3g}{dev_text}"
    )
    for note in report.get("warnings", []):
        typer.echo(f"warning: {note}", err=True)


@teacher_app.command("ensemble")
def ensemble(
    scores: list[str] = typer.Option(
        ...,
        "--scores",
        help="Teacher-score file from `kdbench teacher score` (its .dev.run beside it); repeat, 2 or more.",
    ),
    data: str = typer.Option(
        ..., "--data", help="The collection the members were scored on (dev-slice qrels)."
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Ensemble score file to write (report: OUTPUT.json)."
    ),
    split: str = typer.Option("train", "--split", help="Split of --data the triples came from."),
    normalize: str = typer.Option(
        "query-zscore",
        "--normalize",
        help="Per member before weighting: query-zscore (per query), zscore, minmax, none.",
    ),
    weights: str | None = typer.Option(
        None,
        "--weights",
        help="Comma list, one per --scores (default: fitted on the dev slice for the best nDCG@10).",
    ),
) -> None:
    """Combine teachers of any architecture into one (the paper's T2), weighted on the dev slice."""
    from kdbench.io import check_writable

    check_writable(output, "--output")
    check_writable(f"{output}.json", "--output")
    parsed = _parse_weights(weights) if weights is not None else None
    from kdbench.data.load import load_collection
    from kdbench.results import new_result, save_result
    from kdbench.train.ensemble import build_ensemble

    collection = load_collection(data, split)
    report = build_ensemble(scores, str(output), collection.qrels, normalize, parsed)
    result = new_result(
        "teacher",
        {
            "scores": scores,
            "data": data,
            "split": split,
            "normalize": normalize,
            "weights": weights,
        },
    )
    result["teacher_report"] = report
    save_result(f"{output}.json", result)
    members = ", ".join(
        f"{Path(m['scores']).name} x{m['weight']:g} ({m['dev']['nDCG@10']:.4f})"
        for m in report["members"]
    )
    typer.echo(
        f"ensemble of {members} -> {output}: dev nDCG@10 {report['dev']['nDCG@10']:.4f}"
        f"{' (weights fitted on it)' if parsed is None else ''}, pairwise accuracy "
        f"{report['pairwise_accuracy']:.1%}"
    )


def _parse_weights(text: str) -> list[float]:
    from kdbench.errors import UserError

    try:
        values = [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise UserError(f"--weights {text!r}: write numbers, e.g. --weights 0.5,0.3,0.2") from None
    if not values or any(not 0 <= v < float("inf") for v in values):
        raise UserError(f"--weights {text!r}: each weight must be a finite number >= 0")
    return values
