"""`run_profile(config) -> result`: parity gate, then interleaved timing of every cell.

Order of work: check every backend is available (before anything is loaded or written),
load the model and texts, compute eager fp32 reference scores, gate each backend on them,
then time cell by cell with the backends interleaved inside each cell, so a slow drift of
the shared machine hits all backends alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from kdbench.backends import BACKENDS, BackendOptions, Runner
from kdbench.backends.base import Backend
from kdbench.errors import UserError
from kdbench.profile import parity as parity_gate
from kdbench.profile.config import DEFAULT_SCENARIO, SCENARIOS, ProfileConfig
from kdbench.profile.flops import encoder_flops, encoder_shape, measure_peak_flops
from kdbench.profile.inputs import load_inputs
from kdbench.profile.memory import CudaMemory, HostMemory
from kdbench.profile.scenarios import Cell, Scenario, Workload, build_scenario
from kdbench.profile.stats import sample_warnings, summarize_ms
from kdbench.profile.timer import Budget, Samples, measure

Log = Callable[[str], None]

UNITS = {
    "latency_ms": "milliseconds per timed call (one batch; rerank: one query with its k candidates)",
    "samples_ns": "nanoseconds, raw, in call order",
    "device_latency_ms": "milliseconds per timed call from CUDA events (GPU time; host time is latency_ms)",
    "throughput.items_per_s": "items (throughput.item) per second = items per call / mean latency",
    "memory.*_mib": "MiB (2^20 bytes)",
    "memory.energy_j_per_item": "joules per item (NVML energy counter, warm-up calls included)",
    "flops.*": "FLOP (2 per multiply-add) and FLOP/s",
    "parity.max_abs_diff": "absolute score difference vs eager fp32 (prettr: vs uncached eager fp32)",
    "cache_bytes_per_passage": "bytes, mean over the cell's candidates (prettr's cached passage states)",
    "cache_tokens_per_passage": "tokens, mean over the cell's candidates",
    "vs_baseline": "ratios against the baseline architecture's entry of the same cell and backend",
}


def check_available(config: ProfileConfig) -> None:
    """Every requested backend can run here: else one UserError line, before any work."""
    from kdbench.backends.onnx.config import provider_conflict

    conflict = provider_conflict(config.device, config.onnx_provider)
    if conflict is not None and any(
        BACKENDS.canonical(name) == "onnx" for name, _ in config.variants()
    ):
        raise UserError(conflict)
    for name, precision in config.variants():
        info = BACKENDS[name]
        info.require(config.device)
        reason = info.supports(config.arch or "dot", config.device, precision)
        if reason is not None:
            raise UserError(f"--backend {name} --precision {precision}: {reason}")
    if config.onnx_provider in ("cuda", "tensorrt") and any(
        name == "onnx" for name, _ in config.variants()
    ):
        from kdbench.backends.onnx.config import provider_missing

        reason = provider_missing(config.onnx_provider)
        if reason is not None:
            raise UserError(
                f"--onnx-provider {config.onnx_provider}: {reason}; "
                "install onnxruntime-gpu or use --onnx-provider cpu"
            )
    if config.compile and not any(name == "eager" for name, _ in config.variants()):
        raise UserError("--compile applies to the eager backend; add eager to --backend")


def _check_seq_lens(config: ProfileConfig, ranker: Any) -> None:
    """Every --seq-len fits the encoder's position embeddings (else a one-line error, not a crash)."""
    from kdbench.models.base import usable_positions

    limit = usable_positions(ranker.encoder)
    if limit is None or not config.seq_lens:
        return
    too_long = [length for length in config.seq_lens if length > limit]
    if too_long:
        raise UserError(
            f"--seq-len {too_long[0]} exceeds the encoder's {limit} positions "
            f"({config.model}); pass --seq-len {limit} or less"
        )


@dataclass
class Prepared:
    """One model's side of a profile: ranker, scenario and the backends that passed parity."""

    config: ProfileConfig
    ranker: Any
    scenario: Scenario
    scenario_name: str
    inputs: Any
    variants: list[dict[str, Any]]


