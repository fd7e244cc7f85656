"""Derived files (doc offset indexes, BM25 indexes) go to one temporary cache per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def kdbench_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kdbench-cache")


@pytest.fixture(autouse=True)
def _cache_in_tmp(kdbench_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KDBENCH_CACHE", str(kdbench_cache))
