"""Predictions at the user's scale (kdbench.report.scale) on hand-made profile results whose
latency grows by a known line, and the CLI's --budget / --scale-to / --queries-per-s."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest

from kdbench.cli import main
from kdbench.errors import UserError
from kdbench.profile.growth import MAX_FACTOR
from kdbench.report import write_report
from kdbench.report.scale import Scale, parse_count
from kdbench.results import new_result, save_result

BYTES_PER_PASSAGE = 128  # 32 fp32 dimensions
CACHE = 2**20  # a 1 MiB last-level cache: 8,192 passages fit
N = 8_800_000


def latency_ms(size: int) -> float:
    """The hand-made cost: 1 ms plus 10 ns per passage searched."""
    return 1.0 + size * 1e-5


def cell(size: int, samples: bool = True) -> dict[str, Any]:
    p50 = latency_ms(size)
    # 200 samples spread evenly around p50 (so the median is p50 and p95 is p50 + 0.09 ms)
    spread = [p50 + (i - 99.5) * 0.001 for i in range(200)]
    entry: dict[str, Any] = {
        "backend": "eager",
        "precision": "fp32",
        "arch": "dot",
        "scenario": "query",
        "batch_size": 1,
        "seq_len": 32,
        "depth": 10,
        "index_size": size,
        "status": "ok",
        "latency_ms": {
            "p50": p50,
            "p90": p50,
            "p95": p50 + 0.09,
            "p99": p50,
            "mean": p50,
            "std": 0.058,
            "min": p50 - 0.1,
            "max": p50 + 0.1,
            "cv": 0.01,
            "n": 200,
        },
        "throughput": {"items_per_s": 1000 / p50, "item": "query"},
        "memory": {
            "host_peak_rss_mib": 600.0,
            "weights_mib": 87.0,
            "activations_mib": 1.0,
            "index_mib": size * BYTES_PER_PASSAGE / 2**20,
        },
        "parity": {"passed": True, "failures": []},
    }
    if samples:
        entry["samples_ns"] = {"total": [round(v * 1e6) for v in spread]}
    return entry


def profile(sizes: list[int], *, samples: bool = True, encode: bool = True) -> dict[str, Any]:
    environment = {
        "cpu": "test",
        "cpu_count": 2,
        "last_level_cache": {"level": "L3", "bytes": CACHE},
    }
    result = new_result(
        "profile", {"model": "m", "label": "m", "arch": "dot"}, environment=environment
    )
    result["results"] = [cell(size, samples) for size in sizes]
    result["scenario"] = {"name": "query"}
    if encode:
        result["scenario"]["index_encode"] = {
            "passages": 5000,
            "seconds": 10.0,
            "passages_per_s": 500.0,
        }
    return result


def report(tmp_path: Path, result: dict[str, Any], fmt: str = "json", **options: Any) -> Any:
    path = tmp_path / "grow.json"
    save_result(path, result)
    text, rows = write_report([path], fmt, None, **options)
    return text, rows


def test_a_fit_past_the_cache_predicts_on_its_line(tmp_path: Path) -> None:
    _, rows = report(tmp_path, profile([20_000, 40_000, 80_000]), scale=Scale(N))
    (largest,) = [r for r in rows if r.predicted]
    assert largest.index_size == 80_000  # predictions sit on the largest measured size
    p50 = largest.predicted["p50_ms"]
    assert p50["value"] == pytest.approx(latency_ms(N), rel=1e-6)
    assert p50["low"] < p50["value"] < p50["high"]
    assert p50["largest_measured"] == 80_000 and p50["factor"] == pytest.approx(N / 80_000)
    assert "measured at 20,000, 40,000, 80,000" in p50["source"]
    assert largest.predicted["p95_ms"]["value"] == pytest.approx(latency_ms(N) + 0.09, rel=1e-4)
    index = {p: largest.predicted[f"index_gib_{p}"]["value"] for p in ("fp32", "fp16", "int8")}
    assert index == pytest.approx(
        {"fp32": N * 128 / 2**30, "fp16": N * 64 / 2**30, "int8": N * 32 / 2**30}
    )
    assert largest.predicted["memory_gib"]["value"] == pytest.approx(88 / 1024 + N * 128 / 2**30)
    assert largest.predicted["build_h"]["value"] == pytest.approx(N / 500 / 3600)
    assert all(p["predicted"] for p in largest.predicted.values())


def test_sizes_inside_the_cache_refuse_an_index_past_it(tmp_path: Path) -> None:
    _, rows = report(tmp_path, profile([1000, 2000, 4000]), scale=Scale(N))
    (largest,) = [r for r in rows if r.predicted]
    refused = largest.predicted["p95_ms"]
    assert refused["value"] is None
    assert (
        "no measured index is past the 1 MiB L3 cache (largest 4,000 passages" in refused["refused"]
    )
    assert "--index-size 20000,40000" in refused["refused"]  # two sizes past 2 MiB of index
    assert largest.predicted["index_gib_fp32"]["value"] == pytest.approx(N * 128 / 2**30)


def test_one_size_past_the_cache_is_said_as_such(tmp_path: Path) -> None:
    """The issue's message said "every measured index (largest 80,000 passages, 117.2 MiB)
    fits the 32 MiB L3" of an index past it: one size past the cache is named as one."""
    _, rows = report(tmp_path, profile([2000, 4000, 16_000]), scale=Scale(N))
    (largest,) = [r for r in rows if r.predicted]
    refused = largest.predicted["p50_ms"]["refused"]
    assert "one measured index is past the 1 MiB L3 cache (16,000 passages, 2.0 MiB)" in refused
    assert "fits" not in refused.split(";")[0]
    assert "--index-size 16000,32000" in refused


