"""Settings of one `kdbench profile` run, validated up front (light: no torch import)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from kdbench.backends import devices, parse_backend_list, precisions
from kdbench.backends.onnx.config import PROVIDERS
from kdbench.errors import UserError
from kdbench.evaluate.config import EvaluateConfig
from kdbench.options import (
    SEED_MAX,
    Fixed,
    ModelLoading,
    Timing,
    architecture_names,
    backend_names,
    canonicalize,
    check_ranges,
    flag_name,
    option,
    precision_names,
    reuse,
)
from kdbench.profile.registry import SCENARIOS, scenario_names, scenarios_help

SEARCHES = ("exact", "hnsw")  # how the query scenario searches its index
APPROXIMATE_SEARCHES = frozenset({"hnsw"})  # recall against exact search is measured


def parse_int_list(text: str | None, option: str) -> tuple[int, ...] | None:
    """ "1,8,32" -> (1, 8, 32); errors name the option and the bad item (the field's declared
    range is checked with the others)."""
    if text is None:
        return None
    values = []
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        try:
            value = int(item)
        except ValueError:
            raise UserError(
                f"{option} {text!r}: {item!r} is not a whole number; write e.g. {option} 1,8,32"
            ) from None
        if value not in values:
            values.append(value)
    if not values:
        raise UserError(f"{option} {text!r} names no value; write e.g. {option} 1,8,32")
    return tuple(values)


def index_sizes(value: int | Sequence[int] | None) -> tuple[int, ...] | None:
    """A profile's `index_size` (one size or a list) as the sizes to time, in order.

    >>> index_sizes(1000), index_sizes([1000, 5000]), index_sizes(None)
    ((1000,), (1000, 5000), None)
    """
    if value is None:
        return None
    return (value,) if isinstance(value, int) else tuple(value)


def _backend_list(text: str) -> tuple[tuple[str, str | None], ...]:

    return tuple(parse_backend_list(text))


def _precision_list(text: str) -> tuple[str, ...]:
    return tuple(p.strip().lower() for p in text.split(",") if p.strip()) or ("fp32",)


def _int_list(option_name: str) -> Callable[[str], tuple[int, ...] | None]:
    return lambda text: parse_int_list(text, option_name)


def _sizes(default: tuple[int, ...] | None, flag: str, help: str) -> Any:
    """A comma list of positive whole numbers (batch sizes, lengths, depths) spelled `flag`."""
    return option(default, help=help, minimum=1, cli={"flag": flag, "parse": _int_list(flag)})


@dataclass(frozen=True)
class ProfileConfig(ModelLoading, Timing):
    """Everything `run_profile` needs; `None` means "the scenario's default" where noted."""

    model: str = option(
        help="Checkpoint folder, hub id, all-MiniLM-L6-v2, or bm25 (the first stage: per-query "
        "latency on its bm25s index; needs --data)."
    )
    baseline_arch: str | None = option(
        None,
        help="Also time --model as another arch that shares its weights, alternating with it cell "
        "by cell; its result is nested under `baseline`, ratios under `vs_baseline`.",
        choices=architecture_names,
    )
    scenario: str | None = option(
        None,
        help=scenarios_help,
        choices=scenario_names,
    )
    backends: tuple[tuple[str, str | None], ...] = option(
        (("eager", None),),
        help="Comma list of {choices}; NAME:PRECISION pins one (onnx:int8). Default: eager.",
        choices=backend_names,
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
    )
    data: str | None = option(
        None,
        help="Collection folder or ir_datasets id for real text and qrels. Without it: "
        "synthetic text.",
    )
    split: str | None = option("test", help="Query split of --data.")
    doc_len: int | None = option(
        None,
        help="Tokens of pre-encoded passages (the query scenario's index, a re-ranker's cached "
        "passage vectors; cached passage states follow --seq-len). Default: the model's.",
        minimum=3,
    )
    index_size: tuple[int, ...] | None = option(
        None,
        help="query: passages in the searched index, or a comma list to time each "
        "(1000,5000,20000: cells per size, for growth fits); past the collection its vectors "
        "repeat. Default: the whole collection.",
        minimum=1,
        cli={"parse": _int_list("--index-size")},
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
    )
    parity_queries: int = option(20, help="Queries in the parity check.", minimum=1)
    parity_depth: int = option(100, help="Candidates per parity query.", minimum=1)
    opset: int = option(17, help="ONNX opset of the export.", minimum=7)  # torch's oldest
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

        if self.scenario is not None:
            SCENARIOS.canonical(self.scenario)
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
        if self.onnx_provider is not None and self.onnx_provider not in PROVIDERS:
            raise UserError(
                f"--onnx-provider {self.onnx_provider!r}: choose {', '.join(PROVIDERS)}"
            )

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

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        for key in ("onnx_model", "cache_dir"):
            record[key] = str(record[key]) if record[key] is not None else None
        record["backends"] = [
            f"{name}:{precision}" if precision else name for name, precision in self.backends
        ]
        return record
