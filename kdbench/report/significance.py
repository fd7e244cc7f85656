"""Paired tests over queries, as IR papers report them: the mean difference with a 95%
paired-t interval and a paired bootstrap interval, the two-sided p-value, and
Holm-Bonferroni-adjusted p over every comparison of one report.

Pure functions of per-query values (no I/O); `pairs.py` (KD vs no-KD) and `compare.py`
(`--compare OLD NEW`) share them, and so does scripts/scifact_table.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95
BOOTSTRAP_SAMPLES = 10_000
TEST = (
    "paired over queries: t-test (scipy.stats.ttest_rel, two-sided) with its 95% interval, "
    "a 95% percentile bootstrap of the mean difference (10,000 resamples of the queries, "
    "seed 0), Holm-Bonferroni-adjusted p over every comparison in the report"
)


@dataclass(frozen=True)
class PairedTest:
    """One paired comparison of `a` against `b` over the same queries (a - b)."""

    difference: float  # mean of a - b
    t: float | None  # None: every difference is the same, t is undefined
    p_value: float
    ci95_t: tuple[float, float]  # the t-test's interval of the mean difference
    ci95_bootstrap: tuple[float, float]
    queries: int


def paired_test(a: Sequence[float], b: Sequence[float], seed: int = 0) -> PairedTest:
    """The paired t-test and bootstrap interval of the differences a[i] - b[i].

    Identical differences leave t undefined: p is 1 when they are all zero, else 0, and
    both intervals are that one difference.

    >>> test = paired_test([0.5, 0.7, 0.9, 0.4], [0.4, 0.5, 0.8, 0.4])
    >>> round(test.difference, 3), round(test.t, 4), round(test.p_value, 4)
    (0.1, 2.4495, 0.0917)
    >>> [round(x, 4) for x in test.ci95_t]
    [-0.0299, 0.2299]
    """
    import numpy as np
    from scipy import stats

    differences = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if differences.size < 2:
        raise ValueError("a paired test needs at least 2 queries")
    mean = float(differences.mean())
    spread = float(differences.max() - differences.min())
    if spread <= 1e-12 * max(1.0, float(np.abs(differences).max())):
        p = 1.0 if abs(mean) <= 1e-12 else 0.0
        return PairedTest(mean, None, p, (mean, mean), (mean, mean), differences.size)
    result = stats.ttest_rel(a, b)
    interval = result.confidence_interval(CONFIDENCE)
    return PairedTest(
        difference=mean,
        t=float(result.statistic),
        p_value=float(result.pvalue),
        ci95_t=(float(interval.low), float(interval.high)),
        ci95_bootstrap=bootstrap_interval(differences.tolist(), seed=seed),
        queries=int(differences.size),
    )


def bootstrap_interval(
    differences: Sequence[float], samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> tuple[float, float]:
    """Percentile `CONFIDENCE` interval of the mean of `differences` over queries
    resampled with replacement (`samples` resamples, seeded).

    >>> [round(bound, 9) for bound in bootstrap_interval([0.2, 0.2, 0.2])]
    [0.2, 0.2]
    """
    import numpy as np

    values = np.asarray(differences, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(samples, values.size))].mean(axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1), in input order.

    >>> holm([0.01, 0.04, 0.03, 0.005])
    [0.03, 0.06, 0.06, 0.02]
    """
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted = [0.0] * len(pvalues)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted
