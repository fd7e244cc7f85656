"""GPU check: eager fp32/fp16/compiled, ONNX and TensorRT profiles for dot, cat and colbert.

Runs on a GPU machine with no network and only torch, transformers, numpy, onnx and
onnxruntime (no typer, rich, ir_measures, bm25s or TensorRT needed): it calls the library,
not the CLI, on what scripts/gpu_prepare.py staged (never the hub). Results cannot be lost
to a time limit: each profile's JSON is written the moment it finishes, and two passes run
in order of value:

- quick: no torch.compile, short cells and budgets (about 7 minutes on an H100-class card);
- full: the paper's cells, MLPerf's sample count, torch.compile, ONNX on the host CPU when
  onnxruntime has no CUDA provider.

No profile starts past `--deadline` seconds. Each profile runs in its own try block, so one
failure costs one profile. Writes $OUT/NN-PASS-ARCH-SCENARIO-DEVICE-VARIANT.json (a kdbench
profile result each), $OUT/gpu_check.json (an index of them, with failures and skips) and
$OUT/gpu_check.md (a table), both rewritten after every profile.
`--dry-run` runs it all on the CPU with tiny cells (the test suite does, on a tiny model).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

Variants = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Profile:
    arch: str
    scenario: str
    batch_sizes: tuple[int, ...]
    seq_lens: tuple[int, ...]
    depths: tuple[int, ...]


# the paper's query-time settings, small sweeps
PROFILES = (
    Profile("dot", "query", (1,), (32,), (100,)),
    Profile("dot", "index", (1, 32), (128,), (100,)),
    Profile("colbert", "rerank", (1,), (32,), (100, 1000)),
    Profile("cat", "rerank", (100,), (256,), (100,)),
)


@dataclass(frozen=True)
class Pass:
    """How hard one pass looks: which variants, which cells, what timing budget."""

    name: str
    compile: bool  # add eager fp32 under torch.compile (slow first build per shape)
    onnx_on_host: bool  # no CUDA provider in onnxruntime: time ONNX on the host CPU instead
    tensorrt: tuple[str, ...]  # TensorRT precisions, where TensorRT is installed
    cells: Callable[[Profile], Profile]
    budget: dict[str, Any]


def _quick_cells(profile: Profile) -> Profile:
    return dataclasses.replace(profile, depths=profile.depths[:1])  # colbert: depth 100 only


def _dry_cells(profile: Profile) -> Profile:
    """CPU-sized cells of the same shape of sweep (a tiny model is expected)."""
    return Profile(
        profile.arch,
        profile.scenario,
        tuple(min(b, 2) for b in profile.batch_sizes),
        (32,),  # shorter and ONNX export finds no padding to prove the mask is an input
        tuple(min(d, 4) for d in profile.depths),
    )


QUICK = Pass(
    "quick",
    compile=False,
    onnx_on_host=False,
    tensorrt=("fp16",),
    cells=_quick_cells,
    budget=dict(
        warmup=3,
        warmup_s=0.3,
        min_samples=100,
        min_duration_s=0.5,
        max_duration_s=3.0,
        parity_queries=10,
        parity_depth=50,
    ),
)
FULL = Pass(
    "full",
    compile=True,
    onnx_on_host=True,
    tensorrt=("fp32", "fp16"),
    cells=lambda profile: profile,
    budget=dict(
        warmup=10,
        warmup_s=1.0,
        min_samples=662,
        min_duration_s=1.0,
        max_duration_s=15.0,
        parity_queries=20,
        parity_depth=100,
    ),
)
DRY_BUDGET = dict(
    warmup=1,
    warmup_s=0.0,
    min_samples=3,
    min_duration_s=0.0,
    max_duration_s=5.0,
    parity_queries=3,
    parity_depth=5,
)


@dataclass(frozen=True)
class Plan:
    """One `run_profile` call: a profile's cells on one device with some backends."""

    pass_: Pass
    profile: Profile
    device: str
    variants: Variants
    compile: bool = False

    @property
    def kind(self) -> str:
        return "compiled" if self.compile else self.variants[0][0]

    @property
    def label(self) -> str:
        names = ", ".join(f"{b}:{p}" for b, p in self.variants)
        extra = " compiled" if self.compile else ""
        return f"{self.pass_.name}: {self.profile.arch} {self.profile.scenario} on {self.device}: {names}{extra}"


