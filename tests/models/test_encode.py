"""encode_texts: length-sorted, chunked encoding returns every text in input order."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kdbench.models import load_model
from kdbench.models.colbert import TermVectors
from kdbench.models.encode import encode_texts, rich_progress

# Lengths chosen so that length-sorting reorders them.
TEXTS = [
    "short",
    "a much longer passage about the tides, the moon, gravity and the oceans of the earth",
    "medium length text about tides",
    "x",
    "another fairly long passage, about retrieval models and how they are distilled",
]


def test_dot_encoding_is_in_input_order(tiny_bert_dir: Path) -> None:
    model = load_model(tiny_bert_dir, "dot", pooling="mean")
    calls: list[int] = []
    vectors = encode_texts(model, TEXTS, "doc", batch_size=2, progress=calls.append, chunk_size=3)
    with torch.no_grad():
        one_by_one = torch.cat([model.encode_docs([t]) for t in TEXTS])
    assert isinstance(vectors, torch.Tensor) and vectors.shape == (5, model.dim)
    torch.testing.assert_close(vectors, one_by_one, rtol=1e-5, atol=1e-5)
    assert sum(calls) == len(TEXTS) and not vectors.requires_grad


@pytest.mark.parametrize("kind", ["query", "doc"])
def test_colbert_encoding_is_in_input_order(tiny_bert_dir: Path, kind: str) -> None:
    model = load_model(tiny_bert_dir, "colbert", colbert_dim=8)
    packed = encode_texts(model, TEXTS, kind, batch_size=2, chunk_size=3)  # type: ignore[arg-type]
    assert isinstance(packed, TermVectors) and len(packed) == len(TEXTS)
    with torch.no_grad():
        for i, text in enumerate(TEXTS):
            vecs, mask = (model.encode_queries if kind == "query" else model.encode_docs)([text])
            assert packed.lengths[i] == mask.sum()
            torch.testing.assert_close(
                packed.vecs[packed.offsets[i] : packed.offsets[i + 1]],
                vecs[0][mask[0]],
                rtol=1e-5,
                atol=1e-5,
            )


def test_colbert_query_lengths_include_augmentation(tiny_bert_dir: Path) -> None:
    model = load_model(tiny_bert_dir, "colbert")
    packed = encode_texts(model, ["x"], "query")
    assert isinstance(packed, TermVectors)
    assert packed.lengths.tolist() == [3 + 8]  # [CLS] x [SEP] + 8 [MASK]


def test_dtype_and_empty_input(tiny_bert_dir: Path) -> None:
    dot = load_model(tiny_bert_dir, "dot")
    half = encode_texts(dot, TEXTS, "doc", dtype=torch.float16)
    assert isinstance(half, torch.Tensor) and half.dtype == torch.float16
    empty = encode_texts(dot, [], "doc")
    assert isinstance(empty, torch.Tensor) and empty.shape == (0, dot.dim)
    packed = encode_texts(load_model(tiny_bert_dir, "colbert"), [], "doc")
    assert isinstance(packed, TermVectors) and len(packed) == 0


def test_cat_has_no_per_text_encoding(tiny_bert_dir: Path) -> None:
    with pytest.raises(ValueError, match="score_pairs"):
        encode_texts(load_model(tiny_bert_dir, "cat"), TEXTS, "doc")


def test_rich_progress_counts(tiny_bert_dir: Path) -> None:
    model = load_model(tiny_bert_dir, "dot")
    with rich_progress(len(TEXTS), "docs") as progress:
        encode_texts(model, TEXTS, "doc", batch_size=2, progress=progress)
