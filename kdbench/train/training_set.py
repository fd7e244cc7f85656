"""The training set of one run: triples by id, their texts, teacher scores and the dev slice.

Sources, in order of precedence:
1. `--teacher-scores FILE...`: the triples are the scored ones (ensemble mean over files);
   texts come from `--data`'s collection (or from `--triples` text triples, by content id).
2. `--triples FILE`: text triples, id triples (texts from `--data`) or a score file.
3. neither: mined from `--data`'s train split, positives from qrels, negatives from BM25
   (or `--negatives-run`) top-k minus the positives.

With `--data`, a seeded slice of the train queries (`--dev-queries`) is held out: no triple of
those queries is trained on, and validation re-ranks their BM25 top-k. The test split is never read.

`load_training_set` reads only the settings it needs, a `TrainingData`; `TrainingData.of(config)`
takes them from any config that has them by name (`TrainConfig`, `TeacherConfig.training_config()`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kdbench.data import irds
from kdbench.data.collection import Collection
from kdbench.data.load import load_collection
from kdbench.data.runs import Run, read_run, truncate
from kdbench.data.teacher_scores import ScoredTriple, ensemble_teacher_scores, read_teacher_scores
from kdbench.data.triples import (
    TextTriples,
    Triple,
    detect_triples_format,
    dev_slice,
    mine_triples,
    read_id_triples,
    read_text_triples,
)
from kdbench.errors import InputFileError, UserError
from kdbench.retrieval.bm25 import BM25

log = logging.getLogger("kdbench")

TeacherScores = list[tuple[float, ...]]  # per triple: (pos, neg...) aligned with the triples


@dataclass(frozen=True)
class TrainingData:
    """What a training set is built from: the files, the mining settings and the dev slice."""

    data: str | None  # a collection: mined triples, texts of id triples, the dev slice
    split: str
    triples: str | None  # text triples, id triples or teacher scores (auto-detected)
    teacher_scores: tuple[str, ...]  # several: their ensemble mean
    teacher_normalize: str
    negatives: int  # negatives per example
    mine_depth: int
    triples_per_positive: int
    negatives_run: str | None  # mine from this TREC run instead of BM25
    dev_queries: int
    seed: int
    validate_depth: int  # BM25 candidates per dev query

    @classmethod
    def of(cls, settings: Any) -> TrainingData:
        """These settings of a config that holds them under the same names (a TrainConfig)."""
        return cls(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(cls)})


@dataclass
class TrainingSet:
    triples: list[Triple]
    teacher_scores: TeacherScores | None
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
    ) -> tuple[list[str], list[list[str]], TeacherScores | None]:
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


@dataclass
class _Examples:
    """Training examples as read or mined, before the dev slice is taken out."""

    triples: list[Triple]
    teacher: TeacherScores | None
    origin: str  # the file or collection they came from, for messages


class _DictDocs:
    """Texts of text-triples files, with the DocStore method training uses."""

    def __init__(self, docs: Mapping[str, str], fallback: Any = None) -> None:
        self.docs = docs
        self.fallback = fallback

    def get_many(self, doc_ids: Sequence[str]) -> list[str]:
        return [self.docs[d] if d in self.docs else self.fallback.get_many([d])[0] for d in doc_ids]

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.docs or (self.fallback is not None and doc_id in self.fallback)


def bm25_run(collection: Collection, queries: Mapping[str, str], depth: int) -> Run:
    """BM25 top-`depth` for `queries` over the collection's docs (the first stage `evaluate` uses)."""

    return BM25(collection.docs).search(dict(queries), k=depth)


def group_negatives(
    rows: Sequence[ScoredTriple], negatives: int, origin: str
) -> tuple[list[Triple], TeacherScores]:
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
    teacher: TeacherScores = []
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


