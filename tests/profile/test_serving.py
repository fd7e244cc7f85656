"""The server harness is right: Poisson arrivals, M/D/1 queueing, no coordinated omission,
the batcher's limits, MLPerf's validity and early stopping, and the QPS search.

Stand-in models sleep a fixed service time. Where a check depends on when things happen
(queueing, the batcher's dispatch times, the search), the harness runs on a simulated clock
(tests/profile/simulated_clock.py): its real threads and queue, but time that moves only when
every thread waits, so a call takes exactly its service time and the results are the same on
a loaded machine as on an idle one. A few smoke tests run on the real clock with bounds that
no load can break. No check is a timing of this machine.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats

from kdbench.errors import UserError
from kdbench.profile.serving import (
    REAL_CLOCK,
    Bound,
    Clock,
    Level,
    SearchSettings,
    ServerSettings,
    Trace,
    allowed_overshoots,
    early_stopping_estimate,
    early_stopping_queries,
    find_peak,
    judge_level,
    parse_bound,
    poisson_schedule,
    query_picks,
    run_level,
    run_offline,
    serve_arrivals,
)
from tests.profile.simulated_clock import SimulatedClock

QUERIES = [f"query {i}" for i in range(50)]


def sleeper(seconds: float, clock: Clock = REAL_CLOCK) -> Callable[[list[str]], None]:
    """A stand-in model whose every call takes `seconds` on `clock`."""

    def serve(batch: list[str]) -> None:
        clock.sleep_until(clock.now_ns() + round(seconds * 1e9))

    return serve


# -- arrivals ---------------------------------------------------------------------------------
def test_scheduled_inter_arrivals_are_exponential_at_the_rate() -> None:
    arrivals = poisson_schedule(200.0, 4000, 0.0, seed=3)
    gaps = np.diff(np.concatenate([[0.0], arrivals]))
    assert stats.kstest(gaps, "expon", args=(0, 1 / 200.0)).pvalue > 0.01
    # the wrong rate is rejected: the test has power
    assert stats.kstest(gaps, "expon", args=(0, 1 / 150.0)).pvalue < 1e-6


def test_schedule_is_seeded_and_shared_across_rates() -> None:
    slow = poisson_schedule(10.0, 100, 0.0, seed=1)
    fast = poisson_schedule(20.0, 100, 0.0, seed=1)
    np.testing.assert_allclose(slow[:100], 2 * fast[:100])
    assert not np.allclose(poisson_schedule(10.0, 100, 0.0, seed=2)[:100], slow[:100])


def test_schedule_meets_count_and_duration() -> None:
    arrivals = poisson_schedule(100.0, 50, 3.0, seed=0)
    assert len(arrivals) >= 50 and arrivals[-1] >= 3.0 and arrivals[-2] < 3.0


# -- queueing, on the simulated clock --------------------------------------------------------
def test_md1_mean_latency_at_half_load() -> None:
    """One worker, batch 1, a fixed service time S, Poisson arrivals at rho = 0.5: the queue
    is exactly M/D/1's (Lindley's recursion on the seeded arrivals), and its mean latency is
    M/D/1's S + rho S / (2 (1 - rho)) within the sampling error of those arrivals, also
    through Pollaczek-Khinchine's E[S] + lambda E[S^2] / (2 (1 - rho)) on the calls as
    served. (Over seeds, the mean of 20,000 queries has a standard deviation of 0.6%: 3% is
    five of them.)"""
    clock = SimulatedClock()
    service, count = 0.010, 20_000
    settings = ServerSettings(min_queries=count, min_duration_s=0.0, drain_s=2.0)
    arrivals = poisson_schedule(0.5 / service, count, 0.0, seed=11)
    picks = query_picks(count, 50, 11)
    trace = serve_arrivals(sleeper(service, clock), QUERIES, arrivals, picks, settings, clock=clock)
    level = judge_level(0.5 / service, trace, settings, None)
    assert level.answered == level.queries == count
    assert level.batch_sizes == {1: count}
    # issued on schedule, served first come first served, each call taking S
    np.testing.assert_array_equal(trace.issued, trace.scheduled)
    service_ns = round(service * 1e9)
    dispatched, free = [], 0
    for arrival in trace.scheduled.tolist():
        dispatched.append(max(arrival, free))
        free = dispatched[-1] + service_ns
    np.testing.assert_array_equal(trace.dispatched, dispatched)
    np.testing.assert_array_equal(trace.done, trace.dispatched + service_ns)
    calls = (trace.done - trace.dispatched) / 1e9
    rate = level.target_qps
    rho = rate * calls.mean()
    expected = calls.mean() + rate * np.mean(calls**2) / (2 * (1 - rho))
    assert level.latency_ms["mean"] / 1e3 == pytest.approx(expected, rel=0.03)
    # and with the nominal S: M/D/1 itself
    nominal = service + 0.5 * service / (2 * 0.5)
    assert level.latency_ms["mean"] / 1e3 == pytest.approx(nominal, rel=0.03)


def test_past_saturation_p99_grows_with_the_run_and_the_search_stops() -> None:
    clock = SimulatedClock()
    service = 0.005
    over = 2 / service  # rho = 2: the queue grows by half the arrivals

    def at(seconds: float) -> Level:
        settings = ServerSettings(min_queries=1, min_duration_s=seconds, drain_s=0.0)
        return run_level(sleeper(service, clock), QUERIES, over, settings, seed=1, clock=clock)

    short, longer = at(0.5), at(1.0)
    assert longer.latency_ms["p99"] > 1.6 * short.latency_ms["p99"] > 100.0
    # a bounded search that starts there stops the level early and steps down
    bound = Bound(90, 100.0)
    bounded = ServerSettings(min_queries=300, min_duration_s=0.0, drain_s=0.5)
    search = find_peak(
        lambda qps: run_level(
            sleeper(service, clock), QUERIES, qps, bounded, bound, seed=2, clock=clock
        ),
        SearchSettings(start_qps=over, budget_s=60, precision=0.5),
        clock=clock,
    )
    overloaded = search.levels[0]
    assert not overloaded.valid and overloaded.aborted  # stopped early, not run to the end
    assert overloaded.answered < overloaded.queries
    assert search.best is not None and search.best.target_qps < 1 / service


def test_too_few_queries_for_early_stopping_say_so() -> None:
    """5 queries cannot pass p99's early stopping even with none over the bound (459 are
    needed): the level stops at once and says why, not "more than early stopping allows (-1)"."""
    clock = SimulatedClock()
    settings = ServerSettings(min_queries=5, min_duration_s=0.0, drain_s=0.5)
    level = run_level(
        sleeper(0.001, clock), QUERIES, 10.0, settings, Bound(99, 50.0), seed=0, clock=clock
    )
    assert not level.valid and level.aborted is not None
    assert "5 queries are too few for early stopping to judge p99<=50ms" in level.aborted
    assert f"at least {early_stopping_queries(0, 99)}" in level.aborted
    assert "raise --min-queries" in level.aborted and "(-1)" not in level.aborted


def test_a_stall_shows_in_every_query_queued_behind_it() -> None:
    clock = SimulatedClock()
    calls = {"n": 0}
    stall_s = 0.25

    def serve(batch: list[str]) -> None:
        calls["n"] += 1
        clock.sleep(stall_s if calls["n"] == 100 else 0.002)

    settings = ServerSettings(min_queries=400, min_duration_s=0.0, drain_s=2.0)
    arrivals = poisson_schedule(100.0, 400, 0.0, seed=4)
    trace = serve_arrivals(serve, QUERIES, arrivals, query_picks(400, 50, 4), settings, clock=clock)
    stalled = int(np.argmax(trace.done - trace.dispatched))  # the query whose call stalled
    assert trace.done[stalled] - trace.dispatched[stalled] == round(stall_s * 1e9)
    stall_end = trace.done[stalled]
    behind = (trace.scheduled > trace.dispatched[stalled]) & (trace.scheduled < stall_end)
    assert behind.sum() >= 10  # the generator kept issuing during the stall
    # each waited for the stall to end, counted from its scheduled arrival
    latency = trace.done - trace.scheduled
    assert np.all(latency[behind] >= stall_end - trace.scheduled[behind])
    # and the issuer did not wait for the model: issued on time through the stall
    np.testing.assert_array_equal(trace.issued[behind], trace.scheduled[behind])


def test_batcher_respects_max_batch_and_max_wait() -> None:
    clock = SimulatedClock()
    service, max_wait_ms, max_batch = 0.020, 50.0, 4
    settings = ServerSettings(
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        min_queries=400,
        min_duration_s=0.0,
        drain_s=2.0,
    )
    arrivals = poisson_schedule(100.0, 400, 0.0, seed=7)
    picks = query_picks(400, 50, 7)
    trace = serve_arrivals(sleeper(service, clock), QUERIES, arrivals, picks, settings, clock=clock)
    assert max(trace.batches) <= max_batch and sum(trace.batches) == 400
    # one worker, first come first served: each batch is the next queries in arrival order
    first = np.unique(trace.dispatched, return_index=True)[1]  # each batch's oldest query
    sizes = np.diff(np.append(first, 400))
    assert sizes.tolist() == trace.batches
    np.testing.assert_array_equal(trace.batch, np.repeat(sizes, sizes))
    # a batch leaves when its oldest query has waited max-wait, or when it is full if that
    # is sooner (or once the last arrival is in: none is left to wait for), but not before
    # the worker comes free from its previous call
    last = first + sizes - 1
    full = sizes == max_batch
    waited = trace.issued[first] + round(max_wait_ms * 1e6)
    leaves = np.minimum(
        np.where(full, np.minimum(waited, trace.issued[last]), waited), trace.issued[-1]
    )
    free = np.concatenate([[0], trace.done[first][:-1]])
    np.testing.assert_array_equal(trace.dispatched[first], np.maximum(free, leaves))
    # a batch that left short took every query that had arrived
    short = ~full[:-1]
    assert np.all(trace.issued[first[1:]][short] > trace.dispatched[first[:-1]][short])
    # every rule was at work: full batches, batches sent by max-wait, and by a busy worker
    assert full.any() and (~full).any()
    assert np.any(trace.dispatched[first] == waited) and np.any(free > leaves)


def test_offline_queues_everything_and_batches_fully() -> None:
    clock = SimulatedClock()
    settings = ServerSettings(max_batch=8, workers=2, min_queries=64, min_duration_s=0.0)
    result = run_offline(sleeper(0.002, clock), QUERIES, settings, clock=clock)
    assert result.answered == 64 and result.to_dict()["batch_sizes"] == {"8": 8}
    # two workers, eight calls of 2 ms: four rounds
    assert result.duration_s == pytest.approx(0.008) and result.queries_per_s == pytest.approx(8000)


def test_search_on_served_levels_ends_valid_below_an_invalid_step() -> None:
    """Served by a stand-in: the answer's level is valid, the next step up is not."""
    clock = SimulatedClock()
    service = 0.005
    bound = Bound(90, 60.0)
    settings = ServerSettings(min_queries=300, min_duration_s=0.0, drain_s=0.5)
    search = find_peak(
        lambda qps: run_level(
            sleeper(service, clock), QUERIES, qps, settings, bound, seed=9, clock=clock
        ),
        SearchSettings(start_qps=50.0, budget_s=90, precision=0.10),
        clock=clock,
    )
    assert search.best is not None and search.best.valid
    assert search.above is not None and not search.above.valid
    assert search.above.target_qps <= search.best.target_qps * 1.10 + 1e-9
    assert search.best.target_qps < 1 / service  # below saturation
    assert search.best.achieved_qps >= 0.95 * search.best.scheduled_qps
    assert search.stopped_by.startswith("bracketed")


