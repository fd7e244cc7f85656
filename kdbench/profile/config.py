"""Settings of one `kdbench profile` run, validated up front (light: no torch import)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from kdbench.errors import UserError


def parse_int_list(text: str | None, option: str, *, minimum: int = 1) -> tuple[int, ...] | None:
    """ "1,8,32" -> (1, 8, 32); errors name the option and the bad item."""
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
        if value < minimum:
            raise UserError(f"{option} {text!r}: {value} is below {minimum}")
        if value not in values:
            values.append(value)
    if not values:
        raise UserError(f"{option} {text!r} names no value; write e.g. {option} 1,8,32")
    return tuple(values)


@dataclass(frozen=True)
class ProfileConfig:
    """Everything `run_profile` needs; `None` means "the scenario's default" where noted."""

    model: str
    arch: str | None = None  # None: from the checkpoint
    split_layer: int | None = None  # prettr: layers 1..l see query and passage apart (None: 3)
    baseline_arch: str | None = None  # also time the model as this arch, interleaved
    scenario: str | None = None  # None: the architecture's default (profile/registry.py)
    backends: tuple[tuple[str, str | None], ...] = (("eager", None),)  # (name, precision or None)
    precisions: tuple[str, ...] = ("fp32",)  # for backends listed without ":precision"
    device: str = "cpu"
    batch_sizes: tuple[int, ...] | None = (
        None  # None: index 32, query 1, rerank cat/prettr 100 / colbert 1
    )
    seq_lens: tuple[int, ...] | None = (
        None  # None: index 128, query 32, rerank cat/prettr 256 / colbert 32
    )
    depths: tuple[int, ...] = (100,)  # rerank: candidates per query; query: hits searched
    data: str | None = None  # collection (folder or ir_datasets id); None: synthetic text
    split: str | None = "test"
    doc_len: int | None = None  # tokens of pre-encoded passages (query, colbert rerank)
    index_size: int | None = None  # query: passages in the searched index (None: all)
    compile: bool = False
    threads: int | None = None  # None: torch's default, applied to ORT too
    warmup: int = 5
    warmup_s: float = 0.5
    min_samples: int = 662
    min_duration_s: float = 5.0
    max_duration_s: float = 120.0
    rounds: int = 1  # timing rounds; each cell's backends alternate within every round
    parity_queries: int = 20
    parity_depth: int = 100
    opset: int = 17
    onnx_model: Path | None = None
    onnx_fusion: bool | None = None
    onnx_provider: str | None = None
    cache_dir: Path | None = None
    seed: int = 0
    allow_pickle: bool = False  # load a pickled (.bin) checkpoint: runs code from the file
    trust_remote_code: bool = False  # run a hub model's own Python code
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from kdbench.backends import devices, precisions
        from kdbench.backends.onnx.config import PROVIDERS
        from kdbench.profile.registry import SCENARIOS

        if self.scenario is not None:
            SCENARIOS.canonical(self.scenario)
        if self.device.split(":")[0] not in devices():
            raise UserError(f"--device {self.device!r}: use {', '.join(devices())} or cuda:N")
        for precision in (*self.precisions, *(p for _, p in self.backends if p)):
            if precision not in precisions():
                raise UserError(f"precision {precision!r}: choose one of {', '.join(precisions())}")
        if (
            self.min_duration_s < 0
            or self.max_duration_s <= 0
            or self.max_duration_s < self.min_duration_s
        ):
            raise UserError(
                f"--min-duration {self.min_duration_s} / --max-duration {self.max_duration_s}: "
                "need 0 <= min <= max and max > 0"
            )
        for name, value, minimum in (
            ("--min-samples", self.min_samples, 1),
            ("--rounds", self.rounds, 1),
            ("--warmup", self.warmup, 0),
            ("--parity-queries", self.parity_queries, 1),
            ("--parity-depth", self.parity_depth, 1),
            ("--threads", self.threads, 1),
            ("--doc-len", self.doc_len, 3),
            ("--index-size", self.index_size, 1),
            ("--split-layer", self.split_layer, 1),
        ):
            if value is not None and value < minimum:
                raise UserError(f"{name} {value}: must be at least {minimum}")
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
