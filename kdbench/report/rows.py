"""Trade-off rows: one per model × measured artifact, built only from result JSON.

A row's quality comes only from an evaluation of the artifact it times. An `evaluate`
result names the artifact it scored through (`config.backend` and `config.precision`;
older results and plain `kdbench evaluate` are eager fp32, BM25 is bm25s), and a profile
cell takes the evaluation of its own (backend, precision). The one exception: an fp32 cell
of a backend that computes eager's scores to float tolerance (`BackendInfo.fp32_is_eager`)
and passed the parity gate shows eager's evaluation, and says so (`quality_reused`). A cell
with neither shows no quality and stays off the Pareto front; `quality_from` names the
artifact each row's quality came from, in every format.

A re-ranker's latency is what a query costs: the BM25 first stage (a profiled `bm25` row of
the same depth) plus the re-ranking, `end_to_end_* = first_stage_* + p*_ms`. A profile
result timed against a baseline architecture (`kdbench profile --baseline-arch`) also gives
the baseline's cells as rows of their own, labelled "MODEL as ARCH (baseline)", without
quality. Every number in every report format is read from these rows, so a report can never
disagree with the JSON it came from.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdbench.backends import BACKENDS, evaluated_apart
from kdbench.errors import UserError
from kdbench.evaluate.result import BM25_ARTIFACT, EvaluateResult
from kdbench.json_types import JsonObject
from kdbench.profile.bm25 import is_bm25
from kdbench.profile.measurements import Cell, ProfileResult
from kdbench.profile.stats import percentile_interval, undersampled
from kdbench.results import load_result

QUALITY = ("nDCG@10", "RR@10", "R@100", "R@1000", "AP")
SHOWN_QUALITY = ("nDCG@10", "RR@10", "R@100")  # the report's quality columns by default
# Rows of a first stage rather than a neural architecture (their `arch`).
FIRST_STAGE_ARCHS = frozenset({"bm25"})
# Latency axes a report can rank and plot rows by: higher is better only for throughput.
AXES = ("p50", "p95", "throughput", "memory", "qps")
HIGHER_IS_BETTER = ("throughput", "qps")

Artifact = tuple[str, str]  # (backend, precision)


@dataclass
class Row:
    label: str
    arch: str = ""
    teacher: str = ""
    parameters: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    # The artifact the quality was measured on ("eager", "onnx:int8", "bm25s"); "": none.
    quality_from: str = ""
    # True: an fp32 cell that passed parity shows eager's evaluation (not its own).
    quality_reused: bool = False
    # The evaluate result another run made, when the quality is that run's (a teacher whose
    # scores were precomputed: timed here on its architecture, evaluated where it was trained).
    quality_elsewhere: str = ""
    first_stage: str = ""  # the evaluation's first stage: "bm25", "run", "exact-dense"
    backend: str = ""
    device: str = ""
    precision: str = ""
    scenario: str = ""
    batch_size: int | None = None
    seq_len: int | None = None
    depth: int | None = None  # rerank: candidates; query/BM25: hits searched
    index_size: int | None = None  # query: passages searched (written by sweeps and later)
    search: str = ""  # query: "" for exact search, else the approximate method ("hnsw")
    includes: str = ""  # what the latency covers, in words
    p50_ms: float | None = None  # the cell's timed call
    p95_ms: float | None = None
    samples: int | None = None  # timed calls behind the percentiles
    p50_ci_ms: list[float] | None = None  # 95% order-statistic interval [low, high]
    p95_ci_ms: list[float] | None = None
    undersampled: list[str] = field(default_factory=list)  # shown percentiles short of samples
    first_stage_p50_ms: float | None = None  # re-rankers: the BM25 retrieval of the candidates
    first_stage_p95_ms: float | None = None
    end_to_end_p50_ms: float | None = None  # what one query costs: first stage + timed call
    end_to_end_p95_ms: float | None = None
    throughput: float | None = None  # items/s (queries, or passages for `index`)
    # --scenario server with a bound: the highest QPS whose level was valid under `qps_bound`
    # (None: no valid level, or not a server row), the machine it held on, and per level
    # run [target QPS, p99 ms, valid] (the latency-QPS curve)
    max_qps: float | None = None
    qps_bound: str = ""
    qps_machine: str = ""
    qps_curve: list[list[Any]] = field(default_factory=list)
    weights_mib: float | None = None  # as the backend loaded them
    activations_mib: float | None = None  # the cell's peak above what was resident
    index_size_mib: float | None = None  # pre-encoded index or cache the cell reads
    peak_memory_mib: float | None = None  # the process: GPU peak, else host peak RSS
    fraction_of_peak: float | None = None  # achieved FLOP/s over the machine's best GEMM
    peak_from: str = ""  # which GEMM set that peak
    parity: str = ""  # "passed", "failed: ...", or "" when not profiled
    never_run: str = ""  # the backend's code has never run on real hardware (TensorRT)
    # The profile's `vs_baseline` ratios, as stored: baseline p50 / this p50 and this
    # items/s / baseline items/s (above 1: faster than the baseline architecture).
    p50_vs_baseline: float | None = None
    throughput_vs_baseline: float | None = None
    baseline_for: str = ""  # on a baseline row: the label of the model it is the baseline of
    reference: str = ""  # non-empty for published numbers (not measured here)
    pareto: bool = False
    budget: str = ""  # under a report's --budget: chosen, runner-up, fits, or out and why
    # under --scale-to: predicted values (kdbench.report.scale.Predicted.to_dict) by name
    predicted: dict[str, Any] = field(default_factory=dict)
    # {measure: {qid: value}} of the evaluation the quality came from (for paired tests);
    # not written by to_dict: reports stay small, the evaluate results hold them.
    per_query: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)

    def key(self) -> tuple[str | int | None, ...]:
        """Identity of a row across runs, for `--compare`."""
        return (
            self.label,
            self.backend,
            self.device,
            self.precision,
            self.scenario,
            self.batch_size,
            self.seq_len,
            self.depth,
            self.index_size,
            self.search,
        )

    @property
    def query_p50_ms(self) -> float | None:
        """What the plot and the front read as p50: end to end where known, else the call."""
        return self.end_to_end_p50_ms if self.end_to_end_p50_ms is not None else self.p50_ms

    @property
    def query_p95_ms(self) -> float | None:
        return self.end_to_end_p95_ms if self.end_to_end_p95_ms is not None else self.p95_ms

    @property
    def memory_mib(self) -> float | None:
        """The row's own memory: weights + activations + index (None without weights)."""
        if self.weights_mib is None:  # BM25's are 0: an index and no weights
            return None
        parts = (self.weights_mib, self.activations_mib, self.index_size_mib)
        return sum(part for part in parts if part is not None)

    def axis(self, name: str) -> float | None:
        """The row's value on a latency axis (`AXES`)."""
        values = {
            "p50": self.query_p50_ms,
            "p95": self.query_p95_ms,
            "throughput": self.throughput,
            "memory": self.memory_mib,
            "qps": self.max_qps,
        }
        if name not in values:
            raise UserError(f"--x {name}: choose one of {', '.join(AXES)}")
        return values[name]

    def to_dict(self) -> JsonObject:
        record: JsonObject = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        record.pop("per_query")
        return copy.deepcopy(record)


