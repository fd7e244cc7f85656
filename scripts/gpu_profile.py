"""GPU check: a preflight, then plans A-D under one deadline, each in a process of its own.

Runs on a GPU machine with no network and only torch, transformers, numpy, onnx and
onnxruntime (no typer, rich, ir_measures, bm25s or TensorRT needed): it calls the library,
not the CLI, on what scripts/gpu_prepare.py staged (never the hub).

1. preflight.json, first (about 10 s): versions, the card, a C compiler and Python.h, a tiny
   torch.compile smoke test (only when plan B is asked), whether the NVML energy counter
   advances, and the commit scripts/gpu_prepare.py wrote into the carried folder.
2. Plans, in order of value, each a child process killed at `--deadline` − elapsed:
   A  every profile on eager fp32, fp16 and bf16, with samples enough for p99 (662);
   B  torch.compile for dot query and cat re-rank, only if the preflight compiled;
   C  export parity: the ONNX graph against the GPU model's own scores (no CPU timing);
   D  one server cell, where this kdbench has `--scenario server` (else "not available").
   A plan's JSON is written by its process the moment it finishes (atomically: a killed plan
   leaves none); a kill is recorded as such, with how long the plan had run; a plan not
   started before the deadline is recorded as skipped.

Writes $OUT/preflight.json, $OUT/NN-PLAN-ARCH-SCENARIO.json (a kdbench profile result, or
for C a parity record), $OUT/gpu_check.json (index: runs, kills, failures, skips) and
$OUT/gpu_check.md (table), both rewritten after every plan.
`--dry-run` runs it all on the CPU with tiny cells (the test suite does, on a tiny model).
`GPU_CHECK_STALL_PLAN=ID` (tests only) makes the child of plan ID wait past any deadline,
standing in for a plan that overruns.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kdbench.io import atomic_write_json, atomic_write_text  # noqa: E402  (light: no torch)

Variants = tuple[tuple[str, str], ...]
EAGER: Variants = (("eager", "fp32"), ("eager", "fp16"), ("eager", "bf16"))
PLAN_KINDS = ("A", "B", "C", "D")
STALL = "GPU_CHECK_STALL_PLAN"
DISTRIBUTIONS = {
    "torch": "torch",
    "transformers": "transformers",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "numpy": "numpy",
    "pynvml": "nvidia-ml-py",
    "tensorrt": "tensorrt",
}


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
COMPILED = {("dot", "query"), ("cat", "rerank")}  # plan B: torch.compile for these only
# the export kind and the texts plan C checks per profile (padded: some short texts)
EXPORTS = {("dot", "query"): "query", ("cat", "rerank"): "pair"}

BUDGET = dict(  # samples enough for p99 (MLPerf: 662)
    warmup=10,
    warmup_s=1.0,
    min_samples=662,
    min_duration_s=1.0,
    max_duration_s=15.0,
    parity_queries=20,
    parity_depth=100,
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


def dry_cells(profile: Profile) -> Profile:
    """CPU-sized cells of the same shape of sweep (a tiny model is expected)."""
    return Profile(
        profile.arch,
        profile.scenario,
        tuple(min(b, 2) for b in profile.batch_sizes),
        (32,),  # shorter and ONNX export finds no padding to prove the mask is an input
        tuple(min(d, 4) for d in profile.depths),
    )


@dataclass(frozen=True)
class Plan:
    """One child process: a profile's cells on one device with some variants (A, B, D), or
    the export parity of one profile's model (C)."""

    kind: str  # A | B | C | D
    profile: Profile
    device: str
    variants: Variants = ()
    compile: bool = False

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.profile.arch}-{self.profile.scenario}"

    @property
    def label(self) -> str:
        what = {
            "A": ", ".join(f"{b}:{p}" for b, p in self.variants),
            "B": "eager:fp32 torch.compile",
            "C": "ONNX export parity against the model on the device",
            "D": "one server cell",
        }[self.kind]
        return f"{self.kind}: {self.profile.arch} {self.profile.scenario} on {self.device}: {what}"


