from __future__ import annotations

import gc
import time

import pytest

from kdbench.profile.timer import Budget, measure


def test_stages_chain_and_samples_per_stage() -> None:
    seen = []

    def double(x: int) -> int:
        return x * 2

    def record(x: int) -> int:
        seen.append(x)
        return x

    samples = measure(
        [double, record], 21, Budget(warmup=2, warmup_s=0, min_samples=7, min_duration_s=0)
    )
    assert seen == [42] * (2 + 7)  # warm-up calls run the chain too
    assert samples.warmup_calls == 2
    assert len(samples.total) == 7 and [len(s) for s in samples.stages] == [7, 7]
    assert samples.stopped_by == "budget"
    # the total spans both stages, read from the same clock marks
    assert all(t == a + b for t, a, b in zip(samples.total, *samples.stages, strict=True))


def test_min_duration_keeps_sampling() -> None:
    samples = measure(
        [lambda _: time.sleep(0.002)],
        None,
        Budget(warmup=0, warmup_s=0, min_samples=1, min_duration_s=0.05),
    )
    assert len(samples.total) >= 10
    assert samples.duration_s >= 0.05


def test_max_duration_stops_short_of_min_samples() -> None:
    budget = Budget(warmup=0, warmup_s=0, min_samples=10_000, min_duration_s=0, max_duration_s=0.03)
    samples = measure([lambda _: time.sleep(0.005)], None, budget)
    assert samples.stopped_by == "max_duration"
    assert 1 <= len(samples.total) < 100


def test_sync_runs_after_every_stage() -> None:
    calls = []
    measure(
        [lambda _: None, lambda _: None],
        None,
        Budget(warmup=0, warmup_s=0, min_samples=3, min_duration_s=0),
        sync=lambda: calls.append(1),
    )
    assert len(calls) == 3 * 2


def test_gc_is_restored() -> None:
    assert gc.isenabled()
    measure([lambda _: None], None, Budget(warmup=0, warmup_s=0, min_samples=2, min_duration_s=0))
    assert gc.isenabled()


def test_budget_validation() -> None:
    with pytest.raises(ValueError):
        Budget(min_duration_s=10, max_duration_s=1)
    with pytest.raises(ValueError):
        Budget(min_samples=0)


class FakeEvents:
    """A device clock whose mark i completes at a scripted time, logging each call."""

    def __init__(self, log: list[str], times_ns: list[int]) -> None:
        self.log, self.times_ns = log, times_ns

    def record(self, index: int) -> None:
        self.log.append(f"record {index}")

    def elapsed_ns(self, start: int, end: int) -> int:
        self.log.append(f"read {start}-{end}")
        return self.times_ns[end] - self.times_ns[start]


def test_device_marks_bracket_each_stage_before_its_sync() -> None:
    log: list[str] = []
    stages = [lambda _: log.append("stage 0"), lambda _: log.append("stage 1")]
    samples = measure(
        stages,
        None,
        Budget(warmup=1, warmup_s=0, min_samples=2, min_duration_s=0),
        sync=lambda: log.append("sync"),
        events=FakeEvents(log, [0, 1_000, 5_000]),
    )
    # warm-up records nothing; then mark 0, stage, its mark, sync, ... read after the chain
    warmup = ["stage 0", "stage 1", "sync"]
    sample = [
        "record 0",
        "stage 0",
        "record 1",
        "sync",
        "stage 1",
        "record 2",
        "sync",
        "read 0-1",
        "read 1-2",
        "read 0-2",
    ]
    assert log == warmup + sample + sample
    assert samples.device_stages == [[1_000, 1_000], [4_000, 4_000]]
    assert samples.device_total == [5_000, 5_000]


def test_no_device_clock_no_device_samples() -> None:
    samples = measure(
        [lambda _: None], None, Budget(warmup=0, warmup_s=0, min_samples=2, min_duration_s=0)
    )
    assert samples.device_stages is None and samples.device_total is None
