"""A saved dense index (`--index-dir`): a corpus's passage vectors, encoded once, memory-mapped.

Layout of the folder:
- `vectors.part-R-of-W` (a `.npy` array [rows, dim], fp32 or fp16) and `ids.part-R-of-W`
  (one doc id a line) per rank R of the W that encoded it, each with its done marker
  (`kdbench.shards.Parts`): shard R holds a contiguous run of whole encoding chunks;
- `index.json`, written last by rank 0: what encoded the vectors (the model's weights hash,
  spec, backend and precision), the collection (name and fingerprint), the chunk size and the
  shards in row order. An index is complete exactly when `index.json` exists.

`evaluate` (dense retrieval), `profile --scenario query` and the server scenario read it
through `SavedIndex`; an index of another model or collection is refused (`check`), never
searched. Vectors are searched chunk by chunk in the chunks they were encoded in, so a
search over an fp32 index gives the bits of encoding and searching in one go.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from kdbench.data.docstore import DocStore
from kdbench.errors import UserError
from kdbench.hashing import config_hash
from kdbench.io import atomic_path, atomic_write_json
from kdbench.json_types import JsonObject
from kdbench.shards import Parts

if TYPE_CHECKING:
    from kdbench.models.ranker import Ranker

INDEX_FILE = "index.json"
PRECISIONS = {"fp32": np.float32, "fp16": np.float16}


@dataclass(frozen=True)
class IndexKey:
    """What an index's vectors depend on: two indexes with equal keys hold the same vectors."""

    model_hash: str  # sha256 of the encoder's weights (`backends.onnx.export.weights_hash`)
    model: dict[str, Any]  # name, spec, backend, precision: how it encoded
    collection: dict[str, str]  # name and fingerprint of the corpus
    precision: str  # of the stored vectors: fp32 | fp16
    chunk: int  # passages per encoding chunk (batches are length-sorted within one)

    def digest(self) -> str:
        return config_hash(
            {
                "model_hash": self.model_hash,
                "spec": self.model.get("spec"),
                "backend": self.model.get("backend"),
                "collection": self.collection,
                "precision": self.precision,
                "chunk": self.chunk,
            }
        )


def model_identity(ranker: Ranker, name: str, backend: tuple[str, str]) -> tuple[str, JsonObject]:
    """(weights hash, description) of the encoder `ranker` (a torch module, possibly a backend view)."""
    from torch import nn

    from kdbench.backends.onnx.export import weights_hash

    if not isinstance(ranker, nn.Module):
        raise TypeError(
            f"an index is keyed by a torch module's weights, not {type(ranker).__name__}"
        )

    return weights_hash(ranker), {
        "name": name,
        "arch": ranker.arch,
        "spec": ranker.spec.to_dict(),
        "backend": list(backend),
    }


def collection_identity(docs: DocStore) -> dict[str, str]:
    return {"name": str(docs.name), "fingerprint": str(docs.fingerprint)}


def _parts(folder: Path, name: str, world_size: int, key: IndexKey) -> Parts:
    return Parts(folder, name, world_size, key.digest())


@dataclass
class ShardWriter:
    """One rank's shard of a new index: `rows` vectors of `dim`, filled chunk by chunk."""

    folder: Path
    rank: int
    world_size: int
    key: IndexKey
    rows: int
    dim: int

    def __post_init__(self) -> None:
        self.vectors = _parts(self.folder, "vectors", self.world_size, self.key)
        self.ids = _parts(self.folder, "ids", self.world_size, self.key)
        self._written: list[str] = []
        self._array: np.memmap | None = None
        self._scratch = atomic_path(self.vectors.path(self.rank))

    def done(self) -> bool:
        return self.vectors.done(self.rank) and self.ids.done(self.rank)

    def stored(self) -> np.ndarray:
        """A finished shard's vectors (memory-mapped)."""
        return np.load(self.vectors.path(self.rank), mmap_mode="r")

    def __enter__(self) -> ShardWriter:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.vectors.clear(self.rank)
        self.ids.clear(self.rank)
        path = self._scratch.__enter__()
        self._array = np.lib.format.open_memmap(
            path, mode="w+", dtype=PRECISIONS[self.key.precision], shape=(self.rows, self.dim)
        )
        return self

    def add(self, ids: list[str], vectors: np.ndarray) -> np.ndarray:
        """Store the next chunk; return it as stored (fp16 rounds)."""
        assert self._array is not None
        start = len(self._written)
        self._array[start : start + len(ids)] = vectors
        self._written.extend(ids)
        return np.asarray(self._array[start : start + len(ids)])

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self._array is not None
        if kind is None and len(self._written) != self.rows:
            kind, error, trace = RuntimeError, RuntimeError("shard incomplete"), None
        self._array.flush()
        del self._array
        self._array = None
        self._scratch.__exit__(kind, error, trace)
        if kind is None:
            size = self.vectors.path(self.rank).stat().st_size
            atomic_write_json(
                self.vectors.marker(self.rank),
                {"key": self.vectors.key, "bytes": size, "rows": self.rows, "dim": self.dim},
            )
            self.ids.write(self.rank, "".join(f"{doc_id}\n" for doc_id in self._written))