def _judged(qrels: Mapping[str, Mapping[str, int]]) -> list[str]:
    """The queries with a positive judgement, sorted: only those can be mined or validated on."""
    return sorted(q for q, j in qrels.items() if any(g > 0 for g in j.values()))


def _triples_format(triples: str | None) -> str | None:
    """`scores`, `ids`, `text` (the file's), `docpairs` (the dataset's own pairs) or None."""
    if triples is None:
        return None
    if irds.names_dataset_part(triples):
        if triples != irds.DOCPAIRS:
            raise UserError(f"--triples {triples}: the one dataset part is {irds.DOCPAIRS}")
        return "docpairs"
    return detect_triples_format(triples)


def _read_examples(
    spec: TrainingData,
    triples_format: str | None,
    text_triples: TextTriples | None,
    collection: Collection | None,
) -> tuple[_Examples, dict[str, Any]] | None:
    """Examples from score files, a triples file or the dataset's own pairs, and where they
    came from; None: mine them."""
    if spec.teacher_scores or triples_format == "scores":
        files = list(spec.teacher_scores) or [str(spec.triples)]
        scored = ensemble_teacher_scores(
            [read_teacher_scores(f) for f in files], spec.teacher_normalize, names=files
        )
        triples, teacher = group_negatives(scored, spec.negatives, files[0])
        return _Examples(triples, teacher, files[0]), {
            "teacher_scores": files,
            "teacher_normalize": spec.teacher_normalize,
        }
    if triples_format == "docpairs":
        if collection is None:
            raise UserError(
                f"--triples {irds.DOCPAIRS} reads --data's ir_datasets dataset: pass --data"
            )
        dataset = irds.open_dataset(collection, irds.DOCPAIRS)
        return _Examples(
            irds.docpairs_triples(dataset, collection.name), None, f"{collection.name} docpairs"
        ), {"triples": irds.DOCPAIRS, "triples_format": "ir_datasets docpairs"}
    if text_triples is not None:
        return _Examples(text_triples.triples, None, str(spec.triples)), {
            "triples": str(spec.triples),
            "triples_format": "text",
        }
    if spec.triples is not None:
        return _Examples(read_id_triples(spec.triples), None, str(spec.triples)), {
            "triples": str(spec.triples),
            "triples_format": "ids",
        }
    return None


def _mine(
    spec: TrainingData, collection: Collection | None, dev_qids: Sequence[str], run: Run | None
) -> tuple[_Examples, dict[str, Any], Run]:
    """Triples mined from the train queries outside the dev slice, and the run they came from."""
    if collection is None:
        raise UserError(
            "no training data: pass --data (mine triples from its train split) or --triples FILE"
        )
    judged = _judged(collection.qrels)
    if run is None:
        if spec.negatives_run is not None:
            run = read_run(spec.negatives_run)
        else:
            depth = max(spec.mine_depth, spec.validate_depth)  # the dev slice's candidates too
            run = bm25_run(collection, {q: collection.queries[q] for q in judged}, depth)
    dev = set(dev_qids)
    triples = mine_triples(
        collection.qrels,
        run,
        [q for q in judged if q not in dev],
        depth=spec.mine_depth,
        triples_per_positive=spec.triples_per_positive,
        negatives_per_triple=spec.negatives,
        seed=spec.seed,
    )
    if not triples:
        raise UserError(
            f"--data {spec.data}: mining found no triples (no train query has both a positive "
            f"and a negative in the top {spec.mine_depth}); raise --mine-depth"
        )
    mined = {
        "negatives_from": spec.negatives_run or "bm25",
        "depth": spec.mine_depth,
        "triples_per_positive": spec.triples_per_positive,
        "negatives": spec.negatives,
    }
    return _Examples(triples, None, f"{spec.data} ({spec.split})"), {"mined": mined}, run


