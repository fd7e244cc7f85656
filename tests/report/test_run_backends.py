"""`kdbench run` profiling eager, onnx and onnx:int8: each row's quality is its own artifact's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdbench.cli import main
from kdbench.report.rows import rows_from_results

PROFILE = """
[experiment]
name = "backends"
output = "{out}"
threads = 1

[data]
source = "{data}"
test_queries = 30

[first_stage]
depth = 20

[[students]]
name = "minilm-L2"
model = "{model}"
arch = "dot"
layers = 2
train = false

[evaluate]
max_doc_len = 64
references = ["bm25"]

[profile]
backends = ["eager", "onnx", "onnx:int8"]
seq_lens = [16]
depth = 20
index_size = 200
parity_queries = 5
parity_depth = 10
min_samples = 5
min_duration_s = 0.05
warmup = 1
"""


def test_int8_row_is_what_evaluate_through_int8_measures(
    tmp_path: Path, scifact_dir: Path, minilm_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KDBENCH_CACHE", str(tmp_path / "cache"))
    profile = tmp_path / "backends.toml"
    out = tmp_path / "results"
    profile.write_text(PROFILE.format(out=out, data=scifact_dir, model=minilm_path))
    assert main(["run", str(profile)]) == 0
    rows = rows_from_results([json.loads((out / "results.json").read_text())])
    by = {(r.label, r.backend, r.precision): r for r in rows if not r.reference}

    # the same evaluation by hand: `kdbench evaluate --backend onnx:int8`
    alone = tmp_path / "int8.json"
    args = ["evaluate", "--data", str(scifact_dir), "--split", "test", "--queries", "30"]
    args += ["--model", str(minilm_path), "--arch", "dot", "--layers", "2", "--rerank", "bm25"]
    args += ["--depth", "20", "--max-query-len", "32", "--max-doc-len", "64"]
    assert main([*args, "--backend", "onnx:int8", "--output", str(alone)]) == 0
    int8, fp32 = by[("minilm-L2", "onnx", "int8")], by[("minilm-L2", "eager", "fp32")]
    assert int8.metrics == json.loads(alone.read_text())["metrics"]
    assert int8.quality_from == "onnx:int8" and int8.p50_ms is not None
    assert int8.metrics["nDCG@10"] != fp32.metrics["nDCG@10"]
    onnx = by[("minilm-L2", "onnx", "fp32")]
    assert (onnx.metrics, onnx.quality_from, onnx.quality_reused) == (fp32.metrics, "eager", True)
    bm25 = by[("bm25", "bm25s", "fp32")]
    assert bm25.p50_ms is not None and bm25.metrics and bm25.depth == 20
    report = (out / "report.md").read_text()
    assert "| onnx:int8 | onnx | cpu | int8 |" in report
