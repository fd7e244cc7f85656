"""`profile_model(config) -> result`: parity gate, then interleaved timing of every cell.

Order of work: check every backend is available (before anything is loaded or written),
load the model and texts, compute eager fp32 reference scores, gate each backend on them,
then time cell by cell with the backends interleaved inside each cell, so a slow drift of
the shared machine hits all backends alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from kdbench.backends import BACKENDS, BackendOptions, Runner, arithmetic
from kdbench.backends.base import Backend, ShapeRange
from kdbench.backends.onnx.config import provider_conflict, provider_missing
from kdbench.data.load import load_collection
from kdbench.env import Environment, collect_environment, last_level_cache
from kdbench.errors import UserError
from kdbench.json_types import JsonObject
from kdbench.models.base import encoder_shape, usable_positions
from kdbench.models.ranker import Ranker
from kdbench.models.registry import ARCHITECTURES
from kdbench.profile import parity as parity_gate
from kdbench.profile.config import ProfileConfig, check_read
from kdbench.profile.flops import Peak, encoder_flops, machine_peak
from kdbench.profile.growth import growth_fits
from kdbench.profile.inputs import ProfileInputs, load_inputs
from kdbench.profile.measurements import (
    Cell,
    Flops,
    Latency,
    Memory,
    Parity,
    ProfileResult,
    SampleTiming,
    Speedup,
    Throughput,
)
from kdbench.profile.memory import CudaMemory, HostMemory, row_memory
from kdbench.profile.registry import resolve_scenario
from kdbench.profile.scenarios import CellShape, Scenario, Workload, build_scenario
from kdbench.profile.stats import sample_warnings
from kdbench.profile.timer import Budget, CudaEvents, Samples, measure, round_budget
from kdbench.results import ResultHeader
from kdbench.retrieval.approximate import require_faiss

if TYPE_CHECKING:
    from kdbench.backends.calibration import CalibrationSet

Log = Callable[[str], None]

UNITS = {
    "latency_ms": "milliseconds per timed call (one batch; rerank: one query with its k candidates)",
    "samples_ns": "nanoseconds, raw, in call order",
    "device_latency_ms": "device span: milliseconds between CUDA events recorded on the cell's "
    "stream before the first stage and after the last (not GPU busy time: it includes the "
    "device's idle gaps between launches; host time is latency_ms)",
    "throughput.items_per_s": "items (throughput.item) per second = items per call / mean latency",
    "memory.*_mib": "MiB (2^20 bytes)",
    "memory.energy_j_per_item": "joules per item over the timed calls (NVML energy counter; warm-up excluded)",
    "memory.activations_mib": "peak over the timed calls above what was live at their start (CPU: RSS "
    "after returning free heap pages; CUDA: PyTorch's allocator)",
    "flops.*": "FLOP (2 per multiply-add) and FLOP/s",
    "parity.max_abs_diff": "absolute score difference vs eager fp32 (prettr: vs uncached eager fp32)",
    "cache_bytes_per_passage": "bytes, mean over the cell's candidates (prettr's cached passage states)",
    "cache_tokens_per_passage": "tokens, mean over the cell's candidates",
    "vs_baseline": "ratios against the baseline architecture's entry of the same cell and backend",
}


def check_available(config: ProfileConfig) -> None:
    """Every requested backend can run here: else one UserError line, before any work."""

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
        reason = provider_missing(config.onnx_provider)
        if reason is not None:
            raise UserError(
                f"--onnx-provider {config.onnx_provider}: {reason}; "
                "install onnxruntime-gpu or use --onnx-provider cpu"
            )
    if config.search != "exact":
        require_faiss(f"--search {config.search}")
    if config.compile and not any(name == "eager" for name, _ in config.variants()):
        raise UserError("--compile applies to the eager backend; add eager to --backend")


def _check_seq_lens(config: ProfileConfig, ranker: Ranker) -> None:
    """Every --seq-len fits the encoder's position embeddings (else a one-line error, not a crash)."""

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
class Variant:
    """One (backend, precision) of a prepared model: its runner if it passed the gate."""

    backend: str
    precision: str
    parity: Parity
    info: dict[str, Any]  # what actually ran (Backend.describe)
    runner: Runner | None = None  # None: failed parity or preparation, not timed
    error: str | None = None  # why preparation failed
    weight_bytes: int | None = None  # the timed module's weights as the backend loaded them
    # CUDA: the one stream all of this variant's cells are timed on (made at its first cell), so
    # the caching allocator's pools do not multiply with the number of cells
    stream: Any = None

    @property
    def label(self) -> str:
        return f"{self.backend}:{self.precision}"


