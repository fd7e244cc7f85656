"""Document stores: doc id -> text, without ever holding a large corpus as Python strings.

`OffsetDocStore` serves a JSONL (BEIR) or TSV (MS MARCO) corpus from a memory-mapped file
through a numpy index (byte spans, ids, sort order) built once and cached; `IrdsDocStore`
wraps an ir_datasets docstore; `InMemoryDocStore` is for small, generated corpora.
Doc text is BEIR's convention: title + " " + text (the text alone when there is no title).
A document with neither is kept, as BEIR's and ir_datasets' loaders keep it: its text is
"" and `empty_docs()` counts such documents (the loader warns).
"""

from __future__ import annotations

import abc
import json
import mmap
import os
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from kdbench.data._files import BOM, decode_line, require_rows
from kdbench.data.cache import cache_root, file_fingerprint, short_hash
from kdbench.errors import InputFileError, UserError
from kdbench.io import atomic_path, atomic_write_json

if TYPE_CHECKING:
    from kdbench.data.irds import DocRecord, IrdsDataset, IrdsDocsStore

CorpusFormat = Literal["jsonl", "tsv"]

# Bump when the cached index layout or its checks change, so old caches are rebuilt (and
# rechecked) rather than trusted. 2: empty passages are rejected. 3: kept and counted.
INDEX_VERSION = 3


def join_title(title: str | None, text: str) -> str:
    """BEIR's doc text: title, one space, text; no leading space when the title is empty."""
    return f"{title} {text}" if title else text


class DocStore(abc.ABC):
    """Doc id -> text, in a fixed store order."""

    name: str

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def ids(self) -> np.ndarray:
        """All doc ids in store order (a numpy str array; may be memory-mapped)."""

    @abc.abstractmethod
    def get_many(self, doc_ids: Sequence[str]) -> list[str]:
        """Texts of `doc_ids` in the same order; KeyError(doc_id) for the first id not in the store."""

    @abc.abstractmethod
    def iter_batches(self, batch_size: int) -> Iterator[tuple[list[str], list[str]]]:
        """(ids, texts) batches in store order."""

    @property
    @abc.abstractmethod
    def fingerprint(self) -> str:
        """Changes whenever the corpus changes: keys caches (BM25 index) built from it."""

    @property
    def has_docs(self) -> bool:
        return True

    def require_docs(self) -> None:
        """Raise a UserError that says what to do when the store holds no passages."""
        return None  # stores with passages have nothing to say

    def empty_docs(self) -> tuple[int, str | None]:
        """How many documents have no text (nor title), and the first one's id.

        (0, None) where the store cannot tell without reading every document (ir_datasets).
        """
        return 0, None

    def __getitem__(self, doc_id: str) -> str:
        return self.get_many([doc_id])[0]

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and not self.missing([doc_id])

    def missing(self, doc_ids: Sequence[str]) -> list[str]:
        """The ids in `doc_ids` that the store lacks (order kept)."""
        known = set(self.ids().tolist())
        return [doc_id for doc_id in doc_ids if doc_id not in known]


def _sorted_lookup(ids: np.ndarray, order: np.ndarray, doc_ids: Sequence[str]) -> np.ndarray:
    """Row of each id (-1 when absent) by binary search: no dict of millions of strings."""
    if len(ids) == 0 or len(doc_ids) == 0:
        return np.full(len(doc_ids), -1, dtype=np.int64)
    wanted = np.asarray(doc_ids, dtype=str)
    positions = np.searchsorted(ids, wanted, sorter=order)
    positions = np.minimum(positions, len(ids) - 1)
    rows = order[positions].astype(np.int64)
    rows[ids[rows] != wanted] = -1
    return rows


def _check_duplicates(path: Path, ids: np.ndarray, order: np.ndarray, lines: np.ndarray) -> None:
    sorted_ids = ids[order]
    same = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if len(same):
        first, second = sorted(int(r) for r in order[same[0] : same[0] + 2])
        raise InputFileError(
            path,
            f"duplicate doc id {str(ids[first])!r} (first on line {int(lines[first])}); doc ids must be unique",
            int(lines[second]),
        )


