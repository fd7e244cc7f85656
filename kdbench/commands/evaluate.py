"""`kdbench evaluate`: BM25, dense retrieval or re-ranking on a collection -> metrics JSON + table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from kdbench.commands.options import allow_pickle_option, trust_remote_code_option


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)


def evaluate(
    data: str = typer.Option(
        ..., "--data", help="BEIR/MS MARCO folder or ir_datasets id (beir/scifact/test)."
    ),
    split: str | None = typer.Option(
        None, "--split", help="Queries + qrels to use (test, dev, dl19, ...)."
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        help="bm25, a hub id, a folder or a kdbench checkpoint; omit to evaluate --run as it is.",
    ),
    arch: str | None = typer.Option(
        None, "--arch", help="dot | cat | colbert | prettr (a checkpoint carries its own)."
    ),
    split_layer: int | None = typer.Option(
        None,
        "--split-layer",
        help="prettr: query and passage meet after layer l (default 3; a checkpoint carries its own).",
    ),
    rerank: str | None = typer.Option(
        None, "--rerank", help="First stage to re-rank: bm25 (default for cat/colbert)."
    ),
    run: Path | None = typer.Option(
        None, "--run", help="TREC run to re-rank with --model, or to evaluate without it."
    ),
    depth: int = typer.Option(100, "--depth", help="Candidates re-ranked per query."),
    k: int = typer.Option(1000, "--k", help="Docs retrieved per query (BM25, dense retrieval)."),
    rel: int = typer.Option(
        1, "--rel", help="Grade at which RR, R and AP count a doc relevant (TREC-DL: 2)."
    ),
    batch_size: int = typer.Option(32, "--batch-size", help="Texts (or pairs) per forward pass."),
    max_query_len: int | None = typer.Option(
        None, "--max-query-len", help="Query tokens (default: the model's)."
    ),
    max_doc_len: int | None = typer.Option(
        None, "--max-doc-len", help="Passage tokens (default: the model's)."
    ),
    layers: int | None = typer.Option(None, "--layers", help="Keep the first N encoder layers."),
    device: str = typer.Option("cpu", "--device", help="torch device: cpu, cuda, cuda:1."),
    queries: int | None = typer.Option(
        None, "--queries", help="Only the first N judged queries (quick runs)."
    ),
    dev_queries: int | None = typer.Option(
        None,
        "--dev-queries",
        help="Only the dev slice `kdbench train --dev-queries N --seed S` holds out of --split.",
    ),
    seed: int = typer.Option(
        42, "--seed", help="Seed of the --dev-queries slice (the training's)."
    ),
    bm25_k1: float = typer.Option(0.9, "--bm25-k1", help="BM25 k1 (Anserini's default)."),
    bm25_b: float = typer.Option(0.4, "--bm25-b", help="BM25 b (Anserini's default)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the result JSON here."),
    run_file: Path | None = typer.Option(
        None, "--run-file", help="Write the final ranking here (TREC run)."
    ),
    allow_pickle: bool = allow_pickle_option(),
    trust_remote_code: bool = trust_remote_code_option(),
) -> None:
    """Evaluate BM25, a dense retriever or a re-ranker: nDCG@10, RR@10, R@100, R@1000, AP."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kdbench.evaluate.pipeline import EvaluateConfig
    from kdbench.evaluate.pipeline import evaluate as run_evaluation

    config = EvaluateConfig(
        data=data,
        split=split,
        model=model,
        arch=arch,
        split_layer=split_layer,
        rerank=rerank,
        run=str(run) if run else None,
        depth=depth,
        k=k,
        rel=rel,
        batch_size=batch_size,
        max_query_len=max_query_len,
        max_doc_len=max_doc_len,
        layers=layers,
        device=device,
        queries=queries,
        dev_queries=dev_queries,
        seed=seed,
        bm25_k1=bm25_k1,
        bm25_b=bm25_b,
        run_file=str(run_file) if run_file else None,
        allow_pickle=allow_pickle,
        trust_remote_code=trust_remote_code,
    )
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
    for warning in result["warnings"]:
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


def metrics_table(result: dict[str, Any]) -> Any:
    """The metrics of an evaluate result as a rich table."""
    from rich.table import Table

    config = result["config"]
    what = config.get("model") or "run"
    if config.get("reranked"):
        what += (
            f" re-ranking {result['first_stage']['method']} top {result['first_stage']['depth']}"
        )
    table = Table(
        title=f"{config['collection'].get('id') or Path(config['collection']['path']).name}"
        f" ({config['collection'].get('split')}, {result['queries']} queries): {what}"
    )
    for name in result["metrics"]:
        table.add_column(name, justify="right")
    table.add_row(*(f"{value:.4f}" for value in result["metrics"].values()))
    return table
