"""The training set of one run: triples by id, their texts, teacher scores and the dev slice.

Sources, in order of precedence:
1. `--teacher-scores FILE...`: the triples are the scored ones (ensemble mean over files);
   texts come from `--data`'s collection (or from `--triples` text triples, by content id).
2. `--triples FILE`: text triples, id triples (texts from `--data`) or a score file.
3. neither: mined from `--data`'s train split, positives from qrels, negatives from BM25
   (or `--negatives-run`) top-k minus the positives.

With `--data`, a seeded slice of the train queries (`--dev-queries`) is held out: no triple of
those queries is trained on, and validation re-ranks their BM25 top-k. The test split is never read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kdbench.data import irds
from kdbench.data.irds import DOCPAIRS, names_dataset_part
from kdbench.data.teacher_scores import ScoredTriple, ensemble_teacher_scores, read_teacher_scores
from kdbench.data.triples import (
    Triple,
    detect_triples_format,
    dev_slice,
    mine_triples,
    read_id_triples,
    read_text_triples,
)
from kdbench.errors import InputFileError, UserError
from kdbench.train.config import TrainConfig

log = logging.getLogger("kdbench")

Run = dict[str, dict[str, float]]


@dataclass
class TrainingSet:
    triples: list[Triple]
    teacher_scores: (
        list[tuple[float, ...]] | None
    )  # per triple: (pos, neg...) aligned with `triples`
    queries: Mapping[str, str]
    docs: Any  # DocStore-like: get_many(ids) -> texts
    dev_qids: list[str] = field(default_factory=list)
    dev_qrels: dict[str, dict[str, int]] = field(default_factory=dict)
    dev_run: Run = field(default_factory=dict)  # first-stage candidates to re-rank for validation
    source: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.triples)

    def batch(
        self, indices: Sequence[int]
    ) -> tuple[list[str], list[list[str]], list[tuple[float, ...]] | None]:
        """(query texts, [positive, negatives...] texts per query, teacher scores or None)."""
        chosen = [self.triples[i] for i in indices]
        queries = [self.queries[t.qid] for t in chosen]
        width = len(chosen[0].doc_ids) if chosen else 0
        flat = self.docs.get_many([doc for t in chosen for doc in t.doc_ids])
        doc_lists = [flat[i * width : (i + 1) * width] for i in range(len(chosen))]
        teacher = (
            [self.teacher_scores[i] for i in indices] if self.teacher_scores is not None else None
        )
        return queries, doc_lists, teacher


class _DictDocs:
    """Texts of text-triples files, with the DocStore method training uses."""

    def __init__(self, docs: Mapping[str, str], fallback: Any = None) -> None:
        self.docs = docs
        self.fallback = fallback

    def get_many(self, doc_ids: Sequence[str]) -> list[str]:
        return [self.docs[d] if d in self.docs else self.fallback.get_many([d])[0] for d in doc_ids]

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.docs or (self.fallback is not None and doc_id in self.fallback)


def bm25_run(collection: Any, queries: Mapping[str, str], depth: int) -> Run:
    """BM25 top-`depth` for `queries` over the collection's docs (the first stage `evaluate` uses)."""
    from kdbench.evaluate.bm25 import BM25

    return BM25(collection.docs).search(dict(queries), k=depth)


