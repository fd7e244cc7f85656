"""`kdbench profile --scenario server|offline`: a real model served under traffic.

The model and backends are prepared as for any profile (`kdbench.profile.runner`: the
same parity gate); then each passing backend serves the architecture's per-query
scenario (`Scenario.serving`: dot encodes the query and searches the index, a re-ranker
scores its k candidates) to the load generator of `kdbench.profile.serving`, with the real
test queries of `--data`. One cell per backend and scenario cell (depth, length); its
`serving` entry holds the settings, every level run and the search's answer.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from kdbench.errors import UserError
from kdbench.profile.config import ProfileConfig
from kdbench.profile.measurements import Cell, Latency, ProfileResult, Throughput, Timing
from kdbench.profile.runner import (
    Log,
    Prepared,
    Variant,
    _cell_head,
    _environment,
    _prepare,
    check_available,
)
from kdbench.profile.scenarios import CellShape
from kdbench.profile.serving import (
    Bound,
    Search,
    SearchSettings,
    ServerSettings,
    _cores,
    find_peak,
    run_level,
    run_offline,
)

UNITS = {
    "latency_ms": "milliseconds from a query's scheduled arrival to its response (the answer's "
    "level: the highest valid one, or the one --qps level)",
    "samples_ns": "nanoseconds, raw, in arrival order",
    "throughput.items_per_s": "queries/s: server with a bound, the highest valid QPS; server, the "
    "answered QPS; offline, queries answered / seconds",
    "serving.*_ms": "milliseconds; queue: scheduled arrival -> dispatch, compute: dispatch -> response",
    "serving.*_qps": "queries per second",
}


def worker_threads(config: ProfileConfig, cores: int) -> int:
    """Threads per worker: --threads, else the cores shared out; workers x threads <= cores."""
    threads = config.threads or max(1, cores // config.workers)
    if config.workers * threads > cores:
        raise UserError(
            f"--workers {config.workers} x --threads {threads} = {config.workers * threads} "
            f"threads exceed the {cores} cores here; lower --workers or --threads"
        )
    return threads


def server_settings(config: ProfileConfig) -> ServerSettings:
    return ServerSettings(
        max_batch=config.max_batch,
        max_wait_ms=config.max_wait_ms,
        workers=config.workers,
        min_queries=config.min_queries,
        min_duration_s=config.min_query_duration_s,
    )


def run_serving(config: ProfileConfig, log: Log | None = None) -> dict[str, Any]:
    """Serve `config.model` under the `config.scenario` load; returns the `profile` result."""
    say = log or (lambda message: None)
    if config.baseline_arch is not None:
        raise UserError(f"--baseline-arch does not apply to --scenario {config.scenario}")
    bound = config.serving_bound()
    if config.scenario == "offline" and (bound is not None or config.qps is not None):
        raise UserError("--qps and --bound apply to --scenario server, not offline")
    check_available(config)
    cores = _cores()
    threads = worker_threads(config, cores)
    torch.set_num_threads(threads)
    served = replace(config, scenario=None, threads=threads)
    prep = _prepare(served, threads, say)
    environment = _environment(threads, config.device)
    environment["threads"].update(workers=config.workers, cores=cores)
    settings = server_settings(config)
    cells = []
    for shape in prep.scenario.cells:
        for variant in prep.variants:
            cell = _cell_head(variant, prep.ranker.arch, prep.scenario, shape)
            cell.scenario = str(config.scenario)
            if variant.runner is None:
                cell.status = "error" if variant.error else "failed_parity"
            else:
                _serve_cell(cell, prep, variant, shape, settings, bound, say)
            cells.append(cell)
    from kdbench.results import ResultHeader

    header = ResultHeader.new(
        "profile",
        {**config.to_dict(), "scenario": config.scenario, "arch": prep.ranker.arch},
        environment=environment,
    )
    header.units = UNITS
    return ProfileResult(
        header=header,
        cells=cells,
        model={
            "source": config.model,
            "arch": prep.ranker.arch,
            "spec": prep.ranker.spec.to_dict(),
            "parameters": prep.ranker.num_parameters(),
        },
        inputs=prep.inputs.source,
        scenario={
            **prep.scenario.describe(),
            "load": config.scenario,
            "served": prep.scenario_name,
        },
        backends={variant.label: variant.info for variant in prep.variants},
    ).to_dict()


def _serve_cell(
    cell: Cell,
    prep: Prepared,
    variant: Variant,
    shape: CellShape,
    settings: ServerSettings,
    bound: Bound | None,
    say: Log,
) -> None:
    """Warm the served call up, time one query alone, then run the load; fill `cell`."""
    assert variant.runner is not None
    config = prep.config
    queries = prep.inputs.queries
    serve = prep.scenario.serving(shape, variant.runner)
    label = f"{prep.ranker.arch} {variant.label} {config_label(shape)}"
    started = time.monotonic()
    warmup_calls = 0
    warm_until = started + config.warmup_s
    while warmup_calls < config.warmup or time.monotonic() < warm_until:
        size = settings.max_batch if warmup_calls % 2 else 1
        serve([queries[(warmup_calls + i) % len(queries)] for i in range(size)])
        warmup_calls += 1
    alone = []
    for index in range(11):  # one query at a time, nothing queued: the floor of any latency
        begun = time.perf_counter_ns()
        serve([queries[index % len(queries)]])
        alone.append(time.perf_counter_ns() - begun)
    alone_ms = float(np.median(alone)) / 1e6
    serving: dict[str, Any] = {
        "load": config.scenario,
        "served": prep.scenario_name,
        "settings": {
            "max_batch": settings.max_batch,
            "max_wait_ms": settings.max_wait_ms,
            "workers": settings.workers,
            "threads_per_worker": config.threads,
            "min_queries": settings.min_queries,
            "min_duration_s": settings.min_duration_s,
            "early_stopping_confidence": settings.confidence,
            "seed": config.seed,
            "queries": f"{len(queries)} queries of --data {config.data} --split {config.split}"
            if config.data
            else f"{len(queries)} synthetic queries",
        },
        "alone_p50_ms": alone_ms,
        "bound": None if bound is None else bound.label,
    }
    answer = None
    stopped_by = ""
    if config.scenario == "offline":
        say(f"{label}: offline, {max(settings.min_queries, len(queries))} queries at once")
        offline = run_offline(serve, queries, settings, config.seed)
        serving["offline"] = offline
        cell.throughput = Throughput(items_per_s=offline["queries_per_s"], item="query")
        stopped_by = "offline"
        if not offline["valid"]:
            cell.warnings = list(offline["reasons"])
    elif bound is None:
        qps = config.qps or 0.5 * settings.workers / (alone_ms / 1e3)
        say(f"{label}: {qps:.3g} QPS")
        answer = run_level(serve, queries, qps, settings, None, config.seed)
        serving["level"] = answer.to_dict()
        cell.throughput = Throughput(items_per_s=answer.achieved_qps, item="query")
        stopped_by = "one level"
        if not answer.valid:
            cell.warnings = list(answer.reasons)
    else:
        search = _search(serve, queries, settings, bound, alone_ms, config, say, label)
        serving["search"] = search.to_dict()
        serving["max_valid_qps"] = search.best.target_qps if search.best else None
        answer = search.best
        stopped_by = search.stopped_by
        cell.throughput = Throughput(
            items_per_s=search.best.target_qps if search.best else 0.0, item="query"
        )
        if search.best is None:
            cell.warnings = [f"no valid level: {search.stopped_by}"]
    if answer is not None and answer.latencies_ns:
        cell.latency = Latency.from_samples(answer.latencies_ns)
        cell.samples_ns = {"total": answer.latencies_ns}
        cell.stages = {}
    cell.serving = serving
    cell.timing = Timing(
        rounds=1,
        warmup_calls=warmup_calls,
        duration_s=time.monotonic() - started,
        stopped_by=[stopped_by],
        synchronize="torch.cuda.synchronize after each call" if config.device != "cpu" else None,
    )
    if cell.latency is None:
        cell.warnings = cell.warnings or []


def _search(
    serve: Any,
    queries: list[str],
    settings: ServerSettings,
    bound: Bound,
    alone_ms: float,
    config: ProfileConfig,
    say: Log,
    label: str,
) -> Search:
    """find_peak over `serve`, unless one query alone already breaks the bound."""
    if alone_ms > bound.limit_ms:
        return Search(
            stopped_by=f"one query alone takes {alone_ms:.1f} ms (median of 11) > "
            f"{bound.limit_ms:g} ms: no load can hold {bound.label}"
        )
    start = config.qps or 0.5 * settings.workers / (alone_ms / 1e3)
    say(f"{label}: searching the highest QPS with {bound.label} from {start:.3g} QPS")
    return find_peak(
        lambda qps: run_level(serve, queries, qps, settings, bound, config.seed),
        SearchSettings(start_qps=start, budget_s=config.search_budget_s),
        log=lambda message: say(f"{label}: {message}"),
    )


def config_label(shape: CellShape) -> str:
    return f"seq {shape.seq_len}" + (f" depth {shape.depth}" if shape.depth else "")