@dataclass
class Prepared:
    """One model's side of a profile: ranker, scenario and the backends that passed parity."""

    config: ProfileConfig
    ranker: Ranker
    scenario: Scenario
    scenario_name: str
    inputs: ProfileInputs
    variants: list[Variant]


def profile_model(
    config: ProfileConfig, log: Log | None = None, *, allow_unread: bool = False
) -> ProfileResult:
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
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    threads = torch.get_num_threads()

    prepared = [_prepare(config, threads, say, load=None if allow_unread else "")]
    if baseline is not None:
        prepared.append(_prepare_baseline(baseline, prepared[0], threads, say))
    sampled = _sample_all(prepared, round_budget(config), say)

    peaks: dict[str, Peak] = {}
    environment = _environment(threads, config.device)
    results = [
        _finish(prep, samples, peaks, environment)
        for prep, samples in zip(prepared, sampled, strict=True)
    ]
    environment["peak_flops_measured"].update((k, peak.to_dict()) for k, peak in peaks.items())
    result = results[0]
    if len(results) > 1:
        _add_baseline_ratios(result.cells, results[1].cells)
        result.baseline = results[1]
    return result


def _prepare_baseline(baseline: ProfileConfig, main: Prepared, threads: int, say: Log) -> Prepared:
    """The model built as the baseline architecture, checked to time the same scenario."""
    if baseline.arch is not None and ARCHITECTURES[baseline.arch] is main.ranker.architecture:
        raise UserError(
            f"--baseline-arch {baseline.arch} is the profiled model's own architecture; choose another"
        )
    say(f"baseline: {baseline.model} as {baseline.arch}")
    prepared = _prepare(baseline, threads, say)
    if prepared.scenario_name != main.scenario_name:
        raise UserError(
            f"--baseline-arch {baseline.arch}: runs scenario {prepared.scenario_name}, not "
            f"{main.scenario_name}; pass --scenario for one both run"
        )
    return prepared


Sampling = dict[tuple[int, int], list["Sampled"]]  # (cell index, variant index) -> rounds


def _sample_all(prepared: list[Prepared], budget: Budget, say: Log) -> list[Sampling]:
    """Every round of every cell of every passing backend, the models and backends
    alternating within each cell, so a slow drift of the machine hits them alike."""
    rounds = prepared[0].config.rounds
    sampled: list[Sampling] = [{} for _ in prepared]
    cells = max(len(prep.scenario.cells) for prep in prepared)
    for round_ in range(rounds):
        for cell_index in range(cells):
            for prep, samples in zip(prepared, sampled, strict=True):
                if cell_index >= len(prep.scenario.cells):
                    continue
                cell = prep.scenario.cells[cell_index]
                for variant_index, variant in enumerate(prep.variants):
                    if variant.runner is None:
                        continue
                    say(
                        f"{prep.ranker.arch} {variant.label} "
                        f"batch {cell.batch_size} seq {cell.seq_len}"
                        + (f" depth {cell.depth}" if cell.depth else "")
                        + (f" index {cell.index_size}" if cell.index_size else "")
                        + (f" (round {round_ + 1}/{rounds})" if rounds > 1 else "")
                    )
                    part = _sample_cell(prep.scenario, cell, variant, budget)
                    samples.setdefault((cell_index, variant_index), []).append(part)
    return sampled


def _environment(threads: int, device: str) -> Environment:
    """The machine, the threads used, its last-level cache (where an index outgrows it, search
    costs more per row) and the peak FLOP/s measured (filled while finishing)."""

    environment = collect_environment()
    environment["last_level_cache"] = last_level_cache(device)
    environment["threads"] = {
        "torch_intra_op": threads,
        "onnxruntime_intra_op": threads,
        "onnxruntime_inter_op": 1,
        "openvino_inference_num_threads": threads,  # streams: per cell, in `backends`
    }
    environment["peak_flops_measured"] = {}  # filled from `peaks` once every cell is finished
    return environment