def plans(
    passes: list[Pass], device: str, onnx_cuda: bool, tensorrt: bool, dry_run: bool
) -> list[Plan]:
    """Every profile of every pass, in order: eager (and TensorRT), compiled, ONNX."""
    result = []
    for pass_ in passes:
        for raw in PROFILES:
            profile = _dry_cells(raw) if dry_run else pass_.cells(raw)
            trt = tuple(("tensorrt", p) for p in pass_.tensorrt) if tensorrt else ()
            result.append(
                Plan(pass_, profile, device, (("eager", "fp32"), ("eager", "fp16"), *trt))
            )
            if pass_.compile and not dry_run:  # torch.compile on a CPU box needs minutes
                result.append(Plan(pass_, profile, device, (("eager", "fp32"),), compile=True))
            if device == "cuda" and onnx_cuda:
                result.append(Plan(pass_, profile, "cuda", (("onnx", "fp32"), ("onnx", "fp16"))))
            elif device == "cpu" or pass_.onnx_on_host:
                result.append(Plan(pass_, profile, "cpu", (("onnx", "fp32"),)))
    return result


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_plan(plan: Plan, model: str, data: str | None, dry_run: bool) -> dict[str, Any]:
    from kdbench.profile import ProfileConfig, run_profile

    budget = DRY_BUDGET if dry_run else plan.pass_.budget
    config = ProfileConfig(
        model=model,
        arch=plan.profile.arch,
        scenario=plan.profile.scenario,
        backends=plan.variants,
        device=plan.device,
        batch_sizes=plan.profile.batch_sizes,
        seq_lens=plan.profile.seq_lens,
        depths=plan.profile.depths,
        data=data,
        compile=plan.compile,
        index_size=200 if dry_run else None,
        **budget,
    )
    return run_profile(config, log=lambda message: log(f"  {message}"))


def entry_summary(entry: dict[str, Any]) -> dict[str, Any]:
    """What the index and the table show of one result entry."""
    latency = entry.get("latency_ms") or {}
    device = entry.get("device_latency_ms") or {}
    memory = entry.get("memory") or {}
    parity = entry.get("parity") or {}
    return {
        "backend": f"{entry['backend']}:{entry['precision']}",
        "batch_size": entry["batch_size"],
        "seq_len": entry["seq_len"],
        "depth": entry["depth"],
        "status": entry["status"],
        "p50_ms": latency.get("p50"),
        "p99_ms": latency.get("p99"),
        "device_p50_ms": device.get("p50"),
        "items_per_s": (entry.get("throughput") or {}).get("items_per_s"),
        "torch_peak_allocated_mib": memory.get("torch_peak_allocated_mib"),
        "energy_j_per_item": memory.get("energy_j_per_item"),
        "parity_passed": parity.get("passed"),
        "delta_ndcg_at_10": parity.get("delta_ndcg_at_10"),
        "never_run": entry.get("never_run"),
    }


class Bundle:
    """The index of a check, rewritten (atomically) with its table after every profile."""

    def __init__(self, out: Path, card: str, argv: list[str]) -> None:
        self.out, self.card = out, card
        self.data: dict[str, Any] = {
            "schema": "kdbench.gpu_check",
            "card": card,
            "argv": argv,
            "runs": [],
            "failures": [],
            "skipped": [],
        }

    def add_result(self, plan: Plan, result: dict[str, Any], seconds: float) -> Path:
        from kdbench.results import save_result

        index = len(self.data["runs"]) + len(self.data["failures"]) + 1
        name = f"{index:02d}-{plan.pass_.name}-{plan.profile.arch}-{plan.profile.scenario}-{plan.device}-{plan.kind}.json"
        result["gpu_check"] = {"card": self.card, "label": plan.label, "seconds": seconds}
        save_result(self.out / name, result)
        entries = [entry_summary(entry) for entry in result["results"]]
        self.data["runs"].append(
            {"label": plan.label, "file": name, "seconds": round(seconds, 1), "entries": entries}
        )
        self.save()
        return self.out / name

    def add_failure(self, plan: Plan, exc: BaseException) -> None:
        self.data["failures"].append(
            {
                "profile": plan.label,
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=8),
            }
        )
        self.save()

    def add_skip(self, plan: Plan, reason: str) -> None:
        self.data["skipped"].append({"profile": plan.label, "reason": reason})
        self.save()

    def save(self) -> None:
        from kdbench.io import atomic_write_json, atomic_write_text

        atomic_write_json(self.out / "gpu_check.json", self.data)
        atomic_write_text(self.out / "gpu_check.md", markdown(self.data))


def _number(value: Any, form: str) -> str:
    return "-" if value is None else format(value, form)


