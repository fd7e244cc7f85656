"""The evaluation hot path: encode many texts with a dot or colbert ranker, fast.

Texts are tokenized a chunk at a time in one batched (Rust) tokenizer call, sorted by token
length so each batch pads little, encoded longest-first under `torch.inference_mode()`,
and returned in input order. Chunking bounds memory for large collections.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from kdbench.models.base import TextKind, length_sorted_batches
from kdbench.models.colbert import ColbertRanker, TermVectors
from kdbench.models.dot import DotRanker
from kdbench.models.ranker import Ranker

Progress = Callable[[int], None]  # called with the number of texts just encoded
CHUNK_SIZE = 16384  # texts tokenized and sorted together


def encode_texts(
    model: Ranker,
    texts: Sequence[str],
    kind: TextKind,
    batch_size: int = 64,
    progress: Progress | None = None,
    *,
    dtype: torch.dtype | None = None,
    out_device: str | torch.device = "cpu",
    chunk_size: int = CHUNK_SIZE,
) -> torch.Tensor | TermVectors:
    """Encode `texts` as queries or passages ("query" | "doc"), in input order.

    dot -> Tensor[n, d]; colbert -> `TermVectors` (packed, no padding; `.padded(ids)` for
    MaxSim). Results land on `out_device` (CPU by default, for caching) in `dtype`
    (default: the model's, e.g. torch.float16 halves a cache).
    """
    if kind not in ("query", "doc"):
        raise ValueError(f"kind must be 'query' or 'doc', not {kind!r}")
    if isinstance(model, DotRanker):
        return _encode_dot(
            model, texts, kind, batch_size, progress, dtype, torch.device(out_device), chunk_size
        )
    if isinstance(model, ColbertRanker):
        return _encode_colbert(
            model, texts, kind, batch_size, progress, dtype, torch.device(out_device), chunk_size
        )
    raise ValueError(
        f"{model.arch} has no per-text representation; score (query, passage) pairs with score_pairs"
    )


def _chunks(texts: Sequence[str], chunk_size: int) -> Iterator[tuple[int, list[str]]]:
    for start in range(0, len(texts), chunk_size):
        yield start, list(texts[start : start + chunk_size])


def _encode_dot(
    model: DotRanker,
    texts: Sequence[str],
    kind: TextKind,
    batch_size: int,
    progress: Progress | None,
    dtype: torch.dtype | None,
    out_device: torch.device,
    chunk_size: int,
) -> torch.Tensor:
    device = model.device
    out = torch.empty(
        len(texts), model.dim, dtype=dtype or next(model.parameters()).dtype, device=out_device
    )
    with torch.inference_mode():
        for start, chunk in _chunks(texts, chunk_size):
            ids = model.token_ids(chunk, kind)
            for batch in length_sorted_batches([len(x) for x in ids], batch_size):
                inputs = model.collate([ids[i] for i in batch], kind)
                vectors = model.forward_encode(**{k: v.to(device) for k, v in inputs.items()})
                out[torch.from_numpy(batch + start).to(out_device)] = vectors.to(
                    out_device, out.dtype
                )
                if progress is not None:
                    progress(len(batch))
    return out


def _encode_colbert(
    model: ColbertRanker,
    texts: Sequence[str],
    kind: TextKind,
    batch_size: int,
    progress: Progress | None,
    dtype: torch.dtype | None,
    out_device: torch.device,
    chunk_size: int,
) -> TermVectors:
    device = model.device
    dtype = dtype or next(model.parameters()).dtype
    chunk_vectors: list[torch.Tensor] = []
    chunk_lengths: list[torch.Tensor] = []
    with torch.inference_mode():
        for _, chunk in _chunks(texts, chunk_size):
            ids = model.token_ids(chunk, kind)
            orders, packed, lengths = [], [], []
            for batch in length_sorted_batches([len(x) for x in ids], batch_size):
                inputs = model.collate([ids[i] for i in batch], kind)
                mask = inputs["attention_mask"].to(device)
                vectors = model.forward_encode(inputs["input_ids"].to(device), mask)
                packed.append(vectors[mask.bool()].to(out_device, dtype))
                lengths.append(mask.sum(1).to(out_device))
                orders.append(batch)
                if progress is not None:
                    progress(len(batch))
            vectors, lengths_in_order = _unsort_packed(
                torch.cat(packed),
                torch.cat(lengths),
                torch.from_numpy(np.concatenate(orders)).to(out_device),
            )
            chunk_vectors.append(vectors)
            chunk_lengths.append(lengths_in_order)
    if not chunk_vectors:
        return TermVectors(
            torch.empty(0, model.dim, dtype=dtype, device=out_device),
            torch.zeros(1, dtype=torch.long, device=out_device),
        )
    lengths_all = torch.cat(chunk_lengths)
    offsets = torch.zeros(len(lengths_all) + 1, dtype=torch.long, device=out_device)
    offsets[1:] = torch.cumsum(lengths_all, 0)
    return TermVectors(torch.cat(chunk_vectors), offsets)


def _unsort_packed(
    packed: torch.Tensor, lengths: torch.Tensor, order: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reorder packed per-text segments from encoding order back to input order.

    `order[r]` is the input position of the r-th encoded text; `lengths[r]` its token count.

    >>> vecs, lengths = _unsort_packed(torch.tensor([[1.], [2.], [3.]]), torch.tensor([2, 1]), torch.tensor([1, 0]))
    >>> vecs.flatten().tolist(), lengths.tolist()
    ([3.0, 1.0, 2.0], [1, 2])
    """
    sorted_offsets = torch.cumsum(lengths, 0) - lengths
    rank = torch.argsort(order)  # rank[i]: where input text i sits in encoding order
    new_lengths = lengths[rank]
    new_starts = torch.cumsum(new_lengths, 0) - new_lengths
    total = int(new_lengths.sum())
    owner_starts = torch.repeat_interleave(sorted_offsets[rank], new_lengths, output_size=total)
    within = torch.arange(total, device=packed.device) - torch.repeat_interleave(
        new_starts, new_lengths, output_size=total
    )
    return packed[owner_starts + within], new_lengths


@contextlib.contextmanager
def rich_progress(total: int, description: str = "encoding") -> Iterator[Progress]:
    """A rich progress bar for `encode_texts(..., progress=...)` (texts/s and time left)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with RichProgress(*columns) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