def _prepare(config: ProfileConfig, threads: int, say: Log, *, load: str | None = None) -> Prepared:
    """Load the model and texts, compute the reference scores, gate every backend on them.

    `load`: the load (server, offline; "" none) the scenario is served under: every setting
    of `config` must be read by one of the two (`check_read`); None: not checked."""
    ranker, scenario_name, inputs = _load(config, say, load)
    scenario = build_scenario(scenario_name, ranker, inputs, config)
    shapes = scenario.shapes()
    example = scenario.example()

    say(f"{ranker.arch}: reference scores (eager fp32)")
    calibration = _calibration(config, say)
    reference_backend = _backend("eager", "fp32", config, threads, compile_=False)
    reference_runner = reference_backend.prepare(ranker, scenario.timed_kind, shapes, example)
    reference = scenario.reference_scores(reference_runner)
    variants = []
    for name, precision in config.variants():
        say(f"{ranker.arch} {name}:{precision}: preparing and checking parity")
        # plain eager fp32 *is* the reference, unless the scenario computes it another way
        is_reference = (
            (name, precision) == ("eager", "fp32")
            and not config.compile
            and scenario.reference_is_timed
        )
        backend = (
            reference_backend
            if is_reference
            else _backend(name, precision, config, threads, calibration=calibration)
        )
        variant = _gate(
            name,
            precision,
            backend,
            scenario,
            (shapes, example),
            reference,
            reference_runner if is_reference else None,
        )
        if variant.error is not None:
            say(f"{ranker.arch} {variant.label}: failed to prepare: {variant.error}")
        elif variant.runner is None:
            failures = "; ".join(variant.parity.failures)
            say(f"{ranker.arch} {variant.label}: parity FAILED ({failures}); not timed")
        variants.append(variant)
    return Prepared(config, ranker, scenario, scenario_name, inputs, variants)


def _load(
    config: ProfileConfig, say: Log, load: str | None = None
) -> tuple[Ranker, str, ProfileInputs]:
    """The ranker, its scenario and the texts it runs on, checked against the settings."""

    # Input mistakes (a bad --data or --split, then a missing model) fail before any output:
    # the collection loads first (quick), and nothing is printed until the model has loaded.
    collection = None
    if config.data is not None:
        collection = load_collection(config.data, config.split)
    torch.manual_seed(config.seed)  # a head the model lacks starts as the same random one
    ranker = config.load(config.model)
    scenario_name = resolve_scenario(config.scenario, ranker.arch)
    if load is not None:  # before any text is read or backend prepared
        check_read(config, [scenario_name, *([load] if load else [])])
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
        index_size=max(config.index_size) if config.index_size else None,
        tokenizer=ranker.tokenizer,
        seed=config.seed,
        collection=collection,
    )
    if not inputs.pools:
        raise UserError(
            f"--data {config.data}: no parity query has candidates; check the collection"
        )
    return ranker, scenario_name, inputs


def _gate(
    name: str,
    precision: str,
    backend: Backend,
    scenario: Scenario,
    shaped: tuple[ShapeRange, dict[str, torch.Tensor]],
    reference: list[Any],
    reference_runner: Runner | None,
) -> Variant:
    """Prepare one backend for the scenario's shapes and example batch, and check its scores
    against `reference` (`reference_runner`: the backend is the reference itself)."""
    inputs, (shapes, example) = scenario.inputs, shaped
    try:
        runner = reference_runner or backend.prepare(
            scenario.ranker, scenario.timed_kind, shapes, example
        )
        parity = parity_gate.compare(
            reference,
            reference if reference_runner is not None else scenario.parity_scores(runner),
            precision,
            qids=[pool.qid for pool in inputs.pools],
            doc_ids=[pool.doc_ids for pool in inputs.pools],
            qrels=inputs.qrels,
            padding_error=_padding_invariance(runner, example, scenario),
        )
    except UserError:
        raise
    except Exception as exc:  # one broken backend must not lose the others' numbers
        error = f"{type(exc).__name__}: {exc}"
        return Variant(
            name, precision, Parity(passed=False, failures=[error]), backend.describe(), error=error
        )
    return Variant(
        name,
        precision,
        parity,
        backend.describe(),
        runner=runner if parity.passed else None,
        weight_bytes=backend.weight_bytes.get(scenario.timed_kind),
    )


def _finish(
    prep: Prepared, sampled: Sampling, peaks: dict[str, Peak], environment: Environment
) -> ProfileResult:
    """The `profile` result of one prepared model from its raw samples."""

    ranker, scenario = prep.ranker, prep.scenario
    cells = []
    for cell_index, shape in enumerate(scenario.cells):
        for variant_index, variant in enumerate(prep.variants):
            cell = _cell_head(variant, ranker.arch, scenario, shape)
            parts = sampled.get((cell_index, variant_index))
            if parts is None:
                cell.status = "error" if variant.error else "failed_parity"
            else:
                _summarize_cell(cell, scenario, parts, ranker, peaks)
            cells.append(cell)
    _add_speedups(cells)
    last_level = environment.get("last_level_cache")
    cache = None if last_level is None else last_level["bytes"]
    growth = [fit.to_dict() for fit in growth_fits(cells, cache)]
    return profile_result(
        prep.config,
        prep,
        cells,
        environment,
        prep.scenario_name,
        scenario.describe(),
        UNITS,
        growth,
    )


