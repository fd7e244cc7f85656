"""The simulated clock the serving tests run on: time jumps to the next deadline only when
every thread waits, a notified thread runs before time moves, and what the serving code
records does not depend on how the machine schedules the threads."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from kdbench.profile.serving import (
    ServerSettings,
    Trace,
    poisson_schedule,
    query_picks,
    serve_arrivals,
)
from tests.profile.simulated_clock import SimulatedClock, SimulatedDeadlock


def test_sleeping_threads_wake_at_their_deadlines_in_order() -> None:
    clock = SimulatedClock()
    woke: list[tuple[str, int]] = []

    def sleeper(name: str, until_ns: int) -> None:
        clock.sleep_until(until_ns)
        woke.append((name, clock.now_ns()))

    clock.start_thread(lambda: sleeper("late", 300), "late")
    clock.start_thread(lambda: sleeper("early", 100), "early")
    clock.sleep_until(200)
    assert clock.now_ns() == 200 and woke == [("early", 100)]
    clock.sleep_until(1_000)
    assert woke == [("early", 100), ("late", 300)] and clock.now_ns() == 1_000
    clock.sleep_until(500)  # already past: returns at once
    assert clock.now_ns() == 1_000


def test_time_waits_for_a_running_thread() -> None:
    clock = SimulatedClock()
    seen: list[int] = []

    def busy() -> None:
        time.sleep(0.05)  # real work: no simulated time passes meanwhile
        seen.append(clock.now_ns())

    clock.start_thread(busy, "busy")
    clock.sleep_until(10)
    assert seen == [0] and clock.now_ns() == 10


def test_condition_wait_times_out_on_the_clock_and_a_notify_wakes_at_once() -> None:
    clock = SimulatedClock()
    ready = clock.condition()
    results: list[tuple[bool, int]] = []

    def waiter() -> None:
        with ready:
            results.append((ready.wait(0.5), clock.now_ns()))  # nobody notifies: times out
            results.append((ready.wait(10.0), clock.now_ns()))  # notified at 0.7 s

    clock.start_thread(waiter, "waiter")
    clock.sleep_until(700_000_000)
    with ready:
        ready.notify()
    clock.sleep_until(800_000_000)
    assert results == [(False, 500_000_000), (True, 700_000_000)]


def test_every_thread_waiting_without_a_deadline_is_a_deadlock() -> None:
    clock = SimulatedClock()
    ready = clock.condition()
    with ready, pytest.raises(SimulatedDeadlock):
        ready.wait()


def _batched(jitter: bool) -> Trace:
    """Two workers batching a Poisson load; with `jitter` each call first sleeps a random
    real moment, which reorders how the machine runs the threads."""
    clock = SimulatedClock()
    rng = np.random.default_rng(5)
    lock = threading.Lock()

    def serve(batch: list[str]) -> None:
        if jitter:
            with lock:
                pause = float(rng.uniform(0, 0.002))
            time.sleep(pause)
        clock.sleep(0.015 + 0.005 * len(batch))

    settings = ServerSettings(
        max_batch=4, max_wait_ms=20.0, workers=2, min_queries=300, min_duration_s=0.0
    )
    arrivals = poisson_schedule(150.0, 300, 0.0, seed=8)
    return serve_arrivals(serve, ["q"], arrivals, query_picks(300, 1, 8), settings, clock=clock)


def test_what_serving_records_does_not_depend_on_the_machine() -> None:
    calm, shaken = _batched(jitter=False), _batched(jitter=True)
    for name in ("scheduled", "issued", "dispatched", "done", "batch"):
        np.testing.assert_array_equal(getattr(calm, name), getattr(shaken, name), err_msg=name)
    assert sorted(calm.batches) == sorted(shaken.batches) and max(calm.batches) > 1
