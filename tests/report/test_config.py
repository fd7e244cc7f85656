"""Profiles: valid ones parse; every mistake names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdbench.config import config_hash, load_profile
from kdbench.errors import UserError

MINIMAL = """
[experiment]
name = "t"

[data]
source = "beir/scifact"

[teacher]
scores = ["teacher.tsv"]

[[students]]
name = "dot-l2"
model = "sentence-transformers/all-MiniLM-L6-v2"
arch = "dot"
layers = 2
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


def test_minimal_profile_parses_with_defaults(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, MINIMAL))
    assert profile.experiment.name == "t"
    assert profile.students[0].layers == 2
    assert profile.students[0].loss == "margin-mse"
    assert profile.first_stage.depth == 100
    assert profile.output_dir == Path("results/t")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("layers = 2", "layerz = 2"), "students[0].layerz: unknown key"),
        (("layers = 2", 'layers = "two"'), "students[0].layers: expected an integer"),
        (('arch = "dot"', 'arch = "dense"'), "students[0].arch: unknown value 'dense'"),
        (('name = "t"', 'name = "t"\nbogus = 1'), "experiment.bogus: unknown key"),
        (('source = "beir/scifact"', "source = 3"), "data.source: expected a string"),
        (
            ('scores = ["teacher.tsv"]', 'scores = "teacher.tsv"'),
            "teacher.scores: expected a list of a string",
        ),
        (('scores = ["teacher.tsv"]', ""), "students[0].loss: 'margin-mse' needs a teacher"),
        (("layers = 2", "steps = 0"), "students[0].steps: must be positive"),
        (('[data]\nsource = "beir/scifact"', ""), "data: required key is missing"),
    ],
)
def test_mistakes_name_file_and_key(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    path = write(tmp_path, MINIMAL.replace(*change))
    with pytest.raises(UserError) as info:
        load_profile(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_duplicate_student_names_are_refused(tmp_path: Path) -> None:
    student = MINIMAL[MINIMAL.index("[[students]]") :]
    with pytest.raises(UserError, match="duplicate name"):
        load_profile(write(tmp_path, MINIMAL + student))


def test_not_toml_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not valid TOML"):
        load_profile(write(tmp_path, "[experiment\nname="))


def test_shipped_profiles_parse() -> None:
    for path in sorted(Path(__file__).resolve().parents[2].glob("profiles/*.toml")):
        assert load_profile(path).students, path


def test_config_hash_is_order_independent() -> None:
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
