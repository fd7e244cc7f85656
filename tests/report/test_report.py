"""Reports are rendered from result JSON only: every number shown equals the JSON's."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from kdbench.cli import main
from kdbench.report import write_report
from kdbench.report.compare import compare_rows
from kdbench.report.rows import Row, mark_pareto, rows_from_results
from kdbench.results import new_result, save_result

ENV: dict[str, Any] = {"cpu": "test cpu", "cpu_count": 2, "torch": {"threads": 2}}


def evaluate_result(label: str, arch: str, ndcg: float, rr: float) -> dict[str, Any]:
    result = new_result("evaluate", {"model": label, "label": label, "arch": arch}, environment=ENV)
    result["metrics"] = {"nDCG@10": ndcg, "RR@10": rr, "R@100": 0.9, "R@1000": 0.95, "AP": 0.5}
    return result


def profile_result(label: str, arch: str, cells: list[tuple[str, float, float]]) -> dict[str, Any]:
    result = new_result("profile", {"model": label, "label": label, "arch": arch}, environment=ENV)
    result["results"] = [
        {
            "backend": backend,
            "arch": arch,
            "scenario": "query",
            "device": "cpu",
            "precision": "fp32",
            "batch_size": 1,
            "seq_len": 128,
            "latency_ms": {
                "p50": p50,
                "p95": p50 * 1.2,
                "p90": p50,
                "p99": p50,
                "mean": p50,
                "std": 0.1,
                "min": p50,
                "max": p50 * 1.2,
                "cv": 0.1 / p50,
                "n": 100,
            },
            "throughput": {"items_per_s": throughput},
            "memory": {"host_peak_rss_mib": 512.25},
            "parity": {"passed": True, "max_abs_diff": 1e-6},
        }
        for backend, p50, throughput in cells
    ]
    return result


def with_baseline(result: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """What `kdbench profile --baseline-arch` writes: the baseline nested, ratios on each cell."""
    baseline["config"].pop("label")  # the profiler labels only the top level
    timed = {cell["backend"]: cell for cell in baseline["results"]}
    for cell in result["results"]:
        base = timed[cell["backend"]]
        cell["vs_baseline"] = {
            "arch": baseline["config"]["arch"],
            "throughput_ratio": cell["throughput"]["items_per_s"]
            / base["throughput"]["items_per_s"],
            "p50_ratio": base["latency_ms"]["p50"] / cell["latency_ms"]["p50"],
        }
    result["baseline"] = baseline
    return result


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    save_result(folder / "eval-dot.json", evaluate_result("dot-l2", "dot", 0.61234, 0.55555))
    save_result(folder / "eval-cat.json", evaluate_result("cat-l2", "cat", 0.70111, 0.66666))
    save_result(
        folder / "prof-dot.json",
        profile_result("dot-l2", "dot", [("eager", 12.3456, 81.0), ("onnx", 4.5678, 219.0)]),
    )
    save_result(folder / "prof-cat.json", profile_result("cat-l2", "cat", [("eager", 250.5, 4.0)]))
    return folder


@pytest.fixture
def baseline_dir(results_dir: Path) -> Path:
    """results_dir plus a prettr model profiled against the same weights built as cat."""
    save_result(
        results_dir / "eval-prettr.json", evaluate_result("prettr-l2", "prettr", 0.68765, 0.61234)
    )
    prettr = profile_result(
        "prettr-l2", "prettr", [("eager", 7.41291, 0.14154), ("onnx", 3.74712, 0.2667)]
    )
    cat = profile_result(
        "prettr-l2", "cat", [("eager", 11.49309, 0.08645), ("onnx", 5.60083, 0.17846)]
    )
    save_result(results_dir / "prof-prettr.json", with_baseline(prettr, cat))
    return results_dir


def markdown_table(text: str, after: str = "<summary>All columns") -> list[dict[str, str]]:
    """The first Markdown table after `after` (default: the full table, every column), as
    one dict per row; `after=""`: the report's first table (the compact one)."""
    lines = text[text.index(after) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| "))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        if line.startswith("| "):
            table.append(line)
    headers = [h.strip() for h in table[0].strip("|").split("|")]
    return [
        dict(zip(headers, (c.strip() for c in line.strip("|").split("|")), strict=True))
        for line in table[1:]
    ]


def test_rows_join_quality_and_latency(results_dir: Path) -> None:
    _, rows = write_report([results_dir], "json", None)
    by_key = {(r.label, r.backend): r for r in rows}
    assert by_key[("dot-l2", "onnx")].metrics["nDCG@10"] == 0.61234
    assert by_key[("dot-l2", "onnx")].p50_ms == 4.5678
    assert by_key[("cat-l2", "eager")].p50_ms == 250.5
    # onnx dot is fastest; cat is best: both on the front; eager dot is dominated by onnx dot.
    assert {(r.label, r.backend) for r in rows if r.pareto} == {
        ("dot-l2", "onnx"),
        ("cat-l2", "eager"),
    }


def test_pareto_by_hand() -> None:
    rows = [
        Row("a", metrics={"nDCG@10": 0.5}, p50_ms=1.0),
        Row("b", metrics={"nDCG@10": 0.6}, p50_ms=2.0),
        Row("c", metrics={"nDCG@10": 0.55}, p50_ms=3.0),
        Row("d", metrics={"nDCG@10": 0.6}, p50_ms=2.0),
        Row("ref", metrics={"nDCG@10": 0.9}, reference="published"),
    ]
    mark_pareto(rows)
    assert [r.pareto for r in rows] == [True, True, False, True, False]


def test_markdown_numbers_equal_json(results_dir: Path) -> None:
    text, rows = write_report([results_dir], "markdown", None)
    parsed = markdown_table(text)
    assert len(parsed) == len(rows)
    assert "× baseline" not in parsed[0], "no baseline, no ratio column"
    for cells, row in zip(parsed, rows, strict=True):
        assert cells["model"] == row.label
        assert float(cells["nDCG@10"]) == round(row.metrics["nDCG@10"], 3)
        assert float(cells["RR@10"]) == round(row.metrics["RR@10"], 3)
        assert float(cells["p50 ms"]) == round(row.p50_ms or 0, 2)
        assert float(cells["p95 ms"]) == round(row.p95_ms or 0, 2)
        assert float(cells["items/s"]) == round(row.throughput or 0, 1)
    # And the rows themselves hold exactly the JSON's numbers.
    source = json.loads((results_dir / "prof-dot.json").read_text())["results"]
    assert {(r.backend, r.p50_ms, r.throughput) for r in rows if r.label == "dot-l2"} == {
        (c["backend"], c["latency_ms"]["p50"], c["throughput"]["items_per_s"]) for c in source
    }


def test_csv_keeps_full_precision(results_dir: Path) -> None:
    text, _ = write_report([results_dir], "csv", None)
    records = list(csv.DictReader(io.StringIO(text)))
    onnx = next(r for r in records if r["backend"] == "onnx")
    assert float(onnx["p50 ms"]) == 4.5678
    assert float(onnx["nDCG@10"]) == 0.61234


def test_html_is_self_contained_with_table_and_plot(results_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    main(["report", str(results_dir), "--format", "html", "--output", str(out)])
    page = out.read_text()
    assert '<table id="tradeoff-table" class="sortable">' in page
    assert '<table id="full-table" class="sortable">' in page  # behind the toggle
    assert '<svg id="tradeoff-plot"' in page
    # the plot first, then the conclusion, then the compact table
    assert page.index('id="tradeoff-plot"') < page.index('id="conclusion"')
    assert page.index('id="conclusion"') < page.index('id="tradeoff-table"')
    assert page.count('class="point"') == 3
    assert 'id="pareto-front"' in page
    assert not re.search(r"""(src|href)=["']https?:""", page), (
        "the page must open without a network"
    )


def test_compare_flags_regressions(
    results_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    slower = tmp_path / "new"
    save_result(slower / "eval-dot.json", evaluate_result("dot-l2", "dot", 0.58, 0.55555))
    save_result(slower / "prof-dot.json", profile_result("dot-l2", "dot", [("onnx", 9.0, 110.0)]))
    old_rows = rows_from_results([json.loads(p.read_text()) for p in results_dir.glob("*.json")])
    new_rows = rows_from_results([json.loads(p.read_text()) for p in slower.glob("*.json")])
    flagged = {d.metric for d in compare_rows(old_rows, new_rows) if d.regression}
    assert flagged == {"nDCG@10", "p50 ms", "p95 ms", "items/s"}
    assert main(["report", "--compare", str(results_dir), str(slower), "--fail-on-regression"]) == 1
    assert (
        main(["report", "--compare", str(results_dir), str(results_dir), "--fail-on-regression"])
        == 0
    )
    assert "REGRESSION" in capsys.readouterr().out


def test_report_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["report", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0]
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert main(["report", str(tmp_path), "--format", "pdf"]) == 2


def test_pair_option_prints_paired_t_test(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kd = evaluate_result("kd", "dot", 0.6, 0.5)
    nokd = evaluate_result("nokd", "dot", 0.5, 0.4)
    kd["config"].update(data="beir/scifact", split="test")
    nokd["config"].update(data="beir/scifact", split="test")
    kd["per_query"] = {"nDCG@10": {"q1": 0.9, "q2": 0.5, "q3": 0.4}}
    nokd["per_query"] = {"nDCG@10": {"q1": 0.7, "q2": 0.5, "q3": 0.3}}
    save_result(tmp_path / "kd.json", kd)
    save_result(tmp_path / "nokd.json", nokd)
    assert main(["report", "--pair", str(tmp_path / "kd.json"), str(tmp_path / "nokd.json")]) == 0
    text = capsys.readouterr().out
    line = next(row for row in text.splitlines() if row.startswith("| kd | nokd | nDCG@10"))
    assert "+0.100" in line and "2/0/1" in line


def test_baseline_rows_numbers_equal_json(baseline_dir: Path) -> None:
    """Every number of every row, the baseline's included, is the JSON's, rounded as shown."""
    quality = {}
    for path in baseline_dir.glob("eval-*.json"):
        result = json.loads(path.read_text())
        quality[result["config"]["label"]] = result["metrics"]
    expected: dict[tuple[str, str], dict[str, tuple[float | None, int]]] = {}
    for path in baseline_dir.glob("prof-*.json"):
        result = json.loads(path.read_text())
        label = result["config"]["label"]
        sources = [(label, result["results"], quality[label])]
        if "baseline" in result:
            arch = result["baseline"]["config"]["arch"]
            sources.append((f"{label} as {arch} (baseline)", result["baseline"]["results"], {}))
        for name, cells, metrics in sources:
            for cell in cells:
                expected[(name, cell["backend"])] = {
                    "nDCG@10": (metrics.get("nDCG@10"), 3),
                    "RR@10": (metrics.get("RR@10"), 3),
                    "p50 ms": (cell["latency_ms"]["p50"], 2),
                    "p95 ms": (cell["latency_ms"]["p95"], 2),
                    "items/s": (cell["throughput"]["items_per_s"], 1),
                    "× baseline": ((cell.get("vs_baseline") or {}).get("p50_ratio"), 2),
                }
    text, rows = write_report([baseline_dir], "markdown", None)
    parsed = markdown_table(text)
    assert [(c["model"], c["backend"]) for c in parsed] == [(r.label, r.backend) for r in rows]
    assert {(c["model"], c["backend"]) for c in parsed} == set(expected)
    assert len(parsed) == len(expected)
    assert ("prettr-l2 as cat (baseline)", "onnx") in expected
    for cells in parsed:
        for header, (value, decimals) in expected[(cells["model"], cells["backend"])].items():
            assert cells[header] == ("–" if value is None else f"{value:.{decimals}f}"), header
    assert "same weights built as cat" in text
    # The rows hold the JSON's numbers exactly, not recomputed ratios.
    source = json.loads((baseline_dir / "prof-prettr.json").read_text())
    by_key = {(r.label, r.backend): r for r in rows}
    for cell in source["results"]:
        row = by_key[("prettr-l2", cell["backend"])]
        assert row.p50_vs_baseline == cell["vs_baseline"]["p50_ratio"]
        assert row.throughput_vs_baseline == cell["vs_baseline"]["throughput_ratio"]
    for cell in source["baseline"]["results"]:
        row = by_key[("prettr-l2 as cat (baseline)", cell["backend"])]
        assert (row.arch, row.baseline_for, row.metrics) == ("cat", "prettr-l2", {})
        assert (row.p50_ms, row.p95_ms, row.throughput) == (
            cell["latency_ms"]["p50"],
            cell["latency_ms"]["p95"],
            cell["throughput"]["items_per_s"],
        )


def test_baseline_in_csv_html_and_run_results(baseline_dir: Path) -> None:
    source = json.loads((baseline_dir / "prof-prettr.json").read_text())
    text, _ = write_report([baseline_dir], "csv", None)
    records = {(r["model"], r["backend"]): r for r in csv.DictReader(io.StringIO(text))}
    onnx = source["results"][1]
    assert float(records[("prettr-l2", "onnx")]["× baseline"]) == onnx["vs_baseline"]["p50_ratio"]
    baseline_onnx = source["baseline"]["results"][1]
    row = records[("prettr-l2 as cat (baseline)", "onnx")]
    assert float(row["p50 ms"]) == baseline_onnx["latency_ms"]["p50"]
    page, _ = write_report([baseline_dir], "html", None)
    assert "<td>prettr-l2 as cat (baseline)</td>" in page and "× baseline" in page
    # `kdbench run` embeds each stage's profile result whole in results.json; the baseline
    # rows take the run's label for the model.
    run = new_result("run", {}, environment=ENV)
    run["models"] = [{"label": "prettr-kd", "arch": "prettr", "profile": source}]
    rows = rows_from_results([run])
    assert [(r.label, r.backend) for r in rows] == [
        ("prettr-kd", "eager"),
        ("prettr-kd", "onnx"),
        ("prettr-kd as cat (baseline)", "eager"),
        ("prettr-kd as cat (baseline)", "onnx"),
    ]
    assert rows[3].p50_ms == baseline_onnx["latency_ms"]["p50"]


def test_report_measure_x_and_y(results_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kdbench.report import View

    text, rows = write_report([results_dir], "markdown", None, view=View(measures=("RR@10",)))
    header = markdown_table(text)[0]
    assert "RR@10" in header and "nDCG@10" not in header and "R@100" not in header
    # the front on RR@10 against throughput (higher is better): the fastest onnx dot and cat
    _, rows = write_report([results_dir], "json", None, view=View(x="throughput", y="RR@10"))
    assert {(r.label, r.backend) for r in rows if r.pareto} == {
        ("dot-l2", "onnx"),
        ("cat-l2", "eager"),
    }
    for bad, message in (
        (["--measure", "RR(rel=2)@10"], "--measure RR(rel=2)@10: no row measured it"),
        (["--x", "p75"], "--x p75: choose one of p50, p95, throughput, memory"),
        (["--y", "AP@5"], "--y AP@5: no row measured it"),
    ):
        assert main(["report", str(results_dir), *bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
