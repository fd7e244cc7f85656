"""Training triples: (query, positive, negative...) by id, read from the paper's files or mined.

Formats (tab-separated, one triple a line):

- text triples, MS MARCO `triples.train.small.tsv`: `query<TAB>positive_text<TAB>negative_text`
- id triples, MS MARCO `qidpidtriples.train.full.tsv`: `qid<TAB>pid_pos<TAB>pid_neg`
- teacher scores (see teacher_scores.py): `pos_score<TAB>neg_score<TAB>qid<TAB>pid_pos<TAB>pid_neg`

Text triples get content ids (`t:` + hash of the text), so every source becomes the same
`Triple` of ids plus lookups for the texts. Mining takes positives from a split's qrels and
negatives from a first-stage run (BM25 top-k minus the positives).
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kdbench.data._files import iter_lines, parses_as, require_rows, warn_same_passage
from kdbench.data.runs import ranked
from kdbench.errors import InputFileError, UserError
from kdbench.io import atomic_write_text

TRIPLE_FORMATS = ("auto", "text", "ids", "scores")


@dataclass(frozen=True)
class Triple:
    """One training example: a query, its positive passage and k >= 1 negatives, by id."""

    qid: str
    pos_id: str
    neg_ids: tuple[str, ...]

    @property
    def doc_ids(self) -> tuple[str, ...]:
        return (self.pos_id, *self.neg_ids)


@dataclass
class TextTriples:
    """Triples read from a text-triples file, with the texts their content ids stand for."""

    triples: list[Triple]
    queries: dict[str, str]
    docs: dict[str, str]


def text_id(text: str) -> str:
    """A stable id for a text that has none (text triples).

    >>> text_id("what is a cat")
    't:65d47a55fbbcaa55'
    """
    return "t:" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _rows(path: Path, what: str) -> list[tuple[int, list[str]]]:
    rows = [(number, line.split("\t")) for number, line in iter_lines(path, what)]
    require_rows(path, len(rows), f"{what} lines")
    return rows


def detect_triples_format(path: str | os.PathLike[str]) -> str:
    """`scores`, `ids` or `text`, from the first non-empty line of a triples file."""
    p = Path(path)
    for number, line in iter_lines(p, "triples"):
        fields = line.split("\t")
        if len(fields) == 5 and parses_as(float, fields[0]) and parses_as(float, fields[1]):
            return "scores"
        if len(fields) == 3:
            # Ids never contain spaces; a query or passage text almost always does.
            return "ids" if not any(" " in f.strip() for f in fields) else "text"
        raise InputFileError(
            p,
            f"{len(fields)} tab-separated fields; expected a triples file: query<TAB>positive<TAB>negative, "
            "qid<TAB>pid_pos<TAB>pid_neg, or pos_score<TAB>neg_score<TAB>qid<TAB>pid_pos<TAB>pid_neg",
            number,
        )
    raise InputFileError(p, "is empty; expected triples")


def read_id_triples(path: str | os.PathLike[str]) -> list[Triple]:
    """`qid<TAB>pid_pos<TAB>pid_neg` lines (MS MARCO qidpidtriples)."""
    p = Path(path)
    triples = []
    pairs: list[tuple[int, str, str]] = []
    for number, fields in _rows(p, "id triples"):
        if len(fields) != 3 or not all(f.strip() for f in fields):
            raise InputFileError(
                p,
                f"{len(fields)} tab-separated fields; expected qid<TAB>pid_pos<TAB>pid_neg",
                number,
            )
        qid, pos_id, neg_id = (f.strip() for f in fields)
        triples.append(Triple(qid, pos_id, (neg_id,)))
        pairs.append((number, pos_id, neg_id))
    warn_same_passage(p, pairs)
    return triples


def read_text_triples(path: str | os.PathLike[str]) -> TextTriples:
    """`query<TAB>positive<TAB>negative` lines (MS MARCO triples.train.small.tsv)."""
    p = Path(path)
    queries: dict[str, str] = {}
    docs: dict[str, str] = {}
    triples = []
    pairs: list[tuple[int, str, str]] = []
    for number, fields in _rows(p, "text triples"):
        if len(fields) != 3:
            raise InputFileError(
                p,
                f"{len(fields)} tab-separated fields; expected query<TAB>positive_text<TAB>negative_text "
                "(a tab inside a text must be replaced by a space)",
                number,
            )
        if not all(f.strip() for f in fields):
            raise InputFileError(p, "an empty query, positive or negative text", number)
        query, positive, negative = fields
        qid, pos_id, neg_id = text_id(query), text_id(positive), text_id(negative)
        queries[qid] = query
        docs[pos_id] = positive
        docs[neg_id] = negative
        triples.append(Triple(qid, pos_id, (neg_id,)))
        pairs.append((number, pos_id, neg_id))
    warn_same_passage(p, pairs)
    return TextTriples(triples, queries, docs)


def write_id_triples(path: str | os.PathLike[str], triples: Sequence[Triple]) -> Path:
    """One `qid<TAB>pid_pos<TAB>pid_neg` line per (triple, negative)."""

    lines = [f"{t.qid}\t{t.pos_id}\t{neg}\n" for t in triples for neg in t.neg_ids]
    return atomic_write_text(path, "".join(lines))


def split_dev_queries(
    qids: Sequence[str], dev_queries: int, seed: int
) -> tuple[list[str], list[str]]:
    """Hold out `dev_queries` of the train queries (seeded), for validation and early stopping.

    Returns (train_qids, dev_qids), each sorted. The test split is never involved.

    >>> split_dev_queries(["1", "2", "3", "4"], 1, seed=0)
    (['1', '2', '4'], ['3'])
    """
    ordered = sorted(qids)
    if dev_queries < 0 or dev_queries >= len(ordered):
        raise UserError(
            f"--dev-queries {dev_queries}: must be between 0 and {len(ordered) - 1} (the split has {len(ordered)} "
            "queries with positives)"
        )
    shuffled = list(ordered)
    random.Random(seed).shuffle(shuffled)
    dev = set(shuffled[:dev_queries])
    return [q for q in ordered if q not in dev], sorted(dev)


def dev_slice(qrels: Mapping[str, Mapping[str, int]], dev_queries: int, seed: int) -> list[str]:
    """The train queries `kdbench train --dev-queries N --seed S` holds out: drawn from the
    queries with a positive judgement (only those can be validated on).

    >>> dev_slice({"1": {"a": 1}, "2": {"b": 0}, "3": {"c": 2}, "4": {"d": 1}}, 1, seed=0)
    ['1']
    """
    judged = sorted(q for q, j in qrels.items() if any(g > 0 for g in j.values()))
    return split_dev_queries(judged, dev_queries, seed)[1] if dev_queries else []


def mine_triples(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    qids: Sequence[str],
    *,
    depth: int,
    triples_per_positive: int,
    negatives_per_triple: int = 1,
    seed: int = 42,
) -> list[Triple]:
    """Hard-negative triples: positives from `qrels`, negatives drawn from `run`'s top-`depth` minus positives.

    The top `depth` is in `kdbench.data.runs.ranked` order (equal scores: doc id descending), and
    the candidates are shuffled from that order. For each query in `qids` and each positive
    (grade > 0), makes `triples_per_positive` triples, each with
    `negatives_per_triple` distinct negatives drawn (seeded) from the candidates without repeats until the
    candidates run out; the triples are then shuffled.

    >>> qrels = {"q": {"d1": 1}}
    >>> run = {"q": {"d1": 9.0, "d2": 8.0, "d3": 7.0, "d4": 1.0}}
    >>> triples = mine_triples(qrels, run, ["q"], depth=3, triples_per_positive=2)
    >>> sorted(t.neg_ids[0] for t in triples)  # d4 is below depth 3, d1 is the positive
    ['d2', 'd3']
    """
    if depth < 1 or triples_per_positive < 1 or negatives_per_triple < 1:
        raise UserError("--mine-depth, --triples-per-positive and --negatives must be at least 1")
    rng = random.Random(seed)
    triples: list[Triple] = []
    for qid in sorted(qids):
        positives = sorted(doc for doc, grade in qrels.get(qid, {}).items() if grade > 0)
        positive_ids = set(positives)
        candidates = [doc for doc, _ in ranked(run.get(qid, {}))[:depth] if doc not in positive_ids]
        if not positives or len(candidates) < negatives_per_triple:
            continue
        for pos_id in positives:
            # Walk a shuffled pool so a positive meets every candidate once before any repeats.
            pool = rng.sample(candidates, len(candidates))
            for i in range(triples_per_positive):
                start = i * negatives_per_triple
                negatives = tuple(
                    pool[(start + j) % len(pool)] for j in range(negatives_per_triple)
                )
                triples.append(Triple(qid, pos_id, negatives))
    rng.shuffle(triples)
    return triples