# -- on the real clock: what no load can change -----------------------------------------------
def test_batch_one_without_wait_is_plain_serving() -> None:
    settings = ServerSettings(min_queries=200, min_duration_s=0.0, drain_s=120.0)
    level = run_level(sleeper(0.001), QUERIES, 200.0, settings, seed=0)
    assert level.batch_sizes == {1: 200} and level.answered == 200
    assert len(level.latencies_ns) == 200
    assert threading.active_count() < 20  # workers end with their level


def test_real_clock_offline_queues_everything_and_batches_fully() -> None:
    settings = ServerSettings(max_batch=8, workers=2, min_queries=64, min_duration_s=0.0)
    result = run_offline(sleeper(0.002), QUERIES, settings)
    assert result.answered == 64 and result.to_dict()["batch_sizes"] == {"8": 8}
    assert result.queries_per_s > 0


def test_model_errors_reach_the_caller() -> None:
    def broken(batch: list[str]) -> None:
        raise RuntimeError("model broke")

    with pytest.raises(RuntimeError, match="model broke"):
        run_level(broken, QUERIES, 50.0, ServerSettings(min_queries=5, min_duration_s=0.0))


# -- early stopping and validity against hand computations -----------------------------------
def _by_hand(overshoots: int, percentile: float) -> int:
    """The smallest n with sum_{k<=t} C(n,k) q^k (1-q)^(n-k) < 0.01, q = 1 - p, by brute force."""
    q = 1 - percentile / 100
    n = overshoots + 1
    while True:
        cdf = sum(math.comb(n, k) * q**k * (1 - q) ** (n - k) for k in range(overshoots + 1))
        if cdf < 0.01:
            return n
        n += 1