def artifact_of(row: Row) -> Artifact:
    """The (backend, precision) a row measured: its cell's, else its evaluation's.

    >>> artifact_of(Row("m", quality_from="onnx:int8")), artifact_of(Row("bm25", arch="bm25"))
    (('onnx', 'int8'), ('bm25s', 'fp32'))
    """
    if row.backend:
        return row.backend, row.precision or "fp32"
    if is_bm25(row.arch or "") or row.quality_from == BM25_ARTIFACT[0]:
        return BM25_ARTIFACT
    backend, _, precision = (row.quality_from or "eager").partition(":")
    return backend, precision or "fp32"


def display_labels(rows: list[Row]) -> list[str]:
    """Each row as `model · backend · precision`, the way every compact table and the
    conclusion name it; rows that would share a name get what tells them apart (device,
    scenario, batch, seq, depth, passages searched). Published rows keep their source.

    >>> display_labels([Row("m", backend="onnx", precision="int8"), Row("bm25", arch="bm25")])
    ['m · onnx · int8', 'bm25 · bm25s · fp32']
    """
    names = []
    for row in rows:
        if row.reference:
            names.append(f"{row.label} ({row.reference})")
            continue
        backend, precision = artifact_of(row)
        names.append(f"{row.label} · {backend} · {precision}")
    shared: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        shared.setdefault(name, []).append(index)
    for indices in shared.values():
        if len(indices) < 2:
            continue
        group = [rows[i] for i in indices]
        for i in indices:
            names[i] += "".join(
                f" · {words}" for words, values in _telling_apart(rows[i], group) if values
            )
    return names


