"""The conclusion lines and the compact table, on hand-built rows whose answers are known."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdbench.cli import main
from kdbench.report.budget import decide, parse_budget
from kdbench.report.conclusion import caveats, conclusion
from kdbench.report.meta import ReportMeta
from kdbench.report.render import compact_columns, main_table, to_markdown
from kdbench.report.rows import Row, display_labels, mark_pareto
from kdbench.results import save_result
from tests.report.test_report import evaluate_result, markdown_table, profile_result


def measured(label: str, backend: str, precision: str, ndcg: float, p50: float) -> Row:
    return Row(
        label,
        arch="dot",
        metrics={"nDCG@10": ndcg},
        quality_from="eager" if precision == "fp32" else f"{backend}:{precision}",
        backend=backend,
        device="cpu",
        precision=precision,
        scenario="query",
        p50_ms=p50,
        p95_ms=2 * p50,
        samples=1000,
        throughput=1000 / p50,
        weights_mib=10.0,
        parity="passed",
    )


def three_rows() -> list[Row]:
    """A slow best model, a fast worse one, and one beaten on both: the front is the first two,
    cheapest first."""
    rows = [
        measured("big", "eager", "fp32", 0.70, 20.0),
        measured("small", "onnx", "int8", 0.50, 1.0),
        measured("small", "eager", "fp32", 0.49, 3.0),
    ]
    mark_pareto(rows, "nDCG@10", "p50")
    return rows


def test_front_in_order_of_cost() -> None:
    lines = conclusion(three_rows(), ReportMeta(y="nDCG@10", x="p50"))
    assert lines[0] == "Conclusion (nDCG@10 against p50):"
    assert lines[1] == (
        "- Pareto front, cheapest first: small · onnx · int8 (nDCG@10 0.500, p50 1.00 ms); "
        "big · eager · fp32 (nDCG@10 0.700, p50 20.0 ms)"
    )
    assert len(lines) == 2  # no budget, no pairs, no caveats: nothing else is said


def test_front_by_throughput_is_highest_first() -> None:
    rows = three_rows()
    mark_pareto(rows, "nDCG@10", "throughput")
    (front,) = [line for line in conclusion(rows, ReportMeta(x="throughput")) if "front" in line]
    assert front.index("small · onnx · int8") < front.index("big · eager · fp32")
    assert "1,000 items/s" in front and "50.0 items/s" in front


def test_budget_choice_and_runner_up() -> None:
    rows = three_rows()
    decision = decide(rows, parse_budget("p95<=10ms"), "nDCG@10")
    lines = conclusion(rows, ReportMeta(budget=decision))
    assert "- budget p95<=10ms: best small · onnx · int8 (nDCG@10 0.500, p95 2.00 ms)" in lines
    assert "- runner-up: small · eager · fp32 (nDCG@10 0.490, p95 6.00 ms)" in lines
    nothing = decide(rows, parse_budget("p95<=1ms"), "nDCG@10")
    (line,) = [x for x in conclusion(rows, ReportMeta(budget=nothing)) if "budget" in x]
    assert line.startswith("- budget p95<=1ms: no row fits; closest: small (onnx:int8")


def test_kd_effect_with_interval_and_holm_p() -> None:
    pair = {
        "kd": "kd",
        "nokd": "nokd",
        "rows": [
            {
                "measure": "RR@10",
                "difference": 0.5,
                "ci95_t": [0.1, 0.9],
                "p_value": 0.01,
                "p_holm": 0.02,
                "significant": True,
            },
            {
                "measure": "nDCG@10",
                "difference": -0.0123,
                "ci95_t": [-0.03, 0.005],
                "p_value": 0.1,
                "p_holm": 0.2,
                "significant": False,
            },
        ],
    }
    lines = conclusion(three_rows(), ReportMeta(pairs=[pair]))
    assert (
        "- KD effect kd − nokd: nDCG@10 -0.012 (95% CI -0.030 to +0.005, Holm p 0.2; "
        "not significant)" in lines
    )


def test_caveats_name_each_reason() -> None:
    row = measured("teacher", "eager", "fp32", 0.6, 3000.0)
    row.samples, row.undersampled = 9, ["p50", "p95"]
    row.quality_elsewhere = "results/other.json"
    assert caveats(row) == (
        "quality from another run (results/other.json); "
        "under-sampled: 9 timed calls (p50 needs 10, p95 needs 130)"
    )
    trt = measured("m", "tensorrt", "fp16", 0.6, 1.0)
    trt.never_run = "TensorRT engine code has not run on a GPU"
    lines = conclusion([row, trt], ReportMeta())
    assert "- caveat: teacher · eager · fp32: quality from another run" in lines[-2]
    assert lines[-1] == "- caveat: m · tensorrt · fp16: never run on real hardware"


def test_labels_tell_apart_rows_of_one_artifact() -> None:
    a, b = measured("m", "onnx", "fp32", 0.5, 1.0), measured("m", "onnx", "fp32", 0.5, 2.0)
    b.batch_size, a.batch_size = 8, 1
    bm25 = Row("bm25", arch="bm25", quality_from="bm25s")
    evaluated = Row("m", arch="dot", quality_from="onnx:int8")  # evaluated, never timed
    assert display_labels([a, b, bm25, evaluated]) == [
        "m · onnx · fp32 · batch 1",
        "m · onnx · fp32 · batch 8",
        "bm25 · bm25s · fp32",
        "m · onnx · int8",
    ]


def test_compact_cells_mark_where_quality_came_from() -> None:
    rows = three_rows()
    rows[2].quality_reused = True
    rows[1].undersampled, rows[1].samples = ["p95"], 20
    table = main_table(rows, ReportMeta())
    assert table.compact and table.headers == [
        "model · backend · precision",
        "nDCG@10",
        "p50 ms",
        "p95 ms",
        "items/s",
        "memory MiB",
        "★",
    ]
    assert [cells[1] for cells in table.body] == ["0.700 ", "0.500 ", "0.490†"]
    assert [cells[3] for cells in table.body] == ["40.0 ", "2.00*", "6.00 "]
    assert [cells[-1] for cells in table.body] == ["★", "★", " "]
    assert any(line.startswith("† eager's evaluation") for line in table.legend)
    assert any(line.startswith("* under-sampled") for line in table.legend)
    # every column's meaning, once
    assert all(any(line.startswith(h) for line in table.legend) for h in table.headers[1:-1])


def test_max_qps_column_appears_with_its_bound() -> None:
    rows = three_rows()
    rows[0].max_qps, rows[0].qps_bound = 41.7, "p99<=50ms"
    rows[1].qps_bound = "p99<=50ms"  # served, but no level held the bound
    columns = compact_columns(rows, ReportMeta())
    (qps,) = [c for c in columns if c.header == "max QPS @ p99<=50ms"]
    assert [qps.cell(r) for r in rows] == ["41.7", "none", "–"]  # the third: never served
    rows[2].max_qps, rows[2].qps_bound = 20.0, "p95<=10ms"  # two bounds: each cell says its
    (qps,) = [c for c in compact_columns(rows, ReportMeta()) if c.header == "max QPS"]
    assert qps.cell(rows[0]) == "41.7 @ p99<=50ms" and qps.cell(rows[2]) == "20.0 @ p95<=10ms"
    assert "max QPS" not in [c.header for c in compact_columns(three_rows(), ReportMeta())]


def test_markdown_leads_with_the_compact_table_and_keeps_every_column(tmp_path: Path) -> None:
    text = to_markdown(three_rows(), ReportMeta(title="t"))
    assert text.index("## Conclusion") < text.index("## Trade-off") < text.index("All columns")
    compact = markdown_table(text, after="## Trade-off")
    assert [r["model · backend · precision"] for r in compact] == [
        "big · eager · fp32",
        "small · onnx · int8",
        "small · eager · fp32",
    ]
    full = markdown_table(text)
    assert {r["backend"] for r in full} == {"eager", "onnx"} and "p50 95% CI" in full[0]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    results = tmp_path / "results"
    save_result(results / "e.json", evaluate_result("dot-l2", "dot", 0.61, 0.55))
    save_result(
        results / "p.json",
        profile_result("dot-l2", "dot", [("eager", 12.0, 80.0), ("onnx", 4.0, 200.0)]),
    )
    return results


def test_columns_option_all_a_list_or_a_clear_error(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(folder), "-f", "md", "--columns", "all"]) == 0
    full = capsys.readouterr().out
    assert "All columns" not in full and "p50 95% CI" in markdown_table(full, after="")[0]
    assert main(["report", str(folder), "-f", "md", "--columns", "model,backend,p50-ms"]) == 0
    listed = markdown_table(capsys.readouterr().out, after="## Trade-off")
    assert [list(r) for r in listed] == [["model", "backend", "p50 ms"]] * 2
    assert main(["report", str(folder), "--columns", "model,latency"]) == 2
    error = capsys.readouterr().err
    assert "--columns: no column latency" in error and "p50-ms" in error
