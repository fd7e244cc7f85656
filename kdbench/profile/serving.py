"""Cost under traffic: an open-loop load generator, a dynamic batcher, and the highest QPS
that holds a latency bound (MLPerf LoadGen's Server and Offline scenarios, on one machine).

Everything here is pure Python over a `serve(batch)` callable, so the harness is
tested with stand-in models (tests/profile/test_serving.py) and the profiler hands it a
real model's call (kdbench.profile.serve_runner).

- Arrivals are a Poisson process at the target QPS, seeded: the gaps are standard
  exponential draws divided by the rate, the same draws at every rate (common random
  numbers), so two levels of a search differ by their rate only. Which test query each
  arrival asks is drawn from the same seed.
- Latency runs from each query's *scheduled* arrival to its response, so a query that
  waits behind a slow one, or behind a late issuer, counts its wait (no coordinated
  omission). Queue time is scheduled arrival -> dispatch to the model; compute time is
  dispatch -> response.
- The batcher: a free worker takes the oldest query and waits for more until it holds
  `max_batch` or the oldest has waited `max_wait_ms` since it arrived (a query that already
  waited longer for a busy worker is not held further); batch 1 and no wait is plain serving.
- Validity of a level, as MLPerf states it: at least `min_queries` queries over at least
  `min_duration_s`, every query answered, the answered rate within 5% of the scheduled rate,
  the bounded percentile within the bound, and MLPerf's early-stopping criterion: with t of
  n queries over the bound, n must reach the smallest count at which t overshoots still
  support "the percentile is within the bound" at 99% confidence (`early_stopping_queries`).
- `find_peak`: LoadGen's FindPeakPerformance in spirit: bracket (double while valid, halve
  while not), then bisect between the highest valid and the lowest invalid level until they
  are within `precision`; the search's own time is bounded (`budget_s`).
- Time: every read of the time, sleep and wait goes through a `Clock`, the machine's
  (`REAL_CLOCK`) unless one is passed; the tests pass a simulated one, in which a stand-in
  model's call takes exactly its service time however busy the machine is.
"""

from __future__ import annotations

import bisect
import math
import os
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol, TypeVar

import numpy as np

from kdbench.env import usable_cores
from kdbench.errors import UserError
from kdbench.json_types import JsonObject, JsonValue
from kdbench.profile.stats import percentile_interval
from kdbench.quantities import QuantityError, parse_duration_ms

# MLPerf's Server scenario (mlperf.conf): p99 within the bound, at least 600 s, and early
# stopping at 99% confidence (older rounds asked for 270,336 queries instead). A CPU run of a
# search visits several levels, so the defaults are sized to minutes in all; docs/serving.md.
MLPERF_MIN_QUERIES = 270_336
MLPERF_MIN_DURATION_S = 600.0
EARLY_STOPPING_CONFIDENCE = 0.99
ACHIEVED_FRACTION = 0.95  # answered QPS must reach this share of the scheduled QPS
_CHUNK = 4096  # random draws are made in chunks of this size, so every rate shares a prefix
# A query as `serve` takes it: the text of a test query for a model, anything in tests.
Q = TypeVar("Q")


# -- time ------------------------------------------------------------------------------------
class Clock(Protocol):
    """Where the load generator reads the time, sleeps, waits and starts its workers.

    `REAL_CLOCK` is the machine's. A simulated clock (the tests') lets time stand still while
    any of its threads runs and jumps to the next deadline when all of them wait, so the
    queueing is exact however busy the machine is; for that it owns the condition the threads
    wait on and starts the threads itself.
    """

    def now_ns(self) -> int:
        """Nanoseconds from an arbitrary origin, never decreasing."""

    def sleep_until(self, when_ns: int) -> None:
        """Return once `now_ns() >= when_ns` (at once if it already is)."""

    def condition(self) -> threading.Condition:
        """A condition whose `wait(timeout)` counts this clock's seconds."""

    def start_thread(self, target: Callable[[], None], name: str) -> None:
        """Run `target` on a new daemon thread."""