def _telling_apart(row: Row, group: list[Row]) -> list[tuple[str, bool]]:
    """(words for `row`, whether the field differs within `group`) for each part of a cell."""
    parts: list[tuple[str, Any]] = [
        (row.device, lambda r: r.device),
        (row.scenario, lambda r: r.scenario),
        (f"batch {row.batch_size}", lambda r: r.batch_size),
        (f"seq {row.seq_len}", lambda r: r.seq_len),
        (f"depth {row.depth}", lambda r: r.depth),
        (f"{row.index_size:,} passages" if row.index_size else "", lambda r: r.index_size),
        (row.search or "exact", lambda r: r.search),
    ]
    return [(words, len({get(r) for r in group}) > 1) for words, get in parts]


def artifact_name(backend: str, precision: str) -> str:
    """How a row names the artifact its quality came from: "eager", "onnx:int8", "bm25s".

    >>> artifact_name("eager", "fp32"), artifact_name("onnx", "int8")
    ('eager', 'onnx:int8')
    """
    return backend if precision == "fp32" else f"{backend}:{precision}"


def label_of(config: Mapping[str, object]) -> str:
    """The display name of a model in a result: an explicit label, else the model's name."""
    label = config.get("label") or config.get("model") or "model"
    text = str(label)
    return Path(text).name if "/" in text and Path(text).exists() else text


def evaluate_row(result: EvaluateResult) -> Row:
    """A row holding one evaluation's quality (no latency), named by its artifact."""
    settings = result.settings
    backend, precision = settings.artifact
    first_stage = result.first_stage.method if result.first_stage is not None else ""
    usual = (backend, precision) in (("eager", "fp32"), BM25_ARTIFACT)
    return Row(
        label=label_of(settings.config),
        arch=settings.arch or ("bm25" if backend == BM25_ARTIFACT[0] else ""),
        teacher=settings.teacher,
        parameters=settings.parameters,
        metrics=dict(result.metrics),
        quality_from=artifact_name(backend, precision),
        quality_elsewhere=settings.quality_elsewhere,
        first_stage=(first_stage or str(settings.first_stage.get("method") or ""))
        if settings.reranked
        else "",
        never_run=settings.never_run,
        # a row without a cell names its artifact unless it is the usual one (eager, bm25s)
        backend="" if usual else backend,
        precision="" if usual else precision,
        per_query={measure: dict(values) for measure, values in (result.per_query or {}).items()},
    )


@dataclass
class _Catalog:
    """What a report's results hold: evaluations by label and artifact, profiles in order."""

    evaluations: dict[str, dict[Artifact, Row]] = field(default_factory=dict)
    profiles: list[tuple[str, Mapping[str, object]]] = field(default_factory=list)
    references: list[Row] = field(default_factory=list)

    def add_evaluation(
        self, result: EvaluateResult, model: Mapping[str, object] | None = None
    ) -> None:
        row = evaluate_row(result)
        if model is not None:  # a run's entry names the row and what was trained
            row.label = str(model["label"])
            row.arch = str(model.get("arch", row.arch))
            row.teacher = str(model.get("teacher", row.teacher))
            parameters = model.get("parameters", row.parameters)
            row.parameters = parameters if isinstance(parameters, int) else None
        self.evaluations.setdefault(row.label, {})[result.settings.artifact] = row

    def add(self, result: Mapping[str, object]) -> None:
        kind = result.get("kind")
        if kind == "evaluate":
            self.add_evaluation(EvaluateResult.from_dict(result))
        elif kind == "profile":
            config = result.get("config")
            self.profiles.append((label_of(config if isinstance(config, Mapping) else {}), result))
        elif kind == "run":
            for model in run_models(result):
                for evaluation in run_evaluations(model):
                    self.add_evaluation(evaluation, model)
                profile = model.get("profile")
                if isinstance(profile, Mapping):
                    self.profiles.append((str(model["label"]), profile))
            references = result.get("references")
            if isinstance(references, list):
                self.references.extend(Row(**r) for r in references if isinstance(r, dict))

    def identity(self, label: str, profile: ProfileResult) -> Row:
        """The model's name, architecture, teacher and size, from any of its evaluations."""
        found = self.evaluations.get(label, {})
        source = found.get(("eager", "fp32")) or next(iter(found.values()), None)
        if source is None:
            return Row(label=label, arch=str(profile.header.config.get("arch") or ""))
        return Row(label, source.arch, source.teacher, source.parameters)