def test_one_size_gives_no_latency_and_says_how_to_get_one(tmp_path: Path) -> None:
    _, rows = report(tmp_path, profile([80_000]), scale=Scale(N))
    (largest,) = [r for r in rows if r.predicted]
    assert "one index size measured (80,000)" in largest.predicted["p50_ms"]["refused"]


def test_far_extrapolation_without_an_error_bound_is_refused(tmp_path: Path) -> None:
    # two sizes and no raw samples: a line through two points, with no error to state
    result = profile([20_000, 40_000], samples=False)
    near = 40_000 * MAX_FACTOR
    _, rows = report(tmp_path, result, scale=Scale(int(near)))
    (largest,) = [r for r in rows if r.predicted]
    assert largest.predicted["p50_ms"]["value"] == pytest.approx(latency_ms(int(near)))
    assert largest.predicted["p50_ms"]["low"] is None  # shown, without an interval
    _, rows = report(tmp_path, result, scale=Scale(N))
    (largest,) = [r for r in rows if r.predicted]
    assert "no error bound" in largest.predicted["p50_ms"]["refused"]


def test_replicas_serve_the_asked_rate(tmp_path: Path) -> None:
    _, rows = report(tmp_path, profile([20_000, 40_000, 80_000]), scale=Scale(N, 50.0))
    (largest,) = [r for r in rows if r.predicted]
    assert largest.predicted["replicas"]["value"] == math.ceil(50 * latency_ms(N) / 1000)
    _, rows = report(tmp_path, profile([20_000]), scale=Scale(None, 50.0))
    (measured,) = [r for r in rows if r.predicted]  # no scaling: from the measured p50
    assert measured.predicted["replicas"]["value"] == math.ceil(50 * latency_ms(20_000) / 1000)


def test_predicted_columns_say_so_in_every_format(tmp_path: Path) -> None:
    result = profile([20_000, 40_000, 80_000])
    texts = {
        fmt: report(tmp_path, result, fmt, scale=Scale(N))[0]
        for fmt in ("terminal", "markdown", "csv", "json", "html")
    }
    header = "p50 ms @8.8M (predicted)"
    for fmt in ("markdown", "csv", "html"):
        assert header in texts[fmt], fmt
    assert "predicted" in texts["terminal"] and "@8.8M" in texts["terminal"]
    (line,) = [r for r in csv.DictReader(io.StringIO(texts["csv"])) if r[header]]
    assert float(line[header]) == pytest.approx(latency_ms(N), rel=1e-6)
    assert "linear fit, largest measured 80,000 passages" in line["predicted from"]
    rows = json.loads(texts["json"])["rows"]
    (predicted,) = [r["predicted"] for r in rows if r["predicted"]]
    assert predicted["p50_ms"]["predicted"] is True and predicted["p50_ms"]["source"]
    assert 'id="predicted-table"' in texts["html"]


def test_a_prediction_outside_the_budget_says_what_could_help(tmp_path: Path) -> None:
    text, _ = report(
        tmp_path, profile([20_000, 40_000, 80_000]), "markdown", budget="p95<=10ms", scale=Scale(N)
    )
    assert "exact search is predicted at p95 89.1 ms, outside p95<=10ms" in text
    assert "approximate index" in text


def test_the_cli_takes_the_issue_spelling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "grow.json"
    save_result(path, profile([20_000, 40_000, 80_000]))
    assert main(["report", str(path), "--scale-to", "8.8M", "--format", "md"]) == 0
    assert "p50 ms @8.8M (predicted)" in capsys.readouterr().out
    assert main(["report", str(path), "--scale-to", "lots"]) == 2
    assert "--scale-to: 'lots': not a quantity; write a whole number" in capsys.readouterr().err
    assert main(["report", str(path), "--scale-to", "1,5M"]) == 2  # never read as 15M
    assert "a comma is neither a thousands separator nor a decimal" in capsys.readouterr().err
    assert main(["report", str(path), "--queries-per-s", "1..5"]) == 2
    assert "--queries-per-s: '1..5': more than one decimal point" in capsys.readouterr().err
    assert main(["report", str(path), "--queries-per-s", "0"]) == 2
    assert main(["report", str(path), "--budget", "p95<=5"]) == 2
    assert "p95 needs a unit" in capsys.readouterr().err


