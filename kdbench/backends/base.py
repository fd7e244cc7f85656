"""The backend contract (light: no torch import at module level).

A backend turns a ranker's tensor-level module (`Ranker.export_module(kind)`) into a
`Runner`: a callable from a dict of input tensors on the profile's device to an output
tensor on that device. Backends differ only in how that call is computed.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdbench.data.cache import cache_root
from kdbench.errors import UserError
from kdbench.json_types import JsonObject

if TYPE_CHECKING:
    import torch

    from kdbench.backends.calibration import CalibrationSet
    from kdbench.models.base import ExportKind
    from kdbench.models.ranker import Ranker

Runner = Callable[[dict[str, "torch.Tensor"]], "torch.Tensor"]


@dataclass(frozen=True)
class ShapeRange:
    """The (batch, sequence) shapes a runner will see: TensorRT builds its profile from them.

    `doc_seq` (min, opt, max) is the token axis of inputs named `passage_*` (prettr's cached
    passage states), which varies apart from the query's; None where there is no such input.
    """

    min_batch: int
    opt_batch: int
    max_batch: int
    min_seq: int
    opt_seq: int
    max_seq: int
    doc_seq: tuple[int, int, int] | None = None

    @classmethod
    def covering(
        cls,
        shapes: list[tuple[int, int]],
        opt: tuple[int, int],
        doc_seqs: list[int] | None = None,
        opt_doc_seq: int | None = None,
    ) -> ShapeRange:
        batches = [b for b, _ in shapes]
        seqs = [s for _, s in shapes]
        doc_seq = None
        if doc_seqs:
            doc_seq = (min(doc_seqs), opt_doc_seq or max(doc_seqs), max(doc_seqs))
        return cls(min(batches), opt[0], max(batches), min(seqs), opt[1], max(seqs), doc_seq)

    def bounds(
        self, name: str, dims: Sequence[int]
    ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(min, opt, max) shapes of input `name`, whose `dims` give -1 for dynamic axes: axis
        0 is the batch, axis 1 the tokens (`doc_seq` for `passage_*` inputs), others fixed.

        >>> ShapeRange(1, 8, 8, 4, 16, 32, doc_seq=(2, 64, 96)).bounds("passage_states", [-1, -1, 384])
        ((1, 2, 384), (8, 64, 384), (8, 96, 384))
        """
        tokens = (self.min_seq, self.opt_seq, self.max_seq)
        if name.startswith("passage_"):
            if self.doc_seq is None:
                raise ValueError(f"input {name!r} needs the doc_seq shape range; none was given")
            tokens = self.doc_seq
        ranges = [(self.min_batch, self.opt_batch, self.max_batch), tokens]
        shapes: list[list[int]] = [[], [], []]
        for axis, dim in enumerate(dims):
            span = ranges[axis] if dim < 0 and axis < 2 else (dim, dim, dim)
            if min(span) < 0:
                raise ValueError(f"input {name!r} has a dynamic axis {axis} of unknown range")
            for bound, value in zip(shapes, span, strict=True):
                bound.append(value)
        low, opt, high = (tuple(bound) for bound in shapes)
        return low, opt, high