def run_profile(config: ProfileConfig, log: Log | None = None) -> dict[str, Any]:
    """Profile `config` and return the `profile` result (see kdbench.results).

    With `config.baseline_arch` the same model is also built as that architecture and timed
    in the same run, cell by cell and round by round alternating with the main one, so drift
    of a shared machine hits both alike; its result is nested under `baseline` and every
    entry gets `vs_baseline` ratios.
    """
    say = log or (lambda message: None)
    check_available(config)
    baseline = config.baseline()
    if baseline is not None:
        check_available(baseline)
    from kdbench.env import collect_environment

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    threads = torch.get_num_threads()

    prepared = [_prepare(config, threads, say)]
    if baseline is not None:
        if baseline.arch == prepared[0].ranker.arch:
            raise UserError(
                f"--baseline-arch {baseline.arch} is the profiled model's own architecture; choose another"
            )
        say(f"baseline: {config.model} as {baseline.arch}")
        prepared.append(_prepare(baseline, threads, say))
        if prepared[1].scenario_name != prepared[0].scenario_name:
            raise UserError(
                f"--baseline-arch {baseline.arch}: runs scenario {prepared[1].scenario_name}, not "
                f"{prepared[0].scenario_name}; pass --scenario for one both run"
            )

    # each round takes its share of the budget; rounds alternate backends (and the baseline)
    # within every cell
    rounds = config.rounds
    budget = Budget(
        warmup=config.warmup,
        warmup_s=config.warmup_s,
        min_samples=-(-config.min_samples // rounds),
        min_duration_s=config.min_duration_s / rounds,
        max_duration_s=config.max_duration_s / rounds,
        max_samples=max(100_000, config.min_samples),
    )
    sampled: list[dict[tuple[int, int], list[Sampled]]] = [{} for _ in prepared]
    cells = max(len(prep.scenario.cells) for prep in prepared)
    for round_ in range(rounds):
        for cell_index in range(cells):
            for prep, samples in zip(prepared, sampled, strict=True):
                if cell_index >= len(prep.scenario.cells):
                    continue
                cell = prep.scenario.cells[cell_index]
                for variant_index, variant in enumerate(prep.variants):
                    if variant["runner"] is None:
                        continue
                    say(
                        f"{prep.ranker.arch} {variant['backend']}:{variant['precision']} "
                        f"batch {cell.batch_size} seq {cell.seq_len}"
                        + (f" depth {cell.depth}" if cell.depth else "")
                        + (f" (round {round_ + 1}/{rounds})" if rounds > 1 else "")
                    )
                    part = _sample_cell(prep.scenario, cell, variant["runner"], budget)
                    samples.setdefault((cell_index, variant_index), []).append(part)

    peaks: dict[str, float] = {}
    environment = collect_environment()
    environment["threads"] = {
        "torch_intra_op": threads,
        "onnxruntime_intra_op": threads,
        "onnxruntime_inter_op": 1,
    }
    environment["peak_flops_measured"] = peaks
    results = [
        _finish(prep, samples, peaks, environment)
        for prep, samples in zip(prepared, sampled, strict=True)
    ]
    result = results[0]
    if len(results) > 1:
        _add_baseline_ratios(result["results"], results[1]["results"])
        result["baseline"] = results[1]
    return result


def _prepare(config: ProfileConfig, threads: int, say: Log) -> Prepared:
    """Load the model and texts, compute the reference scores, gate every backend on them."""
    from kdbench.models import load_model

    # Input mistakes (a bad --data or --split, then a missing model) fail before any output:
    # the collection loads first (quick), and nothing is printed until the model has loaded.
    collection = None
    if config.data is not None:
        from kdbench.data.load import load_collection

        collection = load_collection(config.data, config.split)
    torch.manual_seed(config.seed)  # a head the model lacks starts as the same random one
    ranker = load_model(
        config.model,
        config.arch,
        device=config.device,
        split_layer=config.split_layer,
        allow_pickle=config.allow_pickle,
        trust_remote_code=config.trust_remote_code,
    )
    scenario_name = config.scenario or DEFAULT_SCENARIO[ranker.arch]
    if ranker.arch not in SCENARIOS[scenario_name]:
        raise UserError(
            f"--scenario {scenario_name} does not apply to {ranker.arch} models "
            f"(it is for {', '.join(SCENARIOS[scenario_name])})"
        )
    _check_seq_lens(config, ranker)
    say(f"loaded {config.model} as {ranker.arch}")
    for name, precision in config.variants():
        reason = BACKENDS[name].supports(ranker.arch, config.device, precision)
        if reason is not None:
            raise UserError(f"--backend {name}: {reason}")
    inputs = load_inputs(
        config.data,
        config.split,
        passages=max(*(config.batch_sizes or (128,)), *config.depths),
        parity_queries=config.parity_queries,
        parity_depth=config.parity_depth,
        index_size=config.index_size,
        tokenizer=ranker.tokenizer,
        seed=config.seed,
        collection=collection,
    )
    if not inputs.pools:
        raise UserError(
            f"--data {config.data}: no parity query has candidates; check the collection"
        )
    scenario = build_scenario(scenario_name, ranker, inputs, config)
    shapes = scenario.shapes()
    example = scenario.example()

    say(f"{ranker.arch}: reference scores (eager fp32)")
    reference_runner = _backend("eager", "fp32", config, threads, compile_=False).prepare(
        ranker, scenario.timed_kind, shapes, example
    )
    reference = scenario.reference_scores(reference_runner)
    qids = [pool.qid for pool in inputs.pools]
    doc_ids = [pool.doc_ids for pool in inputs.pools]

    variants: list[dict[str, Any]] = []
    for name, precision in config.variants():
        label = f"{ranker.arch} {name}:{precision}"
        say(f"{label}: preparing and checking parity")
        backend = _backend(name, precision, config, threads)
        variant: dict[str, Any] = {
            "backend": name,
            "precision": precision,
            "runner": None,
            "error": None,
        }
        # plain eager fp32 *is* the reference, unless the scenario computes it another way
        is_reference = (
            (name, precision) == ("eager", "fp32")
            and not config.compile
            and scenario.reference_is_timed
        )
        try:
            runner = (
                reference_runner
                if is_reference
                else backend.prepare(ranker, scenario.timed_kind, shapes, example)
            )
            report = parity_gate.compare(
                reference,
                reference if is_reference else scenario.parity_scores(runner),
                precision,
                qids=qids,
                doc_ids=doc_ids,
                qrels=inputs.qrels,
                padding_error=_padding_invariance(runner, example, scenario),
            )
        except UserError:
            raise
        except Exception as exc:  # one broken backend must not lose the others' numbers
            variant["error"] = f"{type(exc).__name__}: {exc}"
            report = {"passed": False, "failures": [variant["error"]]}
            say(f"{label}: failed to prepare: {variant['error']}")
        else:
            if report["passed"]:
                variant["runner"] = runner
            else:
                say(f"{label}: parity FAILED ({'; '.join(report['failures'])}); not timed")
        variant["parity"] = report
        variant["info"] = backend.describe()
        variants.append(variant)
    return Prepared(config, ranker, scenario, scenario_name, inputs, variants)


def _finish(
    prep: Prepared,
    sampled: dict[tuple[int, int], list[Sampled]],
    peaks: dict[str, float],
    environment: dict[str, Any],
) -> dict[str, Any]:
    """The `profile` result of one prepared model from its raw samples."""
    from kdbench.results import new_result

    ranker, scenario, config = prep.ranker, prep.scenario, prep.config
    entries = []
    for cell_index, cell in enumerate(scenario.cells):
        for variant_index, variant in enumerate(prep.variants):
            entry = _entry_head(variant, ranker.arch, scenario, cell)
            parts = sampled.get((cell_index, variant_index))
            if parts is None:
                entry["status"] = "error" if variant["error"] else "failed_parity"
            else:
                entry.update(_summarize_cell(scenario, parts, ranker, variant["precision"], peaks))
            entries.append(entry)
    _add_speedups(entries)
    result = new_result(
        "profile",
        {**config.to_dict(), "scenario": prep.scenario_name, "arch": ranker.arch},
        environment=environment,
    )
    result["units"] = UNITS
    result["model"] = {
        "source": config.model,
        "arch": ranker.arch,
        "spec": ranker.spec.to_dict(),
        "parameters": ranker.num_parameters(),
    }
    result["inputs"] = prep.inputs.source
    result["scenario"] = scenario.describe()
    result["backends"] = {f"{v['backend']}:{v['precision']}": v["info"] for v in prep.variants}
    result["results"] = entries
    return result


def _padding_invariance(
    runner: Runner, example: dict[str, torch.Tensor], scenario: Scenario
) -> float:
    """The backend's outputs for each example row alone vs padded in the batch (see parity)."""
    device = scenario.device
    lengths = [int(n) for n in example["attention_mask"].sum(dim=1)]
    with torch.inference_mode():
        padded = runner({k: v.to(device) for k, v in example.items()}).float().cpu().numpy()
        alone = [
            runner({k: v.to(device) for k, v in row.items()})[0].float().cpu().numpy()
            for row in scenario.unpadded_rows(example)
        ]
    return parity_gate.padding_invariance(padded, alone, lengths)


def _backend(
    name: str, precision: str, config: ProfileConfig, threads: int, *, compile_: bool = True
) -> Backend:
    options = BackendOptions(
        device=config.device,
        precision=precision,
        threads=threads,
        compile=compile_ and config.compile and name == "eager",
        cache_dir=config.cache_dir,
        opset=config.opset,
        onnx_provider=config.onnx_provider,
        onnx_fusion=config.onnx_fusion,
        onnx_model=config.onnx_model,
    )
    return BACKENDS[name].resolve()(options)


def _entry_head(
    variant: dict[str, Any], arch: str, scenario: Scenario, cell: Cell
) -> dict[str, Any]:
    return {
        "backend": variant["backend"],
        "precision": variant["precision"],
        "arch": arch,
        "scenario": scenario.name,
        "batch_size": cell.batch_size,
        "seq_len": cell.seq_len,
        "depth": cell.depth,
        "status": "ok",
        "latency_ms": None,
        "throughput": None,
        "memory": None,
        "parity": variant["parity"],
        "error": variant["error"],
        # a backend whose code has never run on real hardware says so on every entry
        **({"never_run": variant["info"]["never_run"]} if "never_run" in variant["info"] else {}),
    }


@dataclass
class Sampled:
    """One round of one cell for one backend: raw samples and what they were of."""

    workload: Workload
    samples: Samples
    tokenize: Samples
    memory: dict[str, Any]


def _sample_cell(scenario: Scenario, cell: Cell, runner: Runner, budget: Budget) -> Sampled:
    workload = scenario.workload(cell, runner)
    cuda = scenario.device.type == "cuda"
    host = HostMemory()
    device_memory = CudaMemory(scenario.device.index or 0) if cuda else None
    host.start()
    if device_memory is not None:
        device_memory.start()
    stages = [stage for _, stage in workload.stages]
    if cuda:
        samples = _measure_on_cell_stream(scenario.device, stages, workload.first_input, budget)
    else:
        samples = measure(stages, workload.first_input, budget)
    memory = host.read()
    if device_memory is not None:
        calls = samples.warmup_calls + len(samples.total)
        memory.update(device_memory.read(workload.items * calls))
    # tokenisation runs on the CPU whatever the device: a short budget suffices
    token_budget = Budget(
        warmup=1,
        warmup_s=0.0,
        min_samples=min(64, budget.min_samples),
        min_duration_s=0.0,
        max_duration_s=min(10.0, budget.max_duration_s),
    )
    tokenize = measure([lambda _: workload.tokenize()], None, token_budget)
    return Sampled(workload, samples, tokenize, memory)


def _measure_on_cell_stream(
    device: torch.device, stages: list[Any], first_input: Any, budget: Budget
) -> Samples:
    """Time a GPU cell on a stream of its own (made for it, after the inputs' pending work),
    with CUDA events on that stream beside the host clock."""
    from kdbench.profile.timer import CudaEvents

    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):
        samples = measure(
            stages, first_input, budget, torch.cuda.synchronize, CudaEvents(len(stages) + 1)
        )
    return samples


