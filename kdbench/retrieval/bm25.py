"""BM25 first stage with bm25s, Anserini's defaults (k1=0.9, b=0.4, Lucene's BM25 variant).

Text analysis: lowercase, the regex tokenizer below, Lucene's 33 English stopwords, then
the PyStemmer (Snowball) stemmer. The index is cached per corpus fingerprint + parameters.

A document without text (kept by the loaders, counted in a warning) is indexed with no
terms: it scores 0 for every query and so is never retrieved, while it still counts in the
average document length, as in any index that holds it. A corpus in which no document has
an indexable term is refused (there is nothing BM25 could retrieve).

`search` returns each query's top k in `kdbench.data.runs.ranked` order, the one tie rule of
every ranked list in kdbench: docs of equal score that straddle the k-th place are chosen by
that rule too (doc id descending, trec_eval's), not by bm25s's selection.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kdbench.data.cache import cache_root, short_hash
from kdbench.data.docstore import DocStore
from kdbench.data.runs import Run, ranked
from kdbench.errors import UserError
from kdbench.json_types import JsonObject

TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # scikit-learn's: words of 2+ word characters
Progress = Callable[[int], None]


@dataclass(frozen=True)
class BM25Params:
    k1: float = 0.9
    b: float = 0.4
    method: str = "lucene"
    stemmer: str | None = "english"  # a PyStemmer algorithm; None: no stemming
    stopwords: str | None = "en"  # bm25s's list name ("en" = Lucene's 33 words); None: keep all

    def __post_init__(self) -> None:
        # k1 and b are range-checked where they are declared (evaluate's --bm25-k1/--bm25-b).
        if self.stemmer is not None:
            import Stemmer

            if self.stemmer not in Stemmer.algorithms():
                raise UserError(
                    f"BM25 stemmer {self.stemmer!r} unknown; choose one of {', '.join(Stemmer.algorithms())}"
                )

    def to_dict(self) -> JsonObject:
        """The parameters as recorded in results, with the tokenizer spelled out."""
        return {
            "method": "bm25",
            "variant": self.method,
            "k1": self.k1,
            "b": self.b,
            "stemmer": self.stemmer,
            "stopwords": self.stopwords,
            "tokenizer": f"bm25s regex {TOKEN_PATTERN}, lowercased",
            "library": "bm25s",
        }


class BM25:
    """A bm25s index over a DocStore; `search` returns a Run."""

    def __init__(
        self,
        docs: DocStore,
        params: BM25Params | None = None,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 10_000,
        progress: Progress | None = None,
    ) -> None:
        import bm25s

        self.docs = docs
        self.params = params or BM25Params()
        key = short_hash(
            json.dumps({"docs": docs.fingerprint, **asdict(self.params)}, sort_keys=True)
        )
        self.index_dir = cache_root(cache_dir) / "bm25" / key
        self.doc_ids = np.asarray(docs.ids())
        self._rows: dict[str, int] | None = None  # doc id -> index row, built when first needed
        self.cached = (self.index_dir / "params.index.json").exists()
        if self.cached:
            self.retriever = bm25s.BM25.load(str(self.index_dir), mmap=True)
            if progress:
                progress(len(docs))
        else:
            self.retriever = self._build(batch_size, progress)

    def _stemmer(self) -> Any:
        if self.params.stemmer is None:
            return None
        import Stemmer

        return Stemmer.Stemmer(self.params.stemmer)

    def tokenize(self, texts: list[str]) -> list[list[str]]:
        import bm25s

        tokens: list[list[str]] = bm25s.tokenize(
            texts,
            lower=True,
            token_pattern=TOKEN_PATTERN,
            stopwords=self.params.stopwords or [],
            stemmer=self._stemmer(),
            return_ids=False,
            show_progress=False,
        )
        return tokens

    def _build(self, batch_size: int, progress: Progress | None) -> Any:
        import bm25s

        corpus_tokens: list[list[str]] = []
        for _, texts in self.docs.iter_batches(batch_size):
            corpus_tokens.extend(self.tokenize(texts))
            if progress:
                progress(len(texts))
        if not any(corpus_tokens):
            raise UserError(
                f"{self.docs.name}: none of its {len(corpus_tokens)} documents has a term BM25 "
                "can index (all empty or stopwords); check the corpus file"
            )
        retriever = bm25s.BM25(k1=self.params.k1, b=self.params.b, method=self.params.method)
        retriever.index(corpus_tokens, show_progress=False)
        # Build in a scratch folder, then rename: a crash never leaves a half-written index.
        self.index_dir.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".bm25-", dir=self.index_dir.parent))
        try:
            retriever.save(str(scratch), show_progress=False)
            with contextlib.suppress(OSError):  # another process saved the same index first
                scratch.rename(self.index_dir)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return retriever

    def search(
        self, queries: dict[str, str], k: int = 1000, progress: Progress | None = None
    ) -> Run:
        """Top-`k` docs per query, in `ranked` order; docs sharing no term with the query (score 0)
        are left out, as Anserini does."""
        if k < 1:
            raise UserError(f"--k must be at least 1 (got {k})")
        k = min(k, len(self.doc_ids))
        # One more than asked: a tie between the k-th and the next doc shows, and is settled below.
        fetch = min(k + 1, len(self.doc_ids))
        run: Run = {}
        qids = list(queries)
        for start in range(0, len(qids), 256):
            batch = qids[start : start + 256]
            tokens = self.tokenize([queries[qid] for qid in batch])
            indices, scores = self.retriever.retrieve(
                tokens, k=fetch, show_progress=False, n_threads=0
            )
            for qid, query_tokens, rows, values in zip(batch, tokens, indices, scores, strict=True):
                if fetch > k and values[k] > 0 and values[k - 1] == values[k]:
                    rows, values = self._at_least(query_tokens, values[k - 1])
                keep = values > 0
                found = zip(
                    self.doc_ids[rows[keep]].tolist(),
                    values[keep].astype(float).tolist(),
                    strict=True,
                )
                run[qid] = dict(ranked(dict(found))[:k])
            if progress:
                progress(len(batch))
        return run

    def _at_least(self, query_tokens: list[str], cut: float) -> tuple[np.ndarray, np.ndarray]:
        """Rows and scores of every doc scoring `cut` or more: the whole tie group at the cut."""
        all_scores = self.retriever.get_scores(query_tokens)
        rows = np.flatnonzero(all_scores >= cut)
        return rows, all_scores[rows]

    def score_docs(self, query: str, doc_ids: Sequence[str]) -> list[float]:
        """BM25 scores of `query` for the given docs, wherever they rank (KeyError: a doc not
        in the index)."""
        if self._rows is None:
            self._rows = {doc_id: row for row, doc_id in enumerate(self.doc_ids.tolist())}
        rows = [self._rows[doc_id] for doc_id in doc_ids]
        all_scores = self.retriever.get_scores(self.tokenize([query])[0])
        return [float(all_scores[row]) for row in rows]
