"""`load_collection(source, split)`: a BEIR/MS MARCO folder or an ir_datasets id -> `Collection`.

Folder layout (first match wins):
  corpus   corpus.jsonl (BEIR) | collection.tsv (MS MARCO) | none (topics + qrels only)
  qrels    qrels/{split}.tsv | qrels.{split}.tsv | qrels.{split}.txt   (TREC or BEIR columns)
  queries  queries.{split}.jsonl | queries.{split}.tsv | queries.jsonl | queries.tsv
An ir_datasets source is an id (`beir/scifact/test`) or an id plus a split (`beir/scifact` + `test`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from kdbench.data.collection import (
    Collection,
    check_empty_docs,
    check_judged_docs,
    drop_empty_queries,
    judged_queries,
)
from kdbench.data.docstore import DocStore, EmptyDocStore, IrdsDocStore, OffsetDocStore
from kdbench.data.qrels import check_grades, read_qrels
from kdbench.data.queries import read_queries
from kdbench.errors import UserError

T = TypeVar("T")


def load_collection(
    source: str | os.PathLike[str],
    split: str | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Collection:
    """Load docs, the judged queries of `split` and their qrels from a folder or an ir_datasets id."""
    if not str(source).strip():  # Path("") is ".": the working folder, which nobody typed
        raise UserError(
            "--data is empty; pass a BEIR/MS MARCO folder or an ir_datasets id such as "
            "beir/scifact/test"
        )
    path = Path(source)
    if path.is_dir():
        return _load_folder(path, split, cache_dir=cache_dir)
    if path.exists():
        raise UserError(
            f"--data {source}: is a file; pass the folder that holds it (corpus.jsonl or collection.tsv, queries, qrels)"
        )
    # Not a path: an ir_datasets id, with (beir/scifact/test) or without (msmarco-passage) a slash.
    if not str(source).startswith((".", "/", "~")) and os.sep + os.sep not in str(source):
        return _load_irds(str(source), split)
    raise UserError(
        f"--data {source}: no such folder, and not an ir_datasets id; pass a BEIR/MS MARCO folder or an id such as beir/scifact/test"
    )


def open_corpus(folder: Path, *, cache_dir: str | os.PathLike[str] | None = None) -> DocStore:
    """The folder's corpus as a DocStore (an EmptyDocStore that explains itself when there is none)."""
    if (folder / "corpus.jsonl").is_file():
        return OffsetDocStore(folder / "corpus.jsonl", "jsonl", cache_dir=cache_dir)
    if (folder / "collection.tsv").is_file():
        return OffsetDocStore(folder / "collection.tsv", "tsv", cache_dir=cache_dir)
    return EmptyDocStore(
        folder.name,
        f"{folder} has no passages (corpus.jsonl or collection.tsv): evaluate a given run with --run FILE, "
        "or point --data at a folder with the corpus",
    )


def folder_splits(folder: Path) -> list[str]:
    """Split names that have a qrels file in `folder`."""
    splits = (
        {p.stem for p in (folder / "qrels").glob("*.tsv")} if (folder / "qrels").is_dir() else set()
    )
    for pattern in ("qrels.*.tsv", "qrels.*.txt"):
        splits.update(p.name[len("qrels.") : -len(p.suffix)] for p in folder.glob(pattern))
    return sorted(splits)


def qrels_file(folder: Path, split: str) -> Path | None:
    """The qrels file of `split` in a collection folder, or None."""
    return _first_file(folder, [f"qrels/{split}.tsv", f"qrels.{split}.tsv", f"qrels.{split}.txt"])


def _first_file(folder: Path, names: list[str]) -> Path | None:
    return next((folder / name for name in names if (folder / name).is_file()), None)


def _load_folder(
    folder: Path, split: str | None, *, cache_dir: str | os.PathLike[str] | None
) -> Collection:
    available = folder_splits(folder)
    if not available:
        raise UserError(
            f"--data {folder}: no qrels/SPLIT.tsv or qrels.SPLIT.tsv here; "
            "pass a BEIR folder (corpus.jsonl, queries.jsonl, qrels/) or an MS MARCO folder"
        )
    if split is None:
        if len(available) != 1:
            listed = ", ".join(available) or "none found"
            raise UserError(f"--data {folder}: choose a split with --split ({listed})")
        split = available[0]
    qrels_path = qrels_file(folder, split)
    if qrels_path is None:
        listed = ", ".join(available) or "none found"
        raise UserError(
            f"--split {split}: {folder} has no qrels/{split}.tsv or qrels.{split}.tsv; available splits: {listed}"
        )
    queries_path = _first_file(
        folder, [f"queries.{split}.jsonl", f"queries.{split}.tsv", "queries.jsonl", "queries.tsv"]
    )
    if queries_path is None:
        raise UserError(
            f"--data {folder}: no queries.{split}.jsonl, queries.{split}.tsv, queries.jsonl or queries.tsv"
        )
    docs = open_corpus(folder, cache_dir=cache_dir)
    warnings: list[str] = []
    if isinstance(docs, OffsetDocStore):
        check_empty_docs(docs, origin=str(docs.path), warnings=warnings)
    all_queries = read_queries(queries_path)
    with_text, empty = drop_empty_queries(all_queries, origin=str(queries_path), warnings=warnings)
    queries, qrels = judged_queries(
        with_text,
        read_qrels(qrels_path, warnings),
        origin=str(qrels_path),
        warnings=warnings,
        skipped=empty,
    )
    check_judged_docs(docs, qrels, origin=str(qrels_path), warnings=warnings)
    source: dict[str, Any] = {
        "type": "folder",
        "path": str(folder.resolve()),
        "split": split,
        "corpus": str(docs.path.resolve()) if isinstance(docs, OffsetDocStore) else None,
        "queries_file": str(queries_path.resolve()),
        "qrels_file": str(qrels_path.resolve()),
        "documents": len(docs),
        "queries": len(queries),
        "queries_in_file": len(all_queries),
        "judgements": sum(len(j) for j in qrels.values()),
    }
    return Collection(
        name=folder.name,
        split=split,
        docs=docs,
        queries=queries,
        qrels=qrels,
        source=source,
        warnings=warnings,
    )


