"""Typed measurements: result files written before them load, round-trip and give the same rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kdbench.errors import UserError
from kdbench.profile.measurements import (
    Cell,
    Latency,
    Memory,
    Parity,
    ProfileResult,
    Speedup,
    Throughput,
)
from kdbench.report.rows import load_results, rows_from_results
from kdbench.results import HEADER_KEYS, PROVENANCE_KEY, ResultHeader, load_result
from tests.conftest import REPO, committed_results

# Written by kdbench profile / kdbench run before the measurements were typed (committed files
# only: what a user run writes under results/ is not test input).
OLD_FILES = [
    str(path.relative_to(REPO))
    for path in committed_results("results")
    if json.loads(path.read_text()).get("kind") in ("profile", "run")
]
# The rows the dict-reading report (commit d7c75cf) made of them, as Row.to_dict():
#   git archive d7c75cf kdbench | tar -x -C OLD; cd REPO
#   PYTHONPATH=OLD python -c '... rows_from_results(load_results([f])) ...'
GOLDEN = Path(__file__).parent / "data" / "rows-before-typed-measurements.json"


def profiles_in(result: dict[str, Any]) -> list[dict[str, Any]]:
    if result["kind"] == "run":
        return [model["profile"] for model in result["models"] if model.get("profile")]
    return [result]


def test_the_old_files_are_all_here() -> None:
    assert len(OLD_FILES) >= 10 and set(json.loads(GOLDEN.read_text())) <= set(OLD_FILES)


@pytest.mark.parametrize("path", OLD_FILES)
def test_old_profile_results_round_trip_exactly(path: str) -> None:
    for profile in profiles_in(load_result(REPO / path)):
        typed = ProfileResult.from_dict(profile)
        assert typed.to_dict() == profile
        for entry, cell in zip(profile["results"], typed.cells, strict=True):
            assert Cell.from_dict(entry).to_dict() == entry
            assert cell.latency is None or cell.latency.n == len(entry["samples_ns"]["total"])
        # provenance (written by kdbench versions that record it) belongs to the header too
        assert ResultHeader.from_dict(profile).to_dict() == {
            key: profile[key] for key in (*HEADER_KEYS, PROVENANCE_KEY) if key in profile
        }


@pytest.mark.parametrize("path", sorted(json.loads(GOLDEN.read_text())))
def test_old_results_give_the_rows_they_gave_before(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # labels that are paths are shortened when they exist
    golden = json.loads(GOLDEN.read_text())[path]
    rows = [row.to_dict() for row in rows_from_results(load_results([path]))]
    # Rows gained fields since (quality_from, intervals, memory parts, ...): the old ones
    # keep their values, the new ones say where the quality came from.
    assert [{key: row[key] for key in old} for row, old in zip(rows, golden, strict=True)] == golden
    for row in rows:
        if row["metrics"] and not row["reference"]:
            assert row["quality_from"] in ("eager", "bm25s")
            assert row["quality_reused"] == (row["backend"] == "onnx")


def test_latency_is_built_from_raw_samples() -> None:
    latency = Latency.from_samples([4_000_000, 1_000_000, 3_000_000, 2_000_000])
    # ms 1..4: median 2.5, mean 2.5, sample std sqrt(5/3)
    assert (latency.p50, latency.mean, latency.min, latency.max, latency.n) == (2.5, 2.5, 1, 4, 4)
    assert latency.std == pytest.approx((5 / 3) ** 0.5)
    assert latency.cv == pytest.approx(latency.std / 2.5)
    assert latency.p90 == pytest.approx(3.7)  # 1 + 0.9 * 3, linear between order statistics


def test_speedups_are_ratios_of_the_two_cells() -> None:
    def timed(p50: float, items_per_s: float) -> Cell:
        latency = Latency(p50, p50, p50, p50, p50, 0.0, p50, p50, 0.0, 1)
        return Cell("onnx", "fp32", latency=latency, throughput=Throughput(items_per_s))

    ratio = Speedup.between(timed(2.0, 50.0), timed(8.0, 10.0), arch="cat")
    assert (ratio.p50_ratio, ratio.throughput_ratio) == (4.0, 5.0)
    assert ratio.to_dict() == {"arch": "cat", "throughput_ratio": 5.0, "p50_ratio": 4.0}


def test_memory_keeps_the_worst_round_and_says_which_peak_counts() -> None:
    first = Memory.from_dict({"host_peak_rss_mib": 100.0, "host_peak_rss_since": "cell start"})
    second = Memory(host_peak_rss_mib=120.5, torch_peak_allocated_mib=7.0)
    worst = first.worst(second)
    assert (worst.host_peak_rss_mib, worst.torch_peak_allocated_mib) == (120.5, 7.0)
    assert worst.host_peak_rss_since == "cell start"
    assert worst.peak_mib() == 7.0 and first.peak_mib() == 100.0  # the GPU's, when measured
    assert first.to_dict() == {
        "host_peak_rss_mib": 100.0,
        "host_peak_rss_since": "cell start",
        "host_rss_mib": None,
    }


def test_parity_of_a_backend_that_never_ran_writes_only_the_verdict() -> None:
    broken = Parity(passed=False, failures=["RuntimeError: no kernel"])
    assert broken.to_dict() == {"passed": False, "failures": ["RuntimeError: no kernel"]}
    assert broken.text() == "failed: RuntimeError: no kernel"
    assert Parity.from_dict(broken.to_dict()) == broken
    unknown = {"passed": True, "failures": [], "new_metric": 0.5}  # a newer kdbench's key
    assert Parity.from_dict(unknown).to_dict() == unknown


def test_a_cell_without_its_statistics_is_a_user_error() -> None:
    entry = {"backend": "eager", "precision": "fp32", "latency_ms": {"p50": 1.0}}
    with pytest.raises(UserError, match="latency_ms lacks p90, p95, p99"):
        Cell.from_dict(entry)
    with pytest.raises(UserError, match="a profile entry lacks precision"):
        Cell.from_dict({"backend": "eager"})


def test_a_gpu_entry_keeps_its_device_clock_memory_and_never_run_line() -> None:
    """What a CUDA cell holds beyond a CPU one (built as the profiler writes it)."""
    latency = Latency.from_samples([2_000_000, 3_000_000, 4_000_000]).to_dict()
    entry = Cell(
        "tensorrt", "fp16", "dot", "index", batch_size=32, seq_len=128, depth=None
    ).to_dict()
    entry.update(
        latency_ms=latency,
        device_latency_ms=Latency.from_samples([1_000_000, 2_000_000, 2_500_000]).to_dict(),
        throughput={"items_per_s": 10.0, "item": "passage", "tokens_per_s": 1280.0},
        memory={
            "host_peak_rss_mib": 900.0,
            "host_peak_rss_since": "cell start",
            "host_rss_mib": 880.5,
            "torch_peak_allocated_mib": 300.2,
            "torch_peak_reserved_mib": 320.0,
            "nvml_device_used_mib": None,
            "nvml_process_used_mib": None,
            "energy_j_per_item": None,
            "energy_window_s": 0.4,
            "energy_reason": "the NVML energy counter did not advance in 0.40 s",
        },
        parity={"passed": True, "failures": []},
        never_run="never run: checked against the docs only",
        stages={"encode": latency, "tokenize": latency},
        flops=None,
        samples_ns={"total": [1, 2, 3], "encode": [1, 2, 3], "device_total": [1, 1, 2]},
        timing={
            "rounds": 1,
            "warmup_calls": 5,
            "duration_s": 1.5,
            "stopped_by": ["budget"],
            "synchronize": "torch.cuda.synchronize after each stage",
            "device_clock": "CUDA events on a stream made for the cell",
        },
        warnings=[],
    )
    cell = Cell.from_dict(entry)
    assert cell.to_dict() == entry
    assert cell.device_latency is not None and cell.device_latency.p50 == 2.0
    assert cell.memory is not None and cell.memory.peak_mib() == 300.2  # the GPU's peak
    assert cell.timing is not None and cell.timing.device_clock is not None
    assert cell.never_run == entry["never_run"] and not cell.extra
