"""The texts a profile runs on: real queries and passages from a collection, or synthetic.

Parity needs rankings: each parity query comes with a pool of candidates (BM25's top
`parity_depth` when bm25s is installed, else its judged docs plus random ones, which is
stated in the result). Without `--data` the text is random vocabulary words (seeded):
timings depend only on shapes, but there are no qrels, so no nDCG, and the searched index
holds random vectors.
"""

from __future__ import annotations

import importlib.util
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kdbench.errors import UserError
from kdbench.retrieval.bm25 import BM25

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from kdbench.data.collection import Collection
    from kdbench.data.docstore import DocStore

Qrels = dict[str, dict[str, int]]


@dataclass
class Pool:
    """One parity query and its candidates."""

    qid: str
    query: str
    doc_ids: list[str]
    docs: list[str]


@dataclass
class ProfileInputs:
    queries: list[str]  # timed query texts
    passages: list[str]  # timed passage texts (store order)
    pools: list[Pool]  # parity queries with candidates
    qrels: Qrels | None
    index_passages: Any  # (batch_size) -> (doc ids, texts) batches to index; None: random vectors
    index_size: int
    source: dict[str, Any] = field(default_factory=dict)
    docs: DocStore | None = (
        None  # the collection's DocStore (None: synthetic text): a saved index's corpus
    )


def load_inputs(
    data: str | None,
    split: str | None,
    *,
    passages: int,
    parity_queries: int,
    parity_depth: int,
    index_size: int | None,
    tokenizer: PreTrainedTokenizerBase,
    seed: int,
    collection: Collection | None,
) -> ProfileInputs:
    """Timed passages and parity pools from `collection` (loaded from `data`; None: synthetic text)."""
    if data is None:
        return synthetic_inputs(
            tokenizer,
            passages=passages,
            parity_queries=parity_queries,
            parity_depth=parity_depth,
            index_size=index_size or 10_000,
            seed=seed,
        )
    assert collection is not None  # the caller loads `data`
    if not collection.docs.has_docs:
        raise UserError(
            f"--data {data}: has no passages; profiling needs a corpus (corpus.jsonl or collection.tsv)"
        )
    if not collection.queries:
        raise UserError(f"--data {data} --split {split}: has no judged queries")
    doc_ids = [str(doc_id) for doc_id in collection.docs.ids()]
    timed_passages = collection.docs.get_many(doc_ids[: min(passages, len(doc_ids))])
    while len(timed_passages) < passages:  # a tiny corpus: repeat it
        timed_passages += timed_passages[: passages - len(timed_passages)]
    parity_qids = list(collection.queries)[:parity_queries]
    parity_run, candidates = _candidates(collection, parity_qids, parity_depth, seed)
    pools = [
        Pool(qid, collection.queries[qid], ids, collection.docs.get_many(ids))
        for qid in parity_qids
        if (ids := list(parity_run[qid]))
    ]
    size = min(index_size or len(doc_ids), len(doc_ids))

    def index_passages(batch_size: int = 256) -> Any:
        done = 0
        for ids, texts in collection.docs.iter_batches(batch_size):
            texts = texts[: size - done]
            if not texts:
                return
            done += len(texts)
            yield ids[: len(texts)], texts

    return ProfileInputs(
        queries=list(collection.queries.values()),
        passages=timed_passages,
        pools=pools,
        qrels=collection.qrels,
        index_passages=index_passages,
        index_size=size,
        docs=collection.docs,
        source={
            **collection.source,
            "name": collection.name,
            "parity_queries": len(pools),
            "parity_candidates": candidates,
            "parity_depth": parity_depth,
        },
    )


def _candidates(
    collection: Collection, qids: list[str], depth: int, seed: int
) -> tuple[dict[str, list[str]], str]:
    """Each query's candidate doc ids and how they were chosen."""
    queries = {qid: collection.queries[qid] for qid in qids}
    if importlib.util.find_spec("bm25s") is not None:
        run = BM25(collection.docs).search(queries, k=depth)
        return {qid: list(run.get(qid, {})) for qid in qids}, f"BM25 top {depth} (bm25s)"
    # Without a first stage: the judged docs plus random others, so nDCG still means something.
    rng = random.Random(seed)
    doc_ids = [str(doc_id) for doc_id in collection.docs.ids()]
    pools: dict[str, list[str]] = {}
    for qid in qids:
        judged = [doc_id for doc_id in collection.qrels.get(qid, {}) if doc_id in collection.docs][
            :depth
        ]
        others = [
            doc_id
            for doc_id in rng.sample(doc_ids, min(len(doc_ids), depth + len(judged)))
            if doc_id not in judged
        ]
        pools[qid] = judged + others[: depth - len(judged)]
    return pools, f"judged docs plus random docs up to {depth} (bm25s is not installed)"


def synthetic_inputs(
    tokenizer: PreTrainedTokenizerBase,
    *,
    passages: int,
    parity_queries: int,
    parity_depth: int,
    index_size: int,
    seed: int,
) -> ProfileInputs:
    """Random vocabulary words: queries of 4-12 words, passages of 60-240 (seeded)."""
    rng = random.Random(seed)
    vocabulary = sorted(
        word
        for word in tokenizer.get_vocab()
        if word.isalpha() and word.isascii() and len(word) > 2
    )
    if not vocabulary:
        raise UserError(
            "the tokenizer has no plain words to build synthetic text from; pass --data"
        )

    def text(low: int, high: int) -> str:
        return " ".join(rng.choices(vocabulary, k=rng.randint(low, high)))

    queries = [text(4, 12) for _ in range(max(parity_queries, 64))]
    timed_passages = [text(60, 240) for _ in range(passages)]
    pools = []
    for index in range(parity_queries):
        docs = [text(60, 240) for _ in range(parity_depth)]
        pools.append(
            Pool(
                f"synthetic-{index}",
                queries[index],
                [f"d{index}-{j}" for j in range(parity_depth)],
                docs,
            )
        )

    return ProfileInputs(
        queries=queries,
        passages=timed_passages,
        pools=pools,
        qrels=None,
        index_passages=None,
        index_size=index_size,
        source={
            "type": "synthetic",
            "text": "random tokenizer vocabulary words (seeded)",
            "seed": seed,
            "parity_queries": parity_queries,
            "parity_candidates": f"{parity_depth} random passages",
            "parity_depth": parity_depth,
        },
    )
