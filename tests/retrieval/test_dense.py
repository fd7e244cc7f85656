"""Exact dense search: chunked top-k equals a full sort."""

from __future__ import annotations

import pytest
import torch

from kdbench.retrieval.dense import TopK, exact_search


@pytest.mark.parametrize(
    ("docs", "k", "chunk_size"), [(1000, 10, 64), (1000, 100, 999), (37, 50, 8), (500, 500, 1000)]
)
def test_top_k_equals_full_sort(docs: int, k: int, chunk_size: int) -> None:
    generator = torch.Generator().manual_seed(docs + k)
    queries = torch.randn(7, 16, generator=generator)
    doc_vectors = torch.randn(docs, 16, generator=generator)
    scores, rows = exact_search(queries, doc_vectors, k, chunk_size=chunk_size)
    full = queries @ doc_vectors.T
    expected_scores, expected_rows = torch.sort(full, dim=1, descending=True)
    keep = min(k, docs)
    assert scores.shape == rows.shape == (7, keep)
    assert torch.equal(rows, expected_rows[:, :keep])
    torch.testing.assert_close(scores, expected_scores[:, :keep])


def test_top_k_accumulates_across_chunks() -> None:
    top = TopK(num_queries=2, k=3)
    top.add(torch.tensor([[1.0, 5.0], [0.0, 0.0]]), first_row=0)
    top.add(torch.tensor([[4.0, 2.0, 6.0], [3.0, 2.0, 1.0]]), first_row=2)
    scores, rows = top.result()
    assert rows.tolist() == [[4, 1, 2], [2, 3, 4]]
    assert scores.tolist() == [[6.0, 5.0, 4.0], [3.0, 2.0, 1.0]]


def test_faiss_backend_matches_torch() -> None:
    pytest.importorskip("faiss")
    generator = torch.Generator().manual_seed(3)
    queries, doc_vectors = (
        torch.randn(5, 8, generator=generator),
        torch.randn(300, 8, generator=generator),
    )
    torch_scores, torch_rows = exact_search(queries, doc_vectors, 20)
    faiss_scores, faiss_rows = exact_search(queries, doc_vectors, 20, backend="faiss")
    assert torch.equal(torch_rows, faiss_rows)
    torch.testing.assert_close(torch_scores, faiss_scores, rtol=1e-5, atol=1e-5)
