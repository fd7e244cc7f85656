"""Settings of one `kdbench profile` run, validated up front (light: no torch import)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import Field, asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdbench.backends import devices, parse_backend_list, precisions
from kdbench.backends.onnx.config import OPSET_MAX, OPSET_MIN, PROVIDERS, graph_problem
from kdbench.errors import UserError
from kdbench.evaluate.config import EvaluateConfig
from kdbench.json_types import JsonObject
from kdbench.options import (
    PATH,
    SEED_MAX,
    THREADS_MAX,
    Fixed,
    ModelLoading,
    Timing,
    architecture_names,
    backend_variant_names,
    canonicalize,
    check_ranges,
    default_of,
    field_of,
    flag_name,
    option,
    precision_names,
    reuse,
)
from kdbench.profile.registry import (
    LOADS,
    SCENARIOS,
    profile_scenarios,
    scenarios_help,
)
from kdbench.quantities import (
    QuantityError,
    parse_duration_ms,
    parse_duration_s,
    parse_rate_per_s,
    parse_size_list,
    parse_small_size_list,
    quantity_error,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from kdbench.profile.serving import Bound

SEARCHES = ("exact", "hnsw")  # how the query scenario searches its index
APPROXIMATE_SEARCHES = frozenset({"hnsw"})  # recall against exact search is measured


# Settings only some scenarios read (a load, server or offline, also reads those of the
# scenario it serves; `--model bm25` times "retrieve"). Set away from its default for a run
# of none of them, a setting is refused by name (`check_read`), never silently ignored.
READ_BY: dict[str, tuple[str, ...]] = {
    "depths": ("query", "rerank", "retrieve"),
    "doc_len": ("query", "rerank"),
    "index_size": ("query",),
    "search": ("query",),
    "index_dir": ("query",),
    "qps": ("server",),
    "bound": ("server",),
    "p99_bound": ("server",),
    "max_wait_ms": ("server",),
    "min_queries": ("server",),
    "search_budget_s": ("server",),
    "max_batch": ("server", "offline"),
    "workers": ("server", "offline"),
    "min_query_duration_s": ("server", "offline"),
}


def unread_settings(settings: DataclassInstance, scenarios: Collection[str]) -> list[str]:
    """The settings of `settings` set away from their defaults that none of `scenarios` reads."""
    return [
        f.name
        for f in fields(settings)
        if f.name in READ_BY
        and not set(READ_BY[f.name]) & set(scenarios)
        and getattr(settings, f.name) != default_of(f)
    ]


def check_read(
    settings: DataclassInstance,
    scenarios: Collection[str],
    where: Callable[[Field[object]], str] = flag_name,
) -> None:
    """A UserError naming the first setting none of `scenarios` reads (`READ_BY`), and which do."""
    unread = unread_settings(settings, scenarios)
    if not unread:
        return
    name = unread[0]
    readers = READ_BY[name]
    hint = next((f" or pass --scenario {s}" for s in readers if s in profile_scenarios()), "")
    raise UserError(
        f"{where(field_of(type(settings), name))}: only the {_words(readers)} "
        f"scenario{'s read' if len(readers) > 1 else ' reads'} it, and this profile times "
        f"{_words(scenarios)}; drop it{'' if 'retrieve' in scenarios else hint}"
    )


def _words(items: Collection[str]) -> str:
    """'a', 'a and b', 'a, b and c' (BM25's "retrieve" says whose it is)."""
    *rest, last = [f"{item} (BM25)" if item == "retrieve" else item for item in items]
    return f"{', '.join(rest)} and {last}" if rest else last


def index_sizes(value: int | Sequence[int] | None) -> tuple[int, ...] | None:
    """One size or a list of them as the sizes to time, in order (a library caller's
    `index_size=1000`).

    >>> index_sizes(1000), index_sizes([1000, 5000]), index_sizes(None)
    ((1000,), (1000, 5000), None)
    """
    if value is None:
        return None
    return (value,) if isinstance(value, int) else tuple(value)


def _rate(text: str, option: str) -> float:
    try:
        return parse_rate_per_s(text)
    except QuantityError as error:
        raise UserError(quantity_error(option, error)) from None


def _duration_ms(text: str, option: str) -> float:
    try:
        return parse_duration_ms(text)
    except QuantityError as error:
        raise UserError(quantity_error(option, error)) from None


def _seconds(text: str, option: str) -> float:
    """A duration in seconds: `10` (seconds, as the field's name says), `10s`, `500ms`."""
    try:
        return parse_duration_s(text)
    except QuantityError as error:
        raise UserError(quantity_error(option, error)) from None


def _backend_list(text: str) -> tuple[tuple[str, str | None], ...]:

    return tuple(parse_backend_list(text))


def _precision_list(text: str) -> tuple[str, ...]:
    return tuple(p.strip().lower() for p in text.split(",") if p.strip()) or ("fp32",)


def _sizes(
    default: tuple[int, ...] | None, flag: str, help: str, small: bool = True, **more: Any
) -> Any:
    """A comma list of sizes (batch sizes, lengths, depths, index sizes) spelled `flag`, each
    in the quantity grammar (`kdbench.quantities`: 32, 1k, 8.8M). `small`: counts nobody writes
    with thousands commas, so `10,100` is two items; otherwise that spelling is refused."""
    parse = parse_small_size_list if small else parse_size_list
    return option(default, help=help, minimum=1, cli={"flag": flag, "parse": parse}, **more)


@dataclass(frozen=True)
class ProfileConfig(ModelLoading, Timing):
    """Everything `run_profile` needs; `None` means "the scenario's default" where noted."""

    model: str = option(
        help="Checkpoint folder, hub id, all-MiniLM-L6-v2, or bm25 (the first stage: per-query "
        "latency on its bm25s index; needs --data).",
        cli=PATH,
    )
    baseline_arch: str | None = option(
        None,
        help="Also time --model as another arch that shares its weights, alternating with it cell "
        "by cell; its result is nested under `baseline`, ratios under `vs_baseline`.",
        choices=architecture_names,
    )
    scenario: str | None = option(
        None,
        help=lambda: (
            f"{scenarios_help()} Or a load: server (that scenario under Poisson "
            "traffic: --qps, --max-batch, --bound) or offline (every query at once)."
        ),
        choices=profile_scenarios,
    )
    backends: tuple[tuple[str, str | None], ...] = option(
        (("eager", None),),
        help="Comma list of {choices}; NAME:PRECISION pins one (onnx:int8). Default: eager.",
        choices=backend_variant_names,
        cli={"flag": "--backend", "parse": _backend_list},
    )
    precisions: tuple[str, ...] = option(
        ("fp32",),
        help="Comma list of {choices} for backends without :PRECISION. Default: fp32.",
        choices=precision_names,
        cli={"flag": "--precision", "parse": _precision_list},
    )
    device: str = reuse(ModelLoading, "device", help="cpu, cuda or cuda:N.")
    batch_sizes: tuple[int, ...] | None = _sizes(
        None,
        "--batch-size",
        "Comma list of items per timed call (index: passages; query: queries; rerank: the "
        "queries or pairs its architecture scores at once). Default: the scenario's.",
    )
    seq_lens: tuple[int, ...] | None = _sizes(
        None,
        "--seq-len",
        "Comma list of tokens per timed input, padded exactly (a pair: query + passage). "
        "Default: the scenario's.",
    )
    depths: tuple[int, ...] = _sizes(
        (100,),
        "--depth",
        "Comma list. rerank: candidates per query; query: hits searched. Default: 100.",
        aliases=("depth",),
    )
    data: str | None = option(
        None,
        help="Collection folder or ir_datasets id for real text and qrels. Without it: "
        "synthetic text.",
        cli=PATH,
    )
    split: str | None = option("test", help="Query split of --data.")
    doc_len: int | None = option(
        None,
        help="Tokens of pre-encoded passages (the query scenario's index, a re-ranker's cached "
        "passage vectors; cached passage states follow --seq-len). Default: the model's.",
        minimum=3,
    )
    index_size: tuple[int, ...] | None = _sizes(
        None,
        "--index-size",
        small=False,
        help="query: passages in the searched index (50000 or 50k), or a comma list to time each "
        "(1k,5k,20k: cells per size, for growth fits); past the collection its vectors "
        "repeat. Default: the whole collection.",
    )
    search: str = option(
        "exact",
        help="query: exact (every index row) or hnsw (faiss's HNSW graph, approximate; its "
        "recall against exact search is recorded; needs faiss-cpu).",
        choices=lambda: Fixed(SEARCHES),
    )
    compile: bool = option(False, help="eager: torch.compile the module.")
    threads: int | None = option(
        None,
        help="Intra-op threads for torch and ONNX Runtime (default: torch's).",
        minimum=1,
        maximum=THREADS_MAX,
    )
    parity_queries: int = option(20, help="Queries in the parity check.", minimum=1)
    parity_depth: int = option(100, help="Candidates per parity query.", minimum=1)
    opset: int = option(17, help="ONNX opset of the export.", minimum=OPSET_MIN, maximum=OPSET_MAX)
    onnx_model: Path | None = option(
        None, help="Run this ONNX graph instead of exporting (it still faces the parity gate)."
    )
    onnx_fusion: bool | None = option(
        None,
        help="ORT transformer fusions (default: on for GPU, off for CPU).",
        cli={"flag": "--onnx-fusion/--no-onnx-fusion"},
    )
    onnx_provider: str | None = option(None, help="cpu, cuda or tensorrt (default: from --device).")
    cache_dir: Path | None = option(
        None, help="Exports and engines (default: $KDBENCH_CACHE or ~/.cache/kdbench)."
    )
    seed: int = option(
        0, help="Seed for synthetic text and sampled candidates.", minimum=0, maximum=SEED_MAX
    )
    calibration_size: int = reuse(EvaluateConfig, "calibration_size")
    calibration_split: str = reuse(EvaluateConfig, "calibration_split")
    qps: float | None = option(
        None,
        help="server: queries/s of the Poisson load (100 or 100/s); with --bound, where the "
        "search starts (default: half of what one call's time allows).",
        above=0,
        cli={"parse": lambda text: _rate(text, "--qps")},
    )
    bound: str | None = option(
        None,
        help="server: search the highest QPS whose PERCENTILE stays within a latency, e.g. "
        "p99<=50ms or p95<=20ms (MLPerf's validity rules; docs/serving.md).",
    )
    p99_bound: str | None = option(
        None,
        help="server: --bound p99<=THIS, e.g. 50ms.",
    )
    max_batch: int = option(
        1, help="server/offline: queries per model call at most (dynamic batching).", minimum=1
    )
    max_wait_ms: float = option(
        0.0,
        help="server: how long a query may wait for others to batch with (5ms; 0: none).",
        minimum=0,
        cli={"parse": lambda text: _duration_ms(text, "--max-wait-ms")},
    )
    workers: int = option(
        1,
        help="server/offline: model workers; each gets cores/workers threads unless --threads "
        "(workers x threads must fit the cores).",
        minimum=1,
    )
    min_queries: int = option(
        1024,
        help="server: queries per level at least (MLPerf: 270,336, then early stopping).",
        minimum=1,
    )
    min_query_duration_s: float = option(
        10.0,
        help="server: seconds per level at least (MLPerf: 600); offline: seconds of work.",
        minimum=0,
        cli={
            "flag": "--min-query-duration",
            "parse": lambda text: _seconds(text, "--min-query-duration"),
        },
    )
    search_budget_s: float = option(
        300.0,
        help="server with a bound: the search's wall time at most (a level begun finishes).",
        above=0,
        cli={"flag": "--search-budget", "parse": lambda text: _seconds(text, "--search-budget")},
    )
    index_dir: str | None = reuse(
        EvaluateConfig,
        "index_dir",
        help="query: search the passage vectors `kdbench evaluate --index-dir DIR` saved for "
        "this model and --data (refused for another), instead of encoding them.",
    )
    bm25_k1: float = reuse(EvaluateConfig, "bm25_k1")
    bm25_b: float = reuse(EvaluateConfig, "bm25_b")
    extra: dict[str, Any] = option(
        default_factory=dict, help="Free-form provenance.", cli={"hidden": True}
    )

    def __post_init__(self) -> None:

        if isinstance(self.index_size, int | list):  # one size, or a profile's list
            object.__setattr__(self, "index_size", index_sizes(self.index_size))
        check_ranges(self, flag_name)
        canonicalize(self, "arch", "baseline_arch", "search")

        if self.scenario is not None and self.scenario not in LOADS:
            SCENARIOS.canonical(self.scenario)
        self.serving_bound()  # a bad --bound fails here, before any work
        if self.device.split(":")[0] not in devices():
            raise UserError(f"--device {self.device!r}: use {', '.join(devices())} or cuda:N")
        for precision in (*self.precisions, *(p for _, p in self.backends if p)):
            if precision not in precisions():
                raise UserError(f"precision {precision!r}: choose one of {', '.join(precisions())}")
        if self.max_duration_s < self.min_duration_s:
            raise UserError(
                f"--max-duration {self.max_duration_s}: must be at least --min-duration "
                f"{self.min_duration_s}"
            )
        if self.onnx_model is not None and not Path(self.onnx_model).is_file():
            raise UserError(
                f"--onnx-model {self.onnx_model}: no such file; pass an exported .onnx graph"
            )
        if self.onnx_model is not None:
            problem = graph_problem(self.onnx_model)
            if problem is not None:
                raise UserError(
                    f"--onnx-model {self.onnx_model}: ONNX Runtime cannot load it ({problem}); "
                    "pass a graph kdbench export or kdbench profile wrote"
                )
        if self.index_dir is not None and not self.data:  # before the model loads
            raise UserError(
                f"--index-dir {self.index_dir}: needs --data, the collection the index was built from"
            )
        if self.cache_dir is not None and Path(self.cache_dir).is_file():
            raise UserError(
                f"--cache-dir {self.cache_dir}: is a file; pass a folder for exports and engines"
            )
        if self.onnx_provider is not None and self.onnx_provider not in PROVIDERS:
            raise UserError(
                f"--onnx-provider {self.onnx_provider!r}: choose {', '.join(PROVIDERS)}"
            )

    @property
    def is_load(self) -> bool:
        """A load scenario (server, offline): the model serves queries under traffic."""
        return self.scenario in LOADS

    def serving_bound(self) -> Bound | None:
        """--bound / --p99-bound as a `kdbench.profile.serving.Bound` (None: none)."""
        from kdbench.profile.serving import parse_bound

        if self.bound is not None and self.p99_bound is not None:
            raise UserError("--bound and --p99-bound both set; keep one")
        if self.p99_bound is not None:
            return parse_bound(f"p99<={self.p99_bound}", "--p99-bound")
        if self.bound is not None:
            return parse_bound(self.bound, "--bound")
        return None

    def baseline(self) -> ProfileConfig | None:
        """The same profile of the same model built as `baseline_arch` (None: no baseline)."""
        if self.baseline_arch is None:
            return None
        return replace(self, arch=self.baseline_arch, split_layer=None, baseline_arch=None)

    def variants(self) -> list[tuple[str, str]]:
        """(backend, precision) pairs to profile, in the order given."""
        pairs: list[tuple[str, str]] = []
        for name, precision in self.backends:
            for chosen in (precision,) if precision else self.precisions:
                if (name, chosen) not in pairs:
                    pairs.append((name, chosen))
        return pairs

    def to_dict(self) -> JsonObject:
        record = asdict(self)
        for key in ("onnx_model", "cache_dir"):
            record[key] = str(record[key]) if record[key] is not None else None
        record["backends"] = [
            f"{name}:{precision}" if precision else name for name, precision in self.backends
        ]
        return record
