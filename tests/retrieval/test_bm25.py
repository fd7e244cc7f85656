"""BM25 (bm25s): the Lucene formula by hand, SciFact effectiveness, the index cache."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from kdbench.data import InMemoryDocStore, load_collection, ranked
from kdbench.evaluate.metrics import compute_metrics
from kdbench.retrieval.bm25 import BM25, BM25Params


def lucene_bm25(
    tf: int, dl: int, avgdl: float, df: int, n: int, k1: float = 0.9, b: float = 0.4
) -> float:
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf / (tf + k1 * (1 - b + b * dl / avgdl))


def test_scores_follow_lucene_bm25(tmp_path: Path) -> None:
    docs = InMemoryDocStore(["d1", "d2", "d3"], ["cat cat dog", "dog bird", "fish"])
    bm25 = BM25(docs, BM25Params(stemmer=None, stopwords=None), cache_dir=tmp_path)
    run = bm25.search({"q": "cat dog"}, k=10)
    avgdl = (3 + 2 + 1) / 3
    assert set(run["q"]) == {"d1", "d2"}  # d3 shares no term: left out, not scored 0
    assert run["q"]["d1"] == pytest.approx(
        lucene_bm25(2, 3, avgdl, 1, 3) + lucene_bm25(1, 3, avgdl, 2, 3), rel=1e-6
    )
    assert run["q"]["d2"] == pytest.approx(lucene_bm25(1, 2, avgdl, 2, 3), rel=1e-6)


def test_stemming_and_stopwords(tmp_path: Path) -> None:
    docs = InMemoryDocStore(["d1", "d2"], ["The runners were running", "a walk in the park"])
    bm25 = BM25(docs, BM25Params(), cache_dir=tmp_path)
    assert bm25.tokenize(["The runners were running"]) == [["runner", "were", "run"]]
    assert set(bm25.search({"q": "run"}, k=5)["q"]) == {"d1"}
    assert bm25.search({"q": "the"}, k=5) == {"q": {}}  # only a stopword: nothing retrieved


def test_a_tie_at_the_cut_is_settled_by_doc_id(tmp_path: Path) -> None:
    # d2, d3 and d4 score alike (same length, one "cat" each): the cut after two docs keeps d1
    # and, of the tied three, the greatest id (trec_eval's order), whatever bm25s selects.
    docs = InMemoryDocStore(
        ["d1", "d2", "d3", "d4", "d5"], ["cat dog", "cat", "cat", "cat", "bird"]
    )
    bm25 = BM25(docs, BM25Params(stemmer=None, stopwords=None), cache_dir=tmp_path)
    whole = bm25.search({"q": "cat dog"}, k=5)["q"]
    assert len(set(list(whole.values())[1:])) == 1  # the three tie
    assert list(bm25.search({"q": "cat dog"}, k=2)["q"]) == ["d1", "d4"]
    assert list(bm25.search({"q": "cat dog"}, k=3)["q"]) == ["d1", "d4", "d3"]
    assert bm25.score_docs("cat dog", ["d3", "d5", "d1"]) == [whole["d3"], 0.0, whole["d1"]]
    with pytest.raises(KeyError):
        bm25.score_docs("cat", ["nope"])


def test_scifact_top_k_is_the_ranked_cut_of_a_deeper_run(scifact_dir: Path, tmp_path: Path) -> None:
    """Every query's top 50 is the first 50 of its top 200 in `ranked` order, ties included
    (SciFact's train queries have ties across place 50)."""
    collection = load_collection(scifact_dir, "train")
    bm25 = BM25(collection.docs, cache_dir=tmp_path)
    top50, top200 = bm25.search(collection.queries, k=50), bm25.search(collection.queries, k=200)
    assert {q: list(docs.items()) for q, docs in top50.items()} == {
        q: ranked(docs)[:50] for q, docs in top200.items()
    }


def test_scifact_ndcg_and_cache(scifact_dir: Path, tmp_path: Path) -> None:
    collection = load_collection(scifact_dir, "test")
    bm25 = BM25(collection.docs, cache_dir=tmp_path)
    assert not bm25.cached
    run = bm25.search(collection.queries, k=1000)
    metrics, _ = compute_metrics(run, collection.qrels)
    assert abs(metrics["nDCG@10"] - 0.665) < 0.02  # BEIR's published BM25
    assert max(len(docs) for docs in run.values()) == 1000
    again = BM25(collection.docs, cache_dir=tmp_path)
    assert again.cached
    assert again.search(collection.queries, k=1000) == run
    other = BM25(collection.docs, BM25Params(k1=1.2, b=0.75), cache_dir=tmp_path)
    assert not other.cached and other.index_dir != bm25.index_dir


def test_params_are_recorded() -> None:
    record = BM25Params().to_dict()
    assert record == {
        "method": "bm25",
        "variant": "lucene",
        "k1": 0.9,
        "b": 0.4,
        "stemmer": "english",
        "stopwords": "en",
        "tokenizer": r"bm25s regex (?u)\b\w\w+\b, lowercased",
        "library": "bm25s",
    }
