"""`kdbench env`: what this machine offers (versions, CPU, GPUs, NVML, ORT providers, TensorRT)."""

from __future__ import annotations

import json

import typer

from kdbench.env import collect_environment


def env(
    as_json: bool = typer.Option(False, "--json", help="Print the environment record as JSON."),
) -> None:
    """Show library versions, CPU and threads, CUDA devices, NVML, ONNX Runtime providers and TensorRT."""
    from rich.console import Console
    from rich.table import Table

    record = collect_environment()
    if as_json:
        typer.echo(json.dumps(record, indent=2))
        return
    table = Table(title="kdbench environment", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("python", record["python"])
    table.add_row("platform", record["platform"])
    table.add_row("cpu", f"{record['cpu']} ({record['cpu_count']} logical cores)")
    torch_info = record["torch"]
    if torch_info.get("available"):
        cuda = (
            "yes: " + ", ".join(torch_info.get("devices", []))
            if torch_info["cuda_available"]
            else "no CUDA device"
        )
        table.add_row("torch threads", str(torch_info["threads"]))
        table.add_row("torch CUDA", cuda)
    nvml = record["nvml"]
    if nvml.get("available"):
        gpus = "; ".join(f"{g['name']} ({g['memory_total_mib']} MiB)" for g in nvml["gpus"])
        table.add_row("NVML", f"driver {nvml['driver']}: {gpus}")
    else:
        table.add_row("NVML", nvml["reason"])
    providers = record["onnxruntime_providers"]
    table.add_row(
        "ONNX Runtime providers", ", ".join(providers) if providers else "onnxruntime not installed"
    )
    trt = record["tensorrt"]
    table.add_row("TensorRT", trt.get("version") if trt["available"] else trt["reason"])
    table.add_row("git commit", record["git_commit"] or "(not a git checkout)")
    for name, version in record["libraries"].items():
        table.add_row(name, version or "-")
    Console().print(table)
