"""One load cell: warm a served call up, time one query alone, then run the load (one
level, a search, or offline) and fill a profile `Cell` (light: no torch; the neural
profiler and BM25 share it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from kdbench.profile.config import ProfileConfig
from kdbench.profile.measurements import Cell, Latency, SampleTiming, Throughput
from kdbench.profile.serving import (
    Bound,
    Q,
    Search,
    SearchSettings,
    ServerSettings,
    find_peak,
    run_level,
    run_offline,
)

Log = Callable[[str], None]

UNITS = {
    "latency_ms": "milliseconds from a query's scheduled arrival to its response (the answer's "
    "level: the highest valid one, or the one --qps level)",
    "samples_ns": "nanoseconds, raw, in arrival order",
    "throughput.items_per_s": "queries/s: server with a bound, the highest valid QPS; server, the "
    "answered QPS; offline, queries answered / seconds",
    "serving.*_ms": "milliseconds; queue: scheduled arrival -> dispatch, compute: dispatch -> response",
    "serving.*_qps": "queries per second",
}


def server_settings(config: ProfileConfig) -> ServerSettings:
    return ServerSettings(
        max_batch=config.max_batch,
        max_wait_ms=config.max_wait_ms,
        workers=config.workers,
        min_queries=config.min_queries,
        min_duration_s=config.min_query_duration_s,
    )


def serve_into_cell(
    cell: Cell,
    serve: Callable[[list[Q]], object],
    queries: list[Q],
    config: ProfileConfig,
    settings: ServerSettings,
    bound: Bound | None,
    label: str,
    say: Log,
) -> None:
    """Warm `serve` up, time one query alone, then run `config`'s load; fill `cell`."""
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
        serving["offline"] = offline.to_dict()
        cell.throughput = Throughput(items_per_s=offline.queries_per_s, item="query")
        stopped_by = "offline"
        if not offline.valid:
            cell.warnings = list(offline.reasons)
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
    cell.timing = SampleTiming(
        rounds=1,
        warmup_calls=warmup_calls,
        duration_s=time.monotonic() - started,
        stopped_by=[stopped_by],
        synchronize="torch.cuda.synchronize after each call" if config.device != "cpu" else None,
    )
    if cell.latency is None:
        cell.warnings = cell.warnings or []


def _search(
    serve: Callable[[list[Q]], object],
    queries: list[Q],
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