class _DownloadFailed(logging.Filter):
    """Drops ir_datasets' "Download failed" warning: the OSError it then raises becomes
    kdbench's one-line error, which says what to do."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Download failed")


DOWNLOAD_FAILED = _DownloadFailed()


def _import_ir_datasets() -> ModuleType:
    """Import ir_datasets with its INFO lines and tqdm bars silenced.

    It logs "[INFO] opening zip file" and draws a bar for every archive and docstore it touches,
    interleaved with kdbench's own rich progress; warnings and errors still show.
    """
    import ir_datasets
    import ir_datasets.log as irds_log

    if not getattr(irds_log.Logger, "_kdbench_quiet", False):
        original_logger = irds_log.Logger.logger
        original_pbar = irds_log.Logger.pbar

        def logger(self: object) -> logging.Logger:
            log: logging.Logger = original_logger(self)
            log.setLevel(logging.WARNING)
            if DOWNLOAD_FAILED not in log.filters:
                log.addFilter(DOWNLOAD_FAILED)
            return log

        def pbar(self: object, it: Iterable[T], *args: object, **kwargs: object) -> Iterator[T]:
            kwargs["disable"] = True
            yield from original_pbar(self, it, *args, **kwargs)

        irds_log.Logger.logger = logger
        irds_log.Logger.pbar = pbar
        irds_log.Logger._kdbench_quiet = True
    return ir_datasets


def _resolve_irds_id(source: str, split: str | None) -> str:
    ir_datasets = _import_ir_datasets()

    split_named = split is None or source.endswith(f"/{split}")
    if not split_named and f"{source}/{split}" in ir_datasets.registry:
        dataset_id = f"{source}/{split}"
        split_named = True
    elif source in ir_datasets.registry:
        dataset_id = source
    else:
        raise UserError(
            f"--data {source}: not a folder and not a registered ir_datasets id (check the spelling, e.g. beir/scifact/test)"
        )
    dataset = ir_datasets.load(dataset_id)
    if not (dataset.has_queries() and dataset.has_qrels()):
        raise UserError(
            f"--data {dataset_id}: has no queries+qrels; add --split or use one of: "
            f"{', '.join(_sub_ids(dataset_id)) or 'none'}"
        )
    if not split_named:
        others = _sub_ids(source)
        raise UserError(
            f"--data {source} has no split {split!r}; drop --split (the id names its queries)"
            + (f" or use one of: {', '.join(others)}" if others else "")
        )
    return dataset_id


def _sub_ids(source: str) -> list[str]:
    ir_datasets = _import_ir_datasets()

    return sorted(
        name for name in ir_datasets.registry._registered if name.startswith(source + "/")
    )


def _load_irds(source: str, split: str | None) -> Collection:
    ir_datasets = _import_ir_datasets()

    # ir_datasets logs every step at INFO; kdbench shows its own progress.
    logging.getLogger("ir_datasets").setLevel(logging.WARNING)
    dataset_id = _resolve_irds_id(source, split)
    dataset = ir_datasets.load(dataset_id)
    try:
        all_queries = {query.query_id: query.default_text() for query in dataset.queries_iter()}
        raw_qrels: dict[str, dict[str, int]] = {}
        for qrel in dataset.qrels_iter():
            raw_qrels.setdefault(qrel.query_id, {})[qrel.doc_id] = int(qrel.relevance)
        docs: DocStore = (
            IrdsDocStore(dataset, dataset_id)
            if dataset.has_docs()
            else EmptyDocStore(
                dataset_id, f"{dataset_id} has no docs; evaluate a given run with --run FILE"
            )
        )
        if docs.has_docs:
            len(docs)  # fails here, not mid-run, if the files are missing
    except OSError as exc:  # requests' network errors are OSErrors too
        home = os.environ.get("IR_DATASETS_HOME", "~/.ir_datasets")
        raise UserError(
            f"--data {dataset_id}: ir_datasets could neither read its files in {home} nor "
            f"download them ({type(exc).__name__}); offline, copy the dataset into a writable "
            "folder and set IR_DATASETS_HOME to it"
        ) from exc
    warnings: list[str] = []
    check_grades(raw_qrels, origin=dataset_id, warnings=warnings)
    with_text, empty = drop_empty_queries(all_queries, origin=dataset_id, warnings=warnings)
    queries, qrels = judged_queries(
        with_text, raw_qrels, origin=dataset_id, warnings=warnings, skipped=empty
    )
    check_judged_docs(docs, qrels, origin=dataset_id, warnings=warnings)
    source_record: dict[str, Any] = {
        "type": "ir_datasets",
        "id": dataset_id,
        "split": split,
        "ir_datasets_home": os.environ.get("IR_DATASETS_HOME"),
        "documents": len(docs),
        "queries": len(queries),
        "queries_in_file": len(all_queries),
        "judgements": sum(len(j) for j in qrels.values()),
    }
    return Collection(
        name=dataset_id,
        split=split,
        docs=docs,
        queries=queries,
        qrels=qrels,
        source=source_record,
        warnings=warnings,
    )