def group_negatives(
    rows: Sequence[ScoredTriple], negatives: int, origin: str
) -> tuple[list[Triple], list[tuple[float, ...]]]:
    """Score-file rows as training examples of one positive and `negatives` negatives.

    A score file holds one negative per line; listwise losses (kl, ce) want several per
    positive. Rows of the same (qid, positive) are taken in file order, `negatives` at a time;
    a last group short of `negatives` is left out (with a warning that counts them). The
    positive's score is the same pair's score on every row, so the first row's is used.

    >>> rows = [ScoredTriple("q", "p", n, 5.0, s) for n, s in (("a", 1.0), ("b", 2.0), ("c", 3.0))]
    >>> group_negatives(rows, 2, "t.tsv")
    ([Triple(qid='q', pos_id='p', neg_ids=('a', 'b'))], [(5.0, 1.0, 2.0)])
    """
    if negatives == 1:
        return (
            [Triple(r.qid, r.pos_id, (r.neg_id,)) for r in rows],
            [(r.pos_score, r.neg_score) for r in rows],
        )
    groups: dict[tuple[str, str], list[ScoredTriple]] = {}
    for row in rows:
        groups.setdefault((row.qid, row.pos_id), []).append(row)
    triples: list[Triple] = []
    teacher: list[tuple[float, ...]] = []
    left_out = 0
    for (qid, pos_id), group in groups.items():
        whole = len(group) - len(group) % negatives
        left_out += len(group) - whole
        for start in range(0, whole, negatives):
            chunk = group[start : start + negatives]
            triples.append(Triple(qid, pos_id, tuple(r.neg_id for r in chunk)))
            teacher.append((chunk[0].pos_score, *(r.neg_score for r in chunk)))
    if left_out:
        log.warning(
            "%s: %d scored negative(s) left out: their (query, positive) has fewer than a "
            "whole group of --negatives %d left",
            origin,
            left_out,
            negatives,
        )
    if not triples:
        raise UserError(
            f"{origin}: no (query, positive) has {negatives} scored negatives; lower --negatives"
        )
    return triples, teacher


def _check_ids(
    triples: Sequence[Triple], queries: Mapping[str, str], docs: Any, origin: str
) -> None:
    for row, triple in enumerate(triples, start=1):
        if triple.qid not in queries:
            raise InputFileError(
                origin,
                f"qid {triple.qid!r} is not a query of --data's split; "
                "pass the --data/--split these triples were made from",
                row,
            )
        for doc_id in triple.doc_ids:
            if doc_id not in docs:
                raise InputFileError(
                    origin,
                    f"passage id {doc_id!r} is not in --data's corpus; "
                    "pass the --data these triples were made from",
                    row,
                )