def profile_result(
    config: ProfileConfig,
    prep: Prepared,
    cells: list[Cell],
    environment: Environment,
    scenario_name: str,
    scenario: JsonObject,
    units: dict[str, str],
    growth: list[JsonObject] | None = None,
) -> ProfileResult:
    """The `profile` result of one prepared model's cells under `config` (the command's own,
    which the prepared model's may differ from): header, model, inputs, backends."""
    ranker = prep.ranker
    header = ResultHeader.new(
        "profile",
        {**config.to_dict(), "scenario": scenario_name, "arch": ranker.arch},
        environment=environment,
    )
    header.units = units
    return ProfileResult(
        header=header,
        cells=cells,
        model={
            "source": config.model,
            "arch": ranker.arch,
            "spec": ranker.spec.to_dict(),
            "parameters": ranker.num_parameters(),
        },
        inputs=prep.inputs.source,
        scenario=scenario,
        backends={variant.label: variant.info for variant in prep.variants},
        growth=growth or [],
    )


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


def _calibration(config: ProfileConfig, say: Log) -> CalibrationSet | None:
    """The train-split calibration set, if a variant is static int8 (else None)."""
    if not any(precision in BACKENDS[name].calibrated for name, precision in config.variants()):
        return None
    from kdbench.backends import calibration

    found = calibration.load(
        config.data,
        config.calibration_split,
        config.calibration_size,
        seed=config.seed,
        evaluated_split=config.split,
    )
    say(
        f"calibration: {len(found.queries)} queries, {len(found.passages)} passages of "
        f"{found.source} {found.split} (sha256 {found.sha256[:12]})"
    )
    return found


def _backend(
    name: str,
    precision: str,
    config: ProfileConfig,
    threads: int,
    *,
    compile_: bool = True,
    calibration: CalibrationSet | None = None,
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
        calibration=calibration if precision in BACKENDS[name].calibrated else None,
    )
    return BACKENDS[name].resolve()(options)


def _cell_head(variant: Variant, arch: str, scenario: Scenario, shape: CellShape) -> Cell:
    """A cell's identity and parity verdict; `_summarize_cell` adds what was measured."""
    return Cell(
        backend=variant.backend,
        precision=variant.precision,
        arch=arch,
        scenario=scenario.name,
        batch_size=shape.batch_size,
        seq_len=shape.seq_len,
        depth=shape.depth,
        index_size=shape.index_size,
        parity=variant.parity,
        error=variant.error,
        # a backend whose code has never run on real hardware says so on every entry
        never_run=variant.info.get("never_run"),
    )


@dataclass
class Sampled:
    """One round of one cell for one backend: raw samples and what they were of."""

    workload: Workload
    samples: Samples
    tokenize: Samples
    memory: Memory


def _sample_cell(scenario: Scenario, cell: CellShape, variant: Variant, budget: Budget) -> Sampled:
    assert variant.runner is not None
    workload = scenario.workload(cell, variant.runner)
    cuda = scenario.device.type == "cuda"
    host = HostMemory()
    device_memory = CudaMemory(scenario.device.index or 0) if cuda else None

    def start_window() -> None:
        # after warm-up: memory and energy cover the timed calls only
        host.start()
        if device_memory is not None:
            device_memory.start()

    stages = [stage for _, stage in workload.stages]
    if cuda:
        torch.cuda.empty_cache()  # what earlier cells cached is not this cell's reserve
        if variant.stream is None:
            variant.stream = torch.cuda.Stream(scenario.device)
        samples = _measure_on_stream(
            variant.stream, scenario.device, stages, workload.first_input, budget, start_window
        )
    else:
        samples = measure(stages, workload.first_input, budget, start_window=start_window)
    memory = host.read()
    if device_memory is not None:
        memory.update(device_memory.read(workload.items * len(samples.total)))
    # tokenisation runs on the CPU whatever the device: a short budget suffices
    token_budget = Budget(
        warmup=1,
        warmup_s=0.0,
        min_samples=min(64, budget.min_samples),
        min_duration_s=0.0,
        max_duration_s=min(10.0, budget.max_duration_s),
    )
    tokenize = measure([lambda _: workload.tokenize()], None, token_budget)
    memory = row_memory(
        memory,
        weight_bytes=variant.weight_bytes,
        index_bytes=workload.index_bytes,
        eager=variant.backend == "eager",
    )
    return Sampled(workload, samples, tokenize, Memory.from_dict(memory))


