"""`kdbench run` with `[profile] server_bound`: each dot row gains a server cell, and the
report its max-QPS column and latency-QPS chart (tiny model, SciFact, generous bound)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdbench.cli import main
from tests.report.test_run import PROFILE, teacher_scores  # noqa: F401 (a fixture)

SERVER = """server_bound = "p90<=2s"
server_backend = "eager"
min_queries = 50
min_query_duration_s = 1.0
search_budget_s = 10.0
"""


@pytest.mark.slow
def test_run_adds_a_server_cell_per_dot_row(
    tmp_path: Path,
    scifact_dir: Path,
    tiny_bert_dir: Path,
    teacher_scores: Path,  # noqa: F811
) -> None:
    text = PROFILE.format(
        out=tmp_path / "results",
        data=scifact_dir,
        teacher=teacher_scores,
        model=tiny_bert_dir,
        steps=1,
    ).replace('backends = ["eager", "onnx"]', 'backends = ["eager"]')
    profile = tmp_path / "tiny.toml"
    profile.write_text(text + SERVER)
    assert main(["run", str(profile)]) == 0
    out = tmp_path / "results"
    result = json.loads((out / "profile" / "dot-kd.json").read_text())
    served = [cell for cell in result["results"] if cell["scenario"] == "server"]
    assert len(served) == 1 and served[0]["serving"]["bound"] == "p90<=2000ms"
    levels = served[0]["serving"]["search"]["levels"]
    assert levels and served[0]["serving"]["max_valid_qps"] is not None
    report = (out / "report.md").read_text()
    assert "max QPS @ bound" in report and "@ p90<=2000ms" in report
    assert 'class="serving-curve"' in (out / "report.html").read_text()