def _summarize_cell(
    scenario: Scenario,
    parts: list[Sampled],
    ranker: Any,
    precision: str,
    peaks: dict[str, float],
) -> dict[str, Any]:
    """Statistics over every round's raw samples of one cell and backend."""
    workload = parts[0].workload
    names = [name for name, _ in workload.stages]
    raw: dict[str, list[int]] = {
        "total": [t for part in parts for t in part.samples.total],
        **{
            name: [t for part in parts for t in part.samples.stages[index]]
            for index, name in enumerate(names)
        },
        "tokenize": [t for part in parts for t in part.tokenize.total],
    }
    summaries = {name: summarize_ms(values) for name, values in raw.items()}
    total = summaries.pop("total")
    device_total = [t for part in parts for t in part.samples.device_total or []]
    if device_total:
        raw["device_total"] = device_total
    mean_s = float(total["mean"]) / 1e3
    model_s = float(summaries[workload.model_stage]["p50"]) / 1e3
    warnings = sample_warnings(len(raw["total"]), float(total["cv"]))
    if any(part.samples.stopped_by == "max_duration" for part in parts):
        warnings.append(
            f"stopped at --max-duration before --min-samples ({len(raw['total'])} samples)"
        )
    memory = dict(parts[0].memory)
    for part in parts[1:]:  # the worst round
        for key, value in part.memory.items():
            if key.endswith("_mib") and isinstance(value, float) and value > (memory.get(key) or 0):
                memory[key] = value
    return {
        **workload.report,
        "latency_ms": total,
        # what the GPU spent per call, from CUDA events on the cell's stream (None on the CPU)
        "device_latency_ms": summarize_ms(device_total) if device_total else None,
        "stages": summaries,
        "throughput": {
            "items_per_s": workload.items / mean_s,
            "item": scenario.item,
            "tokens_per_s": sum(b * s for b, s in workload.model_calls) / mean_s,
        },
        "memory": memory,
        "flops": _flops(workload, model_s, ranker, scenario.device, precision, peaks),
        "samples_ns": raw,
        "timing": {
            "rounds": len(parts),
            "warmup_calls": sum(part.samples.warmup_calls for part in parts),
            "duration_s": sum(part.samples.duration_s for part in parts),
            "stopped_by": [part.samples.stopped_by for part in parts],
            "synchronize": "torch.cuda.synchronize after each stage"
            if scenario.device.type == "cuda"
            else None,
            "device_clock": "CUDA events on a stream made for the cell"
            if scenario.device.type == "cuda"
            else None,
        },
        "warnings": warnings,
    }