def plans(kinds: list[str], device: str, dry_run: bool, only: set[str] | None = None) -> list[Plan]:
    """Every plan of the asked kinds, A before B before C before D."""
    profiles = [dry_cells(p) if dry_run else p for p in PROFILES]
    if only:
        profiles = [p for p in profiles if f"{p.arch}:{p.scenario}" in only]
    found: list[Plan] = []
    for kind in PLAN_KINDS:
        if kind not in kinds:
            continue
        for profile in profiles:
            key = (profile.arch, profile.scenario)
            if kind == "A":
                found.append(Plan("A", profile, device, EAGER))
            elif kind == "B" and key in COMPILED:
                found.append(Plan("B", profile, device, (("eager", "fp32"),), compile=True))
            elif kind == "C" and key in EXPORTS:
                found.append(Plan("C", profile, device))
        if kind == "D":
            server = Profile("dot", "server", (1,), (32,), (100,))
            found.append(Plan("D", dry_cells(server) if dry_run else server, device))
    return found


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------- children (heavy: torch)


def preflight(args: argparse.Namespace) -> dict[str, Any]:
    """What the machine is and can do, written before any plan runs."""
    record: dict[str, Any] = {
        "schema": "kdbench.gpu_check.preflight",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": platform.node(),
        "python": platform.python_version(),
        "commit": commit_of(args),
    }
    path = args.out / "preflight.json"
    atomic_write_json(path, record)  # what is known before torch loads, in case it hangs
    versions: dict[str, Any] = {}
    for name, dist in DISTRIBUTIONS.items():
        try:  # the installed version, without paying for an import
            versions[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[name] = None
    import torch

    versions["torch_imported"] = torch.__version__
    versions["cuda"] = torch.version.cuda
    versions["cudnn"] = (
        torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    )
    record["versions"] = versions
    if versions["onnxruntime"]:
        import onnxruntime

        record["onnxruntime_providers"] = onnxruntime.get_available_providers()
    device = "cpu" if args.dry_run else "cuda"
    record["card"] = card_of(torch, device)
    include = Path(sysconfig.get_paths()["include"]) / "Python.h"
    record["compiler"] = {
        "cc": shutil.which("cc") or shutil.which("gcc"),
        "python_h": str(include) if include.is_file() else None,
    }
    atomic_write_json(path, record)
    record["energy"] = energy_advances(torch, device)
    atomic_write_json(path, record)
    if "B" in args.plans.split(","):
        record["compile"] = compile_smoke(torch, device, record["compiler"])
    else:
        record["compile"] = {"ok": None, "reason": "plan B not asked"}
    record["seconds"] = None  # filled by the parent, which timed the whole child
    atomic_write_json(path, record)
    return record


def commit_of(args: argparse.Namespace) -> dict[str, Any]:
    """The commit scripts/gpu_prepare.py wrote into the carried folder (the device machine
    has no .git), else git's own answer where there is a .git."""
    staged = args.model.parent / "COMMIT.json"
    if staged.is_file():
        return {**json.loads(staged.read_text()), "from": str(staged)}
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        return {"commit": head, "from": "git rev-parse HEAD"}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "from": f"no {staged} and no git repository"}


def card_of(torch: Any, device: str) -> dict[str, Any]:
    if device != "cuda":
        return {"name": "cpu (dry run)", "cpu": platform.processor() or platform.machine()}
    if not torch.cuda.is_available():
        return {"name": None, "reason": "no CUDA GPU visible"}
    props = torch.cuda.get_device_properties(0)
    card = {
        "name": torch.cuda.get_device_name(0),
        "count": torch.cuda.device_count(),
        "capability": f"{props.major}.{props.minor}",
        "memory_mib": round(props.total_memory / 2**20),
    }
    try:
        import pynvml

        pynvml.nvmlInit()
        card["driver"] = pynvml.nvmlSystemGetDriverVersion()
    except Exception as exc:
        card["driver"] = None
        card["nvml_reason"] = f"NVML unavailable: {exc}"
    return card


def energy_advances(torch: Any, device: str) -> dict[str, Any]:
    """Read NVML's energy counter around half a second of matrix products."""
    if device != "cuda":
        return {"advances": None, "reason": "no GPU (dry run)"}
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        before = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        x = torch.randn(2048, 2048, device=device)
        until = time.perf_counter() + 0.5
        while time.perf_counter() < until:
            x = torch.tanh(x @ x)
        torch.cuda.synchronize()
        after = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except Exception as exc:
        return {"advances": False, "reason": f"{type(exc).__name__}: {exc}"}
    return {"advances": after > before, "mj": after - before, "over_s": 0.5}


