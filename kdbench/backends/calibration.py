"""Calibration texts for static int8: queries and passages of the collection's *train* split.

A static int8 graph fixes each activation's scale from what it saw while calibrating; those
texts must never be the ones it is scored on. So the set is drawn from the train split only
(`--calibration-split`, refused when it is the split being evaluated or profiled), and
passages judged for any query of the evaluated split are left out. Its sha256 (over the
split, ids and texts) names the quantised graph in the cache and is recorded with the
result, so a row says what it was calibrated on. Light: torch is imported by `batches`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kdbench.errors import UserError
from kdbench.json_types import JsonObject

if TYPE_CHECKING:
    import torch

    from kdbench.data.collection import Collection
    from kdbench.models.base import ExportKind
    from kdbench.models.ranker import Ranker

DEFAULT_SIZE = 300  # queries, and as many passages: NNCF's and ORT's usual few hundred
BATCH = 8  # texts per calibration forward


@dataclass(frozen=True)
class CalibrationSet:
    """`size` train queries, and passages judged for train queries (each paired with its
    query for cross-encoders), none judged for the evaluated split's queries."""

    source: str  # the collection (folder or ir_datasets id)
    split: str
    qids: tuple[str, ...]
    queries: tuple[str, ...]
    doc_ids: tuple[str, ...]
    passages: tuple[str, ...]
    pair_queries: tuple[str, ...]  # the query each passage was judged for

    @property
    def sha256(self) -> str:
        payload = json.dumps(
            [self.split, self.qids, self.queries, self.doc_ids, self.passages, self.pair_queries]
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def describe(self) -> JsonObject:
        return {
            "data": self.source,
            "split": self.split,
            "queries": len(self.queries),
            "passages": len(self.passages),
            "sha256": self.sha256,
        }

    def batches(
        self, ranker: Ranker, kind: ExportKind, names: tuple[str, ...]
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Tokenised batches for the `kind` module (inputs `names`): single-text modules see
        queries and passages both (a dot model encodes both with one graph), pairs see each
        passage with its train query."""
        if kind == "pair":
            for start in range(0, len(self.passages), BATCH):
                end = start + BATCH
                inputs = ranker.tokenize(
                    list(self.pair_queries[start:end]), "pair", list(self.passages[start:end])
                )
                yield {name: inputs[name] for name in names}
            return
        kinds = ranker.export_kinds
        parts = [(list(self.queries), "query" if "query" in kinds else kind)]
        parts.append((list(self.passages), "doc" if "doc" in kinds else kind))
        for texts, text_kind in parts:
            for start in range(0, len(texts), BATCH):
                inputs = ranker.tokenize(texts[start : start + BATCH], text_kind)
                if set(names) <= set(inputs):
                    yield {name: inputs[name] for name in names}


def draw(
    train: Collection,
    size: int,
    *,
    seed: int = 0,
    evaluated: Collection | None = None,
) -> CalibrationSet:
    """`size` queries of `train` (a seeded sample) and up to `size` passages judged relevant
    for its queries, none judged for a query of `evaluated` (the split being scored)."""
    if evaluated is not None and train.split == evaluated.split:
        raise UserError(
            f"--calibration-split {train.split}: is the split being evaluated; calibrate on "
            "another (train)"
        )
    held_out = {
        doc_id for judged in (evaluated.qrels if evaluated else {}).values() for doc_id in judged
    }
    rng = random.Random(seed)
    qids = sorted(train.queries)
    rng.shuffle(qids)
    chosen = qids[:size]
    pairs: list[tuple[str, str]] = []  # (qid, doc id), judged relevant
    for qid in qids:
        for doc_id, grade in sorted(train.qrels.get(qid, {}).items()):
            if grade > 0 and doc_id not in held_out and doc_id not in {d for _, d in pairs}:
                pairs.append((qid, doc_id))
        if len(pairs) >= size:
            break
    pairs = [pair for pair in pairs if pair[1] in train.docs][:size]
    if not chosen or not pairs:
        raise UserError(
            f"--calibration-split {train.split} of {train.name}: no judged queries and passages "
            "to calibrate on; pick a split with qrels"
        )
    doc_ids = [doc_id for _, doc_id in pairs]
    return CalibrationSet(
        source=train.name,
        split=str(train.split),
        qids=tuple(chosen),
        queries=tuple(train.queries[qid] for qid in chosen),
        doc_ids=tuple(doc_ids),
        passages=tuple(train.docs.get_many(doc_ids)),
        pair_queries=tuple(train.queries[qid] for qid, _ in pairs),
    )


def load(
    data: str | None,
    split: str,
    size: int,
    *,
    seed: int = 0,
    evaluated_split: str | None = None,
    flag: str = "--backend",
) -> CalibrationSet:
    """The calibration set of collection `data` (its `split`), for static int8 at `flag`."""
    from kdbench.data.load import load_collection

    if data is None:
        raise UserError(
            f"{flag}: static int8 is calibrated on a collection's train split; pass --data "
            "(a folder or ir_datasets id with a train split)"
        )
    if evaluated_split is not None and split == evaluated_split:
        raise UserError(
            f"--calibration-split {split}: is the split being evaluated; calibrate on another (train)"
        )
    base = _without_split(data, evaluated_split)
    train = load_collection(base, split)
    evaluated = None if evaluated_split is None else load_collection(base, evaluated_split)
    calibration = draw(train, size, seed=seed, evaluated=evaluated)
    return dataclasses.replace(calibration, source=data)


def _without_split(data: str, split: str | None) -> str:
    """An ir_datasets id that names its split (`beir/scifact/test`) without it; a folder as it is.

    >>> _without_split("beir/scifact/test", "test"), _without_split("beir/scifact", "test")
    ('beir/scifact', 'beir/scifact')
    """
    if split is not None and not Path(data).is_dir() and data.endswith(f"/{split}"):
        return data[: -len(split) - 1]
    return data
