"""Eager PyTorch runner: the export module on the device, in the precision, optionally compiled."""

from __future__ import annotations

import copy
from typing import Any

import torch

from kdbench.backends.base import Backend, Runner, ShapeRange
from kdbench.json_types import JsonObject
from kdbench.models.base import ExportKind
from kdbench.models.ranker import Ranker

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _allow_one_graph_per_shape() -> None:
    """Cells, parity batches and the padding check are a dozen shapes: past dynamo's default
    limit of 8 it would silently fall back to eager and the "compiled" numbers would lie."""
    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):  # renamed in torch 2.6
        if hasattr(config, name):
            setattr(config, name, max(64, getattr(config, name)))
    for name in ("fail_on_recompile_limit_hit", "fail_on_cache_limit_hit"):
        if hasattr(config, name):
            setattr(config, name, True)


def parameter_bytes(module: torch.nn.Module) -> int:
    """Bytes of the module's parameters at their dtype (each shared tensor once)."""
    return sum(p.numel() * p.element_size() for p in module.parameters())


class EagerBackend(Backend):
    def prepare(
        self, ranker: Ranker, kind: ExportKind, shapes: ShapeRange, example: dict[str, torch.Tensor]
    ) -> Runner:
        dtype = DTYPES[self.options.precision]
        module = ranker.export_module(kind).eval()
        if dtype != torch.float32:
            # a copy: the fp32 ranker stays the parity reference for every other backend
            module = copy.deepcopy(module).to(dtype=dtype)
        module = module.to(self.options.device)
        self.weight_bytes[kind] = parameter_bytes(module)
        forward: Any = module
        if self.options.compile:
            _allow_one_graph_per_shape()
            # dynamic=False: one graph per (batch, seq) cell, each compiled during warm-up
            forward = torch.compile(module, dynamic=False)

        def run(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
            with torch.inference_mode():
                output: torch.Tensor = forward(**inputs)
            return output

        return run

    def describe(self) -> JsonObject:
        return {
            "torch": torch.__version__,
            "dtype": str(DTYPES[self.options.precision]).removeprefix("torch."),
            "compiled": self.options.compile,
            "threads": torch.get_num_threads(),
        }
