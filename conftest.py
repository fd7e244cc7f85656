"""Doctests: `pytest` runs every docstring example in kdbench/ (`--doctest-modules`, pyproject).

Collecting a module for its doctests imports it, so a module without examples is left out
unread (most of kdbench; some would import torch or TensorRT for nothing). A module with
examples is imported and each example runs as a test; one that fails, or a module that no
longer imports, fails the run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent / "kdbench"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.suffix != ".py" or PACKAGE not in collection_path.parents:
        return None
    return ">>>" not in collection_path.read_text(encoding="utf-8")
