"""Exact dense retrieval: chunked matmul + a running top-k, so the full score matrix never exists.

`TopK` merges score chunks as they come, which lets the pipeline encode and search the
corpus chunk by chunk without ever holding all doc vectors. `exact_search` does the same over
a pre-encoded matrix, with faiss's flat inner-product index when asked and installed;
`as_run` turns the (scores, rows) either returns into a Run.

Ties at the k-th place are settled by `torch.topk`, not by the doc-id rule of
`kdbench.data.runs.ranked` (rows are store positions, not ids), unless `TopK(..., ties=True)`
keeps every doc tied with the k-th for the caller to cut by that rule (`evaluate` does, so
shards searched apart merge to the one process's run).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import numpy as np
import torch

from kdbench.data.runs import Run
from kdbench.errors import MissingDependencyError


class TopK:
    """The best `k` (score, doc row) per query over score chunks seen so far.

    >>> top = TopK(num_queries=1, k=2)
    >>> top.add(torch.tensor([[0.1, 0.9, 0.5]]), first_row=0)
    >>> top.add(torch.tensor([[0.7]]), first_row=3)
    >>> top.result()
    (tensor([[0.9000, 0.7000]]), tensor([[1, 3]]))
    >>> tied = TopK(num_queries=1, k=1, ties=True)
    >>> tied.add(torch.tensor([[0.5, 0.2, 0.5]]), first_row=0)
    >>> sorted(tied.result()[1][0].tolist())
    [0, 2]
    """

    def __init__(self, num_queries: int, k: int, *, ties: bool = False) -> None:
        if k < 1:
            raise ValueError(f"k must be at least 1 (got {k})")
        self.k = k
        self.ties = ties
        self.scores = torch.full((num_queries, 0), float("-inf"))
        self.rows = torch.zeros((num_queries, 0), dtype=torch.long)

    def add(self, scores: torch.Tensor, first_row: int) -> None:
        """Merge `scores` [num_queries, m] for doc rows first_row .. first_row + m - 1."""
        scores = scores.detach().float().cpu()
        rows = torch.arange(first_row, first_row + scores.shape[1]).expand(scores.shape[0], -1)
        merged_scores = torch.cat([self.scores, scores], dim=1)
        merged_rows = torch.cat([self.rows, rows], dim=1)
        keep = min(self.k, merged_scores.shape[1])
        best_scores, best = torch.topk(merged_scores, keep, dim=1, sorted=True)
        if self.ties and 0 < keep < merged_scores.shape[1]:
            tied = int((merged_scores >= best_scores[:, -1:]).sum(dim=1).max())
            if tied > keep:  # keep every doc tied with a k-th: the tie rule picks among them
                best_scores, best = torch.topk(merged_scores, tied, dim=1, sorted=True)
        self.scores, self.rows = best_scores, torch.gather(merged_rows, 1, best)

    def add_docs(
        self,
        query_vectors: torch.Tensor,
        doc_vectors: torch.Tensor,
        first_row: int,
        scale: float = 1.0,
    ) -> None:
        """Merge the inner products (times `scale`) of the queries with doc rows first_row, ..."""
        self.add((query_vectors @ doc_vectors.T) * scale, first_row)

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(scores [num_queries, k'], doc rows [num_queries, k']), best first; k' = min(k, docs seen)."""
        return self.scores, self.rows


def exact_search(
    query_vectors: torch.Tensor,
    doc_vectors: torch.Tensor,
    k: int,
    *,
    chunk_size: int = 65_536,
    backend: str = "torch",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-`k` doc rows by inner product for each query: (scores [n, k], rows [n, k]), best first.

    `backend`: "torch" (chunked matmul) or "faiss" (IndexFlatIP; needs faiss-cpu or faiss-gpu).
    """
    if backend == "faiss":
        return _faiss_search(query_vectors, doc_vectors, k)
    if backend != "torch":
        raise ValueError(f"unknown dense search backend {backend!r}; use 'torch' or 'faiss'")
    top = TopK(query_vectors.shape[0], k)
    for start in range(0, doc_vectors.shape[0], chunk_size):
        top.add_docs(query_vectors, doc_vectors[start : start + chunk_size], first_row=start)
    return top.result()


def as_run(
    qids: Sequence[str], doc_ids: np.ndarray, scores: torch.Tensor, rows: torch.Tensor
) -> Run:
    """(scores, rows) of a search as a Run: row i of each is query `qids[i]`'s best docs.

    >>> as_run(["q"], np.array(["a", "b", "c"]), torch.tensor([[0.5, 0.25]]), torch.tensor([[2, 0]]))
    {'q': {'c': 0.5, 'a': 0.25}}
    """
    return {
        qid: dict(zip(doc_ids[rows[i].numpy()].tolist(), scores[i].tolist(), strict=True))
        for i, qid in enumerate(qids)
    }


def _faiss_search(
    query_vectors: torch.Tensor, doc_vectors: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    if importlib.util.find_spec("faiss") is None:
        raise MissingDependencyError(
            "dense search backend 'faiss' needs faiss: pip install faiss-cpu (or use backend 'torch')"
        )
    import faiss

    docs = doc_vectors.detach().float().cpu().contiguous().numpy()
    index = faiss.IndexFlatIP(docs.shape[1])
    index.add(docs)
    scores, rows = index.search(
        query_vectors.detach().float().cpu().contiguous().numpy(), min(k, docs.shape[0])
    )
    return torch.from_numpy(scores), torch.from_numpy(rows).long()
