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

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from kdbench.data.load import _import_ir_datasets
from kdbench.data.triples import Triple
from kdbench.errors import UserError

if TYPE_CHECKING:
    from kdbench.data.collection import Collection

SCOREDDOCS = "ir_datasets:scoreddocs"
DOCPAIRS = "ir_datasets:docpairs"
Run = dict[str, dict[str, float]]


# What kdbench reads of an ir_datasets dataset (`ir_datasets.load(id)`), typed by what it calls.
class ScoredDocRecord(Protocol):
    @property
    def query_id(self) -> str: ...
    @property
    def doc_id(self) -> str: ...
    @property
    def score(self) -> float: ...


class DocPairRecord(Protocol):
    @property
    def query_id(self) -> str: ...
    @property
    def doc_id_a(self) -> str: ...
    @property
    def doc_id_b(self) -> str: ...


class DocRecord(Protocol):
    """A passage (its `title`, where the dataset has one, is read with getattr)."""

    @property
    def doc_id(self) -> str: ...
    @property
    def text(self) -> str: ...


class IrdsDocsStore(Protocol):
    def get_many(self, doc_ids: Sequence[str]) -> Mapping[str, DocRecord]: ...


class IrdsDataset(Protocol):
    def has_scoreddocs(self) -> bool: ...
    def scoreddocs_iter(self) -> Iterable[ScoredDocRecord]: ...
    def has_docpairs(self) -> bool: ...
    def docpairs_iter(self) -> Iterable[DocPairRecord]: ...
    def docs_count(self) -> int | None: ...
    def docs_iter(self) -> Iterable[DocRecord]: ...
    def docs_namespace(self) -> str | None: ...
    def docs_store(self) -> IrdsDocsStore: ...


def names_dataset_part(name: object) -> bool:
    """True for `ir_datasets:...` values (no file to check or hash)."""
    return isinstance(name, str) and name.startswith("ir_datasets:")


def open_dataset(
    collection: Collection, part: str, load: Callable[[str], IrdsDataset] | None = None
) -> IrdsDataset:
    """The ir_datasets dataset behind `collection` (`load`: ir_datasets.load, or a test's fake)."""
    if collection.source.get("type") != "ir_datasets":
        raise UserError(
            f"{part}: reads the dataset's own files; pass --data as an ir_datasets id "
            f"(e.g. msmarco-passage), not the folder {collection.name}"
        )
    if load is None:
        load = _import_ir_datasets().load
    return load(str(collection.source["id"]))


def scoreddocs_run(dataset: IrdsDataset, dataset_id: str, depth: int | None = None) -> Run:
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


def docpairs_triples(dataset: IrdsDataset, dataset_id: str) -> list[Triple]:
    """(qid, positive, negative) triples from the dataset's docpairs."""
    if not dataset.has_docpairs():
        raise UserError(
            f"{DOCPAIRS}: {dataset_id} has no training pairs (docpairs); drop --triples to mine them"
        )
    return [Triple(p.query_id, p.doc_id_a, (p.doc_id_b,)) for p in dataset.docpairs_iter()]
