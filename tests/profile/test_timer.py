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