def test_early_stopping_counts_match_hand_computation() -> None:
    # t = 0: 0.99^n < 0.01 -> n = 459 (ln 0.01 / ln 0.99 = 458.2); 0.9^n < 0.01 -> 44
    assert early_stopping_queries(0, 99) == 459 == _by_hand(0, 99)
    assert early_stopping_queries(0, 90) == 44 == _by_hand(0, 90)
    for overshoots in (1, 2, 5):
        assert early_stopping_queries(overshoots, 99) == _by_hand(overshoots, 99)
    assert early_stopping_queries(3, 95) == _by_hand(3, 95)


def test_allowed_overshoots_and_estimate_on_hand_built_samples() -> None:
    needed_one = _by_hand(1, 99)
    assert allowed_overshoots(needed_one - 1, 99) == 0
    assert allowed_overshoots(needed_one, 99) == 1
    # needed_one samples, 1..n ms: one overshoot allowed, so the estimate is the 2nd largest
    samples = [float(v) for v in range(1, needed_one + 1)]
    assert early_stopping_estimate(samples, 99) == needed_one - 1
    assert early_stopping_estimate(samples[:458], 99) is None


def _trace(latencies_ms: list[float], gap_ms: float = 10.0) -> Trace:
    n = len(latencies_ms)
    scheduled = (np.arange(1, n + 1) * gap_ms * 1e6).astype(np.int64)
    done = scheduled + (np.asarray(latencies_ms) * 1e6).astype(np.int64)
    return Trace(
        scheduled=scheduled,
        issued=scheduled.copy(),
        dispatched=scheduled.copy(),
        done=done,
        batch=np.ones(n, dtype=np.int64),
        picks=np.zeros(n, dtype=np.int64),
        batches=[1] * n,
        cutoff_ns=int(done.max()),
        aborted=None,
        cpu_s=0.0,
        wall_s=1.0,
    )