class RealClock:
    """The machine's monotonic clock (`time.perf_counter_ns`) and real threads."""

    def now_ns(self) -> int:
        return time.perf_counter_ns()

    def sleep_until(self, when_ns: int) -> None:
        delay = when_ns - time.perf_counter_ns()
        if delay > 0:
            time.sleep(delay / 1e9)

    def condition(self) -> threading.Condition:
        return threading.Condition()

    def start_thread(self, target: Callable[[], None], name: str) -> None:
        threading.Thread(target=target, name=name, daemon=True).start()


REAL_CLOCK = RealClock()


# -- bounds ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bound:
    """A latency bound on one percentile: `p99<=50ms`."""

    percentile: float
    limit_ms: float

    @property
    def label(self) -> str:
        return f"p{self.percentile:g}<={self.limit_ms:g}ms"


def parse_bound(text: str, option: str = "--bound") -> Bound:
    """`p99<=50ms` (or `p95<=0.02s`, `p90<=20`: bare numbers are ms) as a `Bound`.

    >>> parse_bound("p99<=50ms")
    Bound(percentile=99.0, limit_ms=50.0)
    >>> parse_bound("p99.9<=0.5s").label
    'p99.9<=500ms'
    """
    match = re.fullmatch(r"\s*p(\d+(?:\.\d+)?)\s*<=\s*(\S+)\s*", str(text))
    if match is None:
        raise UserError(f"{option} {text!r}: write PERCENTILE<=DURATION, e.g. {option} p99<=50ms")
    percentile = float(match.group(1))
    if not 0 < percentile < 100:
        raise UserError(f"{option} {text!r}: the percentile must lie between 0 and 100 (p99)")
    try:
        limit = parse_duration_ms(match.group(2))
    except QuantityError as error:
        raise UserError(f"{option} {text!r}: {error}") from None
    if not limit > 0:
        raise UserError(f"{option} {text!r}: the bound must be above 0 ms")
    return Bound(percentile, limit)


# -- early stopping (MLPerf LoadGen's rule, from the binomial distribution) -------------------
def _early_stop_reason(
    issued: int, count: int, over: int, allowed: int, bound: Bound | None, confidence: float
) -> str:
    """Why a level stopped issuing: more queries over the bound than early stopping allows,
    or (`allowed` < 0) too few queries for early stopping to pass even with none over."""
    label = bound.label if bound is not None else "the bound"
    if allowed < 0 and bound is not None:
        return (
            f"stopped after {issued} of {count} arrivals: {count} queries are too few for "
            f"early stopping to judge {label} even with none over it (at least "
            f"{early_stopping_queries(0, bound.percentile, confidence)}); raise --min-queries"
        )
    return (
        f"stopped after {issued} of {count} arrivals: {over} queries over {label}, "
        f"more than early stopping allows ({allowed}) for {count} queries"
    )


def _overshoot_cdf(overshoots: int, total: int, tail: float) -> float:
    """P(at most `overshoots` of `total` queries exceed the bound) if each does with `tail`."""
    from scipy.stats import binom

    return float(binom.cdf(overshoots, total, tail))


def early_stopping_queries(
    overshoots: int,
    percentile: float,
    confidence: float = EARLY_STOPPING_CONFIDENCE,
    tolerance: float = 0.0,
) -> int:
    """The fewest queries in all at which `overshoots` queries over the bound still show,
    with `confidence`, that the `percentile`-th latency is within it: the smallest n with
    P(Binomial(n, 1 - p + tolerance) <= overshoots) < 1 - confidence.

    >>> early_stopping_queries(0, 99), early_stopping_queries(0, 90)
    (459, 44)
    """
    tail = 1 - percentile / 100 + tolerance
    if not 0 < tail < 1:
        raise ValueError(f"percentile {percentile} with tolerance {tolerance} leaves no tail")
    low = overshoots + 1  # at least one passing query
    high = max(low, 2 * (overshoots + 1))
    while _overshoot_cdf(overshoots, high, tail) >= 1 - confidence:
        low, high = high, high * 2
    while low < high:  # the cdf falls as n grows: the first n below 1 - confidence
        middle = (low + high) // 2
        if _overshoot_cdf(overshoots, middle, tail) < 1 - confidence:
            high = middle
        else:
            low = middle + 1
    return low


