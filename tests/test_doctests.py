"""Every docstring example in kdbench/ runs under plain `pytest` (no hand-kept list of modules)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from conftest import PACKAGE, pytest_ignore_collect

REPO = PACKAGE.parent


def test_pytest_collects_kdbench_doctests() -> None:
    options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in options["addopts"].split()
    assert "kdbench" in options["testpaths"]


def test_exactly_the_modules_with_examples_are_collected() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    with_examples = [m for m in modules if ">>>" in m.read_text(encoding="utf-8")]
    assert with_examples  # the style guide asks scoring functions for doctests
    for module in modules:
        ignored = pytest_ignore_collect(module, config=None)  # type: ignore[arg-type]
        assert ignored is (module not in with_examples), module
    assert pytest_ignore_collect(Path(__file__), config=None) is None  # type: ignore[arg-type]
