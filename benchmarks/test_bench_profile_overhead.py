"""Harness overhead: kdbench's p50 for a fixed call within 3% of a bare timing loop around it.

Run: pytest benchmarks/test_bench_profile_overhead.py --benchmark-enable -s
The two loops alternate in rounds, in ABBA order, so drift on a shared machine hits both
alike; the comparison is of medians over all rounds.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from kdbench.profile.stats import summarize_ms
from kdbench.profile.timer import Budget, measure

ROUNDS = 8
SAMPLES = 300
A, B = torch.randn(256, 256), torch.randn(256, 256)


def workload(_: Any = None) -> torch.Tensor:
    # A model-like call (a matmul, a fraction of a millisecond) on one thread: steady, and
    # free of the Python allocation noise a pure-Python workload carries from loop to loop.
    return torch.mm(A, B)


def bare_p50_ms(samples: int) -> float:
    clock = time.perf_counter_ns
    times = []
    for _ in range(samples):
        start = clock()
        workload()
        times.append(clock() - start)
    return statistics.median(times) / 1e6


def kdbench_p50_ms(samples: int) -> float:
    budget = Budget(
        warmup=3, warmup_s=0.0, min_samples=samples, min_duration_s=0.0, max_samples=samples
    )
    return float(summarize_ms(measure([workload], None, budget).total)["p50"])


def test_harness_overhead_within_3_percent(benchmark: Any) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    bare, harness = [], []
    for round_ in range(ROUNDS):
        if round_ % 2 == 0:
            bare.append(bare_p50_ms(SAMPLES))
            harness.append(kdbench_p50_ms(SAMPLES))
        else:
            harness.append(kdbench_p50_ms(SAMPLES))
            bare.append(bare_p50_ms(SAMPLES))
    torch.set_num_threads(threads)
    ratio = statistics.median(harness) / statistics.median(bare)
    benchmark.extra_info.update(
        bare_p50_ms=statistics.median(bare), kdbench_p50_ms=statistics.median(harness), ratio=ratio
    )
    benchmark.pedantic(kdbench_p50_ms, args=(50,), rounds=3, iterations=1)
    print(
        f"bare p50 {statistics.median(bare):.4f} ms, kdbench p50 {statistics.median(harness):.4f} ms, ratio {ratio:.4f}"
    )
    assert ratio < 1.03, f"harness p50 is {ratio:.3f}x the bare loop's"
