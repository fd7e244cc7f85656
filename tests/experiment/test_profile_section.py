"""A profile's [profile] table is `kdbench profile`'s settings, declared once, and its lists
are honoured whole; the sections that mirror other commands agree with them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from kdbench.cli import app, main
from kdbench.commands.options import Settings, command_settings
from kdbench.commands.profile import NOT_PROFILED
from kdbench.config import (
    FROM_EXPERIMENT,
    PROFILE_ONLY,
    SWEPT,
    DataConfig,
    EvaluateSection,
    FirstStageConfig,
    ProfileSection,
    StudentConfig,
    TeacherSection,
    keys_markdown,
    load_profile,
    profile_runs,
    profile_section,
)
from kdbench.errors import UserError
from kdbench.options import RANGE_KEYS, default_of, help_text, names, option
from kdbench.profile.config import ProfileConfig as ProfileOptions

REPO = Path(__file__).resolve().parents[2]
SWEPT_FROM = {plural: single for single, plural in SWEPT.items()}


def _cli_fields() -> dict[str, dataclasses.Field[Any]]:
    (settings,) = [s for command, s in command_settings(app) if command == "profile"]
    return {f.name: f for f in settings.fields()}


def test_every_profile_key_is_the_kdbench_profile_option() -> None:
    cli = _cli_fields()
    section_types, cli_types = get_type_hints(ProfileSection), get_type_hints(ProfileOptions)
    for f in dataclasses.fields(ProfileSection):
        if f.name in PROFILE_ONLY:
            continue
        g = cli[SWEPT_FROM.get(f.name, f.name)]
        for key in (*RANGE_KEYS, "finite", "choices", "cli", "hashed_default"):
            assert f.metadata.get(key) == g.metadata.get(key), (f.name, key)
        if f.name in SWEPT_FROM:  # a list of the option's values: its names, plural first
            assert names(f) == (f.name, *names(g)), f.name
            assert help_text(g) in help_text(f), f.name
            assert default_of(f) == ((default_of(g),) if default_of(g) is not None else ())
        else:
            assert names(f) == names(g), f.name
            assert help_text(f) == help_text(g), f.name
            assert default_of(f) == default_of(g), f.name
            assert section_types[f.name] == cli_types[g.name], f.name


def test_every_kdbench_profile_option_is_a_profile_key_or_given_by_the_experiment() -> None:
    keys = {f.name for f in dataclasses.fields(ProfileSection)}
    for name in _cli_fields():
        assert name in keys or name in SWEPT or name in FROM_EXPERIMENT, name
    assert set(NOT_PROFILED) <= set(FROM_EXPERIMENT)


def test_every_profile_key_is_spelled_as_the_command_line_spells_it() -> None:
    flags = {
        flag
        for p in Settings(ProfileOptions).parameters()
        for flag in p.default.param_decls
        if flag.startswith("--")
    }
    for f in dataclasses.fields(ProfileSection):
        if f.name in PROFILE_ONLY:
            continue
        spelled = [n for n in names(f) if "--" + n.replace("_", "-") in flags]
        assert spelled or f.metadata.get("cli", {}).get("flag") in flags, f.name


def test_a_setting_added_to_kdbench_profile_is_a_profile_key() -> None:
    @dataclasses.dataclass(frozen=True)
    class Extended(ProfileOptions):
        qps: float = option(0.0, help="Target queries per second.", minimum=0)

    section = profile_section(Extended)
    added = next(f for f in dataclasses.fields(section) if f.name == "qps")
    assert help_text(added) == "Target queries per second." and added.metadata["minimum"] == 0


def test_docs_settings_lists_every_profile_key() -> None:
    from scripts.settings_doc import DOC, rendered

    text = DOC.read_text()
    assert keys_markdown(ProfileSection) in text
    assert rendered(text) == text, "run: python scripts/settings_doc.py"


PROFILE = """
[experiment]
name = "t"

[data]
source = "beir/scifact"

