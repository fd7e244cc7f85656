"""A row's quality comes only from an evaluation of the artifact it times."""

from __future__ import annotations

from typing import Any

from kdbench.report import write_report
from kdbench.report.meta import ReportMeta
from kdbench.report.render import to_csv, to_markdown
from kdbench.report.rows import Row, evaluated_artifact, rows_from_results
from kdbench.results import new_result
from tests.report.test_report import ENV, evaluate_result, markdown_table, profile_result


def evaluation(
    label: str, ndcg: float, backend: str | None = None, precision: str | None = None
) -> dict[str, Any]:
    result = evaluate_result(label, "dot", ndcg, ndcg / 2)
    if backend is not None:
        result["config"].update(backend=backend, precision=precision)
    return result


def profiled(label: str, variants: list[tuple[str, str, bool]]) -> dict[str, Any]:
    """A profile of `label` with one cell per (backend, precision, parity passed)."""
    result = profile_result(
        label, "dot", [(b, 2.0 + i, 100.0) for i, (b, _, _) in enumerate(variants)]
    )
    for cell, (_, precision, passed) in zip(result["results"], variants, strict=True):
        cell["precision"] = precision
        cell["parity"]["passed"] = passed
    return result


def assert_quality_of_own_artifact(rows: list[Row], results: list[dict[str, Any]]) -> None:
    """Every row with quality shows its own artifact's evaluation, or eager's for an fp32
    cell of a backend that computes eager's scores and passed parity."""
    evaluations = {
        (r["config"]["label"], *evaluated_artifact(r["config"])): r["metrics"]
        for r in results
        if r["kind"] == "evaluate"
    }
    for row in rows:
        if not row.metrics or row.reference:
            continue
        own = evaluations.get((row.label, row.backend or "eager", row.precision or "fp32"))
        if own is not None:
            assert row.metrics == own and not row.quality_reused
            continue
        assert row.quality_reused and row.precision == "fp32" and row.backend in ("eager", "onnx")
        assert row.parity == "passed" and row.metrics == evaluations[(row.label, "eager", "fp32")]


def test_int8_rows_show_their_own_evaluation_and_fp32_onnx_reuses_eager() -> None:
    results = [
        evaluation("m", 0.60),
        evaluation("m", 0.55, "onnx", "int8"),
        profiled("m", [("eager", "fp32", True), ("onnx", "fp32", True), ("onnx", "int8", True)]),
    ]
    rows = rows_from_results(results)
    by = {(r.backend, r.precision): r for r in rows}
    assert len(rows) == 3
    assert (by[("eager", "fp32")].metrics["nDCG@10"], by[("eager", "fp32")].quality_from) == (
        0.60,
        "eager",
    )
    assert by[("onnx", "fp32")].metrics["nDCG@10"] == 0.60 and by[("onnx", "fp32")].quality_reused
    assert by[("onnx", "int8")].metrics["nDCG@10"] == 0.55
    assert (by[("onnx", "int8")].quality_from, by[("onnx", "int8")].quality_reused) == (
        "onnx:int8",
        False,
    )
    assert_quality_of_own_artifact(rows, results)
    table = {
        c["precision"] + c["backend"]: c for c in markdown_table(to_markdown(rows, ReportMeta()))
    }
    assert table["fp32onnx"]["quality from"] == "eager (parity passed)"
    assert table["int8onnx"]["quality from"] == "onnx:int8"
    assert "onnx:int8" in to_csv(rows, ReportMeta())


def test_an_artifact_never_evaluated_has_no_quality_and_no_place_on_the_front() -> None:
    results = [
        evaluation("m", 0.60),
        # int8 is the fastest: with copied quality it would take the front from eager
        profiled("m", [("eager", "fp32", True), ("onnx", "int8", True), ("onnx", "fp32", False)]),
    ]
    results[1]["results"][1]["latency_ms"]["p50"] = 0.5
    rows = rows_from_results(results)
    by = {(r.backend, r.precision): r for r in rows}
    assert by[("onnx", "int8")].metrics == {} and by[("onnx", "int8")].quality_from == ""
    assert by[("onnx", "fp32")].metrics == {}, "failed parity: eager's quality is not reused"
    assert [r.backend for r in rows if r.pareto] == ["eager"]
    assert_quality_of_own_artifact(rows, results)
    table = markdown_table(to_markdown(rows, ReportMeta()))
    assert [c["quality from"] for c in table] == ["eager", "not evaluated", "not evaluated"]
    assert {c["nDCG@10"] for c in table[1:]} == {"–"}


def test_an_evaluation_no_cell_timed_is_a_row_of_its_own(tmp_path: Any) -> None:
    from kdbench.results import save_result

    save_result(tmp_path / "e.json", evaluation("m", 0.60))
    save_result(tmp_path / "i.json", evaluation("m", 0.55, "onnx", "int8"))
    _, rows = write_report([tmp_path], "json", None)
    assert [(r.backend, r.precision, r.quality_from) for r in rows] == [
        ("", "", "eager"),
        ("onnx", "int8", "onnx:int8"),
    ]


def test_run_results_join_backend_evaluations() -> None:
    run = new_result("run", {}, environment=ENV)
    run["models"] = [
        {
            "label": "m",
            "arch": "dot",
            "evaluate": evaluation("m", 0.6),
            "backend_evaluations": [evaluation("m", 0.5, "onnx", "int8")],
            "profile": profiled("m", [("onnx", "int8", True), ("eager", "fp32", True)]),
        }
    ]
    rows = rows_from_results([run])
    assert [(r.precision, r.metrics["nDCG@10"], r.quality_from) for r in rows] == [
        ("int8", 0.5, "onnx:int8"),
        ("fp32", 0.6, "eager"),
    ]


def test_never_run_and_under_sampled_are_flagged_in_every_format(tmp_path: Any) -> None:
    from kdbench.backends.tensorrt.config import NEVER_RUN
    from kdbench.results import save_result

    result = profiled("m", [("eager", "fp32", True), ("tensorrt", "fp16", True)])
    result["results"][1]["never_run"] = NEVER_RUN
    result["results"][1]["latency_ms"]["n"] = 20  # p95 needs 130
    save_result(tmp_path / "p.json", result)
    save_result(tmp_path / "e.json", evaluation("m", 0.6))
    for fmt in ("terminal", "markdown", "csv", "json", "html"):
        text, rows = write_report([tmp_path], fmt, None)
        assert "never run" in text, fmt
        assert "under-sampled" in text or '"p95"' in text, fmt
    trt = next(r for r in rows if r.backend == "tensorrt")
    assert trt.never_run == NEVER_RUN and trt.undersampled == ["p95"] and trt.metrics == {}