def allowed_overshoots(queries: int, percentile: float, confidence: float = 0.99) -> int | None:
    """The most overshoots `queries` queries can hold and still pass early stopping (None:
    too few queries even with none over the bound).

    >>> allowed_overshoots(458, 99), allowed_overshoots(459, 99)
    (None, 0)
    """
    if queries < early_stopping_queries(0, percentile, confidence):
        return None
    low, high = 0, queries  # early_stopping_queries(t) grows with t
    while low < high:
        middle = (low + high + 1) // 2
        if early_stopping_queries(middle, percentile, confidence) <= queries:
            low = middle
        else:
            high = middle - 1
    return low


def early_stopping_estimate(
    latencies_ms: Sequence[float], percentile: float, confidence: float = 0.99
) -> float | None:
    """The latency the `percentile`-th is within at `confidence` (MLPerf's early-stopping
    estimate): with t the most overshoots n queries may hold, the (t + 1)-th largest
    latency. None: too few queries.

    >>> early_stopping_estimate([float(v) for v in range(1, 460)], 99)  # t = 0: the largest
    459.0
    """
    allowed = allowed_overshoots(len(latencies_ms), percentile, confidence)
    if allowed is None:
        return None
    return float(sorted(latencies_ms, reverse=True)[allowed])


# -- the load --------------------------------------------------------------------------------
def poisson_gaps(count: int, seed: int) -> np.ndarray:
    """`count` standard exponential gaps (mean 1) from `seed`; divide by a rate for seconds.
    Drawn in fixed chunks, so a longer schedule extends a shorter one."""
    rng = np.random.default_rng(seed)
    chunks = -(-count // _CHUNK)
    return np.concatenate([rng.standard_exponential(_CHUNK) for _ in range(max(chunks, 1))])[:count]


def query_picks(count: int, pool: int, seed: int) -> np.ndarray:
    """Which of `pool` queries each of `count` arrivals asks (uniform, from `seed`)."""
    rng = np.random.default_rng([seed, 1])
    chunks = -(-count // _CHUNK)
    return np.concatenate([rng.integers(0, pool, _CHUNK) for _ in range(max(chunks, 1))])[:count]


def poisson_schedule(qps: float, min_queries: int, min_duration_s: float, seed: int) -> np.ndarray:
    """Arrival times in seconds from the start: a Poisson process at `qps`, long enough for
    both `min_queries` arrivals and `min_duration_s` seconds (MLPerf's run length rule)."""
    if not qps > 0:
        raise ValueError(f"qps must be above 0, got {qps}")
    count = max(min_queries, math.ceil(qps * min_duration_s * 1.2) + 64)
    while True:
        times = np.cumsum(poisson_gaps(count, seed)) / qps
        enough = np.flatnonzero(
            (np.arange(1, count + 1) >= min_queries) & (times >= min_duration_s)
        )
        if enough.size:
            return times[: int(enough[0]) + 1]
        count *= 2


@dataclass(frozen=True)
class ServerSettings:
    """How a level is served and when it counts (the profile's --max-batch, --workers, ...)."""

    max_batch: int = 1
    max_wait_ms: float = 0.0
    workers: int = 1
    min_queries: int = 1024
    min_duration_s: float = 10.0
    drain_s: float | None = None  # answers awaited after the last arrival (None: from the bound)
    confidence: float = EARLY_STOPPING_CONFIDENCE

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.workers < 1 or self.min_queries < 1:
            raise ValueError(f"invalid server settings {self}")
        if self.max_wait_ms < 0 or self.min_duration_s < 0:
            raise ValueError(f"invalid server settings {self}")


@dataclass
class Trace:
    """Per query, nanoseconds from the run's start: scheduled arrival, issue, dispatch to
    the model, response (-1: never), and the size of the batch it ran in."""

    scheduled: np.ndarray
    issued: np.ndarray
    dispatched: np.ndarray
    done: np.ndarray
    batch: np.ndarray
    picks: np.ndarray
    batches: list[int]  # size of every model call, in call order
    cutoff_ns: int  # when the run stopped waiting for answers
    aborted: str | None  # why issuing stopped early (None: every arrival was issued)
    cpu_s: float  # process CPU seconds (all threads) over the run
    wall_s: float


@dataclass
class _RunState:
    """What the issuer and the workers share, under the queue's lock."""

    issuing: bool = True  # arrivals still to come
    stop: bool = False  # the run is over: workers leave after their call
    next: int = 0  # the oldest query not yet taken (the queue is FIFO)
    working: int = 0  # workers not yet left
    over: int = 0  # answered queries over the bound
    aborted: str | None = None


def serve_arrivals(
    serve: Callable[[list[Q]], object],
    queries: Sequence[Q],
    arrivals_s: np.ndarray,
    picks: np.ndarray,
    settings: ServerSettings,
    bound: Bound | None = None,
    clock: Clock = REAL_CLOCK,
) -> Trace:
    """Issue `queries[picks[i]]` at `arrivals_s[i]` (seconds after the start, sorted) into a
    queue that `settings.workers` workers drain through the batcher into `serve`; every
    arrival already due when the issuer wakes is queued at once.

    With a `bound`, issuing stops as soon as more queries are over it than early stopping
    can allow for this many arrivals (the level cannot be valid; a search moves on).
    """
    count = len(arrivals_s)
    scheduled = np.round(np.asarray(arrivals_s) * 1e9).astype(np.int64)
    issued = np.full(count, -1, dtype=np.int64)
    dispatched = np.full(count, -1, dtype=np.int64)
    done = np.full(count, -1, dtype=np.int64)
    batch_of = np.zeros(count, dtype=np.int64)
    batches: list[int] = []
    waiting: deque[int] = deque()
    ready = clock.condition()
    state = _RunState(working=settings.workers)
    max_wait_ns = int(settings.max_wait_ms * 1e6)
    bound_ns = None if bound is None else int(bound.limit_ms * 1e6)
    allowed = None
    if bound is not None:
        allowed = allowed_overshoots(count, bound.percentile, settings.confidence)
        allowed = -1 if allowed is None else allowed
    start = clock.now_ns() + 20_000_000  # 20 ms for the workers to reach the queue
    errors: list[BaseException] = []

    def take() -> list[int] | None:
        """The next batch (oldest first), or None when the run is over."""
        with ready:
            while not waiting:
                if state.stop or not state.issuing:
                    return None
                ready.wait()
            first = waiting.popleft()
            picked = [first]
            deadline = start + issued[first] + max_wait_ns
            while len(picked) < settings.max_batch:
                if waiting:
                    picked.append(waiting.popleft())
                    continue
                remaining = deadline - clock.now_ns()
                if remaining <= 0 or state.stop or not state.issuing:
                    break
                ready.wait(remaining / 1e9)
            state.next = picked[-1] + 1
            return picked

    def work() -> None:
        try:
            while True:
                picked = take()
                if picked is None:
                    return
                now = clock.now_ns() - start
                dispatched[picked] = now
                serve([queries[picks[i]] for i in picked])
                finished = clock.now_ns() - start
                done[picked] = finished
                batch_of[picked] = len(picked)
                with ready:
                    batches.append(len(picked))
                    if bound_ns is not None:
                        state.over += int(np.count_nonzero(finished - scheduled[picked] > bound_ns))
        except BaseException as error:  # the issuer reports it; the run stops
            errors.append(error)
            with ready:
                state.stop = True
                ready.notify_all()
        finally:
            with ready:
                state.working -= 1
                ready.notify_all()

    def await_workers(until_ns: int) -> None:
        """Wait, holding `ready`, until every worker has left or the clock reaches `until_ns`."""
        while state.working and (remaining := until_ns - clock.now_ns()) > 0:
            ready.wait(remaining / 1e9)

    cpu_start = _cpu_seconds()
    for number in range(settings.workers):
        clock.start_thread(work, f"kdbench-serve-{number}")
    index = 0
    while index < count and not state.stop:
        clock.sleep_until(start + int(scheduled[index]))
        now = clock.now_ns() - start
        with ready:
            if state.stop:
                break
            due = index
            while index < count and scheduled[index] <= now:
                issued[index] = now
                waiting.append(index)
                index += 1
                if allowed is not None and bound_ns is not None:
                    # queued queries already older than the bound are overshoots too
                    stale = bisect.bisect_left(scheduled, now - bound_ns, state.next, index)
                    over = state.over + max(0, stale - state.next)
                    if over > allowed:
                        state.aborted = _early_stop_reason(
                            index, count, over, allowed, bound, settings.confidence
                        )
                        state.stop = True
                        waiting.clear()
                        break
            if state.stop:
                ready.notify_all()
            else:
                ready.notify(index - due)
    drain = settings.drain_s
    if drain is None:
        drain = max(1.0, 4 * bound.limit_ms / 1e3) if bound is not None else 10.0
    cutoff = start + int(scheduled[-1]) + int(drain * 1e9) if count else clock.now_ns()
    with ready:
        state.issuing = False
        ready.notify_all()
        await_workers(cutoff)
        state.stop = True
        waiting.clear()
        ready.notify_all()
        # a call in flight finishes; a stalled model is left behind
        await_workers(clock.now_ns() + 5_000_000_000)
    if errors:
        raise errors[0]
    cutoff_ns = min(clock.now_ns(), cutoff) - start
    wall_s = (clock.now_ns() - start) / 1e9
    return Trace(
        scheduled,
        issued,
        dispatched,
        done,
        batch_of,
        picks,
        batches,
        int(cutoff_ns),
        state.aborted,
        _cpu_seconds() - cpu_start,
        wall_s,
    )


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


# -- a level's statistics and verdict -------------------------------------------------------
def _stats_ms(values_ns: np.ndarray) -> dict[str, float] | None:
    if values_ns.size == 0:
        return None
    ms = values_ns.astype(np.float64) / 1e6
    return {
        "mean": float(ms.mean()),
        **{
            f"p{p}": float(v)
            for p, v in zip((50, 90, 95, 99), np.percentile(ms, (50, 90, 95, 99)), strict=True)
        },
        "max": float(ms.max()),
    }


@dataclass
class Level:
    """One served load: what was asked, what happened, and whether it counts."""

    target_qps: float
    scheduled_qps: float  # arrivals / time of the last arrival (the schedule as drawn)
    achieved_qps: float  # answers / time from the start to the last answer
    queries: int  # arrivals scheduled
    answered: int
    duration_s: float  # of the schedule: the last arrival's time
    latency_ms: dict[str, float] | None  # scheduled arrival -> response (unanswered: cutoff)
    latency_ci_ms: dict[str, list[float] | None]  # 95% distribution-free, per percentile
    queue_ms: dict[str, float] | None  # scheduled arrival -> dispatch
    compute_ms: dict[str, float] | None  # dispatch -> response
    issue_lag_ms: dict[str, float] | None  # scheduled arrival -> issue (the generator's own lag)
    batch_sizes: dict[int, int]  # model calls per batch size
    mean_batch: float | None
    cpu_utilisation: float  # process CPU time / (wall time x cores)
    valid: bool
    reasons: list[str]  # why not valid (empty when valid)
    bound: str | None = None
    overshoots: int | None = None  # queries over the bound
    early_stopping: dict[str, float | None] | None = None
    aborted: str | None = None
    # raw, in arrival order (not in to_dict: the profile keeps the answer's level's only)
    latencies_ns: list[int] = field(default_factory=list, repr=False)

    def to_dict(self) -> JsonObject:
        record = asdict(self)
        del record["latencies_ns"]
        record["batch_sizes"] = {str(k): v for k, v in sorted(self.batch_sizes.items())}
        return record


def judge_level(
    target_qps: float, trace: Trace, settings: ServerSettings, bound: Bound | None
) -> Level:
    """The statistics of `trace` and its verdict under MLPerf's rules (see the module doc)."""
    count = len(trace.scheduled)
    answered_mask = trace.done >= 0
    answered = int(answered_mask.sum())
    # an unanswered query counts as waiting until the cutoff: a lower bound on its latency
    ends = np.where(answered_mask, trace.done, trace.cutoff_ns)
    issued_mask = trace.issued >= 0
    latencies = (ends - trace.scheduled)[issued_mask] if count else np.zeros(0, np.int64)
    duration_s = float(trace.scheduled[-1]) / 1e9 if count else 0.0
    last_done = float(trace.done[answered_mask].max()) / 1e9 if answered else 0.0
    scheduled_qps = count / duration_s if duration_s > 0 else math.inf
    achieved_qps = answered / last_done if last_done > 0 else 0.0
    dispatched = trace.dispatched >= 0
    ran = answered_mask & dispatched
    reasons: list[str] = []
    if count < settings.min_queries:
        reasons.append(f"{count} queries < --min-queries {settings.min_queries}")
    if duration_s < settings.min_duration_s:
        reasons.append(f"{duration_s:.1f} s < --min-query-duration {settings.min_duration_s:g} s")
    if trace.aborted:
        reasons.append(trace.aborted)
    elif answered < count:
        reasons.append(f"{count - answered} of {count} queries unanswered by the cutoff")
    if not trace.aborted and achieved_qps < ACHIEVED_FRACTION * scheduled_qps:
        reasons.append(
            f"answered {achieved_qps:.1f} QPS < {ACHIEVED_FRACTION:.0%} of the scheduled "
            f"{scheduled_qps:.1f} QPS"
        )
    overshoots = None
    early = None
    latency_ms = _stats_ms(latencies)
    if bound is not None and latencies.size:
        ms = latencies.astype(np.float64) / 1e6
        overshoots = int(np.count_nonzero(ms > bound.limit_ms)) + (count - int(issued_mask.sum()))
        observed = float(np.percentile(ms, bound.percentile))
        needed = early_stopping_queries(overshoots, bound.percentile, settings.confidence)
        estimate = early_stopping_estimate(list(ms), bound.percentile, settings.confidence)
        early = {
            "overshoots": overshoots,
            "queries_needed": needed,
            "estimate_ms": estimate,
            "confidence": settings.confidence,
            "percentile_ms": observed,
        }
        if trace.aborted:
            pass  # cut short: the abort says why; the rest describes a run that did not finish
        elif observed > bound.limit_ms:
            reasons.append(f"p{bound.percentile:g} {observed:.1f} ms > {bound.limit_ms:g} ms")
        if count < needed and not trace.aborted:
            reasons.append(
                f"early stopping: {overshoots} of {count} queries over {bound.limit_ms:g} ms; "
                f"p{bound.percentile:g} <= {bound.limit_ms:g} ms at "
                f"{settings.confidence:.0%} confidence needs >= {needed} queries"
            )
    intervals: dict[str, list[float] | None] = {}
    for percentile in (50, 90, 95, 99):
        interval = percentile_interval(latencies.tolist(), percentile) if latencies.size else None
        intervals[f"p{percentile}"] = list(interval) if interval else None
    sizes = Counter(trace.batches)
    cores = usable_cores()
    return Level(
        target_qps=target_qps,
        scheduled_qps=scheduled_qps,
        achieved_qps=achieved_qps,
        queries=count,
        answered=answered,
        duration_s=duration_s,
        latency_ms=latency_ms,
        latency_ci_ms=intervals,
        queue_ms=_stats_ms((trace.dispatched - trace.scheduled)[ran]),
        compute_ms=_stats_ms((trace.done - trace.dispatched)[ran]),
        issue_lag_ms=_stats_ms((trace.issued - trace.scheduled)[issued_mask]),
        batch_sizes=dict(sizes),
        mean_batch=float(np.mean(trace.batches)) if trace.batches else None,
        cpu_utilisation=trace.cpu_s / (trace.wall_s * cores) if trace.wall_s > 0 else 0.0,
        valid=not reasons,
        reasons=reasons,
        bound=None if bound is None else bound.label,
        overshoots=overshoots,
        early_stopping=early,
        aborted=trace.aborted,
        latencies_ns=latencies.tolist(),
    )


def run_level(
    serve: Callable[[list[Q]], object],
    queries: Sequence[Q],
    qps: float,
    settings: ServerSettings,
    bound: Bound | None = None,
    seed: int = 0,
    clock: Clock = REAL_CLOCK,
) -> Level:
    """Serve a Poisson load at `qps` drawn from `queries` and judge it."""
    arrivals = poisson_schedule(qps, settings.min_queries, settings.min_duration_s, seed)
    picks = query_picks(len(arrivals), len(queries), seed)
    trace = serve_arrivals(serve, queries, arrivals, picks, settings, bound, clock)
    return judge_level(qps, trace, settings, bound)


def run_offline(
    serve: Callable[[list[Q]], object],
    queries: Sequence[Q],
    settings: ServerSettings,
    seed: int = 0,
    clock: Clock = REAL_CLOCK,
) -> Offline:
    """MLPerf Offline: every query (at least `min_queries`) queued at once; the highest
    throughput the workers and batcher reach."""
    count = max(settings.min_queries, len(queries))
    picks = query_picks(count, len(queries), seed)
    arrivals = np.zeros(count)
    offline = ServerSettings(
        max_batch=settings.max_batch,
        max_wait_ms=0.0,
        workers=settings.workers,
        min_queries=count,
        min_duration_s=0.0,
        drain_s=settings.drain_s if settings.drain_s is not None else 3600.0,
    )
    trace = serve_arrivals(serve, queries, arrivals, picks, offline, clock=clock)
    answered = trace.done >= 0
    last = float(trace.done[answered].max()) / 1e9 if answered.any() else 0.0
    return Offline(
        queries=count,
        answered=int(answered.sum()),
        duration_s=last,
        queries_per_s=int(answered.sum()) / last if last > 0 else 0.0,
        batch_sizes=dict(Counter(trace.batches)),
        compute_ms=_stats_ms((trace.done - trace.dispatched)[answered]),
        cpu_utilisation=trace.cpu_s / (trace.wall_s * usable_cores()) if trace.wall_s else 0.0,
        min_duration_s=settings.min_duration_s,
        valid=last >= settings.min_duration_s and bool(answered.all()),
        reasons=(
            []
            if last >= settings.min_duration_s
            else [
                f"{last:.1f} s < --min-query-duration {settings.min_duration_s:g} s; raise "
                "--min-queries"
            ]
        )
        + ([] if answered.all() else ["queries unanswered"]),
    )


@dataclass
class Offline:
    """An Offline run: every query queued at once, and the throughput reached."""

    queries: int  # queued
    answered: int
    duration_s: float  # from the start to the last answer
    queries_per_s: float
    batch_sizes: dict[int, int]  # model calls per batch size
    compute_ms: dict[str, float] | None  # dispatch -> response
    cpu_utilisation: float  # process CPU time / (wall time x cores)
    min_duration_s: float
    valid: bool
    reasons: list[str]  # why not valid (empty when valid)

    def to_dict(self) -> JsonObject:
        record = asdict(self)
        record["batch_sizes"] = {str(k): v for k, v in sorted(self.batch_sizes.items())}
        return record


# -- the search ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchSettings:
    start_qps: float
    budget_s: float = 300.0  # the whole search's wall time, at most (a level is not cut)
    precision: float = 0.05  # stop bisecting when the invalid level is within this of the valid
    min_qps: float = 0.01


@dataclass
class Search:
    """The levels a search ran, in order, and its answer."""

    levels: list[Level] = field(default_factory=list)
    best: Level | None = None  # the highest valid level
    above: Level | None = None  # the lowest invalid level above it: the next step up
    stopped_by: str = ""

    def to_dict(self) -> JsonObject:
        levels: list[JsonValue] = [level.to_dict() for level in self.levels]
        reasons: list[JsonValue] | None = None if self.above is None else [*self.above.reasons]
        return {
            "max_valid_qps": None if self.best is None else self.best.target_qps,
            "next_invalid_qps": None if self.above is None else self.above.target_qps,
            "next_invalid_reasons": reasons,
            "stopped_by": self.stopped_by,
            "levels": levels,
        }


def find_peak(
    run_at: Callable[[float], Level],
    settings: SearchSettings,
    clock: Clock = REAL_CLOCK,
    log: Callable[[str], None] | None = None,
) -> Search:
    """The highest QPS whose level is valid: bracket from `start_qps` (x2 while valid, /2
    while not), then bisect until the lowest invalid level is within `precision` of the
    highest valid one, or the time budget (on `clock`) runs out (a level already begun
    finishes)."""
    say = log or (lambda message: None)
    search = Search()
    started = clock.now_ns()
    spent: list[float] = []  # seconds per level

    def level_at(qps: float) -> Level | None:
        typical = max(spent) if spent else 0.0
        if search.levels and (clock.now_ns() - started) / 1e9 + typical > settings.budget_s:
            search.stopped_by = f"search budget {settings.budget_s:g} s"
            return None
        begun = clock.now_ns()
        level = run_at(qps)
        spent.append((clock.now_ns() - begun) / 1e9)
        search.levels.append(level)
        verdict = "valid" if level.valid else "invalid: " + "; ".join(level.reasons)
        say(f"{qps:.3g} QPS: {verdict}")
        return level

    level = level_at(settings.start_qps)
    assert level is not None
    valid, invalid = (level, None) if level.valid else (None, level)
    while valid is None:  # halve until a level holds
        qps = invalid.target_qps / 2  # type: ignore[union-attr]
        if qps < settings.min_qps:
            search.stopped_by = f"no valid level down to {settings.min_qps:g} QPS"
            search.above = invalid
            return search
        level = level_at(qps)
        if level is None:
            search.above = invalid
            return search
        valid, invalid = (level, invalid) if level.valid else (None, level)
    while invalid is None:  # double until a level fails
        level = level_at(valid.target_qps * 2)
        if level is None:
            search.best = valid
            return search
        valid, invalid = (level, None) if level.valid else (valid, level)
    while invalid.target_qps > valid.target_qps * (1 + settings.precision):
        level = level_at((valid.target_qps + invalid.target_qps) / 2)
        if level is None:
            break
        if level.valid:
            valid = level
        else:
            invalid = level
    else:
        search.stopped_by = f"bracketed within {settings.precision:.0%}"
    search.best, search.above = valid, invalid
    return search