class InMemoryDocStore(DocStore):
    """A small corpus held in memory (tests, generated data)."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str], name: str = "in-memory") -> None:
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
        self.name = name
        self._ids = np.asarray(list(ids), dtype=str)
        self._texts = list(texts)
        self._row = {doc_id: row for row, doc_id in enumerate(ids)}
        if len(self._row) != len(ids):
            raise UserError(f"{name}: doc ids must be unique")

    def __len__(self) -> int:
        return len(self._texts)

    def ids(self) -> np.ndarray:
        return self._ids

    def get_many(self, doc_ids: Sequence[str]) -> list[str]:
        return [self._texts[self._row[doc_id]] for doc_id in doc_ids]

    def missing(self, doc_ids: Sequence[str]) -> list[str]:
        return [doc_id for doc_id in doc_ids if doc_id not in self._row]

    def empty_docs(self) -> tuple[int, str | None]:
        empty = [
            i for i, text in zip(self._ids.tolist(), self._texts, strict=True) if not text.strip()
        ]
        return len(empty), (empty[0] if empty else None)

    def iter_batches(self, batch_size: int) -> Iterator[tuple[list[str], list[str]]]:
        for start in range(0, len(self._texts), batch_size):
            yield (
                self._ids[start : start + batch_size].tolist(),
                self._texts[start : start + batch_size],
            )

    @property
    def fingerprint(self) -> str:
        return "memory-" + short_hash(
            "\0".join(f"{i}\t{t}" for i, t in zip(self._ids.tolist(), self._texts, strict=True))
        )


class EmptyDocStore(DocStore):
    """A collection without passages (topics + qrels only): lookups say what to do instead."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    @property
    def has_docs(self) -> bool:
        return False

    def require_docs(self) -> None:
        raise UserError(self.reason)

    def __len__(self) -> int:
        return 0

    def ids(self) -> np.ndarray:
        return np.asarray([], dtype=str)

    def get_many(self, doc_ids: Sequence[str]) -> list[str]:
        raise UserError(self.reason)

    def missing(self, doc_ids: Sequence[str]) -> list[str]:
        return list(doc_ids)

    def iter_batches(self, batch_size: int) -> Iterator[tuple[list[str], list[str]]]:
        raise UserError(self.reason)

    @property
    def fingerprint(self) -> str:
        return "empty"


class OffsetDocStore(DocStore):
    """A JSONL or TSV corpus read through mmap and a cached numpy offset index.

    JSONL: one object per line with `_id`, `text` and optional `title` (BEIR corpus.jsonl).
    TSV: `doc_id<TAB>text` per line, no header (MS MARCO collection.tsv).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        corpus_format: CorpusFormat,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.format = corpus_format
        if not self.path.is_file():
            raise InputFileError(self.path, "no such corpus file; check the path")
        if self.path.stat().st_size == 0:
            raise InputFileError(
                self.path, f"is empty; expected one document per line ({corpus_format})"
            )
        self._fingerprint = f"{corpus_format}-{file_fingerprint(self.path)}"
        self.index_dir = (
            cache_root(cache_dir) / "docstore" / f"{self._fingerprint}-{self.path.name}"
        )
        self._ids, self._order, self._spans, self._empty = self._load_or_build_index()
        with self.path.open("rb") as handle:
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)

    # -- index -------------------------------------------------------------------------------

    def _load_or_build_index(
        self,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, str | None]]:
        meta_path = self.index_dir / "meta.json"
        if meta_path.exists():
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, json.JSONDecodeError):
                meta = {}
            if meta.get("version") == INDEX_VERSION and meta.get("format") == self.format:
                ids, order, spans = (
                    np.load(self.index_dir / f"{name}.npy", mmap_mode="r")
                    for name in ("ids", "order", "spans")
                )
                return ids, order, spans, (meta["empty_documents"], meta["empty_example"])
        ids, order, spans, empty = self._build_index()
        for name, values in (("ids", ids), ("order", order), ("spans", spans)):
            with atomic_path(self.index_dir / f"{name}.npy") as tmp, tmp.open("wb") as handle:
                np.save(handle, values)
        # meta.json last: its presence marks a complete index.
        atomic_write_json(
            meta_path,
            {
                "version": INDEX_VERSION,
                "format": self.format,
                "source": str(self.path.resolve()),
                "documents": len(ids),
                "empty_documents": empty[0],
                "empty_example": empty[1],
            },
        )
        return ids, order, spans, empty

    def _build_index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, str | None]]:
        starts, ends, lines = array("q"), array("q"), array("q")
        id_chunks: list[np.ndarray] = []
        chunk: list[str] = []
        offset = 0
        first_empty: str | None
        empty_count, first_empty = 0, None  # documents without text, the first one's id
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                start, offset = offset, offset + len(raw)
                body = raw.rstrip(b"\r\n")
                if number == 1 and body.startswith(BOM):  # the passage starts after the mark
                    start, body = start + len(BOM), body[len(BOM) :]
                if not body.strip():
                    continue
                doc_id, has_text = self._parse_line(decode_line(self.path, body, number), number)
                chunk.append(doc_id)
                if not has_text:
                    empty_count += 1
                    first_empty = first_empty or doc_id
                starts.append(start)
                ends.append(start + len(body))
                lines.append(number)
                # Strings go to numpy every million docs so MS MARCO never sits in a Python list.
                if len(chunk) == 1_000_000:
                    id_chunks.append(np.asarray(chunk, dtype=str))
                    chunk = []
        if chunk:
            id_chunks.append(np.asarray(chunk, dtype=str))
        require_rows(self.path, len(starts), "documents")
        ids = np.concatenate(id_chunks)
        order = np.argsort(ids, kind="stable")
        _check_duplicates(self.path, ids, order, np.frombuffer(lines, dtype=np.int64))
        spans = np.stack(
            [np.frombuffer(starts, dtype=np.int64), np.frombuffer(ends, dtype=np.int64)], axis=1
        )
        return ids, order, spans, (empty_count, first_empty)

    def _parse_line(self, line: str, number: int) -> tuple[str, bool]:
        """The line's doc id, and whether it has any text (or title)."""
        if self.format == "tsv":
            columns = line.split("\t")
            if len(columns) != 2:
                raise InputFileError(
                    self.path,
                    f"expected 2 tab-separated columns (doc_id, text), found {len(columns)}",
                    number,
                )
            if not columns[0].strip():
                raise InputFileError(self.path, "empty doc id in column 1", number)
            return columns[0].strip(), bool(columns[1].strip())
        record = _parse_json_object(self.path, line, number)
        if "_id" not in record:
            raise InputFileError(
                self.path, 'missing "_id"; every BEIR corpus line needs "_id" and "text"', number
            )
        if not isinstance(record.get("text"), str):
            raise InputFileError(
                self.path,
                'missing or non-string "text"; every BEIR corpus line needs "_id" and "text"',
                number,
            )
        title = record.get("title")
        text = join_title(title if isinstance(title, str) else None, record["text"])
        return str(record["_id"]), bool(text.strip())

    # -- access ------------------------------------------------------------------------------

    def _text(self, row: int) -> str:
        start, end = self._spans[row]
        line = self._map[int(start) : int(end)].decode("utf-8")
        if self.format == "tsv":
            return line.split("\t", 1)[1]
        record = json.loads(line)
        return join_title(record.get("title"), record["text"])

    def __len__(self) -> int:
        return len(self._ids)

    def ids(self) -> np.ndarray:
        return self._ids

    def rows(self, doc_ids: Sequence[str]) -> np.ndarray:
        """Store row of each id, -1 where absent."""
        return _sorted_lookup(self._ids, self._order, doc_ids)

    def get_many(self, doc_ids: Sequence[str]) -> list[str]:
        rows = self.rows(doc_ids)
        absent = np.flatnonzero(rows < 0)
        if len(absent):
            raise KeyError(doc_ids[int(absent[0])])
        return [self._text(int(row)) for row in rows]

    def missing(self, doc_ids: Sequence[str]) -> list[str]:
        rows = self.rows(doc_ids)
        return [doc_ids[int(i)] for i in np.flatnonzero(rows < 0)]

    def empty_docs(self) -> tuple[int, str | None]:
        return self._empty

    def iter_batches(self, batch_size: int) -> Iterator[tuple[list[str], list[str]]]:
        for start in range(0, len(self._ids), batch_size):
            stop = min(start + batch_size, len(self._ids))
            yield self._ids[start:stop].tolist(), [self._text(row) for row in range(start, stop)]

    @property
    def fingerprint(self) -> str:
        return self._fingerprint