def markdown(bundle: dict[str, Any]) -> str:
    lines = [
        f"# GPU check on {bundle['card']}",
        "",
        "| profile | backend | batch | seq | depth | p50 ms | p99 ms | GPU p50 ms | items/s | torch peak MiB | J/item | parity | ΔnDCG@10 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in bundle["runs"]:
        for e in run["entries"]:
            parity = {True: "ok", False: "FAILED", None: "-"}[e["parity_passed"]]
            never = " (never run before)" if e["never_run"] else ""
            lines.append(
                f"| {run['label']} | {e['backend']}{never} | {e['batch_size']} | {e['seq_len']} "
                f"| {e['depth'] or '-'} | {_number(e['p50_ms'], '.3f')} | {_number(e['p99_ms'], '.3f')} "
                f"| {_number(e['device_p50_ms'], '.3f')} | {_number(e['items_per_s'], '.1f')} "
                f"| {_number(e['torch_peak_allocated_mib'], '.1f')} | {_number(e['energy_j_per_item'], '.4f')} "
                f"| {parity} | {_number(e['delta_ndcg_at_10'], '+.4f')} |"
            )
    lines += ["", *(f"- FAILED {f['profile']}: {f['error']}" for f in bundle["failures"])]
    lines += [f"- skipped {s['profile']}: {s['reason']}" for s in bundle["skipped"]]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    out = os.environ.get("OUT") or str(REPO / "results" / "gpu")
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--model", type=Path, default=REPO / "scratch" / "gpu" / "minilm")
    parser.add_argument(
        "--data",
        default=str(REPO / "scratch" / "gpu" / "scifact"),
        help="a BEIR folder, or 'none' for synthetic text",
    )
    parser.add_argument("--passes", default="quick,full", help="quick, full or quick,full")
    parser.add_argument(
        "--deadline", type=float, default=540.0, help="start no profile after this many seconds"
    )
    parser.add_argument("--only", default=None, help="comma list of arch:scenario, e.g. dot:query")
    parser.add_argument(
        "--dry-run", action="store_true", help="on the CPU, tiny cells: proves the script"
    )
    return parser.parse_args(argv)


def check_inputs(args: argparse.Namespace) -> str | None:
    """What is missing, or None: nothing falls back to the hub or to other data."""
    staged = "run `python scripts/gpu_prepare.py` here and carry scratch/gpu"
    if not (args.model / "config.json").is_file():
        return f"--model {args.model}: no model folder (config.json); {staged}"
    if args.data != "none" and not (Path(args.data) / "corpus.jsonl").is_file():
        return f"--data {args.data}: no BEIR folder (corpus.jsonl); {staged}, or pass --data none"
    unknown = set(args.passes.split(",")) - {"quick", "full"}
    if unknown:
        return f"--passes {args.passes}: unknown pass {sorted(unknown)[0]!r}; use quick, full or quick,full"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problem = check_inputs(args)
    if problem is not None:
        log(f"error: {problem}")
        return 2
    import torch

    from kdbench.backends import BACKENDS

    device = "cpu" if args.dry_run else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        log("error: no CUDA GPU visible (use --dry-run to check the script on a CPU)")
        return 2
    card = torch.cuda.get_device_name(0) if device == "cuda" else "cpu (dry run)"
    log(f"{card}; torch {torch.__version__}; CUDA {torch.version.cuda}; model {args.model}")
    onnx_cuda = device == "cuda" and BACKENDS["onnx"].is_available("cuda")
    if device == "cuda" and not onnx_cuda:
        log(f"ONNX on the host CPU in the full pass only: {BACKENDS['onnx'].missing('cuda')}")
    tensorrt = device == "cuda" and BACKENDS["tensorrt"].is_available("cuda")
    chosen = [{"quick": QUICK, "full": FULL}[name] for name in args.passes.split(",")]
    only = set(args.only.split(",")) if args.only else None
    data = None if args.data == "none" else args.data

    args.out.mkdir(parents=True, exist_ok=True)
    bundle = Bundle(args.out, card, sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    for plan in plans(chosen, device, onnx_cuda, tensorrt, args.dry_run):
        if only and f"{plan.profile.arch}:{plan.profile.scenario}" not in only:
            continue
        elapsed = time.monotonic() - started
        if elapsed > args.deadline:
            bundle.add_skip(plan, f"--deadline {args.deadline:.0f} s passed ({elapsed:.0f} s)")
            continue
        log(plan.label)
        begun = time.perf_counter()
        try:
            result = run_plan(plan, str(args.model), data, args.dry_run)
        except Exception as exc:  # keep going: one failure costs one profile
            bundle.add_failure(plan, exc)
            log(f"  FAILED: {type(exc).__name__}: {exc}")
            continue
        path = bundle.add_result(plan, result, time.perf_counter() - begun)
        for entry in bundle.data["runs"][-1]["entries"]:
            log(f"  {json.dumps(entry)}")
        log(f"  wrote {path}")
    runs, failures = bundle.data["runs"], bundle.data["failures"]
    bundle.save()
    log(
        f"wrote {args.out}: {len(runs)} profiles, {len(failures)} failures, {len(bundle.data['skipped'])} skipped"
    )
    return 0 if runs and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
