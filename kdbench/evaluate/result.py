"""The typed `evaluate` result, and its JSON form (light: no torch, no ir_measures import).

`kdbench evaluate` builds an `EvaluateResult` and the report reads its attributes; `to_dict`
writes the schema `kdbench.results` versions and `from_dict` reads it back, so
`EvaluateResult.from_dict(data).to_dict() == data` for every evaluate result kdbench has
written (tests/evaluate/test_result.py holds this on the result files under results/).
Keys added after the first files (`distributed`, the header's `provenance`) are written only
when they hold a value, and keys the record does not model are kept in its `extra`, so
older files read back as they were.

The resolved settings (`header.config`) are kept as written, every key in its order (their
keys differ between kdbench versions); `EvaluateResult.settings` reads the ones the report
needs through typed properties.

>>> result = EvaluateResult.from_dict({"kind": "evaluate", "config": {"model": "bm25"},
...     "metrics": {"nDCG@10": 0.5}, "per_query": {"nDCG@10": {"q1": 0.5}},
...     "first_stage": {"method": "bm25", "k": 100}, "queries": 1, "timings": {}, "warnings": []})
>>> result.metrics["nDCG@10"], result.first_stage.method, result.settings.artifact
(0.5, 'bm25', ('bm25s', 'fp32'))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kdbench.errors import UserError
from kdbench.json_types import JsonObject, JsonValue, is_json_object
from kdbench.results import ResultHeader, json_object

# The artifact a BM25 evaluation scored through: bm25s's float32 index.
BM25_ARTIFACT = ("bm25s", "fp32")
# What an evaluation records of its numbers' units (written into the header's `units`).
UNITS = {
    "metrics": "fraction in [0, 1], mean over judged queries",
    "per_query": "fraction in [0, 1]",
    "timings": "s (wall clock)",
    "parameters": "count",
}
# The keys the record models, in the order they are written after the header.
_BODY = ("metrics", "per_query", "first_stage", "queries", "timings", "warnings", "distributed")

Scores = dict[str, float]  # measure (or qid) -> value


def _object(value: object, what: str) -> JsonObject:
    return json_object(value, what, command="evaluate")


def _numbers(value: object, what: str) -> Scores:
    """A {key: number} object as it is (ints stay ints, so the JSON reads back unchanged)."""
    numbers = _object(value, what)
    for key, number in numbers.items():
        if not isinstance(number, int | float) or isinstance(number, bool):
            raise UserError(f"{what}[{key!r}] is {number!r}, not a number")
    return {key: number for key, number in numbers.items() if isinstance(number, int | float)}


@dataclass
class FirstStage:
    """How the evaluated run was made, as written: every key in its order.

    `method` is "bm25" (with BM25's parameters), "exact-dense" (with `similarity`, and
    `index` when --index-dir kept one) or "run" (a given run file, with its `path`); `k`
    is how many docs it found and `depth` how many of them were re-ranked (absent: none).
    """

    record: JsonObject

    @property
    def method(self) -> str:
        return str(self.record.get("method") or "")

    @property
    def k(self) -> int | None:
        k = self.record.get("k")
        return k if isinstance(k, int) else None

    @property
    def depth(self) -> int | None:
        depth = self.record.get("depth")
        return depth if isinstance(depth, int) else None

    @depth.setter
    def depth(self, depth: int) -> None:
        self.record["depth"] = depth

    def to_dict(self) -> JsonObject:
        return self.record


@dataclass
class EvaluatedSettings:
    """The resolved settings an evaluation recorded (`config`), read through typed properties.

    It is a view: setting `label` or `quality_elsewhere` writes the underlying `config`.
    """

    config: JsonObject

    def _text(self, key: str) -> str:
        value = self.config.get(key)
        return "" if value is None else str(value)

    def _optional_text(self, key: str) -> str | None:
        value = self.config.get(key)
        return None if value is None else str(value)

    @property
    def model(self) -> str | None:
        """What was evaluated: "bm25", a hub id, folder or checkpoint (None: a given run)."""
        return self._optional_text("model")

    @property
    def label(self) -> str:
        """The row's name a run gave it ("": none; the report falls back to `model`)."""
        return self._text("label")

    @label.setter
    def label(self, label: str) -> None:
        self.config["label"] = label

    @property
    def quality_elsewhere(self) -> str:
        """The evaluate result another run made, when this quality is that run's ("": none)."""
        return self._text("quality_elsewhere")

    @quality_elsewhere.setter
    def quality_elsewhere(self, source: str) -> None:
        self.config["quality_elsewhere"] = source

    @property
    def is_bm25(self) -> bool:
        return (self.model or "").lower() == "bm25"

    @property
    def artifact(self) -> tuple[str, str]:
        """The (backend, precision) it scored through; results before --backend: eager fp32.

        >>> EvaluatedSettings({"model": "m"}).artifact, EvaluatedSettings({"model": "BM25"}).artifact
        (('eager', 'fp32'), ('bm25s', 'fp32'))
        """
        if self.is_bm25:
            return BM25_ARTIFACT
        return self._text("backend") or "eager", self._text("precision") or "fp32"

    @property
    def arch(self) -> str:
        return self._text("arch")

    @property
    def teacher(self) -> str:
        return self._text("teacher")

    @property
    def parameters(self) -> int | None:
        parameters = self.config.get("parameters")
        return parameters if isinstance(parameters, int) else None

    @property
    def reranked(self) -> bool:
        return bool(self.config.get("reranked"))

    @property
    def never_run(self) -> str:
        """The backend's note when its code has never run on real hardware ("": it has)."""
        info = self.config.get("backend_info")
        return str(info.get("never_run") or "") if isinstance(info, dict) else ""

    @property
    def data(self) -> str | None:
        return self._optional_text("data")

    @property
    def split(self) -> str | None:
        return self._optional_text("split")

    @property
    def rel(self) -> int | None:
        rel = self.config.get("rel")
        return rel if isinstance(rel, int) and not isinstance(rel, bool) else None

    @property
    def collection(self) -> JsonObject:
        """Where the queries and docs came from (kdbench.data.collection's `source`)."""
        collection = self.config.get("collection")
        return collection if is_json_object(collection) else {}

    @property
    def first_stage(self) -> JsonObject:
        first_stage = self.config.get("first_stage")
        return first_stage if is_json_object(first_stage) else {}


