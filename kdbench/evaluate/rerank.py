"""Re-ranking a first stage's candidates with a neural ranker.

A ranker without representations of its own per text (cat, prettr) scores every
(query, doc) pair with `score_pairs`. One that encodes texts apart (dot, colbert:
`Architecture.encodes_texts`) encodes each unique candidate doc once
(a doc retrieved for ten queries is still encoded once), a chunk of docs at a time, and score
the chunk's pairs right away, so memory holds one chunk of doc representations, not all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kdbench.data.docstore import DocStore
from kdbench.data.runs import Run, ranked
from kdbench.shards import share, units_of

if TYPE_CHECKING:
    import torch

    from kdbench.models.ranker import Ranker

Progress = Callable[[int], None]

# Pairs scored per call: bounds the gathered [pairs, L, d] colbert tensors to a few hundred MB.
PAIR_CHUNK = 256
# Docs encoded per call: enough to sort by length and pad little, few enough to hold their vectors.
DOC_CHUNK = 4096


def candidates(run: Run, depth: int) -> dict[str, list[str]]:
    """Each query's top `depth` doc ids, best first."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1 (got {depth})")
    return {qid: [doc_id for doc_id, _ in ranked(docs)[:depth]] for qid, docs in run.items()}


def unique_docs(candidate_lists: dict[str, list[str]]) -> list[str]:
    """Doc ids in first-seen order, each once."""
    return list(dict.fromkeys(doc_id for doc_ids in candidate_lists.values() for doc_id in doc_ids))


def count_work(ranker: Ranker, candidate_lists: dict[str, list[str]]) -> int:
    """Progress units `rerank` reports: pairs for cat/prettr, unique docs for dot/colbert."""
    if not ranker.architecture.encodes_texts:
        return sum(len(doc_ids) for doc_ids in candidate_lists.values())
    return len(unique_docs(candidate_lists))


def rerank(
    ranker: Ranker,
    queries: dict[str, str],
    candidate_lists: dict[str, list[str]],
    docs: DocStore,
    *,
    batch_size: int = 32,
    progress: Progress | None = None,
    share: tuple[int, int] = (0, 1),
) -> Run:
    """Scores of every candidate under `ranker` (a kdbench Ranker), as a Run.

    `share` (rank, world size): score only this rank's contiguous share of the chunks one
    process scores (`kdbench.shards.share`); the ranks' runs together are the one
    process's run, bit for bit (every chunk is the same batches).
    """
    import torch

    job = _Job(queries, candidate_lists, docs, batch_size, progress, share)
    with torch.inference_mode():
        if not ranker.architecture.encodes_texts:
            return _rerank_pairs(ranker, job)
        return _rerank_encoded(ranker, job)


@dataclass(frozen=True)
class _Job:
    """One re-ranking: each query's candidates, where the texts are, and how to report progress."""

    queries: dict[str, str]
    candidate_lists: dict[str, list[str]]
    docs: DocStore
    batch_size: int
    progress: Progress | None
    share: tuple[int, int] = (0, 1)

    def mine(self, items: int, chunk: int) -> range:
        """Start offsets of this rank's chunks of `items` items in chunks of `chunk`."""
        units = share(units_of(items, chunk), *self.share)
        return range(units.start * chunk, min(units.stop * chunk, items), chunk)


def _rerank_pairs(ranker: Ranker, job: _Job) -> Run:
    queries, candidate_lists, docs = job.queries, job.candidate_lists, job.docs
    batch_size, progress = job.batch_size, job.progress
    pairs = [(qid, doc_id) for qid, doc_ids in candidate_lists.items() for doc_id in doc_ids]
    run: Run = {qid: {} for qid in candidate_lists}
    chunk = max(batch_size * 8, batch_size)
    for start in job.mine(len(pairs), chunk):
        part = pairs[start : start + chunk]
        texts = docs.get_many([doc_id for _, doc_id in part])
        scores = ranker.score_pairs([queries[qid] for qid, _ in part], texts, batch_size=batch_size)
        for (qid, doc_id), score in zip(part, scores.float().cpu().tolist(), strict=True):
            run[qid][doc_id] = score
        if progress:
            progress(len(part))
    return run


def _rerank_encoded(ranker: Ranker, job: _Job) -> Run:
    import torch

    from kdbench.models.colbert import TermVectors
    from kdbench.models.encode import encode_texts

    queries, candidate_lists, docs = job.queries, job.candidate_lists, job.docs
    batch_size, progress = job.batch_size, job.progress
    qids = [qid for qid in candidate_lists if candidate_lists[qid]]
    query_row = {qid: row for row, qid in enumerate(qids)}
    encoded_queries = encode_texts(ranker, [queries[qid] for qid in qids], "query", batch_size)
    wanted_by: dict[str, list[str]] = {}
    for qid in qids:
        for doc_id in candidate_lists[qid]:
            wanted_by.setdefault(doc_id, []).append(qid)
    doc_ids = list(wanted_by)
    run: Run = {qid: {} for qid in candidate_lists}
    for start in job.mine(len(doc_ids), DOC_CHUNK):
        part = doc_ids[start : start + DOC_CHUNK]
        encoded_docs = encode_texts(
            ranker, docs.get_many(part), "doc", batch_size, progress=progress
        )
        pairs = [
            (query_row[qid], doc_row, qid, doc_id)
            for doc_row, doc_id in enumerate(part)
            for qid in wanted_by[doc_id]
        ]
        for pair_start in range(0, len(pairs), PAIR_CHUNK):
            group = pairs[pair_start : pair_start + PAIR_CHUNK]
            q_index = torch.tensor([p[0] for p in group])
            d_index = torch.tensor([p[1] for p in group])
            if isinstance(encoded_queries, TermVectors) and isinstance(encoded_docs, TermVectors):
                scores = ranker.score_encoded(
                    _to_device(encoded_queries.padded(q_index), ranker.device),
                    _to_device(encoded_docs.padded(d_index), ranker.device),
                )
            else:
                assert isinstance(encoded_queries, torch.Tensor)
                assert isinstance(encoded_docs, torch.Tensor)
                scores = ranker.score_encoded(
                    encoded_queries[q_index].to(ranker.device),
                    encoded_docs[d_index].to(ranker.device),
                )
            for (_, _, qid, doc_id), score in zip(
                group, scores.float().cpu().tolist(), strict=True
            ):
                run[qid][doc_id] = score
    return run


def _to_device(tensors: tuple[torch.Tensor, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(t.to(device) for t in tensors)
