"""The student as training sees it: a ranker whose forward scores (query, [pos, neg...]) rows.

Wrapping the ranker in one `nn.Module` whose `forward` does all the scoring is what
DistributedDataParallel needs (it synchronises gradients of what `forward` used).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from kdbench.models.base import RankerModule, repeat_rows
from kdbench.models.ranker import Ranker


def triple_scores(ranker: Ranker, queries: list[str], doc_lists: list[list[str]]) -> torch.Tensor:
    """Scores [n, 1 + k]: row i scores queries[i] against doc_lists[i] (positive first), one forward pass."""
    n = len(queries)
    width = len(doc_lists[0]) if doc_lists else 0
    flat_docs = [doc for docs in doc_lists for doc in docs]
    everything = max(len(flat_docs), 1)  # one batch: the caller sized the micro-batch
    if ranker.architecture.encodes_texts:
        # Encode each query once, not once per passage, and score it against its passages.
        q = ranker.encode_queries(queries, batch_size=everything)
        d = ranker.encode_docs(flat_docs, batch_size=everything)
        scores = ranker.score_encoded(repeat_rows(q, width), d)
    else:
        flat_queries = [q for q in queries for _ in range(width)]
        scores = ranker.score_pairs(flat_queries, flat_docs, batch_size=everything)
    return scores.reshape(n, width)


class StudentModule(nn.Module):
    """`ranker` plus an optional learned multiplier on its scores (`--learn-score-scale`)."""

    def __init__(self, ranker: RankerModule, learn_score_scale: bool = False) -> None:
        super().__init__()
        self.ranker = ranker
        # Log-parametrised so the multiplier stays positive; starts at 1 (the spec's scale is kept).
        self.log_scale = nn.Parameter(torch.zeros(())) if learn_score_scale else None

    def forward(self, queries: list[str], doc_lists: list[list[str]]) -> torch.Tensor:
        scores = triple_scores(self.ranker, queries, doc_lists)
        if self.log_scale is not None:
            scores = scores * self.log_scale.exp()
        return scores

    def effective_score_scale(self) -> float:
        """The spec's score_scale with the learned multiplier folded in (what a checkpoint records)."""
        factor = math.exp(float(self.log_scale.detach())) if self.log_scale is not None else 1.0
        return float(self.ranker.spec.score_scale) * factor


def set_dropout(module: nn.Module, probability: float) -> int:
    """Set every dropout probability in `module`; transformers' attention reads the module's `.p` too.

    Returns how many dropout modules changed. The saved config keeps its own values.
    """
    count = 0
    for child in module.modules():
        if isinstance(child, nn.Dropout):
            child.p = probability
            count += 1
    return count
