"""Latency statistics derived from raw samples, and how many samples a percentile needs.

Samples are kept raw (nanoseconds, in call order) in every result; everything here is a
pure function of them, so a reader can recompute any number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

PERCENTILES = (50, 90, 95, 99)

# MLPerf's minimum query counts for tail latency (64 for p90, 662 for p99) both follow
# n = ceil(ln(alpha) / ln(p)): the smallest n for which the chance that no sample lies above
# the p-th percentile is under alpha. This alpha reproduces both; p50 and p95 use it too.
_MLPERF_ALPHA = 1.29e-3

# A coefficient of variation above this means the machine was busy or the call is unstable.
HIGH_CV = 0.10


def required_samples(percentile: float) -> int:
    """Samples needed before the `percentile`-th latency means anything (MLPerf's rule).

    >>> required_samples(90), required_samples(99)
    (64, 662)
    """
    if not 0 < percentile < 100:
        raise ValueError(f"percentile must be in (0, 100), got {percentile}")
    return math.ceil(math.log(_MLPERF_ALPHA) / math.log(percentile / 100))


def summarize_ms(samples_ns: Sequence[int]) -> dict[str, float | int]:
    """p50/p90/p95/p99, mean, std (sample, ddof=1), min, max and CV of `samples_ns`, in ms.

    Percentiles interpolate linearly between order statistics (numpy's default).

    >>> s = summarize_ms([1_000_000, 2_000_000, 3_000_000, 4_000_000])
    >>> s["p50"], s["mean"], s["min"], s["max"]
    (2.5, 2.5, 1.0, 4.0)
    """
    if not samples_ns:
        raise ValueError("no samples to summarize")
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    mean = float(ms.mean())
    std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
    summary: dict[str, float | int] = {
        f"p{p}": float(v) for p, v in zip(PERCENTILES, np.percentile(ms, PERCENTILES), strict=True)
    }
    summary.update(
        mean=mean,
        std=std,
        min=float(ms.min()),
        max=float(ms.max()),
        cv=std / mean if mean > 0 else 0.0,
        n=int(ms.size),
    )
    return summary


def sample_warnings(n: int, cv: float) -> list[str]:
    """Why the statistics of `n` samples with spread `cv` should be read with care."""
    unbacked = undersampled(n)
    warnings = []
    if unbacked:
        needs = ", ".join(f"p{p} {required_samples(p)}" for p in unbacked)
        warnings.append(
            f"{n} samples are too few for {needs} (MLPerf); raise --min-samples or --max-duration"
        )
    if cv > HIGH_CV:
        warnings.append(
            f"high spread: coefficient of variation {cv:.0%} (> {HIGH_CV:.0%}); was the machine busy?"
        )
    return warnings


# Two-sided confidence of the intervals the report gives around percentiles.
CONFIDENCE = 0.95


def percentile_interval(
    samples_ns: Sequence[int], percentile: float, confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """A distribution-free `confidence` interval for the `percentile`-th latency, in ms.

    The number B of samples below the true percentile is Binomial(n, q); the interval is the
    order statistics (x_(l), x_(u)) with P(B < l) <= (1 - confidence) / 2 and
    P(B >= u) <= (1 - confidence) / 2, so it covers the percentile with at least
    `confidence` whatever the distribution. None when n is too small for such ranks to exist.

    >>> percentile_interval([m * 1_000_000 for m in range(1, 11)], 50)  # (x_(2), x_(9))
    (2.0, 9.0)
    >>> percentile_interval([m * 1_000_000 for m in range(1, 65)], 99) is None
    True
    """
    from scipy.stats import binom

    n = len(samples_ns)
    if n == 0:
        return None
    tail = (1 - confidence) / 2
    cdf = binom.cdf(np.arange(n + 1), n, percentile / 100)  # cdf[k] = P(B <= k)
    below = np.flatnonzero(cdf <= tail)  # candidates for l - 1
    above = np.flatnonzero(cdf >= 1 - tail)  # candidates for u - 1
    if below.size == 0 or above.size == 0 or above[0] + 1 > n:
        return None
    lower, upper = int(below[-1]) + 1, int(above[0]) + 1  # 1-based ranks
    ordered = np.sort(np.asarray(samples_ns, dtype=np.float64)) / 1e6
    return float(ordered[lower - 1]), float(ordered[upper - 1])


def undersampled(n: int, percentiles: Sequence[int] = PERCENTILES) -> list[int]:
    """The `percentiles` that `n` samples are too few for (`required_samples`).

    >>> undersampled(64, (50, 95, 99))
    [95, 99]
    """
    return [p for p in percentiles if n < required_samples(p)]