def test_counts_parse_with_suffixes() -> None:
    assert parse_count("8.8M") == 8_800_000 and parse_count("1e6") == 1_000_000
    with pytest.raises(UserError, match="--scale-to: '0': must be at least 1"):
        parse_count("0")
    for text in ("8,841,823", "1,5M", "1..5", "inf", "1" * 30, "-5k"):
        with pytest.raises(UserError, match="; write a whole number of items"):
            parse_count(text)


def test_a_query_row_is_search_fitted_plus_the_stages_that_do_not_grow(tmp_path: Path) -> None:
    """Per-stage samples: search (the hand-made line) is fitted, encoding (4 ms at one size,
    5 ms at the other) is added as measured, its spread in the interval."""
    result = profile([20_000, 40_000])
    for entry, encode_ms in zip(result["results"], (4.0, 5.0), strict=True):
        search = entry["samples_ns"]["total"]
        encode = [round(encode_ms * 1e6) + i % 7 for i in range(len(search))]
        total = [s + e for s, e in zip(search, encode, strict=True)]
        entry["samples_ns"] = {"total": total, "encode": encode, "search": search}
        entry["stages"] = {
            name: {**entry["latency_ms"], "p50": statistics.median(raw) / 1e6}
            for name, raw in (("encode", encode), ("search", search))
        }
    _, rows = report(tmp_path, result, scale=Scale(400_000))
    (largest,) = [r for r in rows if r.predicted]
    p50 = largest.predicted["p50_ms"]
    assert p50["source"].startswith("search: search_p50_ms")
    assert "4.00 to 5.00 ms between the sizes" in p50["source"]
    assert p50["value"] == pytest.approx(latency_ms(400_000) + 4.5, rel=1e-3)
    assert p50["low"] <= latency_ms(400_000) + 4.0 and latency_ms(400_000) + 5.0 <= p50["high"]
    # encoding grew between the two sizes, and two sizes cannot say it will not go on: the
    # interval also holds its line, 4 ms + 1 ms per 20,000 passages (23 ms at 400,000)
    assert "they grew with the index" in p50["source"] and "23.00 ms at 400k" in p50["source"]
    assert p50["high"] >= latency_ms(400_000) + 23.0


# Profiles that timed two sizes and a larger one, interleaved on one machine, committed with
# the commands that made them (results/scale/HOLDOUT.md): (file, the held-out size).
HELD_OUT = [
    ("holdout-200k-quiet.json", 200_000),
    ("holdout-200k-quiet-2.json", 200_000),
    ("holdout-120k-quiet.json", 120_000),
    ("holdout-200k-under-load.json", 200_000),
]


@pytest.mark.parametrize(("name", "held"), HELD_OUT)
def test_a_fit_on_two_measured_sizes_holds_the_larger_measured_one(
    tmp_path: Path, name: str, held: int
) -> None:
    """#22 item 8 on real timings: the report fitted on the two smaller sizes predicts the
    held-out size's p50 and p95 inside its own 95% interval."""
    measured = json.loads((Path(__file__).parents[2] / "results" / "scale" / name).read_text())
    truth = [c for c in measured["results"] if c["index_size"] == held]
    fitted = dict(measured)
    fitted.pop("growth")  # the fits the profile stored saw the held-out size too
    fitted["results"] = [c for c in measured["results"] if c["index_size"] < held]
    _, rows = report(tmp_path, fitted, scale=Scale(held))
    (row,) = [r for r in rows if r.predicted]
    (cell,) = truth
    for quantity, statistic in (("p50_ms", "p50"), ("p95_ms", "p95")):
        predicted = row.predicted[quantity]
        assert predicted["source"].startswith("search: ")  # the staged fit, not the total
        value = cell["latency_ms"][statistic]
        assert predicted["low"] <= value <= predicted["high"], (quantity, value, predicted)


def test_one_refused_percentile_is_named_beside_the_other_s_fit(tmp_path: Path) -> None:
    """p50 grows and is predicted; p95 did not grow (noise): the "from" column names the fit
    behind p50 and says p95 was refused, and the note names p95, not "latency"."""
    result = profile([20_000, 40_000])
    first, second = result["results"]
    second["latency_ms"]["p95"] = first["latency_ms"]["p95"] - 0.05
    text, rows = report(tmp_path, result, "markdown", scale=Scale(100_000))
    (largest,) = [r for r in rows if r.predicted]
    assert largest.predicted["p50_ms"]["value"] == pytest.approx(latency_ms(100_000), rel=1e-3)
    assert largest.predicted["p95_ms"]["value"] is None
    assert "linear fit, largest measured 40,000 passages (×2 beyond); p95 refused" in text
    assert "p95 at 100k refused: p95_ms did not grow" in text
    assert "latency refused" not in text and "latency at 100k refused" not in text
