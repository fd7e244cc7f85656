"""Profile tests share one kdbench cache (exports, BM25 index) and run torch on one thread:
two cores are shared by the whole suite, and OpenMP stalls badly when oversubscribed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from kdbench.cli import app
from tests.helpers import cli_options

FAST = [
    "--min-samples",
    "3",
    "--min-duration",
    "0",
    "--warmup",
    "1",
    "--warmup-time",
    "0",
    "--threads",
    "1",
]
QUICK = [*FAST, "--parity-queries", "3", "--parity-depth", "10"]
ProfileScifact = Callable[..., Path]


def profile(**options: object) -> Result:
    """`kdbench profile` with QUICK's timing and parity settings, then `options` (which win over
    QUICK's); asserts exit code 0."""
    result = CliRunner().invoke(app, ["profile", *QUICK, *cli_options(**options)])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="session")
def profile_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("kdbench-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KDBENCH_CACHE", str(folder))
        yield folder


@pytest.fixture
def profile_scifact(
    tiny_bert_dir: Path, scifact_dir: Path, profile_cache: Path, tmp_path: Path
) -> ProfileScifact:
    """`profile(**options)` of the tiny BERT (unless `model` says otherwise) on SciFact, written to
    tmp_path/P.json; returns that path."""

    def run(**options: Any) -> Path:
        out = tmp_path / "P.json"
        profile(**{"model": tiny_bert_dir, "data": scifact_dir, "output": out, **options})
        return out

    return run


@pytest.fixture(scope="session")
def tiny_dot(tiny_bert_dir: Path) -> object:
    from kdbench.models import load_model

    return load_model(tiny_bert_dir, "dot")
