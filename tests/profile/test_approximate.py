"""`--search hnsw`: the approximate-index path, run against a stand-in for faiss (faiss is not
installed here, and kdbench must never need it)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kdbench.cli import main
from kdbench.report import write_report
from kdbench.report.scale import Scale
from tests.helpers import cli_options, patch_everywhere
from tests.profile.conftest import QUICK, profile


class FlatIndex:
    """faiss's index interface (add, search), searched exactly."""

    def __init__(self, dim: int, *_: Any) -> None:
        self.vectors = np.zeros((0, dim), dtype=np.float32)
        self.hnsw = types.SimpleNamespace(efSearch=16)

    def add(self, vectors: np.ndarray) -> None:
        self.vectors = np.vstack([self.vectors, vectors])

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = queries @ self.vectors.T
        rows = np.argsort(-scores, axis=1)[:, :k]
        return np.take_along_axis(scores, rows, axis=1), rows


@pytest.fixture
def fake_faiss(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("faiss")
    module.__spec__ = importlib.machinery.ModuleSpec("faiss", None)
    module.IndexHNSWFlat = FlatIndex  # type: ignore[attr-defined]
    module.IndexFlatIP = FlatIndex  # type: ignore[attr-defined]
    module.METRIC_INNER_PRODUCT = 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "faiss", module)
    return module


def test_without_faiss_hnsw_says_how_to_install_it(
    tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if importlib.util.find_spec("faiss") is not None:
        pytest.skip("faiss is installed here")
    options = cli_options(model=tiny_bert_dir, arch="dot", scenario="query", search="hnsw")
    assert main(["profile", *QUICK, *options]) == 2
    assert "--search hnsw needs faiss: pip install faiss-cpu" in capsys.readouterr().err


def test_hnsw_cells_record_recall_and_fit_in_log_size(
    fake_faiss: types.ModuleType,
    tiny_bert_dir: Path,
    profile_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a 1 KiB cache: every index here is past it, so exact search at 8.8M may be predicted
    import kdbench.env
    import kdbench.profile.runner

    patch_everywhere(
        monkeypatch, kdbench.env, "last_level_cache", lambda device: {"level": "L3", "bytes": 1024}
    )
    common = {"model": tiny_bert_dir, "arch": "dot", "scenario": "query", "seq_len": 16}
    sizes = {"index_size": "2000,8000,32000", "min_samples": 30}
    profile(**common, **sizes, search="hnsw", output=tmp_path / "hnsw.json")
    profile(**common, **sizes, output=tmp_path / "exact.json")
    result = json.loads((tmp_path / "hnsw.json").read_text())
    assert [c["search"]["method"] for c in result["results"]] == ["hnsw"] * 3
    # the stand-in searches exactly, so its recall against exact search is 1
    assert [c["search"]["recall@100"] for c in result["results"]] == [1.0] * 3
    assert {f["variable"] for f in result["growth"] if f["variable"] != "depth"} == {
        "log_index_size"
    }
    assert "approximate" in result["scenario"]["search"]

    text, rows = write_report(
        [tmp_path / "exact.json", tmp_path / "hnsw.json"],
        "markdown",
        None,
        budget="p95<=0.001ms",
        scale=Scale(8_800_000),
    )
    hnsw = next(r for r in rows if r.search == "hnsw" and r.predicted)
    assert "recall@100 1.000 vs exact" in hnsw.includes
    # exact search's prediction breaks the budget: the note names what the graph measured
    # (its prediction, or why it refused one: the stand-in's timings are noise-sized)
    assert "exact search is predicted at p95" in text
    assert "an approximate index: hnsw" in text
