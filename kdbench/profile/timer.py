"""The timing loop: warm-up, then raw per-stage samples until the budget is met.

A timed call is a chain of stages (e.g. encode the query, then search the index); each
stage gets the previous stage's output. On a GPU `sync` (torch.cuda.synchronize) runs after
every stage so a sample covers the work, not only its launch, and `events` (CUDA events on
the cell's stream, `CudaEvents`) time the same stages on the device beside the host clock:
the host number is what a caller waits, the device number what the GPU spent (launch
overhead and Python between kernels are the difference). The loop does nothing else per
sample but read the clocks and append, so its own cost stays far below the call's
(benchmarks/test_bench_profile_overhead.py checks it against a bare loop).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kdbench.options import Timing

# One stage of a timed call: it takes the previous stage's output (the first, the cell's
# first input), whatever its type; the chain is the scenario's to make consistent.
StageCall = Callable[[Any], object]


class DeviceClock(Protocol):
    """Marks recorded on the device's stream, read after a synchronisation."""

    def record(self, index: int) -> None:
        """Record mark `index` on the current stream (asynchronous: nothing waits)."""

    def elapsed_ns(self, start: int, end: int) -> int:
        """Device time from mark `start` to mark `end`; valid once both have completed."""


class CudaEvents:
    """`count` reusable timing events recorded on the current CUDA stream (heavy: torch)."""

    def __init__(self, count: int) -> None:
        import torch

        self.events = [torch.cuda.Event(enable_timing=True) for _ in range(count)]

    def record(self, index: int) -> None:
        self.events[index].record()  # on torch's current stream: the cell's

    def elapsed_ns(self, start: int, end: int) -> int:
        # elapsed_time is milliseconds with about half a microsecond of resolution
        return round(self.events[start].elapsed_time(self.events[end]) * 1e6)


@dataclass(frozen=True)
class Budget:
    """How long to warm up and how many samples to take for one cell."""

    warmup: int = 5  # calls before timing, at least
    warmup_s: float = 0.5  # ...and at least this long (lazy init, allocator, caches)
    min_samples: int = 662  # enough for p99 (MLPerf)
    min_duration_s: float = 5.0  # and at least this long, so slow drift shows in the samples
    max_duration_s: float = 120.0  # stop here even if min_samples is not reached (reported)
    max_samples: int = 100_000  # bounds memory on microsecond calls

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.min_samples < 1 or self.max_samples < self.min_samples:
            raise ValueError(f"invalid timing budget {self}")
        if self.max_duration_s < self.min_duration_s:
            raise ValueError(
                f"max_duration_s {self.max_duration_s} < min_duration_s {self.min_duration_s}"
            )


def round_budget(timing: Timing) -> Budget:
    """One round's share of a `kdbench.options.Timing`'s budget (rounds alternate the
    backends in every cell, so each gets its share of every round)."""
    rounds = timing.rounds
    return Budget(
        warmup=timing.warmup,
        warmup_s=timing.warmup_s,
        min_samples=-(-timing.min_samples // rounds),
        min_duration_s=timing.min_duration_s / rounds,
        max_duration_s=timing.max_duration_s / rounds,
        max_samples=max(100_000, timing.min_samples),
    )


@dataclass
class Samples:
    """Raw nanosecond samples: one list per stage plus the whole chain."""

    stages: list[list[int]]
    total: list[int]
    warmup_calls: int
    duration_s: float
    stopped_by: str  # "budget" | "max_duration" | "max_samples"
    device_stages: list[list[int]] | None = None  # the same from device marks (None: no GPU)
    device_total: list[int] | None = None


def measure(
    stages: Sequence[StageCall],
    first_input: object,
    budget: Budget,
    sync: Callable[[], None] | None = None,
    events: DeviceClock | None = None,
    start_window: Callable[[], None] | None = None,
) -> Samples:
    """Run the chain `stages` on `first_input` repeatedly and keep every sample.

    With `events` (len(stages) + 1 marks, and `sync` to complete them), mark 0 is recorded
    before the first stage and mark i + 1 after stage i, so each stage also gets device time.
    `start_window` runs once between warm-up and the first timed call (memory and energy
    trackers start there, so warm-up's cost is not in their window).
    """
    clock = time.perf_counter_ns
    warmup_calls = 0
    warm_until = clock() + int(budget.warmup_s * 1e9)
    while warmup_calls < budget.warmup or clock() < warm_until:
        value = first_input
        for stage in stages:
            value = stage(value)
        if sync is not None:
            sync()
        warmup_calls += 1

    if start_window is not None:
        start_window()
    per_stage: list[list[int]] = [[] for _ in stages]
    total: list[int] = []
    device_stages: list[list[int]] | None = None if events is None else [[] for _ in stages]
    device_total: list[int] | None = None if events is None else []
    marks = [0] * (len(stages) + 1)
    min_end = int(budget.min_duration_s * 1e9)
    max_end = int(budget.max_duration_s * 1e9)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside a sample is the harness's noise, not the model's
    try:
        start = clock()
        while True:
            value = first_input
            if events is not None:
                events.record(0)
            marks[0] = clock()
            for index, stage in enumerate(stages):
                value = stage(value)
                if events is not None:
                    events.record(index + 1)
                if sync is not None:
                    sync()
                marks[index + 1] = clock()
            for index, samples in enumerate(per_stage):
                samples.append(marks[index + 1] - marks[index])
            total.append(marks[-1] - marks[0])
            if events is not None and device_stages is not None and device_total is not None:
                for index, samples in enumerate(device_stages):
                    samples.append(events.elapsed_ns(index, index + 1))
                device_total.append(events.elapsed_ns(0, len(stages)))
            elapsed = marks[-1] - start
            n = len(total)
            if n >= budget.min_samples and elapsed >= min_end:
                stopped_by = "budget"
                break
            if elapsed >= max_end:
                stopped_by = "max_duration"
                break
            if n >= budget.max_samples:
                stopped_by = "max_samples"
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    duration_s = (clock() - start) / 1e9
    return Samples(
        per_stage, total, warmup_calls, duration_s, stopped_by, device_stages, device_total
    )
