"""Work split over torchrun's ranks: contiguous shares of aligned units, part files, exact merges.

Under `torchrun --nproc-per-node N` (one node or many) `teacher score` and `evaluate` give
each rank a contiguous share of their work, counted in *units* that are the batches (or
chunks) one process would run: a rank never runs a batch one process would not, so the
floats it computes are the same bits (padding and matmul shapes are those of one process).

A share that must survive a killed rank is written as a *part file* (`Parts`): written
atomically, then its done marker, which records the job's key (what was computed, by what)
and the part's sha256. A relaunch with the same key and world size skips every part whose
marker matches; a killed rank loses only the part it had not finished. Rank 0 merges the
parts in rank order, which is the one process's order. The folder of the parts must be one
every rank can write (on several nodes: a shared file system).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kdbench.errors import UserError
from kdbench.io import atomic_path, atomic_write_json
from kdbench.json_types import JsonObject, JsonValue


def share(units: int, rank: int, world_size: int) -> range:
    """The units of `rank`: a contiguous range, sizes differing by one at most, in rank order.

    >>> [share(7, rank, 3) for rank in range(3)]
    [range(0, 3), range(3, 5), range(5, 7)]
    >>> [share(1, rank, 2) for rank in range(2)]
    [range(0, 1), range(1, 1)]
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} of {world_size}: need 0 <= rank < world_size")
    base, extra = divmod(units, world_size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


def units_of(count: int, unit: int) -> int:
    """How many units of `unit` items `count` items make (the last may be short).

    >>> units_of(10, 4), units_of(8, 4), units_of(0, 4)
    (3, 2, 0)
    """
    return -(-count // unit)


def item_range(count: int, unit: int, rank: int, world_size: int) -> range:
    """The items of `rank` when `count` items run in units of `unit`: whole units only.

    >>> [item_range(10, 4, rank, 2) for rank in range(2)]
    [range(0, 8), range(8, 10)]
    """
    units = share(units_of(count, unit), rank, world_size)
    return range(min(units.start * unit, count), min(units.stop * unit, count))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Parts:
    """The part files of one job in `folder`: `NAME.part-R-of-W` and `NAME.part-R-of-W.done`.

    `key` identifies the job (a hash of what is computed and by what): a marker with another
    key is an earlier job's and is redone, never merged.
    """

    folder: Path
    name: str
    world_size: int
    key: str

    def path(self, rank: int) -> Path:
        return self.folder / f"{self.name}.part-{rank:05d}-of-{self.world_size:05d}"

    def marker(self, rank: int) -> Path:
        return Path(f"{self.path(rank)}.done")

    def done(self, rank: int) -> bool:
        """Whether `rank`'s part is complete for this job (its marker's key and digest match)."""
        try:
            record = json.loads(self.marker(rank).read_text(encoding="utf-8"))
            if not isinstance(record, dict) or record.get("key") != self.key:
                return False
            if "sha256" in record:  # a text part: its digest
                return bool(record["sha256"] == _digest(self.path(rank).read_text("utf-8")))
            # a binary part (too big to hash at every check): its size
            return bool(record.get("bytes") == self.path(rank).stat().st_size)
        except (OSError, ValueError):
            return False

    def clear(self, rank: int) -> None:
        """Before a rank (re)writes its part: no marker, and no scratch a killed launch left."""
        self.marker(rank).unlink(missing_ok=True)
        for stale in self.folder.glob(f".{self.path(rank).name}.*.tmp"):
            stale.unlink(missing_ok=True)

    @contextlib.contextmanager
    def writing(self, rank: int) -> Iterator[JsonObject]:
        """Compute a text part inside the block; set its "text" (and any other record) in the
        yielded dict. While the block runs, the part's scratch file exists (a rank at work
        shows as `.NAME.part-R-of-W.*.tmp`); on success the part, then its marker, so a
        marker always describes a whole part."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.clear(rank)
        record: JsonObject = {}
        with atomic_path(self.path(rank)) as scratch:
            yield record
            text = record.pop("text")
            if not isinstance(text, str):
                raise TypeError(f"a part's text is a str, not {type(text).__name__}")
            scratch.write_text(text, encoding="utf-8")
        atomic_write_json(self.marker(rank), {"key": self.key, "sha256": _digest(text), **record})

    def write(self, rank: int, text: str, **info: JsonValue) -> None:
        """The whole part at once (see `writing`)."""
        with self.writing(rank) as record:
            record.update(info, text=text)

    def read_all(self) -> list[str]:
        """Every rank's part, in rank order; a UserError naming the first missing one."""
        missing = [rank for rank in range(self.world_size) if not self.done(rank)]
        if missing:
            raise UserError(
                f"{self.path(missing[0])}: part of rank {missing[0]} is missing or unfinished "
                f"({len(missing)} of {self.world_size}); relaunch with the same --nproc-per-node "
                "and --nnodes to finish it (finished parts are kept)"
            )
        return [self.path(rank).read_text(encoding="utf-8") for rank in range(self.world_size)]

    def records(self) -> list[JsonObject]:
        """Every rank's marker (what `write` recorded beside the key), in rank order."""
        records = [
            json.loads(self.marker(rank).read_text(encoding="utf-8"))
            for rank in range(self.world_size)
        ]
        return [
            {name: value for name, value in record.items() if name not in {"key", "sha256"}}
            for record in records
        ]

    def remove(self) -> None:
        """Drop the parts once merged (the merged file is the result)."""
        for rank in range(self.world_size):
            self.marker(rank).unlink(missing_ok=True)
            self.path(rank).unlink(missing_ok=True)
        if self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()


def format_pair_scores(rows: list[tuple[str, str, float]]) -> str:
    """`qid<TAB>doc<TAB>score` lines; repr() reads back as the same float.

    >>> format_pair_scores([("q1", "d1", 0.1), ("q1", "d2", -2.5)]).splitlines()
    ['q1\\td1\\t0.1', 'q1\\td2\\t-2.5']
    """
    return "".join(f"{qid}\t{doc}\t{score!r}\n" for qid, doc, score in rows)


def parse_pair_scores(text: str) -> list[tuple[str, str, float]]:
    """The rows of `format_pair_scores`, in order."""
    rows = []
    for line in text.splitlines():
        qid, doc, score = line.split("\t")
        rows.append((qid, doc, float(score)))
    return rows
