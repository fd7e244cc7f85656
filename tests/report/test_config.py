"""Profiles: valid ones parse; every mistake names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdbench.config import load_profile
from kdbench.errors import UserError
from kdbench.hashing import config_hash
from kdbench.options import LEFT_OUT

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
        (('arch = "dot"', 'arch = "bert"'), "students[0].arch: unknown value 'bert'"),
        (('name = "t"', 'name = "t"\nbogus = 1'), "experiment.bogus: unknown key"),
        (('source = "beir/scifact"', "source = 3"), "data.source: expected a string"),
        (
            ('scores = ["teacher.tsv"]', 'scores = "teacher.tsv"'),
            "teacher.scores: expected a list of a string",
        ),
        (('scores = ["teacher.tsv"]', ""), "students[0].loss: 'margin-mse' needs a teacher"),
        (("layers = 2", "steps = 0"), "students[0].steps: must be at least 1, got 0"),
        (('[data]\nsource = "beir/scifact"', ""), "data: required key is missing"),
        (
            ("layers = 2", 'learn_score_scale = "yes"'),
            "students[0].learn_score_scale: expected true",
        ),
        (("layers = 2", 'similarity = "cos"'), "students[0].similarity: unknown value 'cos'"),
        (("layers = 2", "split_layer = 3"), "students[0]: split_layer applies to prettr"),
        (('arch = "dot"', 'arch = "cat"\nsimilarity = "cosine"'), "similarity applies to dot"),
        (('arch = "dot"', 'arch = "cat"\nlearn_score_scale = true'), "learn_score_scale applies"),
        (("layers = 2", "teachers = [1]"), "students[0].teachers[0]: expected a string"),
        (("layers = 2", 'teachers = ["nobody"]'), "students[0].teachers[0]: 'nobody' is neither"),
        (
            ("layers = 2", 'teachers = ["teacher"]\nloss = "ranknet"'),
            "teachers and teacher_normalize",
        ),
        (("layers = 2", 'teacher_normalize = "rank"'), "students[0].teacher_normalize: unknown"),
        (
            ("[teacher]", "[teacher]\nlearning_rate = 0"),
            "teacher.learning_rate: must be above 0, got 0",
        ),
        (("[teacher]", "[teacher]\nbatch_size = 1.5"), "teacher.batch_size: expected an integer"),
        (
            ("[teacher]", "[teacher]\nevaluate = true"),
            "teacher.evaluate: only a teacher trained here",
        ),
        (('source = "beir/scifact"', 'source = "x"\nmine_depth = 0'), "data.mine_depth: must be"),
        (
            ('source = "beir/scifact"', 'source = "x"\ntriples_per_positive = "4"'),
            "data.triples_per_positive: expected an integer",
        ),
        (
            ("layers = 2", 'layers = 2\n[evaluate]\nmeasures = ["nDCG@10", "Foo@10"]'),
            "evaluate: measures: 'Foo@10': not an ir_measures measure",
        ),
        (
            ("layers = 2", 'layers = 2\n[profile]\nbackends = ["onnx:int9"]'),
            "profile.backends: unknown value 'onnx:int9'",
        ),
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


STUDENT_TEACHER = """
[[students]]
name = "dot-l2-t2"
model = "m"
arch = "dot"
teachers = ["teacher", "dot-l2"]
"""


def test_a_student_learns_from_an_earlier_trained_student(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, MINIMAL + STUDENT_TEACHER))
    assert profile.students[1].teachers == ["teacher", "dot-l2"]
    # Stages run in profile order, so the teacher student must come first.
    later = STUDENT_TEACHER + MINIMAL[MINIMAL.index("[[students]]") :]
    with pytest.raises(UserError, match=r"students\[0\].teachers\[1\]: 'dot-l2' is neither"):
        load_profile(write(tmp_path, MINIMAL[: MINIMAL.index("[[students]]")] + later))
    zero_shot = MINIMAL.replace("layers = 2", "layers = 2\ntrain = false")
    with pytest.raises(UserError, match="has train = false"):
        load_profile(write(tmp_path, zero_shot + STUDENT_TEACHER))


def added_later(cls: type) -> set[str]:
    """The keys a section declares as added after profiles had finished stages."""
    import dataclasses

    return {f.name for f in dataclasses.fields(cls) if f.metadata.get("hashed_default") == LEFT_OUT}


def test_new_keys_leave_other_profiles_stage_hashes_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys added to the format stay out of stage configs at their defaults, so finished stages
    of profiles written before them stay done; set away from the default, they rerun the stage."""
    import dataclasses

    from kdbench.config import StudentConfig
    from kdbench.experiment import plan

    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    path = Path("profiles/quickstart.toml")
    profile = load_profile(path)
    stages = {s.name: s for s in plan(profile, path)}
    later = added_later(StudentConfig)
    student_keys = set(stages["train/dot-L2-margin-mse"].config["student"])
    assert later and not student_keys & later
    assert not set(stages["evaluate/dot-L2-margin-mse"].config["student"]) & later
    assert student_keys | later == {f.name for f in dataclasses.fields(StudentConfig)}
    for stage in stages.values():
        assert not {"triples_per_positive", "mine_depth"} & set(stage.config)

    learning = dataclasses.replace(profile.students[0], learn_score_scale=True)
    changed = dataclasses.replace(profile, students=[learning, *profile.students[1:]])
    data = dataclasses.replace(profile.data, triples_per_positive=4)
    mined = dataclasses.replace(profile, data=data)
    for variant in (changed, mined):
        after = {s.name: s.hash for s in plan(variant, path)}
        assert after["train/dot-L2-margin-mse"] != stages["train/dot-L2-margin-mse"].hash


def test_profile_section_keys_added_later_stay_out_of_profile_stage_hashes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import dataclasses

    from kdbench.experiment import plan

    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    path = Path("profiles/quickstart.toml")
    profile = load_profile(path)
    settings = dataclasses.replace(profile.profile, index_size=None, baseline_arch=None)
    at_defaults = dataclasses.replace(profile, profile=settings)
    stage = next(s for s in plan(at_defaults, path) if s.name == "profile/dot-L2-no-teacher")
    assert not {"index_size", "baseline_arch"} & set(stage.config["profile"])
    with_baseline = dataclasses.replace(
        profile, profile=dataclasses.replace(settings, baseline_arch="cat")
    )
    rerun = next(s for s in plan(with_baseline, path) if s.name == stage.name)
    assert rerun.config["profile"]["baseline_arch"] == "cat" and rerun.hash != stage.hash

    bad = path.read_text().replace("[profile]\n", '[profile]\nbaseline_arch = "bert"\n')
    with pytest.raises(UserError, match=r"profile.baseline_arch: unknown value 'bert'"):
        load_profile(write(tmp_path, bad))


def test_measures_and_pinned_backends_parse(tmp_path: Path) -> None:
    text = MINIMAL + '[evaluate]\nmeasures = ["nDCG@10", "RR(rel=2)@10"]\n'
    text += '[profile]\nbackends = ["eager", "ort:int8"]\n'
    profile = load_profile(write(tmp_path, text))
    assert profile.evaluate.measures == ["nDCG@10", "RR(rel=2)@10"]
    assert profile.profile.backends == (("eager", None), ("onnx", "int8"))  # the alias, canonical