_PEAK_DTYPES = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
    "int8": torch.float16,
}


def _flops(
    workload: Workload,
    model_s: float,
    ranker: Any,
    device: torch.device,
    precision: str,
    peaks: dict[str, float],
) -> dict[str, Any] | None:
    shape = encoder_shape(ranker)
    if shape is None or model_s <= 0:
        return None
    per_call = workload.flops_per_call
    if per_call is None:
        per_call = sum(encoder_flops(b, s, **shape) for b, s in workload.model_calls)
    # the peak of the dtype the matmuls run in; on the CPU (and for int8) fp32's is the yardstick
    dtype = torch.float32 if device.type == "cpu" else _PEAK_DTYPES[precision]
    key = f"{device}:{str(dtype).removeprefix('torch.')}"
    if key not in peaks:
        peaks[key] = measure_peak_flops(str(device), dtype)
    achieved = per_call / model_s
    return {
        "per_call": per_call,
        "achieved_per_s": achieved,
        "peak_per_s": peaks[key],
        "fraction_of_peak": achieved / peaks[key],
        "peak_from": f"best of 5 matmuls, {key}",
    }


def _add_baseline_ratios(entries: list[dict[str, Any]], baseline: list[dict[str, Any]]) -> None:
    """Each timed entry's speed relative to the baseline architecture on the same cell and
    backend (timed in the same run, alternating with it)."""

    def key(entry: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(entry[k] for k in ("backend", "precision", "batch_size", "seq_len", "depth"))

    timed = {key(e): e for e in baseline if e["latency_ms"] is not None}
    for entry in entries:
        base = timed.get(key(entry))
        if entry["latency_ms"] is None or base is None:
            continue
        entry["vs_baseline"] = {
            "arch": base["arch"],
            "throughput_ratio": entry["throughput"]["items_per_s"]
            / base["throughput"]["items_per_s"],
            "p50_ratio": base["latency_ms"]["p50"] / entry["latency_ms"]["p50"],
        }


def _add_speedups(entries: list[dict[str, Any]]) -> None:
    """Each timed entry's speed relative to eager fp32 on the same cell (same run, same inputs)."""
    baseline = {
        (e["batch_size"], e["seq_len"], e["depth"]): e
        for e in entries
        if e["backend"] == "eager" and e["precision"] == "fp32" and e["latency_ms"] is not None
    }
    for entry in entries:
        base = baseline.get((entry["batch_size"], entry["seq_len"], entry["depth"]))
        if entry["latency_ms"] is None or base is None:
            continue
        entry["vs_eager_fp32"] = {
            "throughput_ratio": entry["throughput"]["items_per_s"]
            / base["throughput"]["items_per_s"],
            "p50_ratio": base["latency_ms"]["p50"] / entry["latency_ms"]["p50"],
        }
