"""Dev-slice validation: re-rank the dev queries' first-stage candidates, nDCG@10 and RR@10.

Under DDP (torchrun) every rank scores its own share of the (query, passage) pairs and the
shares are gathered, so each rank reaches the collective after about 1/world of the work:
with only rank 0 validating, the others would sit in a collective for the whole
validation, and NCCL's watchdog kills a job whose collective waits past its timeout
(10 minutes by default) whatever the work behind it. Every rank then computes the same
metrics from the same merged run, so no broadcast is needed and every rank decides early
stopping alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from kdbench import distributed
from kdbench.evaluate.metrics import compute_metrics
from kdbench.models.base import RankerModule

if TYPE_CHECKING:
    from kdbench.data.runs import Run
    from kdbench.train.training_set import TrainingSet


def dev_pairs(training_set: TrainingSet) -> list[tuple[str, str]]:
    """Every (qid, doc id) the dev slice re-ranks, in one order on every rank."""
    return [
        (qid, doc) for qid in training_set.dev_qids for doc in training_set.dev_run.get(qid, {})
    ]


def shard(pairs: list[Any], context: distributed.DistContext) -> list[Any]:
    """This rank's share: every world_size-th pair from its rank on (sizes differ by one at most).

    >>> ctx = distributed.DistContext(rank=1, world_size=3, local_rank=1, device=torch.device("cpu"))
    >>> shard(list("abcdefg"), ctx)
    ['b', 'e']
    """
    return pairs[context.rank :: context.world_size]


@torch.no_grad()
def score_dev_pairs(
    ranker: RankerModule,
    training_set: TrainingSet,
    pairs: list[tuple[str, str]],
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> Run:
    """The ranker's scores of (qid, doc id) `pairs` of the training set (dev candidates, or
    the teacher's training pairs) as a run (qid -> doc id -> score), in eval mode."""
    was_training = ranker.training
    ranker.eval()
    run: Run = {}
    try:
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            queries = [training_set.queries[qid] for qid, _ in chunk]
            docs = training_set.docs.get_many([doc for _, doc in chunk])
            scores = ranker.score_pairs(queries, docs, batch_size=batch_size).float().cpu().tolist()
            for (qid, doc), score in zip(chunk, scores, strict=True):
                run.setdefault(qid, {})[doc] = score
            if progress is not None:
                progress(len(chunk))
    finally:
        ranker.train(was_training)
    return run


def rerank_dev(
    ranker: RankerModule,
    training_set: TrainingSet,
    batch_size: int = 64,
    context: distributed.DistContext | None = None,
) -> Run:
    """The ranker's scores of the dev slice's first-stage candidates (a run over the dev
    queries); under DDP each rank scores its share and every rank gets the whole run."""
    pairs = dev_pairs(training_set)
    if context is not None and context.enabled:
        parts = distributed.gather_objects(
            score_dev_pairs(ranker, training_set, shard(pairs, context), batch_size), context
        )
    else:
        parts = [score_dev_pairs(ranker, training_set, pairs, batch_size)]
    run: Run = {qid: {} for qid in training_set.dev_qids}
    for part in parts:
        for qid, scores in part.items():
            run[qid].update(scores)
    return run


def dev_metrics(run: Run, training_set: TrainingSet) -> dict[str, float]:
    """nDCG@10 and RR@10 of a run over the dev slice's queries."""

    means, _ = compute_metrics(run, training_set.dev_qrels)
    return {"nDCG@10": means["nDCG@10"], "RR@10": means["RR@10"]}


def validate(
    ranker: RankerModule,
    training_set: TrainingSet,
    batch_size: int = 64,
    context: distributed.DistContext | None = None,
) -> dict[str, float]:
    """nDCG@10 and RR@10 over the dev queries; under DDP sharded across ranks (the same
    result on every rank; every rank must call it)."""
    return dev_metrics(rerank_dev(ranker, training_set, batch_size, context), training_set)