def test_validity_on_hand_built_samples() -> None:
    settings = ServerSettings(min_queries=500, min_duration_s=4.0)
    bound = Bound(99, 50.0)
    # 900 queries, 10 ms apart (9 s), 5 ms each except 2 at 80 ms
    latencies = [5.0] * 900
    latencies[100] = latencies[400] = 80.0
    level = judge_level(100.0, _trace(latencies), settings, bound)
    assert level.overshoots == 2 and level.early_stopping["queries_needed"] == _by_hand(2, 99)
    assert _by_hand(2, 99) <= 900 and level.valid, level.reasons
    assert level.scheduled_qps == pytest.approx(100.0)
    # 8 over the bound: p99 still 5 ms, but early stopping needs more queries than 900
    latencies[200:206] = [80.0] * 6
    level = judge_level(100.0, _trace(latencies), settings, bound)
    assert level.early_stopping["percentile_ms"] == pytest.approx(5.0)
    assert _by_hand(8, 99) > 900
    assert not level.valid and any("early stopping" in r for r in level.reasons)
    # too few queries and too short
    level = judge_level(100.0, _trace([5.0] * 300), settings, bound)
    assert any("--min-queries" in r for r in level.reasons)
    assert any("--min-query-duration" in r for r in level.reasons)


def test_answers_slower_than_arrivals_are_invalid() -> None:
    settings = ServerSettings(min_queries=10, min_duration_s=0.0)
    latencies = [5.0 + 4.0 * i for i in range(100)]  # the queue grows: answers lag arrivals
    level = judge_level(100.0, _trace(latencies), settings, None)
    assert level.achieved_qps < 0.95 * level.scheduled_qps
    assert not level.valid and any("scheduled" in r for r in level.reasons)


