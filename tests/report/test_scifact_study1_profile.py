"""profiles/scifact-study1.toml: the SciFact study's first design as stages, with the settings the script ran.

Nothing is trained or evaluated here: the dry run resolves the plan, and each stage's action is
run with `train`, `score_teacher` and `evaluate` replaced by recorders of the config they get.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdbench.cli import main
from kdbench.config import load_profile
from kdbench.experiment import Stage, plan
from tests.conftest import committed_results
from tests.helpers import differences_from_script, recorded_config, stages_of

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "profiles" / "scifact-study1.toml"
# What scripts/scifact_study.sh ran for the study's first design, the one this profile encodes.
RAN = REPO / "results" / "scifact" / "study1"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
STUDENTS = ("dot6", "dot2", "colbert", "cat2", "prettr")
TRAININGS = [f"{s}-{loss}" for s in STUDENTS for loss in ("ranknet", "margin-mse")] + [
    "dot2-margin-mse-t2",
    "cat2-margin-mse-t2",
]


@pytest.fixture
def stages(monkeypatch: pytest.MonkeyPatch) -> dict[str, Stage]:
    return stages_of(PROFILE, monkeypatch)


def test_dry_run_lists_every_stage_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    out = tmp_path / "scifact"
    assert main(["run", str(PROFILE), "--dry-run", "--output", str(out)]) == 0
    text = capsys.readouterr().out
    expected = [
        "teacher/train",
        "teacher/score",
        "teacher/score/dot6-ranknet",
        *(f"train/{name}" for name in TRAININGS),
        *(f"evaluate/{name}" for name in TRAININGS),
        "evaluate/bm25",
        "evaluate/minilm-zero-shot",
        "evaluate/teacher",
        "report",
    ]
    for stage in expected:
        assert f"│ {stage} " in text, stage
    assert not out.exists()

    names = [s.name for s in plan(load_profile(PROFILE), PROFILE)]
    assert sorted(names) == sorted(expected)  # nothing more: no profiling in this study
    # Runs in order: T2's students after dot6-ranknet is trained and has scored the triples.
    assert names.index("train/dot6-ranknet") < names.index("teacher/score/dot6-ranknet")
    assert names.index("teacher/score/dot6-ranknet") < names.index("train/dot2-margin-mse-t2")


def test_trainings_match_the_script(
    stages: dict[str, Stage], monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = {name: recorded_config(stages[f"train/{name}"], monkeypatch) for name in TRAININGS}
    for config in configs.values():  # shared by every training (MINING and TRAINING in the script)
        assert (config.model, config.data, config.seed, config.steps) == (
            MINILM,
            "../shared/data/scifact",
            42,
            150,
        )
        assert (config.triples_per_positive, config.mine_depth, config.dev_queries) == (4, 50, 50)
        assert (config.batch_size, config.max_query_len, config.max_doc_len) == (16, 32, 128)

    colbert = configs["colbert-margin-mse"]
    assert (colbert.arch, colbert.similarity, colbert.learn_score_scale) == (
        "colbert",
        "cosine",
        True,
    )
    assert configs["colbert-ranknet"].learn_score_scale is False
    prettr = configs["prettr-ranknet"]
    assert (prettr.arch, prettr.split_layer, prettr.learning_rate) == ("prettr", 3, 3e-5)
    cat2 = configs["cat2-margin-mse"]
    assert (cat2.arch, cat2.layers, cat2.learning_rate, cat2.learn_score_scale) == (
        "cat",
        2,
        1e-4,
        False,
    )
    assert cat2.teacher_scores == ("results/scifact/study1/run/teacher/scores.tsv",)
    dot2 = configs["dot2-margin-mse"]
    assert (dot2.layers, dot2.score_scale, dot2.learn_score_scale) == (2, 20.0, True)

    # T2: the z-scored mean of T1 and the dot6 student trained without a teacher.
    for name in ("dot2-margin-mse-t2", "cat2-margin-mse-t2"):
        t2 = configs[name]
        assert t2.teacher_scores == (
            "results/scifact/study1/run/teacher/scores.tsv",
            "results/scifact/study1/run/teacher/students/dot6-ranknet.tsv",
        )
        assert t2.teacher_normalize == "zscore"
        assert set(stages[f"train/{name}"].depends_on) == {
            "teacher/train",
            "teacher/score",
            "train/dot6-ranknet",
            "teacher/score/dot6-ranknet",
        }


@pytest.mark.parametrize(
    "name",
    sorted(
        p.stem
        for p in committed_results("results/scifact/study1/train")
        if p.parent == RAN / "train"
        if p.stem != "cat2-ranknet-lr2e-5"  # the superseded learning rate, not in the study
    ),
)
def test_trainings_equal_what_the_script_ran(
    name: str, stages: dict[str, Stage], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every setting the script's finished trainings recorded in training.json."""
    ran = json.loads((RAN / "train" / f"{name}.json").read_text())
    stage = stages["teacher/train" if name == "teacher-cat" else f"train/{name}"]
    config = recorded_config(stage, monkeypatch).to_dict()
    assert differences_from_script(ran["config"], config) == {}


def test_teacher_scores_match_the_script(
    stages: dict[str, Stage], monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = json.loads((RAN / "teacher-scores.tsv.json").read_text())
    for name, model in (
        ("teacher/score", "results/scifact/study1/run/models/teacher"),
        ("teacher/score/dot6-ranknet", "results/scifact/study1/run/models/dot6-ranknet"),
    ):
        config = recorded_config(stages[name], monkeypatch)
        assert config.model == model
        for key, value in ran["config"].items():
            if key not in ("model", "output", "device"):
                assert getattr(config, key) == value, (name, key)


@pytest.mark.parametrize(
    ("label", "rerank", "arch", "max_lengths"),
    [
        ("dot2-ranknet", None, None, (32, 128)),
        ("colbert-margin-mse", "bm25", None, (32, 128)),
        ("prettr-ranknet", "bm25", None, (32, 128)),
        ("cat2-margin-mse-t2", "bm25", None, (32, 128)),
        ("teacher", "bm25", None, (32, 128)),
        ("minilm-zero-shot", None, "dot", (32, 128)),
    ],
)
def test_evaluations_match_the_script(
    label: str,
    rerank: str | None,
    arch: str | None,
    max_lengths: tuple[int, int],
    stages: dict[str, Stage],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """dot retrieves from the whole corpus; cat, colbert, prettr and the teacher re-rank BM25 top 50."""
    config = recorded_config(stages[f"evaluate/{label}"], monkeypatch)
    assert (config.split, config.rerank, config.arch, config.device) == (
        "test",
        rerank,
        arch,
        "cpu",
    )
    assert (config.max_query_len, config.max_doc_len) == max_lengths
    if rerank:
        assert config.depth == 50
    assert config.queries is None  # all 300 test queries