def compile_smoke(torch: Any, device: str, compiler: dict[str, Any]) -> dict[str, Any]:
    """A tiny function through torch.compile (inductor), checked against eager."""
    if compiler["cc"] is None or compiler["python_h"] is None:
        missing = "a C compiler" if compiler["cc"] is None else "Python.h"
        return {"ok": False, "reason": f"no {missing}: inductor cannot build its kernels"}
    began = time.perf_counter()
    try:
        x = torch.randn(64, 64, device=device)

        def small(t: Any) -> Any:
            return torch.nn.functional.gelu(t @ t) + 1

        compiled = torch.compile(small)
        ok = bool(torch.allclose(compiled(x), small(x), atol=1e-3, rtol=1e-3))
    except Exception as exc:
        return {"ok": False, "reason": f"{type(exc).__name__}: {exc}"[:500]}
    return {"ok": ok, "seconds": round(time.perf_counter() - began, 2)}


def run_plan(plan: Plan, args: argparse.Namespace) -> dict[str, Any]:
    """A, B or D: one kdbench profile result (D: None where there is no server scenario)."""
    from kdbench.profile import ProfileConfig, registry, run_profile

    if plan.kind == "D":
        loads = getattr(registry, "profile_scenarios", None)
        if loads is None or "server" not in loads():
            return {"not_available": "this kdbench has no --scenario server (issue 25)"}
    budget = DRY_BUDGET if args.dry_run else BUDGET
    served = (
        {
            "batch_sizes": None,
            "qps": 5.0 if args.dry_run else 200.0,
            "max_batch": 8,
            "max_wait_ms": 5.0,
            "min_queries": 20 if args.dry_run else 2000,
            "min_query_duration_s": 1.0 if args.dry_run else 10.0,
        }
        if plan.kind == "D"
        else {"batch_sizes": plan.profile.batch_sizes}
    )
    data = None if args.data == "none" else args.data
    config = ProfileConfig(
        model=str(args.model),
        arch=plan.profile.arch,
        scenario=plan.profile.scenario,
        backends=plan.variants or (("eager", "fp32"),),
        device=plan.device,
        seq_lens=plan.profile.seq_lens,
        depths=plan.profile.depths,
        data=data,
        compile=plan.compile,
        # a dry run's searched index: a few short passages (MiniLM on a busy CPU is slow)
        index_size=(32,) if args.dry_run else None,
        **({"doc_len": 32} if args.dry_run else {}),
        **served,
        **budget,
    )
    return run_profile(config, log=lambda message: log(f"  {message}")).to_dict()


def export_parity(plan: Plan, args: argparse.Namespace) -> dict[str, Any]:
    """C: the ONNX graph (exported on the host, as kdbench always exports) against the
    model's own scores on the device, on padded batches of real text; nothing is timed."""
    import copy

    import numpy as np
    import onnxruntime
    import torch

    from kdbench.backends.onnx.export import OUTPUT_NAME, ensure_raw
    from kdbench.models import load_model
    from kdbench.profile.scenarios import fixed_batch

    arch, kind = plan.profile.arch, EXPORTS[(plan.profile.arch, plan.profile.scenario)]
    seq_len = plan.profile.seq_lens[0]
    queries, passages = texts(args, 8)
    ranker = load_model(str(args.model), arch)
    names = ranker.export_inputs(kind)
    if kind == "pair":  # the last pair short, so the batch is padded
        example = fixed_batch(ranker, kind, queries, seq_len, [*passages[:-1], "short passage"])
    else:
        example = fixed_batch(ranker, kind, queries, seq_len)
    module = ranker.export_module(kind).eval()
    cache = Path(os.environ.get("KDBENCH_CACHE", args.out / "cache"))
    path, info = ensure_raw(module, kind, example, cache, 17, names=names)
    on_device = copy.deepcopy(module).to(plan.device).eval()
    with torch.inference_mode():
        reference = (
            on_device(**{n: example[n].to(plan.device) for n in names}).float().cpu().numpy()
        )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (scores,) = session.run([OUTPUT_NAME], {n: example[n].numpy() for n in names})
    diff = float(np.abs(scores - reference).max())
    scale = max(1.0, float(np.abs(reference).max()))
    order = np.argsort(-reference.reshape(len(reference), -1)[:, 0])
    same_order = bool((order == np.argsort(-scores.reshape(len(scores), -1)[:, 0])).all())
    return {
        "schema": "kdbench.gpu_check.export_parity",
        "arch": arch,
        "kind": kind,
        "device": plan.device,
        "reference": f"eager fp32 on {plan.device}",
        "candidate": "ONNX (exported on the host), onnxruntime CPUExecutionProvider",
        "batch": list(example["input_ids"].shape),
        "max_abs_diff": diff,
        "score_scale": scale,
        "passed": diff <= 1e-3 * scale,
        "same_order": same_order,
        "export": {k: v for k, v in info.items() if k != "raw_export"},
    }