[[students]]
name = "s"
model = "m"
arch = "dot"
train = false
"""


def _load(tmp_path: Path, section: str) -> Any:
    path = tmp_path / "p.toml"
    path.write_text(PROFILE + "\n[profile]\n" + section)
    return load_profile(path)


def test_every_device_and_scenario_is_a_run(tmp_path: Path) -> None:
    profile = _load(
        tmp_path, 'scenarios = ["query", "index"]\nbatch_sizes = [1, 4]\ndepth = [10, 20]\n'
    )
    runs = profile_runs(profile.profile, model="m")
    assert [(r.device, r.scenario) for r in runs] == [("cpu", "query"), ("cpu", "index")]
    assert all(r.batch_sizes == (1, 4) and r.depths == (10, 20) for r in runs)
    one = _load(tmp_path, 'scenario = "index"\n')  # the option's own name: one value
    assert [r.scenario for r in profile_runs(one.profile, model="m")] == ["index"]
    natural = _load(tmp_path, "")
    assert [r.scenario for r in profile_runs(natural.profile, model="m")] == [None]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('scenarios = ["query", "fast"]', "profile.scenarios: unknown value 'fast'"),
        ('devices = ["tpu"]', "profile: --device 'tpu'"),
        ("min_duration_s = 5\nmax_duration_s = 1", "must be at least --min-duration"),
        ('min_duration_s = "1,5s"', "profile.min_duration_s: '1,5s': a comma"),
        ('max_duration_s = "2min"\nmin_duration_s = "500ms"', None),
    ],
)
def test_the_profile_table_is_checked_as_the_command_line_is(
    tmp_path: Path, section: str, message: str | None
) -> None:
    if message is None:
        settings = _load(tmp_path, section).profile
        assert (settings.max_duration_s, settings.min_duration_s) == (120.0, 0.5)
        return
    with pytest.raises(UserError, match=message):
        _load(tmp_path, section)


# Sections that mirror a command differ from it only where TOML cannot say "unset" (no null:
# 0, "" or [] stands for the command's default, see `kdbench.options.as_options`) or where the
# table means another thing; each such difference is listed here with its reason.
DIFFERENT = {
    # the evaluation of a profile pins its lengths (hashed into every finished stage)
    ("EvaluateSection", "max_query_len"): "default 32 tokens, the CLI: the model's",
    ("EvaluateSection", "max_doc_len"): "default 256 tokens, the CLI: the model's",
    # a [teacher] model is trained here as a cross-encoder, with RankNet on labels
    ("TeacherSection", "arch"): "default cat",
    ("TeacherSection", "loss"): "default ranknet",
    ("TeacherSection", "model"): "optional: scores may be given instead",
    ("StudentConfig", "arch"): "required: every student names its architecture",
    ("StudentConfig", "teacher_normalize"): "empty: [teacher].normalize",
}
UNSET = (0, 0.0, "", [], ())


@pytest.mark.parametrize(
    ("section", "command"),
    [
        (EvaluateSection, "evaluate"),
        (FirstStageConfig, "evaluate"),
        (StudentConfig, "train"),
        (TeacherSection, "train"),
        (DataConfig, "train"),
    ],
)
def test_sections_that_mirror_a_command_agree_with_it(section: type, command: str) -> None:
    (settings,) = [s for c, s in command_settings(app) if c == command]
    by_name = {n: f for f in settings.fields() for n in names(f)}
    for f in dataclasses.fields(section):
        g = next((by_name[n] for n in names(f) if n in by_name), None)
        if g is None:
            continue  # the profile's own setting
        assert set(names(g)) <= set(names(f)) | {f.name}, f.name
        if (section.__name__, f.name) in DIFFERENT:
            continue
        # an "unset" default (0, "", []) stands for the command's default (`as_options`)
        unset = default_of(f) in UNSET and default_of(f) != default_of(g)
        assert default_of(f) == default_of(g) or unset, (section.__name__, f.name)
        for key in ("maximum", "below", "choices"):
            assert f.metadata.get(key) == g.metadata.get(key), (section.__name__, f.name, key)
        if not unset:  # the bound may only widen to admit the unset spelling
            for key in ("minimum", "above"):
                assert f.metadata.get(key) == g.metadata.get(key), (section.__name__, f.name)


RUN_PROFILE = """
[experiment]
name = "scenarios"
output = "{out}"
threads = 1

[data]
source = "{data}"
test_queries = 3

[first_stage]
depth = 4

[[students]]
name = "dot"
model = "{model}"
arch = "dot"
train = false

[evaluate]
max_doc_len = 32
references = []

[profile]
scenarios = ["query", "index"]
seq_lens = [16]
index_size = 50
depth = 4
min_samples = 3
min_duration_s = "10ms"
warmup = 1
warmup_s = 0
parity_queries = 2
parity_depth = 4
"""


def test_a_run_times_every_scenario_of_the_profile(
    tmp_path: Path, scifact_dir: Path, tiny_bert_dir: Path
) -> None:
    out = tmp_path / "results"
    path = tmp_path / "p.toml"
    path.write_text(RUN_PROFILE.format(out=out, data=scifact_dir, model=tiny_bert_dir))
    assert main(["run", str(path)]) == 0
    result = json.loads((out / "profile" / "dot.json").read_text())
    timed = {cell["scenario"] for cell in result["results"] if cell["status"] == "ok"}
    assert timed == {"query", "index"}


def test_the_report_table_and_kdbench_report_share_their_settings() -> None:
    import inspect

    from kdbench.commands.report import report
    from kdbench.config import ReportConfig

    options = inspect.signature(report).parameters
    for f in dataclasses.fields(ReportConfig):
        option_info = options[f.name].default
        assert option_info.help == help_text(f), f.name
        assert "--" + f.name.replace("_", "-") in option_info.param_decls, f.name
