"""`kdbench run` end to end on SciFact with a tiny model: outputs, skip on rerun, resume after interruption."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdbench.cli import main
from tests.report.test_report import markdown_table

PROFILE = """
[experiment]
name = "tiny"
output = "{out}"
threads = 1

[data]
source = "{data}"
test_queries = 4
dev_queries = 5

[first_stage]
depth = 10

[teacher]
scores = ["{teacher}"]

[[students]]
name = "dot-kd"
model = "{model}"
arch = "dot"
loss = "margin-mse"
steps = {steps}
batch_size = 4
max_doc_len = 32

[[students]]
name = "dot-nokd"
model = "{model}"
arch = "dot"
loss = "ranknet"
steps = 2
batch_size = 4
max_doc_len = 32

[evaluate]
max_doc_len = 32

[profile]
backends = ["eager", "onnx"]
seq_lens = [16]
min_samples = 5
min_duration_s = 0.05
warmup = 1
"""


@pytest.fixture(scope="module")
def teacher_scores(scifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kdbench.train import TeacherConfig, score_teacher

    path = tmp_path_factory.mktemp("teacher") / "bm25.tsv"
    score_teacher(
        TeacherConfig(
            model="bm25", output=str(path), data=str(scifact_dir), dev_queries=5, quiet=True
        )
    )
    return path


def write_profile(
    tmp_path: Path, scifact_dir: Path, tiny_bert_dir: Path, teacher: Path, steps: int = 2
) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(
        PROFILE.format(
            out=tmp_path / "results",
            data=scifact_dir,
            teacher=teacher,
            model=tiny_bert_dir,
            steps=steps,
        )
    )
    return path


def stage_times(out: Path) -> dict[str, float]:
    return {p.stem: p.stat().st_mtime_ns for p in (out / "stages").glob("*.json")}


def test_run_writes_reports_skips_and_resumes(
    tmp_path: Path,
    scifact_dir: Path,
    tiny_bert_dir: Path,
    teacher_scores: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    profile = write_profile(tmp_path, scifact_dir, tiny_bert_dir, teacher_scores)
    out = tmp_path / "results"

    # Interrupt the first profiling stage: everything before it is kept.
    # the profile stages call run_profile as kdbench.experiment.profiling imported it
    import kdbench.experiment.profiling as profiling

    real_run_profile = profiling.run_profile

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(profiling, "run_profile", interrupted)
    assert main(["run", str(profile)]) == 130
    finished = stage_times(out)
    assert set(finished) == {
        "train__dot-kd",
        "train__dot-nokd",
        "evaluate__bm25",
        "evaluate__dot-kd",
        "evaluate__dot-nokd",
    }
    assert not (out / "results.json").exists()

    # Rerun: only the profiles and the report run; finished stages are not redone.
    monkeypatch.setattr(profiling, "run_profile", real_run_profile)
    capsys.readouterr()
    assert main(["run", str(profile)]) == 0
    text = capsys.readouterr().out
    assert "skip train/dot-kd" in text and "skip evaluate/dot-nokd" in text
    # The run ends with what it found: the front, the KD/no-KD effect (its CI, Holm p).
    last = text.rstrip().split("\nConclusion (nDCG@10 against p50):\n")[1].splitlines()
    assert last[0].startswith("- Pareto front, cheapest first: ")
    (effect,) = [line for line in last if line.startswith("- KD effect dot-kd − dot-nokd")]
    assert "95% CI" in effect and "Holm p" in effect
    after = stage_times(out)
    assert all(after[name] == finished[name] for name in finished)
    for name in ("results.json", "report.md", "report.html"):
        assert (out / name).stat().st_size > 0
    assert '<svg id="tradeoff-plot"' in (out / "report.html").read_text()

    # Every number in report.md equals the run's JSON.
    result = json.loads((out / "results.json").read_text())
    metrics = {m["label"]: m["evaluate"]["metrics"] for m in result["models"]}
    checked = 0
    for values in markdown_table((out / "report.md").read_text()):  # every column
        if values["model"] in metrics:
            assert float(values["nDCG@10"]) == round(metrics[values["model"]]["nDCG@10"], 3)
            assert float(values["RR@10"]) == round(metrics[values["model"]]["RR@10"], 3)
            checked += 1
    assert checked == 5  # bm25 + 2 students x 2 backends
    # The compact table leads: one line per measured artifact, its quality the same.
    compact = markdown_table((out / "report.md").read_text(), after="## Trade-off")
    assert len(compact) == 5
    for values in compact:
        label, backend, precision = values["model · backend · precision"].split(" · ")
        assert (backend, precision) in {("bm25s", "fp32"), ("eager", "fp32"), ("onnx", "fp32")}
        quality = values["nDCG@10"].rstrip("†‡")
        assert float(quality) == round(metrics[label]["nDCG@10"], 3), values
    # The KD / no-KD twins are paired with a t-test over the same test queries.
    (pair,) = result["pairs"]
    assert (pair["kd"], pair["nokd"], pair["queries"]) == ("dot-kd", "dot-nokd", 4)
    assert "Distillation effect" in (out / "report.md").read_text()

    # A third run does nothing; changing one student's steps reruns only what depends on it.
    before = stage_times(out)
    assert main(["run", str(profile)]) == 0
    assert stage_times(out) == before
    write_profile(tmp_path, scifact_dir, tiny_bert_dir, teacher_scores, steps=3)
    assert main(["run", str(profile)]) == 0
    changed = {name for name, t in stage_times(out).items() if t != before[name]}
    assert changed == {"train__dot-kd", "evaluate__dot-kd", "profile__dot-kd", "report"}


def test_dry_run_prints_plan_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    assert (
        main(
            ["run", "profiles/msmarco-paper.toml", "--dry-run", "--output", str(tmp_path / "paper")]
        )
        == 0
    )
    text = capsys.readouterr().out
    for stage in (
        "train/distilbert-cat-T2",
        "evaluate/bm25 (dev/small)",
        "profile/distilbert-dot-T2",
        "report",
    ):
        assert stage in text
    assert "missing input" in text  # the T2 score file is not on this machine
    assert not (tmp_path / "paper").exists()
