"""`kdbench profile`: latency, throughput, memory and parity of rankers per backend."""

from __future__ import annotations

from pathlib import Path

from kdbench.commands.options import path_option, settings
from kdbench.io import RESULT, check_writable
from kdbench.profile import run_profile
from kdbench.profile.config import ProfileConfig
from kdbench.profile.render import problems, profile_table, serving_table
from kdbench.results import save_result

# Lengths come from --seq-len and --doc-len; pooling and similarity are the model's.
NOT_PROFILED = ("pooling", "similarity", "colbert_dim", "max_query_len", "max_doc_len")


def profile(
    config: ProfileConfig = settings(ProfileConfig, exclude=NOT_PROFILED),
    output: Path | None = path_option(
        None, "--output", "-o", help="Write the result JSON here (atomically)."
    ),
) -> None:
    """Time rankers under eager PyTorch, ONNX Runtime and TensorRT, after checking each computes eager's scores."""

    if output is not None:
        check_writable(output, "--output", RESULT)
    from rich.console import Console

    progress = Console(stderr=True)
    result = run_profile(config, log=lambda message: progress.print(f"[dim]{message}[/]"))
    if output is not None:
        save_result(output, result.to_dict())
    shown = [result, *([result.baseline] if result.baseline is not None else [])]
    for part in shown:
        Console().print(profile_table(part))
        table = serving_table(part)
        if table is not None:
            Console().print(table)
    for part in shown:
        for line in problems(part):
            progress.print(f"[yellow]warning[/] {part.model['arch']} {line}", soft_wrap=True)
    if output is not None:
        progress.print(f"wrote {output}")