def run_models(result: Mapping[str, object]) -> list[Mapping[str, object]]:
    """The entries of a run result's "models" (each a model's label, evaluations, profile)."""
    models = result.get("models")
    return [m for m in models if isinstance(m, Mapping)] if isinstance(models, list) else []


def run_evaluations(model: Mapping[str, object]) -> list[EvaluateResult]:
    """A run entry's evaluations: its own (`evaluate`), then those through other backends."""
    through = model.get("backend_evaluations")
    found = [model.get("evaluate"), *(through if isinstance(through, list) else [])]
    return [EvaluateResult.from_dict(e) for e in found if isinstance(e, Mapping) and e]


def profiles_of(results: Iterable[Mapping[str, object]]) -> list[tuple[str, Mapping[str, object]]]:
    """(label, profile result) of every profile among `results`, labelled as its rows are."""
    catalog = _Catalog()
    for result in results:
        catalog.add(result)
    return catalog.profiles


def rows_from_results(
    results: Iterable[Mapping[str, object]], *, metric: str = "nDCG@10", x: str = "p50"
) -> list[Row]:
    """Rows of every profiled cell (with the quality of its own artifact), then evaluations
    no cell timed, then published references; Pareto-marked on `metric` against `x`."""
    catalog = _Catalog()
    for result in results:
        catalog.add(result)
    rows: list[Row] = []
    shown: set[tuple[str, Artifact]] = set()
    for label, data in catalog.profiles:
        profile = ProfileResult.from_dict(data)
        evaluations = catalog.evaluations.get(label, {})
        for row, used in profile_rows(profile, catalog.identity(label, profile), evaluations):
            rows.append(row)
            if used is not None:
                shown.add((label, used))
        rows.extend(baseline_rows(profile, label))
    for label, evaluations in catalog.evaluations.items():
        rows.extend(row for artifact, row in evaluations.items() if (label, artifact) not in shown)
    rows.extend(catalog.references)
    add_first_stage(rows)
    mark_pareto(rows, metric, x)
    return rows


def quality_for(cell: Cell, evaluations: dict[Artifact, Row]) -> tuple[Row | None, bool]:
    """The evaluation whose quality a cell shows, and whether it is reused from eager.

    Its own artifact's evaluation; else, for an fp32 cell of a backend that computes eager's
    scores (`kdbench.backends.evaluated_apart`) that passed parity, eager's; else none.
    """
    own = evaluations.get((cell.backend, cell.precision))
    if own is not None:
        return own, False
    eager = evaluations.get(("eager", "fp32"))
    if eager is None or cell.parity is None or not cell.parity.passed:
        return None, False

    if cell.backend not in BACKENDS or evaluated_apart(cell.backend, cell.precision):
        return None, False
    return eager, True


def profile_rows(
    profile: ProfileResult, base: Row, evaluations: dict[Artifact, Row] | None = None
) -> list[tuple[Row, Artifact | None]]:
    """One row per cell of a profile result on top of `base` (the model's identity), each
    with the quality of its own artifact, and which evaluation that was (None: no quality)."""
    rows = []
    device = str(profile.header.config.get("device") or "")
    for cell in profile.cells:
        row = Row(
            base.label, base.arch, base.teacher, base.parameters, baseline_for=base.baseline_for
        )
        quality, reused = quality_for(cell, evaluations or {})
        if quality is not None:
            row.metrics, row.per_query = dict(quality.metrics), quality.per_query
            row.quality_from, row.quality_reused = quality.quality_from, reused
            row.quality_elsewhere = quality.quality_elsewhere
            row.first_stage = quality.first_stage
        row.backend, row.precision, row.scenario = cell.backend, cell.precision, cell.scenario
        row.device = cell.device or device
        row.batch_size, row.seq_len, row.depth = cell.batch_size, cell.seq_len, cell.depth
        row.index_size = cell.index_size
        row.search = str((cell.search or {}).get("method") or "")
        _add_measurements(row, cell, profile)
        used = (
            None
            if quality is None
            else ("eager", "fp32")
            if reused
            else (cell.backend, cell.precision)
        )
        rows.append((row, used))
    return rows


