"""Eager PyTorch runner: the export module on the device, in the precision, optionally compiled."""

from __future__ import annotations

import copy
from typing import Any

import torch

from kdbench.backends.base import Backend, Runner, ShapeRange
from kdbench.models.base import ExportKind, Ranker

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


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
        # dynamic=False: one graph per (batch, seq) cell, each compiled during warm-up
        forward: Any = torch.compile(module, dynamic=False) if self.options.compile else module

        def run(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
            with torch.inference_mode():
                output: torch.Tensor = forward(**inputs)
            return output

        return run

    def describe(self) -> dict[str, Any]:
        return {
            "torch": torch.__version__,
            "dtype": str(DTYPES[self.options.precision]).removeprefix("torch."),
            "compiled": self.options.compile,
            "threads": torch.get_num_threads(),
        }
