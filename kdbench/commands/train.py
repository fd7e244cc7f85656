"""`kdbench train`: train a ranker on labels (ranknet, ce) or distil a teacher's scores (margin-mse, mse, kl).

Under `torchrun --nproc-per-node N` the same command trains with DistributedDataParallel.
"""

from __future__ import annotations

from pathlib import Path

import typer

from kdbench.commands.options import allow_pickle_option, trust_remote_code_option


def register(app: typer.Typer) -> None:
    app.command("train")(train)


def train(
    data: str | None = typer.Option(
        None,
        "--data",
        help="Collection folder or ir_datasets id: triples are mined "
        "from its train split (and texts of id triples/teacher scores come from it).",
    ),
    model: str = typer.Option(
        ..., "--model", help="Start from: hub id, folder, kdbench checkpoint, all-MiniLM-L6-v2."
    ),
    arch: str | None = typer.Option(
        None, "--arch", help="dot | cat | colbert | prettr (a checkpoint carries its own)."
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Folder for the final model, checkpoints/ and logs."
    ),
    loss: str = typer.Option(
        "margin-mse", "--loss", help="margin-mse | mse | kl (need --teacher-scores), ranknet | ce."
    ),
    label_loss: str | None = typer.Option(
        None,
        "--label-loss",
        help="Add a label term to a distillation loss: ranknet | ce (hybrid objective).",
    ),
    label_weight: float = typer.Option(
        1.0, "--label-weight", help="Weight of the --label-loss term (choose it on the dev slice)."
    ),
    teacher_margin_floor: float | None = typer.Option(
        None,
        "--teacher-margin-floor",
        help="Label-consistent targets: raise teacher margins below DELTA to DELTA "
        "(target = max(t+ - t-, DELTA)).",
    ),
    temperature: float = typer.Option(
        1.0, "--temperature", help="kl: softmax temperature of student and teacher scores."
    ),
    steps: int = typer.Option(100, "--steps", help="Optimizer steps."),
    teacher_scores: list[str] | None = typer.Option(
        None,
        "--teacher-scores",
        help="pos_score<TAB>neg_score<TAB>qid<TAB>pid_pos<TAB>pid_neg file; repeat for an "
        "ensemble (mean).",
    ),
    teacher_normalize: str = typer.Option(
        "none", "--teacher-normalize", help="none | zscore | minmax per teacher before averaging."
    ),
    triples: str | None = typer.Option(
        None,
        "--triples",
        help="Text triples, id triples or a teacher-score file "
        "(format auto-detected) instead of mining.",
    ),
    split: str = typer.Option(
        "train", "--split", help="Split of --data to train on (its test split is never read)."
    ),
    layers: int | None = typer.Option(None, "--layers", help="Keep the first N encoder layers."),
    split_layer: int | None = typer.Option(
        None, "--split-layer", help="prettr: query and passage meet after layer l (default 3)."
    ),
    batch_size: int = typer.Option(
        16, "--batch-size", help="Triples per optimizer step (over all processes)."
    ),
    grad_accum: int = typer.Option(
        1, "--grad-accum", help="Micro-batches per step (gradient accumulation)."
    ),
    learning_rate: float = typer.Option(
        2e-5, "--learning-rate", "--lr", help="AdamW peak learning rate."
    ),
    weight_decay: float = typer.Option(
        0.01, "--weight-decay", help="AdamW weight decay (not on biases/LayerNorm)."
    ),
    warmup_steps: int | None = typer.Option(
        None, "--warmup-steps", help="Linear warm-up steps (default 10% of steps)."
    ),
    max_grad_norm: float = typer.Option(
        1.0, "--max-grad-norm", help="Gradient clipping norm (0: none)."
    ),
    max_query_len: int = typer.Option(32, "--max-query-len", help="Query tokens."),
    max_doc_len: int = typer.Option(128, "--max-doc-len", help="Passage tokens."),
    pooling: str | None = typer.Option(
        None, "--pooling", help="dot: cls | mean (default: the model's)."
    ),
    similarity: str | None = typer.Option(
        None, "--similarity", help="dot/colbert: dot | cosine (default: the model's)."
    ),
    colbert_dim: int | None = typer.Option(
        None, "--colbert-dim", help="colbert: compress term vectors to this size."
    ),
    score_scale: float | None = typer.Option(
        None,
        "--score-scale",
        help="dot/colbert score multiplier (cosine x 20 is common); default: the model's.",
    ),
    learn_score_scale: bool = typer.Option(
        False,
        "--learn-score-scale",
        help="Learn a multiplier on the student's scores (saved in the checkpoint).",
    ),
    score_scale_learning_rate: float = typer.Option(
        0.02, "--score-scale-learning-rate", help="Learning rate of the learned score multiplier."
    ),
    negatives: int = typer.Option(
        1,
        "--negatives",
        help="Negatives per example (kl/ce use several; with --teacher-scores, grouped per positive).",
    ),
    mine_depth: int = typer.Option(
        50, "--mine-depth", help="Mine negatives from the first stage's top-k."
    ),
    triples_per_positive: int = typer.Option(
        8, "--triples-per-positive", help="Mined triples per (query, positive)."
    ),
    negatives_run: str | None = typer.Option(
        None,
        "--negatives-run",
        help="TREC run over the train queries to mine negatives from instead of BM25.",
    ),
    dev_queries: int = typer.Option(
        50, "--dev-queries", help="Train queries held out for validation (0: none)."
    ),
    validate_every: int = typer.Option(
        0,
        "--validate-every",
        help="Validate on the dev slice every N steps "
        "(always at the end when there is a dev slice).",
    ),
    validate_depth: int = typer.Option(
        30, "--validate-depth", help="BM25 candidates re-ranked per dev query."
    ),
    patience: int = typer.Option(
        0, "--patience", help="Early stopping: validations without improvement (0: off)."
    ),
    checkpoint_every: int = typer.Option(
        0, "--checkpoint-every", help="Save a checkpoint every N steps (0: at the end)."
    ),
    keep_checkpoints: int = typer.Option(
        2, "--keep-checkpoints", help="Step checkpoints kept (0: all)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in --output from its last checkpoint."
    ),
    seed: int = typer.Option(
        42, "--seed", help="Seed for mining, data order, initialisation and dropout."
    ),
    dropout: float | None = typer.Option(
        None, "--dropout", help="Override every dropout probability."
    ),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N."),
    precision: str = typer.Option(
        "fp32", "--precision", help="fp32 | fp16 (CUDA, grad scaler) | bf16."
    ),
    allow_pickle: bool = allow_pickle_option(),
    trust_remote_code: bool = trust_remote_code_option(),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Train (or distil) a ranker; writes OUTPUT/ (model), OUTPUT/training.json, OUTPUT/train_log.jsonl."""
    from kdbench.train.config import TrainConfig

    config = TrainConfig(
        model=model,
        output=str(output),
        arch=arch,
        layers=layers,
        split_layer=split_layer,
        allow_pickle=allow_pickle,
        trust_remote_code=trust_remote_code,
        pooling=pooling,
        similarity=similarity,
        colbert_dim=colbert_dim,
        loss=loss,
        label_loss=label_loss,
        label_weight=label_weight,
        teacher_margin_floor=teacher_margin_floor,
        temperature=temperature,
        steps=steps,
        data=data,
        split=split,
        triples=triples,
        teacher_scores=tuple(teacher_scores or ()),
        teacher_normalize=teacher_normalize,
        mine_depth=mine_depth,
        triples_per_positive=triples_per_positive,
        negatives=negatives,
        negatives_run=negatives_run,
        dev_queries=dev_queries,
        batch_size=batch_size,
        grad_accum=grad_accum,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        warmup_steps=warmup_steps,
        max_grad_norm=max_grad_norm,
        max_query_len=max_query_len,
        max_doc_len=max_doc_len,
        score_scale=score_scale,
        learn_score_scale=learn_score_scale,
        score_scale_learning_rate=score_scale_learning_rate,
        dropout=dropout,
        seed=seed,
        device=device,
        precision=precision,
        validate_every=validate_every,
        validate_depth=validate_depth,
        patience=patience,
        checkpoint_every=checkpoint_every,
        keep_checkpoints=keep_checkpoints,
        resume=resume,
        quiet=quiet,
    )
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
    _print_summary(result.summary, output)


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
        before, after = report.get("student_before", {}), report.get("student_after", {})
        line = (
            f"student pairwise accuracy on {report['sample']} training triples: "
            f"{before['pairwise_accuracy']:.1%} before, {after['pairwise_accuracy']:.1%} after"
        )
        teacher = report.get("teacher")
        if isinstance(teacher, dict):
            line += (
                f"; teacher {teacher['pairwise_accuracy']:.1%} (all triples), margin std teacher "
                f"{teacher['margin'].get('std', 0):.3g} vs student {before.get('margin', {}).get('std', 0):.3g}"
            )
        console.print(line, highlight=False)
