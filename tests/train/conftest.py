"""Fixtures for training tests: SciFact's train split with a BM25 run, and tiny training configs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from kdbench.train.config import TrainConfig
from tests.helpers import cache_in_tmp, kdbench_cache  # noqa: F401 (fixtures)


@pytest.fixture(scope="session")
def scifact_train(
    scifact_dir: Path,
    kdbench_cache: Path,  # noqa: F811 (the fixture imported above)
) -> tuple[Any, dict[str, dict[str, float]]]:
    """SciFact's train split and a BM25 top-50 run over its judged queries (built once)."""
    from kdbench.data import load_collection
    from kdbench.retrieval.bm25 import BM25

    collection = load_collection(scifact_dir, "train", cache_dir=kdbench_cache)
    run = BM25(collection.docs, cache_dir=kdbench_cache).search(dict(collection.queries), k=50)
    return collection, run


def tiny_config(model: Path, output: Path, data: Path, **changes: Any) -> TrainConfig:
    """A few steps of a 2-layer 32-dim model on short sequences: seconds on a shared CPU."""
    base = TrainConfig(
        model=str(model),
        output=str(output),
        arch="cat",
        loss="ranknet",
        steps=6,
        data=str(data),
        batch_size=4,
        max_query_len=12,
        max_doc_len=24,
        triples_per_positive=1,
        dev_queries=5,
        validate_depth=8,
        learning_rate=1e-3,
        quiet=True,
    )
    return dataclasses.replace(base, **changes)