def _add_measurements(row: Row, cell: Cell, profile: ProfileResult) -> None:
    """The cell's latency (with intervals), throughput, memory, FLOP share and verdicts."""

    if cell.latency is not None:
        row.p50_ms, row.p95_ms, row.samples = cell.latency.p50, cell.latency.p95, cell.latency.n
        row.undersampled = [f"p{p}" for p in undersampled(cell.latency.n, (50, 95))]
        samples = (cell.samples_ns or {}).get("total")
        if samples:
            for name, percentile in (("p50_ci_ms", 50), ("p95_ci_ms", 95)):
                interval = percentile_interval(samples, percentile)
                setattr(row, name, None if interval is None else list(interval))
    row.throughput = cell.throughput.items_per_s if cell.throughput else None
    memory = cell.memory
    if memory is not None:
        row.peak_memory_mib = memory.peak_mib()
        row.weights_mib, row.activations_mib = memory.weights_mib, memory.activations_mib
    row.index_size_mib = _index_size_mib(cell)
    if cell.flops is not None:
        row.peak_from = cell.flops.peak_from
        # older results divided by torch's fp32 matmul alone, which ONNX Runtime's GEMM and
        # every int8 kernel beat: that share is not a fraction of this machine's peak
        if " GEMM " in cell.flops.peak_from:
            row.fraction_of_peak = cell.flops.fraction_of_peak
    row.parity = cell.parity.text() if cell.parity else ""
    row.never_run = cell.never_run or ""
    row.includes = includes(row, profile.scenario or {})
    recall = (cell.search or {}).get(f"recall@{cell.depth}")
    if recall is not None:  # what the approximate search cost in quality
        row.includes += f", recall@{cell.depth} {recall:.3f} vs exact"
    if cell.vs_baseline is not None:
        row.p50_vs_baseline = cell.vs_baseline.p50_ratio
        row.throughput_vs_baseline = cell.vs_baseline.throughput_ratio
    if cell.serving is not None:
        _add_serving(row, cell.serving, profile)


def _add_serving(row: Row, serving: dict[str, Any], profile: ProfileResult) -> None:
    """A server cell's answer: the highest valid QPS under its bound, the machine, the curve."""
    settings = serving.get("settings", {})
    batching = (
        f"batch<={settings.get('max_batch', 1)}, wait {settings.get('max_wait_ms', 0):g} ms"
        if settings.get("max_batch", 1) > 1
        else "batch 1"
    )
    row.includes += (
        f"; {serving.get('load')} load, {settings.get('workers', 1)} worker(s), {batching}, "
        "latency from scheduled arrival"
    )
    search = serving.get("search")
    if search is None:
        return
    row.qps_bound = serving.get("bound") or ""
    row.max_qps = search.get("max_valid_qps")
    cpu = (profile.header.environment or {}).get("cpu") or {}
    cores = ((profile.header.environment or {}).get("threads") or {}).get("cores")
    model = cpu.get("model") if isinstance(cpu, dict) else str(cpu)
    row.qps_machine = ", ".join(
        str(part) for part in (model, f"{cores} cores" if cores else None) if part
    )
    row.qps_curve = [
        [level["target_qps"], (level.get("latency_ms") or {}).get("p99"), level["valid"]]
        for level in sorted(search.get("levels", []), key=lambda level: level["target_qps"])
    ]


def includes(row: Row, scenario: Mapping[str, object]) -> str:
    """What a row's latency covers, in words (the first stage is added by `add_first_stage`)."""
    if row.arch in FIRST_STAGE_ARCHS:
        return f"BM25 top {row.depth} for one query"
    if scores_candidates(row):
        return f"encode {row.batch_size} query + score its {row.depth} candidates (pre-encoded)"
    if row.scenario == "query" and row.index_size is not None:
        searched = f"search top {row.depth} of {row.index_size:,} passages"
        searched += f" ({row.search}, approximate)" if row.search else ""
        return f"encode {row.batch_size} query + {searched}"
    if row.scenario == "query":
        return f"encode {row.batch_size} query + search top {row.depth} ({scenario.get('index', 'index')})"
    if row.scenario == "rerank":
        return f"re-rank {row.depth} candidates of one query"
    if row.scenario == "index":
        return f"encode {row.batch_size} passages"
    return row.scenario


