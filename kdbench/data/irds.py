"""A dataset's own runs and training pairs from ir_datasets, named where a file would go.

    --run ir_datasets:scoreddocs        re-rank the split's official first-stage run
                                        (msmarco-passage/dev/small: BM25 top-1000)
    --triples ir_datasets:docpairs      train on the split's official pairs
                                        (msmarco-passage/train: qid, positive, negative)

Both read the `--data` collection's ir_datasets dataset (`Collection.source["id"]`), so one
profile setting serves every split. ir_datasets exposes them as `scoreddocs_iter()`
(ScoredDoc: query_id, doc_id, score) and `docpairs_iter()` (DocPair: query_id, doc_id_a,
doc_id_b; for MS MARCO's train split a is the positive).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kdbench.data.load import _import_ir_datasets
from kdbench.data.triples import Triple
from kdbench.errors import UserError

if TYPE_CHECKING:
    from kdbench.data.collection import Collection

SCOREDDOCS = "ir_datasets:scoreddocs"
DOCPAIRS = "ir_datasets:docpairs"
Run = dict[str, dict[str, float]]


def names_dataset_part(name: object) -> bool:
    """True for `ir_datasets:...` values (no file to check or hash)."""
    return isinstance(name, str) and name.startswith("ir_datasets:")


def open_dataset(
    collection: Collection, part: str, load: Callable[[str], Any] | None = None
) -> Any:
    """The ir_datasets dataset behind `collection` (`load`: ir_datasets.load, or a test's fake)."""
    if collection.source.get("type") != "ir_datasets":
        raise UserError(
            f"{part}: reads the dataset's own files; pass --data as an ir_datasets id "
            f"(e.g. msmarco-passage), not the folder {collection.name}"
        )
    if load is None:
        load = _import_ir_datasets().load
    return load(str(collection.source["id"]))


def scoreddocs_run(dataset: Any, dataset_id: str, depth: int | None = None) -> Run:
    """qid -> {doc_id: score} from the dataset's scoreddocs, the top `depth` per query."""
    if not dataset.has_scoreddocs():
        raise UserError(
            f"{SCOREDDOCS}: {dataset_id} has no official run (scoreddocs); use --rerank bm25"
        )
    run: Run = {}
    for scored in dataset.scoreddocs_iter():
        run.setdefault(scored.query_id, {})[scored.doc_id] = float(scored.score)
    if depth is not None:
        run = {
            qid: dict(sorted(docs.items(), key=lambda item: -item[1])[:depth])
            for qid, docs in run.items()
        }
    return run


def docpairs_triples(dataset: Any, dataset_id: str) -> list[Triple]:
    """(qid, positive, negative) triples from the dataset's docpairs."""
    if not dataset.has_docpairs():
        raise UserError(
            f"{DOCPAIRS}: {dataset_id} has no training pairs (docpairs); drop --triples to mine them"
        )
    return [Triple(p.query_id, p.doc_id_a, (p.doc_id_b,)) for p in dataset.docpairs_iter()]
