"""DOT (bi-encoder): one shared encoder maps a query and a passage to one vector each;
relevance is their dot product (or cosine), so passage vectors can be precomputed."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from kdbench.models.base import (
    ENCODER_EXPORTS,
    Encoded,
    ExportKind,
    RankerModule,
    TextKind,
    check_pairs,
)


def dot_scores(q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """All-pairs dot products: q [n, dim], d [m, dim] -> [n, m].

    >>> dot_scores(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0], [0.0, 1.0]]))
    tensor([[11.,  2.]])
    """
    return q @ d.transpose(-1, -2)


def pairwise_dot_scores(q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Dot product of each q[i] with d[i]: [n, dim], [n, dim] -> [n].

    >>> pairwise_dot_scores(torch.tensor([[1.0, 2.0], [1.0, 0.0]]), torch.tensor([[3.0, 4.0], [5.0, 6.0]]))
    tensor([11.,  5.])
    """
    return (q * d).sum(-1)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """One vector per text from [n, L, h] hidden states: the [CLS] vector, or the mean over real tokens.

    >>> hidden = torch.tensor([[[1.0, 0.0], [3.0, 2.0], [9.0, 9.0]]])
    >>> pool(hidden, torch.tensor([[1, 1, 0]]), "mean")  # the padding vector [9, 9] is ignored
    tensor([[2., 1.]])
    >>> pool(hidden, torch.tensor([[1, 1, 0]]), "cls")
    tensor([[1., 0.]])
    """
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    # sentence-transformers' formula: the clamp only guards an all-padding row.
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class DotRanker(RankerModule):
    """Shared encoder for queries and passages; CLS or mean pooling; dot or cosine."""

    arch: ClassVar[str] = "dot"
    export_methods: ClassVar[dict[ExportKind, str]] = ENCODER_EXPORTS

    @property
    def dim(self) -> int:
        """Size of the query/passage vectors."""
        return self.hidden_size

    def forward_encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token ids [n, L] -> vectors [n, d] (L2-normalised for cosine)."""
        vectors = pool(
            self.encode_hidden(input_ids, attention_mask), attention_mask, self.spec.pooling
        )
        if self.spec.similarity == "cosine":
            vectors = F.normalize(vectors, p=2.0, dim=-1)
        return vectors

    def scores(self, q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """Pairwise scores of encoded queries and passages, `score_scale` applied."""
        return pairwise_dot_scores(q, d) * self.spec.score_scale

    def _encode(self, texts: list[str], kind: TextKind, batch_size: int) -> torch.Tensor:
        ids = self.token_ids(texts, kind)
        batches = list(
            self._batched(ids, kind, batch_size, lambda inputs: self.forward_encode(**inputs))
        )
        if not batches:
            return torch.empty(0, self.dim, device=self.device)
        vectors = torch.cat([vectors for _, _, vectors in batches])
        order = torch.from_numpy(np.concatenate([batch for batch, _, _ in batches])).to(
            vectors.device
        )
        return vectors[torch.argsort(order)]  # back to input order; a gather, so grads flow

    def encode_queries(self, texts: list[str], batch_size: int = 32) -> torch.Tensor:
        """Query vectors [n, d] in input order, under the caller's grad mode."""
        return self._encode(texts, "query", batch_size)

    def encode_docs(self, texts: list[str], batch_size: int = 32) -> torch.Tensor:
        """Passage vectors [n, d] in input order, under the caller's grad mode."""
        return self._encode(texts, "doc", batch_size)

    def score_all(self, q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """Every query against every passage: q [n, d], d [m, d] -> [n, m], as `scores` would
        give pair by pair (dense retrieval). One matrix product for dot/cosine; a subclass
        that scores otherwise is scored one query row at a time with its own `scores`."""
        if type(self).scores is DotRanker.scores:
            return dot_scores(q, d) * self.spec.score_scale
        if not len(q):
            return torch.empty(0, len(d), device=d.device)
        return torch.stack([self.scores(row.expand(len(d), -1), d) for row in q])

    def score_encoded(self, queries: Encoded, docs: Encoded) -> torch.Tensor:
        if not isinstance(queries, torch.Tensor) or not isinstance(docs, torch.Tensor):
            raise TypeError(f"{self.arch} scores one vector per text, not {type(queries)}")
        return self.scores(queries, docs)

    def score_pairs(
        self, queries: list[str], docs: list[str], batch_size: int = 32
    ) -> torch.Tensor:
        check_pairs(queries, docs)
        return self.scores(
            self.encode_queries(queries, batch_size), self.encode_docs(docs, batch_size)
        )
