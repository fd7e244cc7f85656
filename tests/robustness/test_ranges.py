"""Every numeric option refuses NaN, infinity and out-of-range values before any work.

The cases are derived from the declarations (`kdbench.options.option(minimum=, above=,
maximum=, below=, finite=)`): every command's options (walked from the typer app) and every
profile key (walked from `ProfileFile`'s sections), so an option added later is covered
without editing this file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any

import pytest

from kdbench.cli import app
from kdbench.commands.options import command_settings
from kdbench.config import ProfileFile
from kdbench.options import RANGE_KEYS, flag_name
from tests.robustness.conftest import one_line_error


def _number_type(tp: Any) -> type | None:
    """int or float for a numeric setting (a list or tuple of them too), else None."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):  # int | None, or one number | a list of them
        kinds = {_number_type(a) for a in typing.get_args(tp) if a is not type(None)}
        (kind,) = kinds
        return kind
    if origin in (list, tuple):
        return _number_type(typing.get_args(tp)[0])
    return tp if tp in (int, float) else None


def bad_values(f: dataclasses.Field[Any], kind: type) -> list[float]:
    """Values the declaration refuses: NaN and infinities, and one step past each bound."""
    values = [math.nan, math.inf, -math.inf] if kind is float else []
    step = 1 if kind is int else 0.5
    bounds = {key: f.metadata.get(key) for key in RANGE_KEYS}
    if bounds["minimum"] is not None:
        values.append(kind(bounds["minimum"] - step))
    if bounds["above"] is not None:
        values.append(kind(bounds["above"]))
    if bounds["maximum"] is not None:
        values.append(kind(bounds["maximum"] + step))
    if bounds["below"] is not None:
        values.append(kind(bounds["below"]))
    return values


def _numeric_fields(cls: type, fields: list[dataclasses.Field[Any]]) -> list[tuple[Any, type]]:
    hints = typing.get_type_hints(cls)
    found = [(f, _number_type(hints[f.name])) for f in fields]
    return [(f, kind) for f, kind in found if kind is not None]


def _cli_cases() -> list[Any]:
    cases = []
    for command, settings in command_settings(app):
        for f, kind in _numeric_fields(settings.cls, settings.fields()):
            for value in bad_values(f, kind):
                required = [
                    g
                    for g in settings.fields()
                    if g.default is dataclasses.MISSING and g.default_factory is dataclasses.MISSING
                ]
                case = (command.split(), required, flag_name(f), value)
                cases.append(pytest.param(*case, id=f"{command} {flag_name(f)} {value}"))
    return cases


@pytest.mark.parametrize(("command", "required", "flag", "value"), _cli_cases())
def test_the_command_line_refuses(
    command: list[str],
    required: list[dataclasses.Field[Any]],
    flag: str,
    value: float,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [*command, flag, str(value)]
    for g in required:  # placeholders: the range is checked before any of them is read
        argv += [flag_name(g), str(tmp_path / g.name)]
    line = one_line_error(capsys, argv)
    assert_refused(line, flag, value)
    assert list(tmp_path.iterdir()) == []  # nothing was written


def assert_refused(line: str, where: str, value: float) -> None:
    """The range's own message, or the quantity grammar's (`kdbench.quantities`: an option
    read as a size or a duration) naming the value and the accepted forms."""
    if f"{where}: must be " in line:
        assert f", got {value}" in line, line
        return
    shown = repr(str(value)) if not isinstance(value, float) or math.isfinite(value) else ""
    assert f"{where}" in line and shown in line and "; write " in line, line
    assert any(why in line for why in ("not a finite number", "negative", "at least 1")), line


# The smallest profile that loads; each case sets one key of it to a refused value.
PROFILE: dict[str, Any] = {
    "experiment": {"name": "ranges"},
    "data": {"source": "nowhere"},
    "students": [{"name": "s", "model": "m", "arch": "dot"}],
}


def _sections() -> list[tuple[str, type]]:
    """(key path, dataclass) of every table a profile has: `students[0]` for the list."""
    hints = typing.get_type_hints(ProfileFile)
    sections = []
    for f in dataclasses.fields(ProfileFile):
        tp = hints[f.name]
        if typing.get_origin(tp) is list:
            sections.append((f"{f.name}[0]", typing.get_args(tp)[0]))
        else:
            sections.append((f.name, tp))
    return sections


def _profile_cases() -> list[Any]:
    cases = []
    for section, cls in _sections():
        for f, kind in _numeric_fields(cls, list(dataclasses.fields(cls))):
            listed = typing.get_origin(_strip_optional(typing.get_type_hints(cls)[f.name]))
            for value in bad_values(f, kind):
                literal = [value] if listed is list else value
                case = (section, f.name, literal)
                cases.append(pytest.param(*case, id=f"{section}.{f.name} {value}"))
    return cases


def _strip_optional(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if typing.get_origin(tp) in (typing.Union, types.UnionType) else tp


def _toml_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return json.dumps(value)


def _toml(profile: dict[str, Any]) -> str:
    lines = []
    for name, table in profile.items():
        for entry in table if isinstance(table, list) else [table]:
            lines.append(f"[[{name}]]" if isinstance(table, list) else f"[{name}]")
            lines += [f"{key} = {_toml_value(value)}" for key, value in entry.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("section", "key", "value"), _profile_cases())
def test_a_profile_refuses(
    section: str, key: str, value: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = json.loads(json.dumps(PROFILE))
    name = section.split("[")[0]
    table = profile[name][0] if section.endswith("[0]") else profile.setdefault(name, {})
    table[key] = value
    path = tmp_path / "p.toml"
    path.write_text(_toml(profile))
    line = one_line_error(capsys, ["run", str(path), "--dry-run"])
    item = value[0] if isinstance(value, list) else value
    assert_refused(line, f"p.toml: {section}.{key}", item)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.toml"]


# Numbers that take any finite value (checked for NaN and infinity only).
UNBOUNDED = {"teacher_margin_floor"}


def test_every_numeric_setting_declares_a_range() -> None:
    classes = [s.cls for _, s in command_settings(app)] + [cls for _, cls in _sections()]
    missing = sorted(
        {
            f"{cls.__name__}.{f.name}"
            for cls in classes
            for f, _ in _numeric_fields(cls, list(dataclasses.fields(cls)))
            if f.name not in UNBOUNDED and all(f.metadata.get(k) is None for k in RANGE_KEYS)
        }
    )
    assert missing == []