@dataclass(frozen=True)
class BackendOptions:
    """Settings every backend receives; each reads what applies to it."""

    device: str = "cpu"  # "cpu" | "cuda" | "cuda:N"
    precision: str = "fp32"
    threads: int | None = None  # intra-op threads (torch and ONNX Runtime)
    compile: bool = False  # eager: torch.compile
    cache_dir: Path | None = None  # exports and engines; None: default_cache_dir()
    opset: int = 17
    onnx_provider: str | None = None  # "cpu" | "cuda" | "tensorrt"; None: from the device
    onnx_fusion: bool | None = None  # ORT's transformer fusions; None: on for GPU, off for CPU
    onnx_model: Path | None = None  # use this ONNX file instead of exporting
    # static int8's calibration texts (kdbench.backends.calibration.CalibrationSet); None:
    # a precision that needs one is refused
    calibration: CalibrationSet | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Backend:
    """Heavy side of a backend: build a runner for one export kind.

    `weight_bytes[kind]` is set by `prepare`: the bytes of weights the runner holds, as this
    backend loaded them (parameters at their dtype, an ONNX graph's initializers, an engine).
    """

    def __init__(self, options: BackendOptions) -> None:
        self.options = options
        self.weight_bytes: dict[str, int] = {}

    def prepare(
        self, ranker: Ranker, kind: ExportKind, shapes: ShapeRange, example: dict[str, torch.Tensor]
    ) -> Runner:
        """A runner for `ranker.export_module(kind)`; `example` is a padded batch of real inputs."""
        raise NotImplementedError

    def describe(self) -> JsonObject:
        """What actually ran (execution provider, export files, engine, fused ops)."""
        return {}


@dataclass(frozen=True)
class BackendInfo:
    """What a backend supports and needs, known without importing it."""

    name: str
    target: str  # "module:Class", imported on first use
    summary: str
    precisions: dict[str, tuple[str, ...]]  # device type ("cpu", "cuda") -> precisions
    install: str  # how to get what is missing
    archs: tuple[str, ...] | None = None  # None: every registered architecture
    availability: Callable[[str], str | None] | None = (
        None  # device type -> what is missing, or None
    )
    # At fp32 it computes eager's scores to float tolerance (the same graph, no rebuild for a
    # shape): an fp32 cell that passed parity may show eager's evaluation. False: every
    # artifact of it (a TensorRT engine) is evaluated on its own.
    fp32_is_eager: bool = False
    # (device type, precision) -> why this machine cannot run it (a CPU without bf16), or None
    refusal: Callable[[str, str], str | None] | None = None
    # precisions whose graph is calibrated on the collection's train split (static int8)
    calibrated: tuple[str, ...] = ()

    def supports(self, arch: str, device: str, precision: str) -> str | None:
        """None if this backend can run `arch` at `precision` on `device`, else why not."""
        device_type = device.split(":")[0]
        if self.archs is not None and arch not in self.archs:
            return f"the {self.name} backend does not run {arch} models (it runs {', '.join(self.archs)})"
        if device_type not in self.precisions:
            return f"the {self.name} backend does not run on {device_type} (use --device {' or '.join(self.precisions)})"
        allowed = self.precisions[device_type]
        if precision not in allowed:
            return f"the {self.name} backend on {device_type} supports {', '.join(allowed)}, not {precision}"
        if self.refusal is not None:
            return self.refusal(device_type, precision)
        return None

    def missing(self, device: str) -> str | None:
        """What is missing to run on `device` (library, GPU, provider), or None if ready."""
        device_type = device.split(":")[0]
        if self.availability is None:
            return None
        return self.availability(device_type)

    def is_available(self, device: str = "cpu") -> bool:
        return self.missing(device) is None

    def require(self, device: str) -> None:
        """Raise a one-line UserError naming what is missing and how to install it."""
        reason = self.missing(device)
        if reason is not None:
            raise UserError(f"--backend {self.name} --device {device}: {reason}; {self.install}")

    def resolve(self) -> type[Backend]:
        module_name, class_name = self.target.split(":")
        cls: type[Backend] = getattr(importlib.import_module(module_name), class_name)
        return cls


def cuda_missing() -> str | None:
    """Why torch cannot use a CUDA GPU here, or None."""
    if importlib.util.find_spec("torch") is None:
        return "PyTorch is not installed"
    import torch

    if not torch.cuda.is_available():
        build = (
            "a CPU-only PyTorch build"
            if torch.version.cuda is None
            else f"PyTorch built for CUDA {torch.version.cuda}"
        )
        return f"no CUDA GPU is visible ({build})"
    return None


def default_cache_dir() -> Path:
    """kdbench's cache folder ($KDBENCH_CACHE, else ~/.cache/kdbench): exports and engines."""

    return cache_root()