@dataclass
class EvaluateResult:
    """A whole `evaluate` result: the header, the means and per-query values of each measure,
    how the first stage found the candidates, and what the evaluation noticed on the way."""

    header: ResultHeader
    metrics: Scores = field(default_factory=dict)  # measure -> mean over judged queries
    # measure -> {qid: value}; None: a result that kept no per-query values
    per_query: dict[str, Scores] | None = None
    first_stage: FirstStage | None = None
    queries: int | None = None  # judged queries evaluated
    timings: Scores | None = None  # phase -> seconds (wall clock)
    warnings: list[str] = field(default_factory=list)
    distributed: JsonObject | None = None  # how torchrun's ranks shared the work
    extra: JsonObject = field(default_factory=dict)  # keys of other versions, kept as written

    @property
    def settings(self) -> EvaluatedSettings:
        """The resolved settings (`header.config`), read through typed properties."""
        return EvaluatedSettings(self.header.config)

    def to_dict(self) -> JsonObject:
        record: JsonObject = {**self.header.to_dict(), "metrics": dict(self.metrics)}
        if self.per_query is not None:
            record["per_query"] = {measure: dict(v) for measure, v in self.per_query.items()}
        if self.first_stage is not None:
            record["first_stage"] = self.first_stage.to_dict()
        if self.queries is not None:
            record["queries"] = self.queries
        if self.timings is not None:
            record["timings"] = dict(self.timings)
        record["warnings"] = list(self.warnings)
        if self.distributed is not None:
            record["distributed"] = self.distributed
        return {**record, **self.extra}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> EvaluateResult:
        """The record of an evaluate result dict; an error names what is malformed."""
        if data.get("kind") != "evaluate":
            raise UserError(
                f"a {data.get('kind')!r} result is not an evaluate result; "
                "pass a result `kdbench evaluate --output` wrote"
            )
        header = ResultHeader.from_dict(data)
        per_query = data.get("per_query")
        first_stage = data.get("first_stage")
        queries = data.get("queries")
        timings = data.get("timings")
        warnings = data.get("warnings")
        distributed = data.get("distributed")
        taken = {*header.to_dict(), *_BODY}
        return cls(
            header=header,
            metrics=_numbers(data.get("metrics") or {}, "metrics"),
            per_query=None
            if per_query is None
            else {
                measure: _numbers(values, f"per_query[{measure!r}]")
                for measure, values in _object(per_query, "per_query").items()
            },
            first_stage=None
            if first_stage is None
            else FirstStage(_object(first_stage, "first_stage")),
            queries=queries if isinstance(queries, int) else None,
            timings=None if timings is None else _numbers(timings, "timings"),
            warnings=[str(w) for w in warnings] if isinstance(warnings, list) else [],
            distributed=None if distributed is None else _object(distributed, "distributed"),
            extra={key: _json(value) for key, value in data.items() if key not in taken},
        )


def _json(value: object) -> JsonValue:
    """A value read from JSON, as the JSON type it is."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list):
        return [_json(item) for item in value]
    if is_json_object(value):
        return {key: _json(item) for key, item in value.items()}
    raise UserError(f"{value!r} is not a JSON value")