def _parse_json_object(path: Path, line: str, number: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            path,
            f"not valid JSON ({exc.msg} at column {exc.colno}); one JSON object per line",
            number,
        ) from exc
    if not isinstance(record, dict):
        raise InputFileError(path, f"expected a JSON object, found {type(record).__name__}", number)
    return record


class IrdsDocStore(DocStore):
    """The docs of an ir_datasets dataset, through its own docstore (built on first use)."""

    def __init__(self, dataset: IrdsDataset, dataset_id: str) -> None:
        self._dataset = dataset
        self.name = dataset_id
        self._ids: np.ndarray | None = None
        self._store: IrdsDocsStore | None = None

    def _docstore(self) -> IrdsDocsStore:
        if self._store is None:
            self._store = self._dataset.docs_store()
        return self._store

    @staticmethod
    def _doc_text(doc: DocRecord) -> str:
        return join_title(getattr(doc, "title", None), doc.text)

    def __len__(self) -> int:
        count = self._dataset.docs_count()
        if count is None:  # as int(None) did: a dataset that does not count its docs
            raise TypeError(f"{self.name}: ir_datasets gives no passage count")
        return count

    def ids(self) -> np.ndarray:
        if self._ids is None:
            chunks, chunk = [], []
            for doc in self._dataset.docs_iter():
                chunk.append(doc.doc_id)
                if len(chunk) == 1_000_000:
                    chunks.append(np.asarray(chunk, dtype=str))
                    chunk = []
            chunks.append(np.asarray(chunk, dtype=str))
            self._ids = np.concatenate(chunks)
        return self._ids

    def get_many(self, doc_ids: Sequence[str]) -> list[str]:
        found = self._docstore().get_many(doc_ids)
        texts = []
        for doc_id in doc_ids:
            if doc_id not in found:
                raise KeyError(doc_id)
            texts.append(self._doc_text(found[doc_id]))
        return texts

    def missing(self, doc_ids: Sequence[str]) -> list[str]:
        found = self._docstore().get_many(doc_ids)
        return [doc_id for doc_id in doc_ids if doc_id not in found]

    def iter_batches(self, batch_size: int) -> Iterator[tuple[list[str], list[str]]]:
        ids: list[str] = []
        texts: list[str] = []
        for doc in self._dataset.docs_iter():
            ids.append(doc.doc_id)
            texts.append(self._doc_text(doc))
            if len(ids) == batch_size:
                yield ids, texts
                ids, texts = [], []
        if ids:
            yield ids, texts

    @property
    def fingerprint(self) -> str:
        return "irds-" + short_hash(self._dataset.docs_namespace() or self.name)