def _index_size_mib(cell: Cell) -> float | None:
    """The index or cache the cell reads: the profiler's, else a foreign result's key."""
    if cell.memory is not None and cell.memory.index_mib is not None:
        return cell.memory.index_mib
    index = cell.extra.get("index")
    index_bytes = cell.extra.get("index_size_bytes") or (
        index.get("bytes") if isinstance(index, dict) else None
    )
    return index_bytes / 2**20 if isinstance(index_bytes, int | float) else None


def scores_candidates(row: Row) -> bool:
    """A dense row evaluated re-ranking BM25's candidates and timed on exactly as many
    passages as it re-ranks: encode the query, score its candidates' pre-encoded vectors."""
    return row.scenario == "query" and row.first_stage == "bm25" and row.index_size == row.depth


def add_first_stage(rows: list[Row]) -> None:
    """End-to-end latency: BM25 rows and dense retrieval as timed; a re-ranker of BM25's
    candidates (a cat's re-rank, or a dense model scoring its candidates) adds the profiled
    BM25 row of the same depth (first stage + re-rank)."""
    bm25 = {r.depth: r for r in rows if r.arch in FIRST_STAGE_ARCHS and r.p50_ms is not None}
    for row in rows:
        if row.p50_ms is None or row.reference:
            continue
        if row.arch in FIRST_STAGE_ARCHS or (
            row.scenario == "query" and not scores_candidates(row)
        ):
            row.end_to_end_p50_ms, row.end_to_end_p95_ms = row.p50_ms, row.p95_ms
            continue
        first = bm25.get(row.depth)
        reranks = row.scenario == "rerank" and row.first_stage in ("", "bm25")
        if not (reranks or scores_candidates(row)) or first is None:
            continue
        assert first.p50_ms is not None and first.p95_ms is not None and row.p95_ms is not None
        row.first_stage_p50_ms, row.first_stage_p95_ms = first.p50_ms, first.p95_ms
        row.end_to_end_p50_ms = first.p50_ms + row.p50_ms
        row.end_to_end_p95_ms = first.p95_ms + row.p95_ms
        row.includes = f"BM25 top {row.depth} + {row.includes}"


def baseline_label(label: str, arch: str) -> str:
    """The same weights timed as another architecture must not read as another model."""
    return f"{label} as {arch or '?'} (baseline)"


def baseline_rows(profile: ProfileResult, label: str) -> list[Row]:
    """Rows of the baseline nested in a profile result (none without one).

    Quality is not joined: an evaluation of `label` scored its own architecture, not this one.
    """
    baseline = profile.baseline
    if baseline is None:
        return []
    arch = str(baseline.header.config.get("arch") or "")
    base = Row(label=baseline_label(label, arch), arch=arch, baseline_for=label)
    return [row for row, _ in profile_rows(baseline, base)]


def mark_pareto(rows: list[Row], metric: str = "nDCG@10", x: str = "p50") -> None:
    """Mark rows no other row beats on both quality (higher) and `x` (lower; throughput:
    higher). Only measured rows with quality of their own artifact and parity take part."""
    sign = -1.0 if x in HIGHER_IS_BETTER else 1.0
    candidates = [
        (r, sign * value, r.metrics[metric])
        for r in rows
        if not r.reference
        and (value := r.axis(x)) is not None
        and metric in r.metrics
        and r.parity in ("", "passed")
    ]
    for row in rows:
        row.pareto = False
    for row, cost, quality in candidates:
        row.pareto = not any(
            q >= quality and c <= cost and (q > quality or c < cost) for _, c, q in candidates
        )


def _checked(path: Path) -> JsonObject:
    """A result file whose evaluations read as EvaluateResults: a value of the wrong type
    names the file here, not later from inside the report."""
    result = load_result(path)
    try:
        if result.get("kind") == "evaluate":
            EvaluateResult.from_dict(result)
        elif result.get("kind") == "run":
            for model in run_models(result):
                run_evaluations(model)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
    return result


def load_results(paths: Iterable[str | Path]) -> list[JsonObject]:
    """Read result files; a folder means its results.json, else every *.json in it."""
    results: list[JsonObject] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            summary = path / "results.json"
            files = [summary] if summary.exists() else sorted(path.rglob("*.json"))
            if not files:
                raise UserError(
                    f"{path}: no result JSON here; run `kdbench run` or pass result files"
                )
            results.extend(_checked(f) for f in files)
        elif path.exists():
            results.append(_checked(path))
        else:
            raise UserError(
                f"{path}: no such file or folder; pass result JSON files or a results folder"
            )
    return results
