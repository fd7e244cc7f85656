from __future__ import annotations

import numpy as np
import pytest

from kdbench.profile.stats import HIGH_CV, required_samples, sample_warnings, summarize_ms


def test_required_samples_match_mlperf() -> None:
    # MLPerf's published minimums for tail latency
    assert required_samples(90) == 64
    assert required_samples(99) == 662
    assert required_samples(50) < required_samples(95) < required_samples(99)


def test_required_samples_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        required_samples(100)


def test_summarize_hand_computed() -> None:
    # 1..5 ms: mean 3, sample std sqrt(2.5), linear p90 = 4 + 0.6 * (5 - 4)
    summary = summarize_ms([1_000_000, 2_000_000, 3_000_000, 4_000_000, 5_000_000])
    assert summary["p50"] == pytest.approx(3.0)
    assert summary["p90"] == pytest.approx(4.6)
    assert summary["p99"] == pytest.approx(4.96)
    assert summary["mean"] == pytest.approx(3.0)
    assert summary["std"] == pytest.approx(np.sqrt(2.5))
    assert summary["cv"] == pytest.approx(np.sqrt(2.5) / 3)
    assert summary["n"] == 5


def test_summarize_single_sample_has_zero_spread() -> None:
    summary = summarize_ms([7_000_000])
    assert summary["p99"] == 7.0 and summary["std"] == 0.0


def test_summarize_rejects_empty() -> None:
    with pytest.raises(ValueError):
        summarize_ms([])


def test_warnings_name_unbacked_percentiles_and_spread() -> None:
    assert sample_warnings(1000, 0.01) == []
    few = sample_warnings(100, 0.01)
    assert len(few) == 1 and "p99 662" in few[0] and "p90" not in few[0]
    noisy = sample_warnings(1000, HIGH_CV * 2)
    assert len(noisy) == 1 and "spread" in noisy[0]
