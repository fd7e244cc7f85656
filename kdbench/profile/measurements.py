"""The typed measurements of a `profile` result, and their JSON form (light: no torch import).

The profiler builds these and the report reads their attributes; `to_dict` writes the
schema `kdbench.results` versions and `from_dict` reads it back, so
`Cell.from_dict(entry).to_dict() == entry` for every entry a kdbench profile has written
(tests/profile/test_measurements.py holds this on the result files under results/).
Keys a type does not model are kept in its `extra` and written back unchanged. Keys added
after the first files of schema version 1 (`device_latency_ms`, `never_run`,
`timing.device_clock`, a cell's `index_size` and `search`) are written only when they hold
a value, so older files read back as they were.

>>> latency = Latency.from_samples([1_000_000, 2_000_000, 3_000_000, 4_000_000])
>>> latency.p50, latency.n
(2.5, 4)
>>> Latency.from_dict(latency.to_dict()) == latency
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Self, TypeVar

from kdbench.errors import UserError
from kdbench.json_types import JsonObject, JsonValue
from kdbench.profile.stats import summarize_ms
from kdbench.results import ResultHeader, json_object, object_at, objects_at

__all__ = [
    "Cell",
    "Flops",
    "Latency",
    "Memory",
    "Parity",
    "PassageCache",
    "ProfileResult",
    "SampleTiming",
    "Speedup",
    "Throughput",
]


def _as_read(data: Mapping[str, object]) -> Mapping[str, Any]:
    """Any: a result file's values, trusted to hold what the schema declares for each field
    (`from_dict` checks that the required keys are there, and that objects are objects)."""
    return data


def _known(cls: type, data: Mapping[str, object]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`data` split into the keys that are fields of `cls` and the rest."""
    names = {f.name for f in dataclasses.fields(cls)}
    return (
        {k: v for k, v in _as_read(data).items() if k in names},
        {k: v for k, v in _as_read(data).items() if k not in names},
    )


def _require(data: Mapping[str, object], keys: Sequence[str], what: str) -> None:
    missing = [key for key in keys if key not in data]
    if missing:
        raise UserError(
            f"{what} lacks {', '.join(missing)}; is this a result written by kdbench profile?"
        )