def finish(folder: Path, world_size: int, key: IndexKey, docs: int, dim: int) -> Path:
    """Rank 0, after every shard is done: `index.json`, which makes the index usable."""
    vectors = _parts(folder, "vectors", world_size, key)
    ids = _parts(folder, "ids", world_size, key)
    shards = []
    first = 0
    for rank in range(world_size):
        if not (vectors.done(rank) and ids.done(rank)):
            raise UserError(
                f"{vectors.path(rank)}: shard {rank} is missing or unfinished; relaunch with the "
                "same world size to finish it"
            )
        rows = json.loads(vectors.marker(rank).read_text(encoding="utf-8"))["rows"]
        shards.append(
            {
                "vectors": vectors.path(rank).name,
                "ids": ids.path(rank).name,
                "first_row": first,
                "rows": rows,
            }
        )
        first += rows
    if first != docs:
        raise UserError(f"{folder}: its shards hold {first} passages, the corpus {docs}")
    record = {
        "written_by": "kdbench",
        "model_hash": key.model_hash,
        "model": key.model,
        "collection": key.collection,
        "precision": key.precision,
        "chunk": key.chunk,
        "dim": dim,
        "docs": docs,
        "shards": shards,
    }
    return atomic_write_json(folder / INDEX_FILE, record)


class SavedIndex:
    """A finished index, memory-mapped (nothing is read until searched)."""

    def __init__(self, folder: Path, record: dict[str, Any]) -> None:
        self.folder = folder
        self.record = record
        self.chunk: int = record["chunk"]
        self.docs: int = record["docs"]
        self.dim: int = record["dim"]
        self._shards = [
            (shard["first_row"], np.load(folder / shard["vectors"], mmap_mode="r"))
            for shard in record["shards"]
        ]

    @classmethod
    def open(cls, folder: str | Path) -> SavedIndex | None:
        """The index in `folder`, or None when none is finished there."""
        path = Path(folder) / INDEX_FILE
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(
                f"{path}: not a readable kdbench index ({exc}); delete the folder to rebuild it"
            ) from None
        return cls(Path(folder), record)

    def check(self, key: IndexKey, where: str = "--index-dir", *, layout: bool = True) -> None:
        """Refuse an index that another model (other weights) or collection wrote; with
        `layout`, also one encoded with other settings (`--max-doc-len`...), stored at another
        precision or in other chunks: what `evaluate` needs to give the bits of encoding
        anew. A reader of the vectors alone (`saved_vectors`) passes layout=False and
        reports the index's settings (`record["model"]["spec"]`)."""
        record = self.record
        spec, wanted = record.get("model", {}).get("spec") or {}, key.model.get("spec") or {}
        if layout and record.get("model_hash") == key.model_hash and spec != wanted:
            differ = sorted(
                name for name in set(spec) | set(wanted) if spec.get(name) != wanted.get(name)
            )
            shown = ", ".join(f"{name} {spec.get(name)}, not {wanted.get(name)}" for name in differ)
            raise UserError(
                f"{where} {self.folder}: encoded by this model with other settings ({shown}); "
                "pass the same settings, another --index-dir, or delete this one"
            )
        if record.get("model_hash") != key.model_hash:
            raise UserError(
                f"{where} {self.folder}: encoded by another model ({record.get('model', {}).get('name')}, "
                f"weights {str(record.get('model_hash'))[:12]}), not {key.model.get('name')} "
                f"(weights {key.model_hash[:12]}); pass another --index-dir or delete this one"
            )
        if record.get("collection") != key.collection:
            raise UserError(
                f"{where} {self.folder}: built from collection {record.get('collection', {}).get('name')} "
                f"(fingerprint {record.get('collection', {}).get('fingerprint')}), not "
                f"{key.collection['name']} ({key.collection['fingerprint']}); pass another "
                "--index-dir or delete this one"
            )
        if not layout:
            return
        for name in ("precision", "chunk"):
            if record.get(name) != getattr(key, name):
                raise UserError(
                    f"{where} {self.folder}: stored with {name} {record.get(name)}, this run asks "
                    f"for {getattr(key, name)}; pass the same settings or another --index-dir"
                )
        if record.get("model", {}).get("backend") != key.model.get("backend"):
            raise UserError(
                f"{where} {self.folder}: encoded through backend "
                f"{':'.join(record['model']['backend'])}, not {':'.join(key.model['backend'])}; "
                "pass the same --backend or another --index-dir"
            )

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Vectors of rows start..stop-1 as fp32, read into memory (within one shard: chunks
        never span shards)."""
        for first, array in reversed(self._shards):
            if start >= first:
                return np.array(array[start - first : stop - first], dtype=np.float32)
        raise IndexError(start)

    def chunks(self) -> int:
        return -(-self.docs // self.chunk)

    def ids(self) -> list[str]:
        return [
            doc_id
            for shard in self.record["shards"]
            for doc_id in (self.folder / shard["ids"]).read_text(encoding="utf-8").splitlines()
        ]

    def all_vectors(self) -> np.ndarray:
        """Every vector [docs, dim] in row order (a copy in memory: for search libraries)."""
        return np.concatenate([np.asarray(array) for _, array in self._shards])


def saved_vectors(
    folder: str | Path, ranker: Ranker, name: str, docs: DocStore, where: str = "--index-dir"
) -> tuple[np.ndarray, list[str], JsonObject]:
    """The passage vectors [docs, dim] (fp32, in memory), their doc ids and the spec they
    were encoded with (max_doc_len...) of the index in `folder`, for a reader that searches
    them itself (`profile --scenario query`, the server scenario); a UserError when there is
    none, or it is another model's (weights) or collection's."""
    saved = SavedIndex.open(folder)
    if saved is None:
        raise UserError(
            f"{where} {folder}: holds no finished index; build one with `kdbench evaluate "
            f"--model {name} --data ... --index-dir {folder}`"
        )
    model_hash, model = model_identity(ranker, name, ("eager", "fp32"))
    key = IndexKey(
        model_hash, model, collection_identity(docs), saved.record["precision"], saved.chunk
    )
    saved.check(key, where, layout=False)
    spec = dict(saved.record.get("model", {}).get("spec") or {})
    return saved.all_vectors().astype(np.float32, copy=False), saved.ids(), spec
