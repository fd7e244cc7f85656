"""Every registered architecture, loaded, has each member of the `Ranker` protocol that
evaluation, profiling and training call; so does its view through a backend.

mypy checks the signatures of the built-in classes (`kdbench/models/ranker.py`); this covers
what it cannot: attributes set in `__init__` and an architecture registered from outside
the type-checked package."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdbench.backends import BackendOptions
from kdbench.evaluate.backend import through_backend
from kdbench.models import load_model
from kdbench.models.ranker import Ranker
from kdbench.models.registry import ARCHITECTURES

BUILT_IN = ("dot", "cat", "colbert", "prettr")


def protocol_members() -> set[str]:
    """Methods, properties and attributes the protocol declares."""
    names = {name for name in vars(Ranker) if not name.startswith("_")}
    return names | set(getattr(Ranker, "__annotations__", {}))


def test_protocol_names_what_callers_use() -> None:
    # a few members every caller reads; the protocol losing one would type nothing
    assert {"arch", "spec", "score_pairs", "encode_queries", "export_module"} <= protocol_members()


@pytest.mark.parametrize("arch", BUILT_IN)
def test_every_architecture_has_every_member(tiny_bert_dir: Path, arch: str) -> None:
    assert arch in ARCHITECTURES
    split = {"split_layer": 1} if arch == "prettr" else {}  # the tiny encoder has 2 layers
    ranker = load_model(tiny_bert_dir, arch, max_doc_len=32, **split)
    missing = sorted(name for name in protocol_members() if not hasattr(ranker, name))
    assert missing == []
    assert ranker.arch == arch and ranker.architecture is ARCHITECTURES[arch]


def test_a_backend_view_has_every_member(tiny_bert_dir: Path) -> None:
    ranker = load_model(tiny_bert_dir, "dot", max_doc_len=32)
    view, described = through_backend(
        ranker, "eager", "bf16", BackendOptions(precision="bf16"), ("a query", "a passage"), 4
    )
    assert view is not ranker and described["dtype"] == "bfloat16"
    missing = sorted(name for name in protocol_members() if not hasattr(view, name))
    assert missing == []
    scores = view.score_pairs(["a query"], ["a passage"])
    assert scores.shape == (1,)
