"""A student taught by several teachers of any kind, weighted on the dev slice, in a profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdbench.config import load_profile
from kdbench.errors import UserError
from kdbench.experiment.plan import plan

PROFILE = """
[experiment]
name = "ens"
output = "{out}"
[data]
source = "{data}"
[teacher]
model = "m"
arch = "cat"
[[students]]
name = "a"
model = "m"
arch = "dot"
loss = "ranknet"
[[students]]
name = "b"
model = "m"
arch = "dot"
loss = "margin-mse"
label_loss = "ranknet"
{teachers}
"""


def _profile(tmp_path: Path, scifact_dir: Path, teachers: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(PROFILE.format(out=tmp_path / "out", data=scifact_dir, teachers=teachers))
    return path


def test_fitted_ensemble_of_teacher_student_and_bm25_is_one_stage_before_training(
    tmp_path: Path, scifact_dir: Path
) -> None:
    path = _profile(
        tmp_path, scifact_dir, 'teachers = ["teacher", "a", "bm25"]\nteacher_weights = "fit"'
    )
    stages = {s.name: s for s in plan(load_profile(path), path)}
    assert stages["teacher/score/bm25"].depends_on == []
    ensemble = stages["teacher/ensemble/b"]
    assert set(ensemble.depends_on) == {
        "teacher/train",
        "teacher/score",
        "train/a",
        "teacher/score/a",
        "teacher/score/bm25",
    }
    assert ensemble.config["normalize"] == "query-zscore"
    assert stages["train/b"].depends_on == ["teacher/ensemble/b"]
    assert list(stages["train/b"].config["teacher"]) == [str(ensemble.outputs[0])]


def test_students_with_the_same_teachers_share_one_ensemble(
    tmp_path: Path, scifact_dir: Path
) -> None:
    teachers = 'teachers = ["teacher", "a", "bm25"]\nteacher_weights = "fit"'
    # c names the normalisation b leaves to its default: the same ensemble
    twin = '\n[[students]]\nname = "c"\nmodel = "m"\narch = "dot"\nloss = "kl"\n'
    twin += 'teacher_normalize = "query-zscore"\n'
    other = '\n[[students]]\nname = "d"\nmodel = "m"\narch = "dot"\nloss = "kl"\n'
    path = _profile(
        tmp_path,
        scifact_dir,
        teachers + twin + teachers + other + 'teachers = ["teacher", "a"]\nteacher_weights = "fit"',
    )
    stages = {s.name: s for s in plan(load_profile(path), path)}
    assert [n for n in stages if n.startswith("teacher/ensemble")] == [
        "teacher/ensemble/b",
        "teacher/ensemble/d",  # other members: an ensemble of its own
    ]
    assert stages["train/c"].depends_on == ["teacher/ensemble/b"]
    assert stages["train/c"].config["teacher"] == stages["train/b"].config["teacher"]


def test_without_weights_the_stages_are_as_before(tmp_path: Path, scifact_dir: Path) -> None:
    path = _profile(tmp_path, scifact_dir, 'teachers = ["teacher", "a"]')
    stages = {s.name: s for s in plan(load_profile(path), path)}
    assert not any(name.startswith("teacher/ensemble") for name in stages)
    assert len(stages["train/b"].config["teacher"]) == 2


@pytest.mark.parametrize(
    ("teachers", "message"),
    [
        ('teachers = ["a"]\nteacher_weights = "fit"', "list 2 or more"),
        ('teachers = ["teacher", "a"]\nteacher_weights = "0.5"', "one number per teacher"),
        ('teachers = ["teacher", "a"]\nteacher_weights = "x,y"', "one number per teacher"),
        ('teachers = ["bm25s"]', "'bm25' nor a student"),
    ],
)
def test_teacher_weights_and_names_are_checked(
    tmp_path: Path, scifact_dir: Path, teachers: str, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        load_profile(_profile(tmp_path, scifact_dir, teachers))
