"""ColBERT (late interaction): every token gets a vector; a query term's score is its best
match among the passage's terms (MaxSim), summed over query terms.

As in the paper's code: the shared encoder, an optional linear compression, 8 `[MASK]`
tokens appended to every query, a dot product per term pair (cosine when `similarity` is
"cosine"), and passage padding masked out of the max.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kdbench.errors import UserError
from kdbench.models.base import (
    ENCODER_EXPORTS,
    Encoded,
    ExportKind,
    ModelSpec,
    RankerModule,
    TextKind,
    check_pairs,
    pad_token_ids,
)

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def maxsim_scores(
    q_vecs: torch.Tensor, q_mask: torch.Tensor, d_vecs: torch.Tensor, d_mask: torch.Tensor
) -> torch.Tensor:
    """Sum over real query terms of the best dot product with any real passage term.

    One query vs many passages: q_vecs [Lq, d], q_mask [Lq], d_vecs [m, Ld, d], d_mask [m, Ld] -> [m].
    Pairwise batches: q_vecs [n, Lq, d], q_mask [n, Lq] against n passages -> [n]
    (a batch of one query broadcasts against m passages).

    >>> q, q_mask = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([1, 1])
    >>> d = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [5.0, 5.0]]])
    >>> maxsim_scores(q, q_mask, d, torch.tensor([[1, 1, 0]]))  # max(1, 0) + max(0, 2): [5, 5] is padding
    tensor([3.])
    >>> maxsim_scores(q, q_mask, d, torch.tensor([[1, 1, 1]]))
    tensor([10.])
    >>> maxsim_scores(q, torch.tensor([1, 0]), d, torch.tensor([[1, 1, 0]]))  # padded query term adds nothing
    tensor([1.])
    """
    if q_vecs.dim() == 2:
        q_vecs, q_mask = q_vecs.unsqueeze(0), q_mask.unsqueeze(0)
    similarity = q_vecs @ d_vecs.transpose(-1, -2)  # [n, Lq, Ld]
    # The lowest finite value (not -inf, not 0) so padding never wins the max, and an
    # all-masked row stays finite.
    similarity = similarity.masked_fill(
        ~d_mask.bool().unsqueeze(-2), torch.finfo(similarity.dtype).min
    )
    best = similarity.max(dim=-1).values
    return (best * q_mask.to(best.dtype)).sum(-1)


@dataclass
class TermVectors:
    """Term vectors of many texts, packed without padding: text i owns vecs[offsets[i]:offsets[i+1]].

    Cacheable as two tensors (e.g. with safetensors); `padded` gathers any subset for `maxsim_scores`.
    """

    vecs: torch.Tensor  # [total tokens, d]
    offsets: torch.Tensor  # [n + 1] int64, offsets[0] == 0

    def __len__(self) -> int:
        return int(self.offsets.numel()) - 1

    @property
    def lengths(self) -> torch.Tensor:
        return self.offsets[1:] - self.offsets[:-1]

    def padded(
        self, indices: Sequence[int] | torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(vectors [k, L, d], mask [k, L] bool) for texts `indices` (all texts when None)."""
        index = (
            torch.arange(len(self))
            if indices is None
            else torch.as_tensor(indices, dtype=torch.long)
        )
        index = index.to(self.offsets.device)
        starts = self.offsets[index]
        lengths = self.offsets[index + 1] - starts
        width = int(lengths.max()) if index.numel() else 0
        positions = torch.arange(width, device=self.offsets.device)
        mask = positions.unsqueeze(0) < lengths.unsqueeze(1)
        token_index = (starts.unsqueeze(1) + positions.unsqueeze(0)).masked_fill(~mask, 0)
        if self.vecs.shape[0] == 0:
            return self.vecs.new_zeros(index.numel(), width, self.vecs.shape[-1]), mask
        vectors = self.vecs.to(self.offsets.device)[token_index] * mask.unsqueeze(-1).to(
            self.vecs.dtype
        )
        return vectors, mask

    @classmethod
    def from_padded(cls, vecs: torch.Tensor, mask: torch.Tensor) -> TermVectors:
        """Pack [n, L, d] vectors with their [n, L] mask (real tokens must come first in each row)."""
        lengths = mask.long().sum(1)
        offsets = torch.zeros(len(lengths) + 1, dtype=torch.long, device=lengths.device)
        offsets[1:] = torch.cumsum(lengths, 0)
        return cls(vecs[mask.bool()], offsets)