def test_parse_bound() -> None:
    assert parse_bound("p95<=20ms") == Bound(95.0, 20.0)
    assert parse_bound("p99 <= 0.05s") == Bound(99.0, 50.0)
    for bad in ("p99<50ms", "99<=50ms", "p100<=5ms", "p99<=0ms", "p99<=fast"):
        with pytest.raises(UserError, match="--bound"):
            parse_bound(bad)


# -- the search -------------------------------------------------------------------------------
def _fake_level(qps: float, valid: bool) -> Level:
    return Level(
        target_qps=qps,
        scheduled_qps=qps,
        achieved_qps=qps,
        queries=1,
        answered=1,
        duration_s=1.0,
        latency_ms=None,
        latency_ci_ms={},
        queue_ms=None,
        compute_ms=None,
        issue_lag_ms=None,
        batch_sizes={},
        mean_batch=None,
        cpu_utilisation=0.0,
        valid=valid,
        reasons=[] if valid else ["over"],
    )


@pytest.mark.parametrize("start", [1.0, 37.0, 500.0])
def test_search_brackets_then_bisects_to_the_edge(start: float) -> None:
    capacity = 123.4
    search = find_peak(
        lambda qps: _fake_level(qps, qps <= capacity), SearchSettings(start_qps=start, budget_s=1e9)
    )
    assert search.best is not None and search.best.valid and search.best.target_qps <= capacity
    assert search.above is not None and not search.above.valid
    assert search.above.target_qps <= search.best.target_qps * 1.05
    assert search.stopped_by.startswith("bracketed")


def test_search_budget_bounds_the_levels() -> None:
    """Levels of 25 s in a 60 s budget: two run (50 s); a third would end past the budget."""
    clock = SimulatedClock()

    def run_at(qps: float) -> Level:
        clock.sleep(25.0)
        return _fake_level(qps, qps <= 50)

    search = find_peak(run_at, SearchSettings(start_qps=1.0, budget_s=60), clock=clock)
    assert "budget" in search.stopped_by and len(search.levels) == 2


def test_search_reports_no_valid_level() -> None:
    search = find_peak(
        lambda qps: _fake_level(qps, False), SearchSettings(start_qps=1.0, min_qps=0.1)
    )
    assert search.best is None and "no valid level" in search.stopped_by