def _measure_on_stream(
    stream: Any,
    device: torch.device,
    stages: list[Any],
    first_input: Any,
    budget: Budget,
    start_window: Callable[[], None] | None = None,
) -> Samples:
    """Time a GPU cell on its variant's stream (after the inputs' pending work), with CUDA
    events on that stream beside the host clock."""

    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):
        samples = measure(
            stages,
            first_input,
            budget,
            torch.cuda.synchronize,
            CudaEvents(len(stages) + 1),
            start_window=start_window,
        )
    return samples


def _summarize_cell(
    cell: Cell, scenario: Scenario, parts: list[Sampled], ranker: Ranker, peaks: dict[str, Peak]
) -> None:
    """Fill `cell` with statistics over every round's raw samples of it."""
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
    stages = {name: Latency.from_samples(values) for name, values in raw.items()}
    total = stages.pop("total")
    device_total = [t for part in parts for t in part.samples.device_total or []]
    if device_total:
        raw["device_total"] = device_total
    mean_s = total.mean / 1e3
    warnings = sample_warnings(total.n, total.cv)
    if any(part.samples.stopped_by == "max_duration" for part in parts):
        warnings.append(f"stopped at --max-duration before --min-samples ({total.n} samples)")
    memory = parts[0].memory
    for part in parts[1:]:
        memory = memory.worst(part.memory)
    cuda = scenario.device.type == "cuda"
    cell.cache = workload.cache
    cell.search = workload.search
    cell.latency = total
    # what the GPU spent per call, from CUDA events on the cell's stream (None on the CPU)
    cell.device_latency = Latency.from_samples(device_total) if device_total else None
    cell.stages = stages
    cell.throughput = Throughput(
        items_per_s=workload.items / mean_s,
        item=scenario.item,
        tokens_per_s=sum(b * s for b, s in workload.model_calls) / mean_s,
    )
    cell.memory = memory
    model_s = stages[workload.model_stage].p50 / 1e3
    cell.flops = _flops(workload, model_s, ranker, scenario.device, cell.precision, peaks)
    cell.samples_ns = raw
    cell.timing = SampleTiming(
        rounds=len(parts),
        warmup_calls=sum(part.samples.warmup_calls for part in parts),
        duration_s=sum(part.samples.duration_s for part in parts),
        stopped_by=[part.samples.stopped_by for part in parts],
        synchronize="torch.cuda.synchronize after each stage" if cuda else None,
        device_clock="CUDA events on the variant's stream (device span)" if cuda else None,
    )
    cell.warnings = warnings


def _flops(
    workload: Workload,
    model_s: float,
    ranker: Ranker,
    device: torch.device,
    precision: str,
    peaks: dict[str, Peak],
) -> Flops | None:
    shape = encoder_shape(ranker.encoder)
    if shape is None or model_s <= 0:
        return None
    per_call = workload.flops_per_call
    if per_call is None:
        per_call = sum(encoder_flops(b, s, **shape) for b, s in workload.model_calls)
    # the yardstick is the best GEMM of the dtype the matmuls run in (int8: integer GEMM)
    dtype = arithmetic(precision)
    key = f"{device}:{dtype}"
    if key not in peaks:
        peaks[key] = machine_peak(str(device), dtype, threads=torch.get_num_threads())
    peak = peaks[key]
    achieved = per_call / model_s
    return Flops(
        per_call=per_call,
        achieved_per_s=achieved,
        peak_per_s=peak.per_s,
        fraction_of_peak=achieved / peak.per_s,
        peak_from=f"{peak.source}, {key}",
    )


def _add_baseline_ratios(cells: list[Cell], baseline: list[Cell]) -> None:
    """Each timed cell's speed relative to the baseline architecture on the same cell and
    backend (timed in the same run, alternating with it)."""
    timed = {(c.backend, c.precision, c.key): c for c in baseline if c.latency is not None}
    for cell in cells:
        base = timed.get((cell.backend, cell.precision, cell.key))
        if cell.latency is not None and base is not None:
            cell.vs_baseline = Speedup.between(cell, base, arch=base.arch)


def _add_speedups(cells: list[Cell]) -> None:
    """Each timed cell's speed relative to eager fp32 on the same cell (same run, same inputs)."""
    eager = {
        c.key: c
        for c in cells
        if (c.backend, c.precision) == ("eager", "fp32") and c.latency is not None
    }
    for cell in cells:
        base = eager.get(cell.key)
        if cell.latency is not None and base is not None:
            cell.vs_eager_fp32 = Speedup.between(cell, base)