def _without_dev(examples: _Examples, dev_qids: Sequence[str]) -> int:
    """Take the dev slice's queries out of `examples` (in place); how many triples left."""
    dev = set(dev_qids)
    keep = [i for i, t in enumerate(examples.triples) if t.qid not in dev]
    dropped = len(examples.triples) - len(keep)
    if dropped:
        log.warning(
            "%s: %d triple(s) of dev-slice queries are left out of training",
            examples.origin,
            dropped,
        )
    examples.triples = [examples.triples[i] for i in keep]
    if examples.teacher is not None:
        examples.teacher = [examples.teacher[i] for i in keep]
    if not examples.triples:
        raise UserError(
            f"{examples.origin}: no training triples left outside the dev slice; lower --dev-queries"
        )
    return dropped


def _dev_run(
    spec: TrainingData,
    collection: Collection,
    dev_qids: Sequence[str],
    mined_from: Run | None,
) -> Run:
    """The dev slice's BM25 top `validate_depth`, from the mining run when that was BM25's."""
    # Validation always re-ranks BM25's candidates, whatever the negatives were mined from,
    # so dev nDCG@10 means the same for every model and BM25's own is BM25's.
    run = mined_from
    if spec.negatives_run is not None or run is None or any(q not in run for q in dev_qids):
        queries = {q: collection.queries[q] for q in dev_qids}
        run = bm25_run(collection, queries, spec.validate_depth)
    return truncate({q: run.get(q, {}) for q in dev_qids}, spec.validate_depth)


def load_training_set(
    spec: TrainingData, *, collection: Collection | None = None, run: Run | None = None
) -> TrainingSet:
    """Everything training reads, built from `spec` (the collection, and a first-stage run to
    mine from, may be passed in already loaded, e.g. by tests)."""
    if collection is None and spec.data is not None:
        collection = load_collection(spec.data, spec.split)
    queries: dict[str, str] = dict(collection.queries) if collection is not None else {}
    docs: Any = collection.docs if collection is not None else None
    source: dict[str, Any] = {
        "data": spec.data,
        "split": spec.split if collection is not None else None,
    }
    dev_qids = (
        dev_slice(collection.qrels, spec.dev_queries, spec.seed) if collection is not None else []
    )

    triples_format = _triples_format(spec.triples)
    text_triples = (
        read_text_triples(spec.triples)
        if spec.triples is not None and triples_format == "text"
        else None
    )
    if text_triples is not None:
        queries = {**queries, **text_triples.queries}
        docs = _DictDocs(text_triples.docs, docs)
    read = _read_examples(spec, triples_format, text_triples, collection)
    if read is None:
        examples, provenance, run = _mine(spec, collection, dev_qids, run)
    else:
        examples, provenance = read
    source.update(provenance)
    if docs is None:
        raise UserError(
            "id triples and teacher scores name passages by id: pass --data with their collection"
        )
    _check_ids(examples.triples, queries, docs, examples.origin)
    if dev_qids:
        source["dev_triples_dropped"] = _without_dev(examples, dev_qids)
    # dev queries come from the collection: none without one
    dev_qrels = {q: dict(collection.qrels[q]) for q in dev_qids} if collection is not None else {}
    dev_run = (
        _dev_run(spec, collection, dev_qids, run) if collection is not None and dev_qids else {}
    )
    source.update(
        triples_count=len(examples.triples),
        dev_queries=len(dev_qids),
        train_queries=len({t.qid for t in examples.triples}),
    )
    return TrainingSet(
        examples.triples, examples.teacher, queries, docs, dev_qids, dev_qrels, dev_run, source
    )


def teacher_rows(training_set: TrainingSet) -> list[ScoredTriple]:
    """The training set's teacher scores as score-file rows (for reports)."""
    if training_set.teacher_scores is None:
        return []
    return [
        ScoredTriple(t.qid, t.pos_id, neg, s[0], neg_score)
        for t, s in zip(training_set.triples, training_set.teacher_scores, strict=True)
        for neg, neg_score in zip(t.neg_ids, s[1:], strict=True)
    ]
