"""A collection: docs, the queries of one split and their qrels, with provenance."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from kdbench.data.docstore import DocStore
from kdbench.data.qrels import Qrels
from kdbench.errors import InputFileError

log = logging.getLogger("kdbench")


@dataclass
class Collection:
    """`queries` holds only judged queries, in file order; `qrels` only judgements of those queries.

    `warnings` lists data problems that were tolerated (qrels of unknown queries dropped,
    judged docs absent from the corpus); results carry them.
    """

    name: str
    split: str | None
    docs: DocStore
    queries: dict[str, str]
    qrels: Qrels
    source: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def first_queries(self, count: int) -> Collection:
        """The same collection limited to its first `count` queries (for quick runs)."""
        qids = list(self.queries)[:count]
        return Collection(
            name=self.name,
            split=self.split,
            docs=self.docs,
            queries={qid: self.queries[qid] for qid in qids},
            qrels={qid: self.qrels[qid] for qid in qids if qid in self.qrels},
            source={**self.source, "queries_used": len(qids)},
            warnings=list(self.warnings),
        )


def only_queries(collection: Collection, qids: list[str], note: str) -> Collection:
    """The same collection limited to the queries `qids` (in that order)."""
    return Collection(
        name=collection.name,
        split=collection.split,
        docs=collection.docs,
        queries={qid: collection.queries[qid] for qid in qids if qid in collection.queries},
        qrels={qid: collection.qrels[qid] for qid in qids if qid in collection.qrels},
        source={**collection.source, "queries_used": len(qids), "queries_from": note},
        warnings=list(collection.warnings),
    )


def judged_queries(
    queries: dict[str, str], qrels: Qrels, *, origin: str, warnings: list[str]
) -> tuple[dict[str, str], Qrels]:
    """Keep queries that have qrels (BEIR's convention); drop, with a warning, qrels without a query."""
    unknown = [qid for qid in qrels if qid not in queries]
    if unknown and len(unknown) == len(qrels):
        # Some missing queries are a known wart of real collections; none found is a mix-up.
        raise InputFileError(
            origin,
            f"none of its {len(qrels)} judged query ids has a query (e.g. {unknown[0]!r}); "
            "are these qrels from another collection or split?",
        )
    if unknown:
        message = f"{origin}: {len(unknown)} judged query id(s) have no query text and are skipped (e.g. {unknown[0]!r})"
        log.warning(message)
        warnings.append(message)
    kept = {qid: text for qid, text in queries.items() if qid in qrels}
    return kept, {qid: qrels[qid] for qid in kept}


def check_judged_docs(docs: DocStore, qrels: Qrels, *, origin: str, warnings: list[str]) -> None:
    """Warn (do not fail) about judged docs missing from the corpus: they count as never retrieved."""
    if not docs.has_docs:
        return
    judged = sorted({doc_id for judgements in qrels.values() for doc_id in judgements})
    absent = docs.missing(judged)
    if absent and len(absent) == len(judged):
        raise InputFileError(
            origin,
            f"none of its {len(judged)} judged doc ids is in the corpus {docs.name} "
            f"(e.g. {absent[0]!r}); are these qrels from another collection?",
        )
    if absent:
        message = (
            f"{origin}: {len(absent)} judged doc id(s) are not in the corpus {docs.name} "
            f"(e.g. {absent[0]!r}); they count as relevant but never retrieved"
        )
        log.warning(message)
        warnings.append(message)