class _Record:
    """A measurement whose JSON object is its fields (those without a default required);
    keys it does not model go to its `extra`, if it has one, else are dropped."""

    what: ClassVar[str]  # how an error message names it

    def to_dict(self) -> JsonObject:
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Self:
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        required = [
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        _require(data, required, cls.what)
        known, extra = _known(cls, data)
        if extra and any(f.name == "extra" for f in fields):
            known["extra"] = extra
        return cls(**known)


@dataclass(frozen=True)
class Latency(_Record):
    """Statistics of one stage's raw samples, in milliseconds per timed call."""

    what: ClassVar[str] = "latency_ms"

    p50: float
    p90: float
    p95: float
    p99: float
    mean: float
    std: float  # sample standard deviation (ddof=1)
    min: float
    max: float
    cv: float  # std / mean
    n: int  # samples

    @classmethod
    def from_samples(cls, samples_ns: Sequence[int]) -> Latency:
        """The statistics of raw nanosecond samples (kdbench.profile.stats.summarize_ms)."""

        return cls(**summarize_ms(samples_ns))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Throughput(_Record):
    what: ClassVar[str] = "throughput"

    items_per_s: float  # items per call / mean latency
    item: str | None = None  # what an item is: "query" or "passage"
    tokens_per_s: float | None = None  # model tokens (padding included) per second


_HOST = ("host_peak_rss_mib", "host_peak_rss_since", "host_rss_mib")
_CUDA = (
    "torch_peak_allocated_mib",
    "torch_peak_reserved_mib",
    "nvml_device_used_mib",
    "nvml_process_used_mib",
    "energy_j_per_item",
)
_WHEN_SET = (
    "energy_window_s",
    "nvml_reason",
    "energy_reason",
    "weights_mib",
    "activations_mib",
    "index_mib",
    "host_rss_start_mib",
)


@dataclass(frozen=True)
class Memory(_Record):
    """One cell's memory (kdbench.profile.memory's trackers): the host's peak RSS, and on a
    GPU PyTorch's allocator peaks, NVML's device/process use and energy. A value the machine
    cannot tell is None, with the reason where there is one.

    What belongs to the row (added later, written when set): `weights_mib` as the backend
    loaded them (parameters, ONNX graph, engine), `activations_mib` the cell's peak above what
    was resident when it started (CPU: peak RSS; CUDA: the allocator's peak), `index_mib` the
    pre-encoded index or cache the cell searches or reads."""

    what: ClassVar[str] = "memory"

    host_peak_rss_mib: float | None = None
    host_peak_rss_since: str | None = None  # "cell start" | "process start"
    host_rss_mib: float | None = None
    torch_peak_allocated_mib: float | None = None
    torch_peak_reserved_mib: float | None = None
    nvml_device_used_mib: float | None = None
    nvml_process_used_mib: float | None = None
    energy_j_per_item: float | None = None
    energy_window_s: float | None = None  # the time the energy counter was read over
    nvml_reason: str | None = None
    energy_reason: str | None = None
    weights_mib: float | None = None
    activations_mib: float | None = None
    index_mib: float | None = None
    host_rss_start_mib: float | None = None  # RSS when the cell started (activations' base)
    extra: JsonObject = field(default_factory=dict)

    def peak_mib(self) -> float | None:
        """GPU memory when measured (PyTorch peak, then NVML per process), else the host's peak RSS."""
        for value in (self.torch_peak_allocated_mib, self.nvml_process_used_mib):
            if value is not None:
                return float(value)
        return None if self.host_peak_rss_mib is None else float(self.host_peak_rss_mib)

    def worst(self, other: Memory) -> Memory:
        """Each MiB figure at the larger of the two (the worst round of a cell)."""
        larger: dict[str, Any] = {  # fields of self: replace() checks them
            f.name: theirs
            for f in dataclasses.fields(self)
            if f.name.endswith("_mib")
            and isinstance(theirs := getattr(other, f.name), float)
            and theirs > (getattr(self, f.name) or 0)
        }
        return dataclasses.replace(self, **larger)

    def to_dict(self) -> JsonObject:
        keys = [*(_HOST if self.host_peak_rss_mib is not None else ())]
        keys += _CUDA if self.torch_peak_allocated_mib is not None else ()
        keys += [key for key in _WHEN_SET if getattr(self, key) is not None]
        return {**{key: getattr(self, key) for key in keys}, **self.extra}


_COMPARISON = (
    "max_abs_diff",
    "mean_abs_diff",
    "score_scale",
    "top10_overlap",
    "kendall_tau",
    "padding_invariance_error",
    "queries",
    "candidates",
    "precision",
    "thresholds",
)
_NDCG = ("ndcg_at_10_eager", "ndcg_at_10", "delta_ndcg_at_10")


@dataclass(frozen=True)
class Parity(_Record):
    """The parity gate's verdict on one backend (kdbench.profile.parity.compare). Without a
    comparison (the backend failed before it could be compared) only `passed` and
    `failures` are set; the nDCG figures only with qrels."""

    what: ClassVar[str] = "parity"

    passed: bool
    failures: list[str] = field(default_factory=list)
    max_abs_diff: float | None = None  # vs the reference scores; None: not finite
    mean_abs_diff: float | None = None
    score_scale: float | None = None  # max(1, max |reference score|): the rtol's yardstick
    top10_overlap: float | None = None
    kendall_tau: float | None = None
    padding_invariance_error: float | None = None
    queries: int | None = None
    candidates: int | None = None
    precision: str | None = None
    thresholds: dict[str, float | None] | None = None
    ndcg_at_10_eager: float | None = None
    ndcg_at_10: float | None = None
    delta_ndcg_at_10: float | None = None
    extra: JsonObject = field(default_factory=dict)

    def text(self) -> str:
        """'passed', or 'failed: ' and why (the report's parity column)."""
        if self.passed:
            return "passed"
        return "failed: " + ("; ".join(self.failures) or "scores differ from eager")

    def to_dict(self) -> JsonObject:
        keys = ["passed", "failures"]
        keys += _COMPARISON if self.queries is not None else ()
        keys += _NDCG if any(getattr(self, key) is not None for key in _NDCG) else ()
        return {**{key: getattr(self, key) for key in keys}, **self.extra}


@dataclass(frozen=True)
class Speedup(_Record):
    """Ratios against another entry of the same cell (eager fp32, or the baseline architecture)."""

    what: ClassVar[str] = "a speed ratio"

    throughput_ratio: float  # this items/s / theirs
    p50_ratio: float  # their p50 / this p50 (above 1: faster)
    arch: str | None = None  # the baseline's architecture (vs_baseline only)

    @classmethod
    def between(cls, cell: Cell, base: Cell, arch: str | None = None) -> Speedup:
        assert cell.latency and base.latency and cell.throughput and base.throughput
        return cls(
            throughput_ratio=cell.throughput.items_per_s / base.throughput.items_per_s,
            p50_ratio=base.latency.p50 / cell.latency.p50,
            arch=arch,
        )

    def to_dict(self) -> JsonObject:
        head = {"arch": self.arch} if self.arch is not None else {}
        return {**head, "throughput_ratio": self.throughput_ratio, "p50_ratio": self.p50_ratio}


@dataclass(frozen=True)
class Flops(_Record):
    what: ClassVar[str] = "flops"

    per_call: int  # model FLOP per timed call (2 per multiply-add)
    achieved_per_s: float  # per_call / the model stage's p50
    peak_per_s: float  # measured on the spot (see peak_from)
    fraction_of_peak: float
    peak_from: str


@dataclass(frozen=True)
class SampleTiming(_Record):
    """How a cell's samples were taken."""

    what: ClassVar[str] = "timing"

    rounds: int
    warmup_calls: int
    duration_s: float
    stopped_by: list[str]  # per round: "budget" | "max_duration" | "max_samples"
    synchronize: str | None  # what ran after each stage on a GPU
    device_clock: str | None = None  # how the GPU's own time was taken (added later)

    def to_dict(self) -> JsonObject:
        record = dataclasses.asdict(self)
        if self.device_clock is None:
            del record["device_clock"]
        return record


@dataclass(frozen=True)
class PassageCache:
    """prettr's cached passage states in one cell, written as `cache_*` keys of the cell."""

    bytes_per_passage: float  # mean over the cell's candidates
    tokens_per_passage: float
    dtype: str

    def to_dict(self) -> JsonObject:
        return {f"cache_{key}": value for key, value in dataclasses.asdict(self).items()}

    @classmethod
    def from_cell(cls, data: Mapping[str, object]) -> PassageCache | None:
        keys = [f"cache_{f.name}" for f in dataclasses.fields(cls)]
        if not any(key in data for key in keys):
            return None
        _require(data, keys, "a cell with a passage cache")
        return cls(*(_as_read(data)[key] for key in keys))


@dataclass
class Cell:
    """One entry of a profile result: one backend and precision on one cell (batch size,
    sequence length, depth), with its parity verdict and, when timed, its measurements."""

    backend: str
    precision: str
    arch: str = ""
    scenario: str = ""
    batch_size: int | None = None
    seq_len: int | None = None
    depth: int | None = None
    index_size: int | None = None  # query: passages searched (written when set)
    status: str = "ok"  # "ok" | "failed_parity" | "error"
    latency: Latency | None = None  # "latency_ms"; None: not timed
    device_latency: Latency | None = None  # "device_latency_ms": CUDA events (GPU cells only)
    throughput: Throughput | None = None
    memory: Memory | None = None
    parity: Parity | None = None
    error: str | None = None  # why the backend could not run (status "error")
    never_run: str | None = None  # the backend's code has never run on real hardware
    cache: PassageCache | None = None
    search: JsonObject | None = (
        None  # query: an approximate search's settings and recall (when set)
    )
    stages: dict[str, Latency] | None = None  # per stage, and "tokenize" (timed apart)
    flops: Flops | None = None
    samples_ns: dict[str, list[int]] | None = None  # raw, per stage, in call order
    timing: SampleTiming | None = None
    warnings: list[str] | None = None
    vs_eager_fp32: Speedup | None = None
    vs_baseline: Speedup | None = None
    # server/offline loads (kdbench.profile.serving): settings, levels, the search's answer.
    # Any: its nested levels are read by key (profile/render.py, report/rows.py); a typed
    # record of its own (Level.from_dict, ...) would replace it
    serving: dict[str, Any] | None = None
    device: str | None = None  # not written by the profiler (the result's config says it)
    extra: JsonObject = field(default_factory=dict)

    @property
    def key(self) -> tuple[int | None, int | None, int | None, int | None]:
        """What a cell is across backends: batch size, sequence length, depth, index size."""
        return (self.batch_size, self.seq_len, self.depth, self.index_size)

    def to_dict(self) -> JsonObject:
        record: JsonObject = {
            "backend": self.backend,
            "precision": self.precision,
            "arch": self.arch,
            "scenario": self.scenario,
            **({"device": self.device} if self.device is not None else {}),
            "batch_size": self.batch_size,
            "seq_len": self.seq_len,
            "depth": self.depth,
            **({"index_size": self.index_size} if self.index_size is not None else {}),
            "status": self.status,
            "latency_ms": _dict_or_none(self.latency),
            **({"device_latency_ms": self.device_latency.to_dict()} if self.device_latency else {}),
            "throughput": _dict_or_none(self.throughput),
            "memory": _dict_or_none(self.memory),
            "parity": _dict_or_none(self.parity),
            "error": self.error,
            **({"never_run": self.never_run} if self.never_run is not None else {}),
            **(self.cache.to_dict() if self.cache is not None else {}),
            **({"search": self.search} if self.search is not None else {}),
            **({"serving": self.serving} if self.serving is not None else {}),
            **self.extra,
        }
        if self.latency is not None:
            record.update(
                stages={name: s.to_dict() for name, s in (self.stages or {}).items()},
                flops=_dict_or_none(self.flops),
                samples_ns=None
                if self.samples_ns is None
                else {name: list(samples) for name, samples in self.samples_ns.items()},
                timing=_dict_or_none(self.timing),
                warnings=list(self.warnings or []),
            )
        for name in ("vs_eager_fp32", "vs_baseline"):
            ratio: Speedup | None = getattr(self, name)
            if ratio is not None:
                record[name] = ratio.to_dict()
        return record

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Cell:
        _require(data, ["backend", "precision"], "a profile entry")
        known, extra = _known(cls, data)
        cache_keys = {f"cache_{f.name}" for f in dataclasses.fields(PassageCache)}
        parsed = {"latency_ms", "device_latency_ms", *cache_keys}
        extra = {k: v for k, v in extra.items() if k not in parsed}
        stages = data.get("stages")
        stage_stats = None if stages is None else json_object(stages, "stages")
        return cls(
            **{k: v for k, v in known.items() if k not in _PARSED},
            latency=_parse(Latency, data.get("latency_ms")),
            device_latency=_parse(Latency, data.get("device_latency_ms")),
            throughput=_parse(Throughput, data.get("throughput")),
            memory=_parse(Memory, data.get("memory")),
            parity=_parse(Parity, data.get("parity")),
            cache=PassageCache.from_cell(data),
            stages=None
            if stage_stats is None
            else {
                name: Latency.from_dict(json_object(s, f"stages.{name}"))
                for name, s in stage_stats.items()
            },
            flops=_parse(Flops, data.get("flops")),
            timing=_parse(SampleTiming, data.get("timing")),
            vs_eager_fp32=_parse(Speedup, data.get("vs_eager_fp32")),
            vs_baseline=_parse(Speedup, data.get("vs_baseline")),
            extra=extra,
        )


_PARSED = (
    "latency",
    "device_latency",
    "throughput",
    "memory",
    "parity",
    "cache",
    "stages",
    "flops",
    "timing",
    "vs_eager_fp32",
    "vs_baseline",
    "extra",
)


class _Written(Protocol):
    def to_dict(self) -> JsonObject: ...


def _dict_or_none(value: _Written | None) -> JsonObject | None:
    return None if value is None else value.to_dict()


R = TypeVar("R", bound=_Record)


def _parse(cls: type[R], data: object) -> R | None:
    """`data` (a JSON object, or None) as a `cls`."""
    return None if data is None else cls.from_dict(json_object(data, cls.what))


@dataclass
class ProfileResult:
    """A whole `profile` result: the header, what was profiled, one `Cell` per entry, and
    the baseline architecture's own result when one was timed alongside."""

    header: ResultHeader
    cells: list[Cell]  # "results"
    model: JsonObject = field(default_factory=dict)  # source, arch, spec, parameters
    inputs: JsonObject = field(default_factory=dict)  # where the text came from
    scenario: JsonObject | None = None  # what the scenario timed (absent in the oldest results)
    backends: JsonObject = field(default_factory=dict)  # "name:precision" -> what actually ran
    # straight-line fits over the swept index sizes or depths (kdbench.profile.growth.Fit)
    growth: list[JsonObject] = field(default_factory=list)
    baseline: ProfileResult | None = None
    extra: JsonObject = field(default_factory=dict)

    def to_dict(self) -> JsonObject:
        record: JsonObject = {**self.header.to_dict(), "model": self.model, "inputs": self.inputs}
        if self.scenario is not None:
            record["scenario"] = self.scenario
        record["backends"] = self.backends
        results: list[JsonValue] = [cell.to_dict() for cell in self.cells]
        record["results"] = results
        if self.growth:  # written when sizes were swept, so older files read back unchanged
            growth: list[JsonValue] = [*self.growth]
            record["growth"] = growth
        if self.baseline is not None:
            record["baseline"] = self.baseline.to_dict()
        return {**record, **self.extra}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ProfileResult:
        header = ResultHeader.from_dict(data)
        taken = {*header.to_dict(), "model", "inputs", "scenario", "backends", "results", "growth"}
        baseline, scenario = data.get("baseline"), data.get("scenario")
        return cls(
            header=header,
            cells=[Cell.from_dict(entry) for entry in objects_at(data, "results")],
            model=object_at(data, "model"),
            inputs=object_at(data, "inputs"),
            scenario=None if scenario is None else json_object(scenario, "scenario"),
            backends=object_at(data, "backends"),
            growth=objects_at(data, "growth"),
            baseline=None if baseline is None else cls.from_dict(json_object(baseline, "baseline")),
            extra={k: v for k, v in _as_read(data).items() if k not in taken and k != "baseline"},
        )
