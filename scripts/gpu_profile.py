"""GPU check: eager fp32/fp16/compiled and ONNX profiles for dot, cat and colbert, as JSON.

Runs on a GPU machine with no network and only torch, transformers, numpy, onnx and
onnxruntime (no typer, rich, ir_measures, bm25s or TensorRT needed): it calls the library,
not the CLI. Each profile runs in its own try block, so one failure costs one profile.
Writes $OUT/gpu_check.json (every result plus failures), $OUT/gpu_check.md (a table) and
prints progress. Prepare with scripts/gpu_prepare.py; run through scripts/gpu_check.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# (arch, scenario, batch sizes, seq lens, depths): the paper's query-time settings, small sweeps
PROFILES = [
    ("dot", "query", (1,), (32,), (100,)),
    ("dot", "index", (1, 32), (128,), (100,)),
    ("colbert", "rerank", (1,), (32,), (100, 1000)),
    ("cat", "rerank", (100,), (256,), (100,)),
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(os.environ.get("OUT", REPO / "results" / "profile" / "gpu")),
    )
    parser.add_argument("--model", default=str(REPO / "scratch" / "gpu" / "minilm"))
    parser.add_argument("--data", default=str(REPO / "scratch" / "gpu" / "scifact"))
    parser.add_argument("--min-samples", type=int, default=662)
    parser.add_argument("--max-duration", type=float, default=15.0)
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="skip the torch.compile profiles (slow first build)",
    )
    parser.add_argument(
        "--only", default=None, help="comma list of arch:scenario to run, e.g. dot:query"
    )
    parser.add_argument(
        "--device", default="cuda", help="cpu only to smoke-test this script without a GPU"
    )
    args = parser.parse_args()

    import torch

    from kdbench.backends import BACKENDS
    from kdbench.profile import ProfileConfig, run_profile

    args.out.mkdir(parents=True, exist_ok=True)
    if args.device == "cuda" and not torch.cuda.is_available():
        log("no CUDA GPU visible: nothing to check")
        return 2
    card = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu (smoke test)"
    log(f"GPU: {card}; torch {torch.__version__}; CUDA {torch.version.cuda}")
    model = args.model if Path(args.model).exists() else "all-MiniLM-L6-v2"
    data = args.data if Path(args.data).exists() else None
    log(f"model {model}; data {data or 'synthetic text (no --data folder found)'}")

    onnx_device = (
        "cuda" if args.device == "cuda" and BACKENDS["onnx"].is_available("cuda") else "cpu"
    )
    if onnx_device == "cpu" and args.device == "cuda":
        log(f"ONNX on CPU: {BACKENDS['onnx'].missing('cuda')}")
    extra = (
        ["tensorrt"] if args.device == "cuda" and BACKENDS["tensorrt"].is_available("cuda") else []
    )
    only = set(args.only.split(",")) if args.only else None

    runs: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    for arch, scenario, batches, seqs, depths in PROFILES:
        if only and f"{arch}:{scenario}" not in only:
            continue
        eager = (("eager", "fp32"), ("eager", "fp16"), *((name, "fp16") for name in extra))
        plans = [(args.device, eager, False)]
        if not args.no_compile:
            plans.append((args.device, (("eager", "fp32"),), True))
        plans.append(
            (
                onnx_device,
                (("onnx", "fp32"),) + ((("onnx", "fp16"),) if onnx_device == "cuda" else ()),
                False,
            )
        )
        for device, backends, compile_ in plans:
            label = f"{arch} {scenario} on {device}: {', '.join(f'{b}:{p}' for b, p in backends)}{' compiled' if compile_ else ''}"
            log(label)
            started = time.perf_counter()
            try:
                config = ProfileConfig(
                    model=model,
                    arch=arch,
                    scenario=scenario,
                    backends=backends,
                    device=device,
                    batch_sizes=batches,
                    seq_lens=seqs,
                    depths=depths,
                    data=data,
                    compile=compile_,
                    min_samples=args.min_samples if device == "cuda" else min(64, args.min_samples),
                    min_duration_s=1.0,
                    max_duration_s=args.max_duration,
                    warmup=10,
                    warmup_s=1.0,
                    parity_queries=20,
                    parity_depth=100,
                )
                result = run_profile(config, log=lambda message: log(f"  {message}"))
            except Exception as exc:  # keep going: one failure costs one profile
                failures.append(
                    {
                        "profile": label,
                        "error": f"{type(exc).__name__}: {exc}",
                        "traceback": traceback.format_exc(limit=8),
                    }
                )
                log(f"  FAILED: {type(exc).__name__}: {exc}")
                continue
            result["gpu_check"] = {
                "card": card,
                "label": label,
                "seconds": time.perf_counter() - started,
            }
            runs.append(result)
            summary(result)

    bundle = {"schema": "kdbench.gpu_check", "card": card, "runs": runs, "failures": failures}
    (args.out / "gpu_check.json").write_text(json.dumps(bundle, indent=1, allow_nan=False) + "\n")
    (args.out / "gpu_check.md").write_text(markdown(bundle))
    log(
        f"wrote {args.out}/gpu_check.json and gpu_check.md: {len(runs)} profiles, {len(failures)} failures"
    )
    return 0 if runs and not failures else 1


def summary(result: dict[str, Any]) -> None:
    for entry in result["results"]:
        latency = entry.get("latency_ms") or {}
        log(
            f"  {entry['backend']}:{entry['precision']} b{entry['batch_size']} s{entry['seq_len']} "
            f"d{entry['depth']}: {entry['status']} p50 {latency.get('p50', float('nan')):.3f} ms "
            f"p99 {latency.get('p99', float('nan')):.3f} ms"
        )


def markdown(bundle: dict[str, Any]) -> str:
    lines = [
        f"# GPU check on {bundle['card']}",
        "",
        "| profile | backend | batch | seq | depth | p50 ms | p99 ms | items/s | parity | ΔnDCG@10 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in bundle["runs"]:
        for e in result["results"]:
            latency, throughput, parity = (
                e.get("latency_ms") or {},
                e.get("throughput") or {},
                e.get("parity") or {},
            )
            delta = parity.get("delta_ndcg_at_10")
            lines.append(
                f"| {result['gpu_check']['label']} | {e['backend']}:{e['precision']} | {e['batch_size']} | {e['seq_len']} "
                f"| {e['depth'] or '-'} | {latency.get('p50', float('nan')):.3f} | {latency.get('p99', float('nan')):.3f} "
                f"| {throughput.get('items_per_s', float('nan')):.1f} | {'ok' if parity.get('passed') else 'FAILED'} "
                f"| {'-' if delta is None else f'{delta:+.4f}'} |"
            )
    lines += ["", *(f"- FAILED {f['profile']}: {f['error']}" for f in bundle["failures"])]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