def load_training_set(
    config: TrainConfig, *, collection: Any = None, run: Run | None = None
) -> TrainingSet:
    """Everything training reads, resolved from `config` (the collection/run may be passed in, e.g. by tests)."""
    if collection is None and config.data is not None:
        from kdbench.data.load import load_collection

        collection = load_collection(config.data, config.split)
    queries: dict[str, str] = dict(collection.queries) if collection is not None else {}
    docs: Any = collection.docs if collection is not None else None
    source: dict[str, Any] = {
        "data": config.data,
        "split": config.split if collection is not None else None,
    }

    # The dev slice: only queries with a positive can be validated on.
    dev_qids: list[str] = []
    judged = sorted(
        q
        for q, j in (collection.qrels if collection is not None else {}).items()
        if any(g > 0 for g in j.values())
    )
    if collection is not None:
        dev_qids = dev_slice(collection.qrels, config.dev_queries, config.seed)
    dev = set(dev_qids)

    text_triples = None
    official_pairs = names_dataset_part(config.triples)
    if official_pairs:
        if config.triples != DOCPAIRS or collection is None:
            raise UserError(
                f"--triples {config.triples}: the one dataset part is {DOCPAIRS}, with --data"
            )
    elif config.triples is not None and detect_triples_format(config.triples) == "text":
        text_triples = read_text_triples(config.triples)
        queries = {**queries, **text_triples.queries}
        docs = _DictDocs(text_triples.docs, docs)

    teacher: list[tuple[float, ...]] | None = None
    if config.teacher_scores or (
        config.triples is not None
        and not official_pairs
        and detect_triples_format(config.triples) == "scores"
    ):
        files = list(config.teacher_scores) or [str(config.triples)]
        scored = ensemble_teacher_scores(
            [read_teacher_scores(f) for f in files], config.teacher_normalize, names=files
        )
        triples, teacher = group_negatives(scored, config.negatives, files[0])
        origin = files[0]
        source.update(teacher_scores=files, teacher_normalize=config.teacher_normalize)
    elif text_triples is not None:
        triples, origin = text_triples.triples, str(config.triples)
        source.update(triples=str(config.triples), triples_format="text")
    elif official_pairs and collection is not None:
        triples = irds.docpairs_triples(irds.open_dataset(collection, DOCPAIRS), collection.name)
        origin = f"{collection.name} docpairs"
        source.update(triples=DOCPAIRS, triples_format="ir_datasets docpairs")
    elif config.triples is not None:
        triples, origin = read_id_triples(config.triples), str(config.triples)
        source.update(triples=str(config.triples), triples_format="ids")
    else:
        if collection is None:
            raise UserError(
                "no training data: pass --data (mine triples from its train split) or --triples FILE"
            )
        train_qids = [q for q in judged if q not in dev]
        if run is None:
            if config.negatives_run is not None:
                from kdbench.data.runs import read_run

                run = read_run(config.negatives_run)
            else:
                run = bm25_run(
                    collection,
                    {q: queries[q] for q in judged},
                    max(config.mine_depth, config.validate_depth),
                )
        triples = mine_triples(
            collection.qrels,
            run,
            train_qids,
            depth=config.mine_depth,
            triples_per_positive=config.triples_per_positive,
            negatives_per_triple=config.negatives,
            seed=config.seed,
        )
        origin = f"{config.data} ({config.split})"
        source.update(
            mined={
                "negatives_from": config.negatives_run or "bm25",
                "depth": config.mine_depth,
                "triples_per_positive": config.triples_per_positive,
                "negatives": config.negatives,
            }
        )
        if not triples:
            raise UserError(
                f"--data {config.data}: mining found no triples (no train query has both a positive "
                f"and a negative in the top {config.mine_depth}); raise --mine-depth"
            )

    if docs is None:
        raise UserError(
            "id triples and teacher scores name passages by id: pass --data with their collection"
        )
    _check_ids(triples, queries, docs, origin)
    if dev:
        keep = [i for i, t in enumerate(triples) if t.qid not in dev]
        dropped = len(triples) - len(keep)
        if dropped:
            log.warning(
                "%s: %d triple(s) of dev-slice queries are left out of training", origin, dropped
            )
        triples = [triples[i] for i in keep]
        if teacher is not None:
            teacher = [teacher[i] for i in keep]
        source["dev_triples_dropped"] = dropped
    if not triples:
        raise UserError(
            f"{origin}: no training triples left outside the dev slice; lower --dev-queries"
        )

    dev_qrels = {q: dict(collection.qrels[q]) for q in dev_qids} if collection is not None else {}
    dev_run: Run = {}
    if dev_qids:
        # Validation always re-ranks BM25's candidates, whatever the negatives were mined from,
        # so dev nDCG@10 means the same for every model and BM25's own is BM25's.
        if config.negatives_run is not None or run is None or any(q not in run for q in dev_qids):
            run = bm25_run(collection, {q: queries[q] for q in dev_qids}, config.validate_depth)
        for q in dev_qids:
            ranked = sorted(run.get(q, {}).items(), key=lambda item: (-item[1], item[0]))[
                : config.validate_depth
            ]
            dev_run[q] = dict(ranked)
    source.update(
        triples_count=len(triples),
        dev_queries=len(dev_qids),
        train_queries=len({t.qid for t in triples}),
    )
    return TrainingSet(triples, teacher, queries, docs, dev_qids, dev_qrels, dev_run, source)


def teacher_rows(training_set: TrainingSet) -> list[ScoredTriple]:
    """The training set's teacher scores as score-file rows (for reports)."""
    if training_set.teacher_scores is None:
        return []
    return [
        ScoredTriple(t.qid, t.pos_id, neg, s[0], neg_score)
        for t, s in zip(training_set.triples, training_set.teacher_scores, strict=True)
        for neg, neg_score in zip(t.neg_ids, s[1:], strict=True)
    ]