def texts(args: argparse.Namespace, n: int) -> tuple[list[str], list[str]]:
    """The first `n` queries and passages of --data (or fixed text for --data none)."""
    if args.data == "none":
        return [f"query number {i}" for i in range(n)], [
            f"a passage about {i}" * 8 for i in range(n)
        ]
    folder = Path(args.data)
    queries = [json.loads(line)["text"] for line in (folder / "queries.jsonl").open()][:n]
    passages = []
    with (folder / "corpus.jsonl").open() as handle:
        for line in handle:
            doc = json.loads(line)
            passages.append(f"{doc.get('title', '')} {doc['text']}".strip())
            if len(passages) == n:
                break
    return queries, passages


def child(args: argparse.Namespace) -> int:
    """One plan (or the preflight) in this process; its JSON written atomically at the end."""
    if args.child == "preflight":
        preflight(args)
        return 0
    plan = {p.id: p for p in plans(list(PLAN_KINDS), device_of(args), args.dry_run)}[args.child]
    if os.environ.get(STALL) == plan.id:
        time.sleep(3600)  # a stand-in for a plan that overruns: the parent must kill it
    result = export_parity(plan, args) if plan.kind == "C" else run_plan(plan, args)
    atomic_write_json(Path(args.result), result)
    return 0


def device_of(args: argparse.Namespace) -> str:
    return "cpu" if args.dry_run else "cuda"


# ---------------------------------------------------------------- the parent (light)


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
        "n": latency.get("n"),
        "device_span_p50_ms": device.get("p50"),
        "items_per_s": (entry.get("throughput") or {}).get("items_per_s"),
        "torch_peak_allocated_mib": memory.get("torch_peak_allocated_mib"),
        "activations_mib": memory.get("activations_mib"),
        "energy_j_per_item": memory.get("energy_j_per_item"),
        "sm_clock_mhz": memory.get("sm_clock_mhz"),
        "temperature_c": memory.get("temperature_c"),
        "throttle_reasons": memory.get("throttle_reasons"),
        "parity_passed": parity.get("passed"),
        "delta_ndcg_at_10": parity.get("delta_ndcg_at_10"),
        "never_run": entry.get("never_run"),
    }


class Bundle:
    """The index of a check, rewritten (atomically) with its table after every plan."""

    def __init__(self, out: Path, argv: list[str], deadline: float) -> None:
        self.out = out
        self.data: dict[str, Any] = {
            "schema": "kdbench.gpu_check",
            "card": None,
            "argv": argv,
            "deadline_s": deadline,
            "preflight": None,
            "runs": [],
            "killed": [],
            "failures": [],
            "skipped": [],
        }

    def next_name(self, plan: Plan) -> str:
        done = sum(len(self.data[k]) for k in ("runs", "killed", "failures"))
        return f"{done + 1:02d}-{plan.id}.json"

    def add_preflight(self, record: dict[str, Any] | None, seconds: float, killed: bool) -> None:
        self.data["preflight"] = {"file": "preflight.json", "seconds": round(seconds, 1)}
        if killed:
            self.data["preflight"]["killed"] = True
        if record is not None:
            self.data["card"] = (record.get("card") or {}).get("name")
        self.save()

    def add_result(self, plan: Plan, name: str, result: dict[str, Any], seconds: float) -> None:
        run: dict[str, Any] = {
            "plan": plan.id,
            "label": plan.label,
            "file": name,
            "seconds": round(seconds, 1),
        }
        if "results" in result:
            run["entries"] = [entry_summary(entry) for entry in result["results"]]
        elif "not_available" in result:
            run["not_available"] = result["not_available"]
        else:
            run["parity"] = {k: result.get(k) for k in ("max_abs_diff", "passed", "same_order")}
        self.data["runs"].append(run)
        self.save()

    def add_kill(self, plan: Plan, ran_s: float, at_s: float) -> None:
        self.data["killed"].append(
            {
                "plan": plan.id,
                "label": plan.label,
                "ran_s": round(ran_s, 1),
                "reason": f"killed at the --deadline ({at_s:.0f} s) after {ran_s:.1f} s of the "
                "plan; no result (nothing partial was written)",
            }
        )
        self.save()

    def add_failure(self, plan: Plan, code: int, tail: str, seconds: float) -> None:
        self.data["failures"].append(
            {"plan": plan.id, "label": plan.label, "exit": code, "seconds": round(seconds, 1),
             "error": tail}
        )  # fmt: skip
        self.save()

    def add_skip(self, plan: Plan, reason: str) -> None:
        self.data["skipped"].append({"plan": plan.id, "label": plan.label, "reason": reason})
        self.save()

    def save(self) -> None:
        atomic_write_json(self.out / "gpu_check.json", self.data)
        atomic_write_text(self.out / "gpu_check.md", markdown(self.data))


