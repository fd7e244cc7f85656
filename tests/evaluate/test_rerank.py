"""Re-ranking: scores equal the ranker's own pair scores; dot/colbert encode each doc once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from kdbench.data import InMemoryDocStore
from kdbench.evaluate import rerank as rerank_module
from kdbench.evaluate.rerank import candidates, count_work, rerank

DOCS = {
    f"d{i}": f"passage number {i} about {'cats' if i % 2 else 'dogs'} and {i * 7} other things"
    for i in range(12)
}
QUERIES = {"q1": "cats", "q2": "dogs and things", "q3": "nothing retrieved"}
FIRST_STAGE = {
    "q1": {f"d{i}": float(i) for i in range(10)},
    "q2": {f"d{i}": float(-i) for i in range(4, 12)},
    "q3": {},
}


@pytest.fixture(scope="module", params=["cat", "dot", "colbert"])
def ranker(request: pytest.FixtureRequest, tiny_bert_dir: Path) -> Any:
    from kdbench.models import load_model

    return load_model(tiny_bert_dir, request.param, max_query_len=16, max_doc_len=24)


def test_candidates_take_the_top_depth() -> None:
    assert candidates(FIRST_STAGE, 3) == {
        "q1": ["d9", "d8", "d7"],
        "q2": ["d4", "d5", "d6"],
        "q3": [],
    }


def test_rerank_scores_equal_score_pairs(ranker: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store = InMemoryDocStore(list(DOCS), list(DOCS.values()))
    lists = candidates(FIRST_STAGE, 6)
    # Small chunks so the chunking paths run: several doc chunks, several pair groups.
    monkeypatch.setattr(rerank_module, "DOC_CHUNK", 4)
    monkeypatch.setattr(rerank_module, "PAIR_CHUNK", 3)
    advanced: list[int] = []
    run = rerank(ranker, QUERIES, lists, store, batch_size=2, progress=advanced.append)
    assert sum(advanced) == count_work(ranker, lists)
    assert run["q3"] == {}
    for qid in ("q1", "q2"):
        assert set(run[qid]) == set(lists[qid])
        with torch.inference_mode():
            expected = ranker.score_pairs(
                [QUERIES[qid]] * len(lists[qid]), store.get_many(lists[qid])
            )
        got = torch.tensor([run[qid][doc_id] for doc_id in lists[qid]])
        torch.testing.assert_close(got, expected.float().cpu(), rtol=1e-4, atol=1e-5)


def test_each_unique_doc_is_encoded_once(
    tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kdbench.models import encode as encode_module
    from kdbench.models import load_model

    ranker = load_model(tiny_bert_dir, "dot", max_query_len=16, max_doc_len=24)
    encoded: list[str] = []
    original = encode_module.encode_texts

    def counting(model: Any, texts: list[str], kind: str, *args: Any, **kwargs: Any) -> Any:
        if kind == "doc":
            encoded.extend(texts)
        return original(model, texts, kind, *args, **kwargs)

    monkeypatch.setattr(encode_module, "encode_texts", counting)
    store = InMemoryDocStore(list(DOCS), list(DOCS.values()))
    lists = candidates(FIRST_STAGE, 10)  # q1 and q2 share d4..d9
    rerank(ranker, QUERIES, lists, store, batch_size=4)
    assert sorted(encoded) == sorted(store.get_many(sorted(set(lists["q1"]) | set(lists["q2"]))))
