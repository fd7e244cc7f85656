"""A row timed here whose quality another run measured (`quality_from`), and per-student backends.

The quickstart's teacher row: its scores were precomputed, so its latency is timed here on its
architecture while its quality is the evaluation the run that trained it wrote. The row must
carry exactly that evaluation, say so in every format, and get no evaluation of its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdbench.cli import main
from kdbench.report.render import notes, quality_from_text
from kdbench.report.rows import rows_from_results

PROFILE = """
[experiment]
name = "elsewhere"
output = "{out}"
threads = 1

[data]
source = "{data}"
test_queries = 20

[first_stage]
depth = 10

[[students]]
name = "zero-shot"
model = "{model}"
arch = "dot"
layers = 1
train = false
backends = ["eager"]

[[students]]
name = "teacher"
model = "{model}"
arch = "cat"
layers = 1
train = false
quality_from = "{quality}"
seq_lens = [24]

[evaluate]
max_doc_len = 32
references = []

[profile]
backends = ["eager", "onnx"]
seq_lens = [16]
depth = 10
index_size = 100
parity_queries = 3
parity_depth = 5
min_samples = 3
min_duration_s = 0.01
warmup = 1
"""


def _evaluation(tmp_path: Path, scifact_dir: Path, minilm_path: Path, split: str) -> Path:
    """What "another run" wrote: `kdbench evaluate` of a 1-layer cat on SciFact."""
    out = tmp_path / f"teacher-{split}.json"
    args = ["evaluate", "--data", str(scifact_dir), "--split", split, "--queries", "10"]
    args += ["--model", str(minilm_path), "--arch", "cat", "--layers", "1", "--rerank", "bm25"]
    args += ["--depth", "5", "--max-doc-len", "32", "--output", str(out)]
    assert main(args) == 0
    return out


def _write(tmp_path: Path, scifact_dir: Path, minilm_path: Path, quality: Path) -> Path:
    profile = tmp_path / "elsewhere.toml"
    out = tmp_path / "results"
    text = PROFILE.format(out=out, data=scifact_dir, model=minilm_path, quality=quality)
    profile.write_text(text)
    return profile


def test_the_row_shows_the_other_runs_evaluation_and_its_own_latency(
    tmp_path: Path, scifact_dir: Path, minilm_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KDBENCH_CACHE", str(tmp_path / "cache"))
    quality = _evaluation(tmp_path, scifact_dir, minilm_path, "test")
    profile = _write(tmp_path, scifact_dir, minilm_path, quality)
    assert main(["run", str(profile)]) == 0
    out = tmp_path / "results"
    rows = [r for r in rows_from_results([json.loads((out / "results.json").read_text())])]
    teacher = [r for r in rows if r.label == "teacher"]
    measured = json.loads(quality.read_text())["metrics"]

    assert {(r.backend, r.precision) for r in teacher} == {("eager", "fp32"), ("onnx", "fp32")}
    for row in teacher:
        assert row.p50_ms is not None and (row.arch, row.seq_len) == ("cat", 24)
        assert row.metrics == measured  # that run's numbers, not a re-evaluation
        assert row.quality_elsewhere == str(quality)
        assert quality_from_text(row).endswith("another run")
        assert str(quality) in notes(row)
    # the student's own list replaces [profile].backends
    zero_shot = [r for r in rows if r.label == "zero-shot"]
    assert [(r.backend, r.precision) for r in zero_shot] == [("eager", "fp32")]
    assert "another run" in (out / "report.md").read_text()


def test_another_split_or_a_trained_student_is_refused(
    tmp_path: Path,
    scifact_dir: Path,
    minilm_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KDBENCH_CACHE", str(tmp_path / "cache"))
    train_split = _evaluation(tmp_path, scifact_dir, minilm_path, "train")
    profile = _write(tmp_path, scifact_dir, minilm_path, train_split)
    capsys.readouterr()
    assert main(["run", str(profile)]) == 2
    error = capsys.readouterr().err
    assert "students.teacher.quality_from" in error and "split 'train'" in error

    missing = _write(tmp_path, scifact_dir, minilm_path, tmp_path / "nowhere.json")
    assert main(["run", str(missing)]) == 2
    assert "students[1].quality_from: no such file" in capsys.readouterr().err

    trained = profile.read_text().replace(
        'arch = "cat"\nlayers = 1\ntrain = false', 'arch = "cat"\nlayers = 1\nsteps = 2'
    )
    profile.write_text(trained)
    assert main(["run", str(profile)]) == 2
    assert "quality_from" in capsys.readouterr().err
