"""Each setting declared once: the CLI and profiles take the same names, values and defaults."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kdbench.cli import main
from kdbench.commands.options import Settings
from kdbench.config import DataConfig, ProfileSection, load_profile
from kdbench.errors import UserError
from kdbench.evaluate.config import EvaluateConfig
from kdbench.options import LEFT_OUT, Timing, as_options, default_of, hashed_settings, option
from kdbench.profile.config import ProfileConfig as ProfileOptions
from kdbench.train.config import EnsembleConfig, TeacherConfig, TrainConfig

PROFILE = """
[experiment]
name = "t"

[data]
source = "beir/scifact"

[teacher]
scores = ["teacher.tsv"]

[[students]]
name = "s"
model = "m"
arch = "dot"
"""


def load(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return load_profile(path)


def cli_defaults(cls: type) -> dict[str, Any]:
    """The defaults `kdbench COMMAND` takes, option by option (an option read as text, a
    list or a quantity, is unset on the command line: the field's default)."""
    fields = {f.name: f for f in Settings(cls).fields()}
    return {
        p.name: default_of(fields[p.name]) if p.default.default is None else p.default.default
        for p in Settings(cls).parameters()
    }


@pytest.mark.parametrize("cls", [TrainConfig, TeacherConfig, EvaluateConfig, ProfileOptions])
def test_every_option_has_help_text(cls: type) -> None:
    missing = [p.name for p in Settings(cls).parameters() if not p.default.help]
    assert missing == []


def test_mining_defaults_are_the_same_for_train_teacher_and_profiles() -> None:
    train, teacher, data = cli_defaults(TrainConfig), cli_defaults(TeacherConfig), DataConfig("x")
    for name in ("mine_depth", "triples_per_positive", "dev_queries"):
        assert train[name] == teacher[name] == getattr(data, name)
    assert (train["mine_depth"], train["triples_per_positive"], train["dev_queries"]) == (50, 8, 50)


def test_profile_timing_defaults_are_the_cli_defaults() -> None:
    cli, section = cli_defaults(ProfileOptions), ProfileSection()
    for f in dataclasses.fields(Timing):
        assert cli[f.name] == getattr(section, f.name), f.name
    assert (section.min_samples, section.min_duration_s, section.warmup) == (662, 5.0, 5)


def test_student_defaults_are_kdbench_train_defaults(tmp_path: Path) -> None:
    student = load(tmp_path, PROFILE).students[0]
    train = cli_defaults(TrainConfig)
    for name in ("loss", "steps", "batch_size", "learning_rate", "warmup_steps", "max_doc_len"):
        assert getattr(student, name) == train[name], name
    assert student.negatives_per_query == train["negatives"] == 1


def test_profiles_accept_the_registries_aliases(tmp_path: Path) -> None:
    text = PROFILE.replace('arch = "dot"', 'arch = "bi-encoder"\nloss = "MarginMSE"\nlr = 3e-5')
    profile = load(tmp_path, text + '\n[profile]\nbackends = ["torch", "ort"]\n')
    student = profile.students[0]
    assert (student.arch, student.loss, student.learning_rate) == ("dot", "margin-mse", 3e-5)
    assert profile.profile.backends == (("eager", None), ("onnx", None))
    with pytest.raises(UserError, match=r"students\[0\].learning_rate: the same setting as lr"):
        load(tmp_path, text.replace("lr = 3e-5", "lr = 3e-5\nlearning_rate = 1e-4"))


def test_the_cli_accepts_the_same_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    # Both parse; the missing training data is the first thing wrong.
    argv = ["train", "--model", "m", "-o", "out", "--arch", "bi-encoder", "--loss", "RankNet"]
    assert main(argv) == 2
    assert "no training data" in capsys.readouterr().err


def test_warmup_steps_zero_means_none_in_profiles_too(tmp_path: Path) -> None:
    unset = load(tmp_path, PROFILE).students[0]
    none = load(tmp_path, PROFILE + "warmup_steps = 0\n").students[0]
    unset_options, none_options = as_options(unset, TrainConfig), as_options(none, TrainConfig)
    assert unset_options["warmup_steps"] is None and none_options["warmup_steps"] == 0
    config = TrainConfig(output="o", triples="t", **{**unset_options, "loss": "ce"})
    assert config.warmup == config.steps // 10
    # Stage hashes written when 0 stood for "10%" stay; an explicit 0 is another training.
    assert hashed_settings(unset)["warmup_steps"] == 0
    assert hashed_settings(none)["warmup_steps"] == {"set": 0}


@dataclasses.dataclass(frozen=True)
class _Section:
    old: int = option(1, help="There from the start.")
    new: int = option(0, help="Added later.", hashed_default=LEFT_OUT)
    changed: int | None = option(None, help="Default once spelled 0.", hashed_default=0)


def test_hashed_settings_keep_old_hashes_and_tell_set_values_apart() -> None:
    assert hashed_settings(_Section()) == {"old": 1, "changed": 0}
    assert hashed_settings(_Section(new=2, changed=5)) == {"old": 1, "new": 2, "changed": 5}
    assert hashed_settings(_Section(changed=0)) == {"old": 1, "changed": {"set": 0}}


def test_unset_profile_values_stand_for_the_library_defaults(tmp_path: Path) -> None:
    profile = load(tmp_path, PROFILE.replace("[teacher]\n", '[teacher]\nmodel = "m"\n'))
    teacher = as_options(profile.teacher, TrainConfig)
    assert (teacher["steps"], teacher["layers"], teacher["loss"], teacher["arch"]) == (
        100,
        None,
        "ranknet",
        "cat",
    )
    student = as_options(profile.students[0], TrainConfig)
    assert (student["layers"], student["score_scale"], student["similarity"]) == (None,) * 3
    assert student["negatives"] == 1 and "eval_mode" not in student


def test_ensemble_weights_are_checked_before_any_file_is_read() -> None:
    assert EnsembleConfig(("a", "b"), "d", "o", weights="0.5, 1").weight_list() == [0.5, 1.0]
    with pytest.raises(UserError, match="--weights 'x'"):
        EnsembleConfig(("a", "b"), "d", "o", weights="x")


def test_help_imports_no_torch() -> None:
    code = (
        "import sys; from kdbench.cli import main;"
        "[main([c, '--help']) for c in ('train', 'evaluate', 'profile', 'run')];"
        "main(['teacher', 'score', '--help']);"
        "print('heavy:' + ','.join(m for m in ('torch', 'transformers', 'onnxruntime') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "heavy:"


@pytest.mark.parametrize("module", ["kdbench.hashing", "kdbench.options"])
def test_doctests(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
