"""Approximate dense search: faiss's HNSW graph over inner products, when faiss is installed.

Exact search reads every index row per query, so its cost grows linearly with the index;
an HNSW graph visits a few hundred rows per query, its cost growing about with the log of
the index size, at the price of recall. kdbench never needs faiss: `kdbench profile
--search hnsw` asks for it and says how to install it when it is missing. `recall` is what
the approximation costs in quality: the share of exact search's top-k it also returns.

>>> recall(np.array([[1, 2, 3]]), np.array([[3, 2, 9]]))
0.6666666666666666
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from kdbench.errors import MissingDependencyError
from kdbench.json_types import JsonObject

HNSW_NEIGHBOURS = 32  # M: graph edges per node (faiss's common default for 768-d vectors)


def require_faiss(what: str) -> None:
    if importlib.util.find_spec("faiss") is None:
        raise MissingDependencyError(
            f"{what} needs faiss: pip install faiss-cpu (or faiss-gpu); exact search needs nothing"
        )


@dataclass
class HnswIndex:
    """An HNSW graph over `vectors` (inner product); `ef_search` candidates kept per query."""

    index: Any
    ef_search: int
    build_s: float

    @classmethod
    def build(cls, vectors: np.ndarray, ef_search: int) -> HnswIndex:
        require_faiss("an HNSW index")
        import faiss

        started = time.perf_counter()
        index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        index.hnsw.efSearch = ef_search
        return cls(index, ef_search, time.perf_counter() - started)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores [n, k], rows [n, k]) of the graph's best `k` rows per query."""
        scores, rows = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, rows

    def describe(self) -> JsonObject:
        return {
            "method": "hnsw",
            "library": "faiss IndexHNSWFlat (inner product)",
            "neighbours": HNSW_NEIGHBOURS,
            "ef_search": self.ef_search,
            "build_s": self.build_s,
        }


def recall(exact_rows: np.ndarray, approximate_rows: np.ndarray) -> float:
    """The share of each query's exact top-k the approximate search also found, averaged."""
    found = [
        len(set(exact.tolist()) & set(approximate.tolist())) / len(exact)
        for exact, approximate in zip(exact_rows, approximate_rows, strict=True)
    ]
    return float(np.mean(found))
