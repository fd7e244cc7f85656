"""profiles/scifact.toml: the SciFact study's second design (one seed) as stages, with the settings
scripts/scifact_study.sh ran for seed 42 and the recipes it chose on the dev slice.

Nothing is trained or evaluated here: the plan is resolved, and each stage's action is run with
the library calls replaced by recorders of the config they get (tests.helpers.recorded_config).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kdbench.config import load_profile
from kdbench.experiment import Stage
from tests.helpers import differences_from_script, recorded_config, stages_of

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "profiles" / "scifact.toml"
ROOT = REPO / "results" / "scifact"
RAN = ROOT / "seed42"  # what the script ran for the seed the profile sets
CHOICES = json.loads((ROOT / "choices.json").read_text())
STUDENTS = ("dot2", "dot6", "colbert")
DISTILLED = [f"{s}-{CHOICES['students'][s]['chosen']}" for s in STUDENTS]
TRAININGS = [*(f"{s}-ranknet" for s in STUDENTS), *DISTILLED]
# E's members in the script's order (scripts/scifact_study.sh, stage `ensemble`): the profile's
# teacher stage and the score stages of the students and BM25 that teach.
MEMBERS = {
    "cat": "teacher/score",
    "dot6": "teacher/score/dot6-ranknet",
    "colbert": "teacher/score/colbert-ranknet",
    "bm25": "teacher/score/bm25",
}


@pytest.fixture
def stages(monkeypatch: pytest.MonkeyPatch) -> dict[str, Stage]:
    return stages_of(PROFILE, monkeypatch)


def test_the_profile_trains_the_recipes_chosen_on_dev(stages: dict[str, Stage]) -> None:
    assert CHOICES["seed"] == load_profile(PROFILE).experiment.seed
    trained = sorted(n.removeprefix("train/") for n in stages if n.startswith("train/"))
    assert trained == sorted(TRAININGS)
    evaluated = {n.removeprefix("evaluate/") for n in stages if n.startswith("evaluate/")}
    assert evaluated == {*TRAININGS, "teacher", "bm25", "minilm-zero-shot"}
    # One ensemble for the three distilled students (the same members, weights fitted once).
    ensembles = [n for n in stages if n.startswith("teacher/ensemble/")]
    assert len(ensembles) == 1
    for name in DISTILLED:
        assert stages[f"train/{name}"].depends_on == ensembles


@pytest.mark.parametrize("name", ["teacher-cat", *TRAININGS])
def test_trainings_equal_what_the_script_ran(
    name: str, stages: dict[str, Stage], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every setting the script's trainings recorded in training.json, recipe included."""
    ran = json.loads((RAN / "train" / f"{name}.json").read_text())["config"]
    stage = stages["teacher/train" if name == "teacher-cat" else f"train/{name}"]
    config = recorded_config(stage, monkeypatch).to_dict()
    assert differences_from_script(ran, config) == {}


def _ran(name: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((RAN / f"teacher-{name}.tsv.json").read_text())["config"]
    return config


@pytest.mark.parametrize("member", MEMBERS)
def test_teacher_scores_match_the_script(
    member: str, stages: dict[str, Stage], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each of E's members scores the triples the script's did (its mining, its dev slice)."""
    ran = _ran(member)
    config = recorded_config(stages[MEMBERS[member]], monkeypatch)
    if member == "bm25":
        assert config.model == "bm25"
    else:
        trained = "teacher" if member == "cat" else f"{member}-ranknet"
        assert config.model == f"results/scifact/run/models/{trained}"
    for key, value in ran.items():
        # The script compares some teachers with a student (a report only, no effect on scores).
        if key not in ("model", "output", "device", "quiet", "compare_student"):
            assert getattr(config, key) == value, key


def test_the_ensemble_matches_the_script(
    stages: dict[str, Stage], monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = _ran("ensemble")
    (name,) = [n for n in stages if n.startswith("teacher/ensemble/")]
    config = recorded_config(stages[name], monkeypatch)
    assert (config.normalize, config.weights, config.split, config.data) == (
        ran["normalize"],
        ran["weights"],  # None: fitted on the dev slice
        ran["split"],
        ran["data"],
    )
    members = [str(stages[stage].outputs[0]) for stage in MEMBERS.values()]
    assert list(config.scores) == members
    assert [Path(s).name for s in ran["scores"]] == [f"teacher-{m}.tsv" for m in MEMBERS]


@pytest.mark.parametrize("name", [*TRAININGS, "teacher"])
def test_evaluations_match_the_script(
    name: str, stages: dict[str, Stage], monkeypatch: pytest.MonkeyPatch
) -> None:
    """dot retrieves from the whole corpus; colbert and the teacher re-rank the BM25 top 50."""
    ran = json.loads((RAN / f"{'teacher-cat' if name == 'teacher' else name}.json").read_text())
    ran = ran["config"]
    config = recorded_config(stages[f"evaluate/{name}"], monkeypatch)
    assert (config.split, config.rerank, config.queries) == (ran["split"], ran["rerank"], None)
    if ran["rerank"]:
        assert config.depth == ran["depth"] == 50
    # The script lets the checkpoint carry the training lengths; the profile writes them.
    assert (config.max_query_len, config.max_doc_len) == (32, 128)
