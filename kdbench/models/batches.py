"""Fixed-shape model inputs: a ranker's own tokenisation padded to exactly N tokens.

What the profiler times (every cell one shape) and what a backend is exported and checked
with (`kdbench.evaluate.backend`) are built here, so both feed a model the same tensors.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from kdbench.errors import UserError
from kdbench.models.base import ExportKind
from kdbench.models.ranker import Ranker


@contextlib.contextmanager
def truncation_lengths(
    ranker: Ranker, query_len: int | None = None, doc_len: int | None = None
) -> Iterator[None]:
    """Tokenize with other truncation lengths, restoring the ranker's spec afterwards."""
    original = ranker.spec
    ranker.spec = dataclasses.replace(
        original,
        max_query_len=query_len or original.max_query_len,
        max_doc_len=doc_len or original.max_doc_len,
    )
    try:
        yield
    finally:
        ranker.spec = original


def pair_lengths(ranker: Ranker, seq_len: int) -> tuple[int, int]:
    """(query, passage) tokens of a `seq_len`-token pair: the query keeps its own budget
    (half the length at most), the passage fills the rest."""
    query_len = min(ranker.spec.max_query_len, seq_len // 2)
    return query_len, seq_len - query_len


def pad_tokens(tensor: torch.Tensor, width: int, value: int = 0) -> torch.Tensor:
    """Right-pad the token axis (axis 1) of [n, L] or [n, L, d] to `width`."""
    trailing = [0, 0] * (tensor.dim() - 2)  # F.pad counts from the last axis
    return F.pad(tensor, (*trailing, 0, width - tensor.shape[1]), value=value)


def fixed_batch(
    ranker: Ranker,
    kind: ExportKind,
    texts: list[str],
    seq_len: int,
    pair_docs: list[str] | None = None,
) -> dict[str, torch.Tensor]:
    """The ranker's own tokenisation of `texts`, truncated to fit and padded to exactly `seq_len`.

    A pair whose passage comes as states (`passage_*` inputs, prettr's cache) is the query's
    tokens padded to the query part of `seq_len` and the states padded along their token
    axis to the rest.
    """
    if kind == "query":
        augment = ranker.appended_query_tokens
        if seq_len - augment < 3:
            raise UserError(
                f"--seq-len {seq_len}: too short for {ranker.arch} queries (need at least {augment + 3} tokens)"
            )
        lengths = {"query_len": seq_len - augment}
    elif kind == "doc":
        if seq_len < 3:
            raise UserError(f"--seq-len {seq_len}: passages need at least 3 tokens")
        lengths = {"doc_len": seq_len}
    else:
        if seq_len < 6:
            raise UserError(f"--seq-len {seq_len}: {ranker.arch} pairs need at least 6 tokens")
        query_len, doc_len = pair_lengths(ranker, seq_len)
        lengths = {"query_len": query_len, "doc_len": doc_len}
    with truncation_lengths(ranker, **lengths):
        inputs = ranker.tokenize(list(texts), kind, pair_docs)
    if any(name.startswith("passage_") for name in inputs):
        # the passage arrives as states of its own (prettr's cache): each part is padded apart
        return pad_split_pairs(
            inputs, *pair_lengths(ranker, seq_len), ranker.tokenizer.pad_token_id
        )
    pad = {"input_ids": ranker.tokenizer.pad_token_id}
    return {name: pad_tokens(tensor, seq_len, pad.get(name, 0)) for name, tensor in inputs.items()}


def pad_split_pairs(
    inputs: dict[str, torch.Tensor], query_len: int, doc_len: int, pad_id: int
) -> dict[str, torch.Tensor]:
    """prettr pair inputs with the query padded to `query_len`, the passage to `doc_len` tokens."""
    return {
        name: pad_tokens(
            tensor,
            doc_len if name.startswith("passage_") else query_len,
            pad_id if name == "input_ids" else 0,
        )
        for name, tensor in inputs.items()
    }
