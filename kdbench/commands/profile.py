"""`kdbench profile`: latency, throughput, memory and parity of rankers per backend."""

from __future__ import annotations

from pathlib import Path

import typer

from kdbench.commands.options import allow_pickle_option, trust_remote_code_option


def register(app: typer.Typer) -> None:
    app.command("profile")(profile)


def profile(
    model: str = typer.Option(
        ..., "--model", help="Checkpoint folder, hub id or all-MiniLM-L6-v2."
    ),
    arch: str | None = typer.Option(
        None,
        "--arch",
        help="dot, cat, colbert or prettr (a kdbench checkpoint knows its own).",
    ),
    baseline_arch: str | None = typer.Option(
        None,
        "--baseline-arch",
        help="Also time --model as this arch (e.g. cat against prettr), alternating with it cell by cell; "
        "its result is nested under `baseline`, ratios under `vs_baseline`.",
    ),
    split_layer: int | None = typer.Option(
        None,
        "--split-layer",
        help="prettr: query and passage meet after layer l (default 3; a checkpoint knows its own).",
    ),
    scenario: str | None = typer.Option(
        None,
        "--scenario",
        help="index (dot, colbert), query (dot), rerank (cat, colbert, prettr). Default: query for dot, rerank otherwise.",
    ),
    backend: str = typer.Option(
        "eager",
        "--backend",
        help="Comma list of eager, onnx, tensorrt; NAME:PRECISION pins one (onnx:int8).",
    ),
    precision: str = typer.Option(
        "fp32",
        "--precision",
        help="Comma list of fp32, fp16, bf16, int8 for backends without :PRECISION.",
    ),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
    batch_size: str | None = typer.Option(
        None,
        "--batch-size",
        help="Comma list. index: passages per call (32); query: queries (1); rerank cat/prettr: pairs per forward (100), colbert: queries (1).",
    ),
    seq_len: str | None = typer.Option(
        None,
        "--seq-len",
        help="Comma list of tokens per timed input, padded exactly (a pair: query + passage). Default: index 128, query 32, rerank cat/prettr 256, colbert 32.",
    ),
    depth: str = typer.Option(
        "100", "--depth", help="Comma list. rerank: candidates per query; query: hits searched."
    ),
    data: str | None = typer.Option(
        None,
        "--data",
        help="Collection folder or ir_datasets id for real text and qrels. Without it: synthetic text.",
    ),
    split: str = typer.Option("test", "--split", help="Query split of --data."),
    doc_len: int | None = typer.Option(
        None,
        "--doc-len",
        help="Tokens of pre-encoded passages (query index, colbert cache; prettr's cache follows --seq-len). Default: the model's.",
    ),
    index_size: int | None = typer.Option(
        None,
        "--index-size",
        help="query: passages in the searched index (default: the whole collection).",
    ),
    compile_: bool = typer.Option(False, "--compile", help="eager: torch.compile the module."),
    threads: int | None = typer.Option(
        None, "--threads", help="Intra-op threads for torch and ONNX Runtime (default: torch's)."
    ),
    warmup: int = typer.Option(
        5, "--warmup", help="Warm-up calls per cell (and at least --warmup-time)."
    ),
    warmup_time: float = typer.Option(
        0.5, "--warmup-time", help="Seconds of warm-up per cell, at least."
    ),
    min_samples: int = typer.Option(
        662, "--min-samples", help="Timed calls per cell, at least (662 backs p99, 64 p90)."
    ),
    min_duration: float = typer.Option(
        5.0, "--min-duration", help="Seconds of timing per cell, at least."
    ),
    max_duration: float = typer.Option(
        120.0,
        "--max-duration",
        help="Stop a cell after this many seconds even short of --min-samples.",
    ),
    rounds: int = typer.Option(
        1,
        "--rounds",
        help="Split each cell's budget into rounds that alternate the backends (drift hits all alike).",
    ),
    parity_queries: int = typer.Option(20, "--parity-queries", help="Queries in the parity check."),
    parity_depth: int = typer.Option(100, "--parity-depth", help="Candidates per parity query."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset of the export."),
    onnx_model: Path | None = typer.Option(
        None,
        "--onnx-model",
        help="Run this ONNX graph instead of exporting (it still faces the parity gate).",
    ),
    onnx_fusion: bool | None = typer.Option(
        None,
        "--onnx-fusion/--no-onnx-fusion",
        help="ORT transformer fusions (default: on for GPU, off for CPU).",
    ),
    onnx_provider: str | None = typer.Option(
        None, "--onnx-provider", help="cpu, cuda or tensorrt (default: from --device)."
    ),
    cache_dir: Path | None = typer.Option(
        None,
        "--cache-dir",
        help="Exports and engines (default: $KDBENCH_CACHE or ~/.cache/kdbench).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for synthetic text and sampled candidates."),
    allow_pickle: bool = allow_pickle_option(),
    trust_remote_code: bool = trust_remote_code_option(),
    output: Path | None = typer.Option(
        None, "--output", help="Write the result JSON here (atomically)."
    ),
) -> None:
    """Time rankers under eager PyTorch, ONNX Runtime and TensorRT, after checking each computes eager's scores."""
    from kdbench.backends import parse_backend_list
    from kdbench.io import check_writable
    from kdbench.models.registry import ARCHITECTURES
    from kdbench.profile.config import ProfileConfig, parse_int_list

    if output is not None:
        check_writable(output, "--output")
    precisions = tuple(p.strip().lower() for p in precision.split(",") if p.strip())
    config = ProfileConfig(
        model=model,
        arch=ARCHITECTURES.canonical(arch) if arch else None,
        split_layer=split_layer,
        baseline_arch=ARCHITECTURES.canonical(baseline_arch) if baseline_arch else None,
        scenario=scenario,
        backends=tuple(parse_backend_list(backend)),
        precisions=precisions or ("fp32",),
        device=device,
        batch_sizes=parse_int_list(batch_size, "--batch-size"),
        seq_lens=parse_int_list(seq_len, "--seq-len"),
        depths=parse_int_list(depth, "--depth") or (100,),
        data=data,
        split=split,
        doc_len=doc_len,
        index_size=index_size,
        compile=compile_,
        threads=threads,
        warmup=warmup,
        warmup_s=warmup_time,
        min_samples=min_samples,
        min_duration_s=min_duration,
        max_duration_s=max_duration,
        rounds=rounds,
        parity_queries=parity_queries,
        parity_depth=parity_depth,
        opset=opset,
        onnx_model=onnx_model,
        onnx_fusion=onnx_fusion,
        onnx_provider=onnx_provider,
        cache_dir=cache_dir,
        seed=seed,
        allow_pickle=allow_pickle,
        trust_remote_code=trust_remote_code,
    )

    from rich.console import Console

    from kdbench.profile import run_profile
    from kdbench.profile.render import problems, profile_table
    from kdbench.results import save_result

    progress = Console(stderr=True)
    result = run_profile(config, log=lambda message: progress.print(f"[dim]{message}[/]"))
    if output is not None:
        save_result(output, result)
    shown = [result, *([result["baseline"]] if "baseline" in result else [])]
    for part in shown:
        Console().print(profile_table(part))
    for part in shown:
        for line in problems(part):
            progress.print(f"[yellow]warning[/] {part['model']['arch']} {line}", soft_wrap=True)
    if output is not None:
        progress.print(f"wrote {output}")
