"""Helpers shared across the test suite."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest


# The kdbench cache of the tests that import these two fixtures (a folder's conftest.py or a
# test module): one temporary cache per importing file, set for each of its tests, so derived
# files (doc offset indexes, BM25 indexes, exports) stay out of the user's cache. A test that
# sets KDBENCH_CACHE itself wins: it sets it after this.
@pytest.fixture(scope="session")
def kdbench_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kdbench-cache")


@pytest.fixture(autouse=True)
def cache_in_tmp(kdbench_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KDBENCH_CACHE", str(kdbench_cache))


def cli_options(**values: object) -> list[str]:
    """Command-line options from keywords, in their order: `batch_size="1,4"` gives
    `["--batch-size", "1,4"]`; paths and numbers are written with `str`; `True` gives a bare flag.

    >>> cli_options(model="bm25", seq_len=16, quiet=True)
    ['--model', 'bm25', '--seq-len', '16', '--quiet']
    """
    args: list[str] = []
    for name, value in values.items():
        args.append("--" + name.replace("_", "-"))
        if value is not True:
            args.append(str(value))
    return args


def recorded_config(stage: Any, monkeypatch: Any) -> Any:
    """The library config a profile stage's action builds, without running it: `train`,
    `score_teacher`, `write_ensemble` and `evaluate` are replaced by recorders of what they get."""
    import kdbench.evaluate.pipeline
    import kdbench.experiment.evaluation
    import kdbench.experiment.teachers
    import kdbench.results
    import kdbench.train
    import kdbench.train.ensemble
    from kdbench.evaluate.result import EvaluateResult
    from kdbench.results import ResultHeader

    seen: list[Any] = []
    evaluation = EvaluateResult(ResultHeader("evaluate", {}, {}, created="", command=""))

    def recorder(answer: Any) -> Any:
        def record(config: Any) -> Any:
            seen.append(config)
            return answer

        return record

    monkeypatch.setattr(kdbench.train, "train", recorder(SimpleNamespace(status="completed")))
    monkeypatch.setattr(kdbench.train, "score_teacher", recorder(None))
    monkeypatch.setattr(kdbench.train.ensemble, "write_ensemble", recorder(None))
    monkeypatch.setattr(kdbench.evaluate.pipeline, "evaluate", recorder(evaluation))
    monkeypatch.setattr(kdbench.results, "save_result", lambda path, result: None)
    # The stage builders import these at their tops: replace the names they hold too, or a
    # stage would really train, evaluate or write into the checkout.
    for module, name, replacement in (
        (kdbench.experiment.teachers, "write_ensemble", recorder(None)),
        (kdbench.experiment.evaluation, "evaluate", recorder(evaluation)),
        (kdbench.experiment.evaluation, "save_result", lambda path, result: None),
    ):
        monkeypatch.setattr(module, name, replacement)
    stage.action()
    (config,) = seen
    return config


def stages_of(profile: Any, monkeypatch: Any) -> dict[str, Any]:
    """A shipped profile's stages by name, planned from the repository root (its paths are
    relative to it, like the study script's)."""
    from pathlib import Path

    from kdbench.config import load_profile
    from kdbench.experiment import plan

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    return {s.name: s for s in plan(load_profile(profile), profile)}


# Where a study script's training.json and a profile's training may differ: file locations, the
# device ("auto" on a CPU machine is the CPU) and settings that do not change what is computed.
NOT_COMPARED = {
    "output",
    "teacher_scores",
    "device",
    "checkpoint_every",
    "resume",
    "quiet",
    "extra",
}


def differences_from_script(ran: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The settings a script's training recorded (`ran`, its training.json config) that the
    profile's training `config` sets otherwise; the number of teacher files must agree."""
    differences = {
        key: (value, config[key])
        for key, value in ran.items()
        if key not in NOT_COMPARED and config[key] != value
    }
    if len(config["teacher_scores"]) != len(ran["teacher_scores"]):
        differences["teacher_scores"] = (ran["teacher_scores"], config["teacher_scores"])
    return differences


def patch_everywhere(monkeypatch: Any, module: Any, name: str, value: Any) -> None:
    """Replace `module.name` and every binding of it that a loaded kdbench module imported
    at its top (`from module import name`), for the test's duration."""
    import sys

    original = getattr(module, name)
    monkeypatch.setattr(module, name, value)
    for loaded_name, loaded in list(sys.modules.items()):
        if loaded_name.startswith("kdbench") and getattr(loaded, name, None) is original:
            monkeypatch.setattr(loaded, name, value)