class ColbertRanker(RankerModule):
    """Term vectors from the shared encoder (+ optional `compressor`), scored with MaxSim."""

    arch: ClassVar[str] = "colbert"
    export_methods: ClassVar[dict[ExportKind, str]] = ENCODER_EXPORTS

    def __init__(
        self, encoder: nn.Module, tokenizer: PreTrainedTokenizerBase, spec: ModelSpec
    ) -> None:
        super().__init__(encoder, tokenizer, spec)
        self.compressor: nn.Linear | None = (
            nn.Linear(self.hidden_size, spec.colbert_dim) if spec.colbert_dim is not None else None
        )
        if spec.query_augment and tokenizer.mask_token_id is None:
            raise UserError(
                f"{spec.encoder}: query augmentation needs a [MASK] token in the tokenizer; set query_augment to 0"
            )

    @classmethod
    def position_needs(cls, spec: ModelSpec) -> dict[str, int]:
        return {
            "--max-query-len (+ query augmentation)": spec.max_query_len + spec.query_augment,
            "--max-doc-len": spec.max_doc_len,
        }

    @property
    def appended_query_tokens(self) -> int:
        return self.spec.query_augment

    @property
    def dim(self) -> int:
        """Size of each term vector."""
        return self.spec.colbert_dim if self.spec.colbert_dim is not None else self.hidden_size

    def collate(self, ids: Sequence[Sequence[int]], kind: TextKind) -> dict[str, torch.Tensor]:
        # Queries get `query_augment` [MASK] tokens after their [SEP], all attended to and
        # all scored, as in the paper's code (before padding, so every query has them).
        append = [self.tokenizer.mask_token_id] * self.spec.query_augment if kind == "query" else []
        input_ids, attention_mask = pad_token_ids(ids, self.tokenizer.pad_token_id, append)
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def forward_encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token ids [n, L] -> term vectors [n, L, d], zero at padding."""
        vectors = self.encode_hidden(input_ids, attention_mask)
        if self.compressor is not None:
            vectors = self.compressor(vectors)
        if self.spec.similarity == "cosine":
            vectors = F.normalize(vectors, p=2.0, dim=-1)
        return vectors * attention_mask.unsqueeze(-1).to(vectors.dtype)

    def _encode(
        self, texts: list[str], kind: TextKind, batch_size: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ids = self.token_ids(texts, kind)
        batches = list(
            self._batched(ids, kind, batch_size, lambda inputs: self.forward_encode(**inputs))
        )
        if not batches:
            empty = torch.empty(0, 0, self.dim, device=self.device)
            return empty, torch.empty(0, 0, dtype=torch.bool, device=self.device)
        width = max(vectors.shape[1] for _, _, vectors in batches)
        vectors = torch.cat([F.pad(v, (0, 0, 0, width - v.shape[1])) for _, _, v in batches])
        mask = torch.cat(
            [
                F.pad(x["attention_mask"], (0, width - x["attention_mask"].shape[1]))
                for _, x, _ in batches
            ]
        )
        order = torch.argsort(
            torch.from_numpy(np.concatenate([b for b, _, _ in batches])).to(vectors.device)
        )
        return vectors[order], mask[order].bool()

    def encode_queries(
        self, texts: list[str], batch_size: int = 32
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Query term vectors [n, L, d] and mask [n, L] (bool), input order, caller's grad mode."""
        return self._encode(texts, "query", batch_size)

    def encode_docs(
        self, texts: list[str], batch_size: int = 32
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Passage term vectors [n, L, d] and mask [n, L] (bool), input order, caller's grad mode."""
        return self._encode(texts, "doc", batch_size)

    def scores(
        self, q_vecs: torch.Tensor, q_mask: torch.Tensor, d_vecs: torch.Tensor, d_mask: torch.Tensor
    ) -> torch.Tensor:
        """`maxsim_scores` with `score_scale` applied."""
        return maxsim_scores(q_vecs, q_mask, d_vecs, d_mask) * self.spec.score_scale

    def score_encoded(self, queries: Encoded, docs: Encoded) -> torch.Tensor:
        if isinstance(queries, torch.Tensor) or isinstance(docs, torch.Tensor):
            raise TypeError(f"{self.arch} scores (term vectors, mask) pairs, not one tensor")
        return self.scores(*queries, *docs)

    def score_pairs(
        self, queries: list[str], docs: list[str], batch_size: int = 32
    ) -> torch.Tensor:
        check_pairs(queries, docs)
        return self.scores(
            *self.encode_queries(queries, batch_size), *self.encode_docs(docs, batch_size)
        )