def _number(value: Any, form: str) -> str:
    return "-" if value is None else format(value, form)


def markdown(bundle: dict[str, Any]) -> str:
    lines = [
        f"# GPU check on {bundle['card']}",
        "",
        "device span: the time between CUDA events before the first stage and after the last "
        "(not GPU busy time). Memory and energy cover the timed calls only.",
        "",
        "| plan | backend | batch | seq | depth | n | p50 ms | p99 ms | device span p50 ms "
        "| items/s | torch peak MiB | activations MiB | J/item | SM MHz | °C | throttle "
        "| parity | ΔnDCG@10 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in bundle["runs"]:
        for e in run.get("entries", []):
            parity = {True: "ok", False: "FAILED", None: "-"}[e["parity_passed"]]
            never = " (never run before)" if e["never_run"] else ""
            throttle = ", ".join(e["throttle_reasons"] or []) or "-"
            lines.append(
                f"| {run['label']} | {e['backend']}{never} | {e['batch_size']} | {e['seq_len']} "
                f"| {e['depth'] or '-'} | {e['n'] or '-'} | {_number(e['p50_ms'], '.3f')} "
                f"| {_number(e['p99_ms'], '.3f')} | {_number(e['device_span_p50_ms'], '.3f')} "
                f"| {_number(e['items_per_s'], '.1f')} "
                f"| {_number(e['torch_peak_allocated_mib'], '.1f')} "
                f"| {_number(e['activations_mib'], '.1f')} "
                f"| {_number(e['energy_j_per_item'], '.4f')} | {_number(e['sm_clock_mhz'], 'd')} "
                f"| {_number(e['temperature_c'], 'd')} | {throttle} "
                f"| {parity} | {_number(e['delta_ndcg_at_10'], '+.4f')} |"
            )
    lines.append("")
    for run in bundle["runs"]:
        if "parity" in run:
            p = run["parity"]
            lines.append(
                f"- {run['label']}: max |Δscore| {_number(p['max_abs_diff'], '.2e')}, "
                f"{'passed' if p['passed'] else 'FAILED'}, same order: {p['same_order']}"
            )
        if "not_available" in run:
            lines.append(f"- {run['label']}: not available: {run['not_available']}")
    lines += [f"- KILLED {k['label']}: {k['reason']}" for k in bundle["killed"]]
    lines += [f"- FAILED {f['label']}: exit {f['exit']}: {f['error']}" for f in bundle["failures"]]
    lines += [f"- skipped {s['label']}: {s['reason']}" for s in bundle["skipped"]]
    return "\n".join(lines) + "\n"


def spawn(
    args: argparse.Namespace, what: str, result: Path | None, limit: float
) -> tuple[int | None, str, float]:
    """Run the child `what` with `limit` seconds; (exit code or None when killed, the tail
    of its output, seconds). A killed child's whole process group goes (its compilers too)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", what,
               "--out", str(args.out), "--model", str(args.model), "--data", str(args.data),
               "--plans", args.plans]  # fmt: skip
    if result is not None:
        command += ["--result", str(result)]
    if args.dry_run:
        command.append("--dry-run")
    began = time.monotonic()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=max(0.0, limit))
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        sys.stdout.write(output)
        return None, output[-2000:], time.monotonic() - began
    sys.stdout.write(output)
    return process.returncode, output[-2000:], time.monotonic() - began


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
    parser.add_argument(
        "--plans",
        default=None,
        help="comma list of A, B, C, D (default: all; --dry-run: A,C,D, as torch.compile "
        "on a CPU takes minutes)",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=300.0,
        help="seconds for everything: a plan still running then is killed and recorded",
    )
    parser.add_argument("--only", default=None, help="comma list of arch:scenario, e.g. dot:query")
    parser.add_argument(
        "--dry-run", action="store_true", help="on the CPU, tiny cells: proves the script"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plans is None:
        args.plans = "A,C,D" if args.dry_run else "A,B,C,D"
    return args


def check_inputs(args: argparse.Namespace) -> str | None:
    """What is missing, or None: nothing falls back to the hub or to other data."""
    staged = "run `python scripts/gpu_prepare.py` here and carry scratch/gpu"
    if not (args.model / "config.json").is_file():
        return f"--model {args.model}: no model folder (config.json); {staged}"
    if args.data != "none" and not (Path(args.data) / "corpus.jsonl").is_file():
        return f"--data {args.data}: no BEIR folder (corpus.jsonl); {staged}, or pass --data none"
    unknown = set(args.plans.split(",")) - set(PLAN_KINDS)
    if unknown:
        return f"--plans {args.plans}: unknown plan {sorted(unknown)[0]!r}; use a comma list of A, B, C, D"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problem = check_inputs(args)
    if problem is not None:
        log(f"error: {problem}")
        return 2
    if args.child is not None:
        return child(args)
    started = time.monotonic()

    def left() -> float:
        return args.deadline - (time.monotonic() - started)

    args.out.mkdir(parents=True, exist_ok=True)
    bundle = Bundle(args.out, sys.argv[1:] if argv is None else argv, args.deadline)
    log(f"preflight ({left():.0f} s left)")
    code, tail, seconds = spawn(args, "preflight", None, min(left(), 120.0))
    preflight_path = args.out / "preflight.json"
    record = json.loads(preflight_path.read_text()) if preflight_path.is_file() else None
    if record is not None:
        record["seconds"] = round(seconds, 1)
        record["finished"] = code == 0
        if code is None:
            record["killed"] = f"killed after {seconds:.1f} s (deadline or the preflight's 120 s)"
        atomic_write_json(preflight_path, record)
    bundle.add_preflight(record, seconds, killed=code is None)
    if record is None or code != 0:
        log(f"preflight failed (exit {code}): {tail[-500:]}")
        return 2
    if not args.dry_run and not (record.get("card") or {}).get("name"):
        log("error: no CUDA GPU visible (use --dry-run to check the script on a CPU)")
        return 2
    log(f"{record['card']['name']}; {json.dumps(record.get('versions'))}")
    compiled = (record.get("compile") or {}).get("ok") is True
    only = set(args.only.split(",")) if args.only else None
    for plan in plans(args.plans.split(","), device_of(args), args.dry_run, only):
        if plan.kind == "B" and not compiled:
            reason = (record.get("compile") or {}).get("reason", "the smoke test failed")
            bundle.add_skip(plan, f"the preflight's torch.compile did not work: {reason}")
            continue
        remaining = left()
        if remaining <= 0:
            bundle.add_skip(plan, f"--deadline {args.deadline:.0f} s passed before it started")
            continue
        name = bundle.next_name(plan)
        log(f"{plan.label} ({remaining:.0f} s left)")
        code, tail, seconds = spawn(args, plan.id, args.out / name, remaining)
        if code is None:
            bundle.add_kill(plan, seconds, args.deadline)
            log(f"  KILLED at the deadline after {seconds:.1f} s")
        elif code != 0 or not (args.out / name).is_file():
            bundle.add_failure(
                plan, code, tail.strip().splitlines()[-1] if tail.strip() else "", seconds
            )
            log(f"  FAILED (exit {code})")
        else:
            result = json.loads((args.out / name).read_text())
            if "results" in result:
                result["gpu_check"] = {"card": bundle.data["card"], "plan": plan.id,
                                       "label": plan.label, "seconds": seconds,
                                       "commit": record.get("commit")}  # fmt: skip
                atomic_write_json(args.out / name, result)
            bundle.add_result(plan, name, result, seconds)
            log(f"  wrote {args.out / name} ({seconds:.1f} s)")
    data = bundle.data
    log(
        f"wrote {args.out}: {len(data['runs'])} plans, {len(data['killed'])} killed, "
        f"{len(data['failures'])} failed, {len(data['skipped'])} skipped "
        f"in {time.monotonic() - started:.0f} s"
    )
    return 0 if data["runs"] and not data["failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
