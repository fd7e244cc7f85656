"""Profile tests share one kdbench cache (exports, BM25 index) and run torch on one thread:
two cores are shared by the whole suite, and OpenMP stalls badly when oversubscribed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def profile_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("kdbench-cache")
    previous = os.environ.get("KDBENCH_CACHE")
    os.environ["KDBENCH_CACHE"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("KDBENCH_CACHE", None)
    else:
        os.environ["KDBENCH_CACHE"] = previous


@pytest.fixture(scope="session")
def tiny_dot(tiny_bert_dir: Path) -> object:
    from kdbench.models import load_model

    return load_model(tiny_bert_dir, "dot")
