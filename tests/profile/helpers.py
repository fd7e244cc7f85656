"""Test helpers: a deliberately wrong ONNX export (the attention mask baked in as all ones)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class MaskIgnored(nn.Module):
    """Runs the ranker as if every position were a real token: what tracing an all-ones
    mask can bake into a graph. The mask stays an input (its shape is used) but is ignored."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        output: torch.Tensor = self.inner(input_ids, torch.ones_like(attention_mask))
        return output


def export_mask_ignored(module: nn.Module, example: dict[str, torch.Tensor], path: Path) -> Path:
    import warnings

    names = ["input_ids", "attention_mask"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            MaskIgnored(module).eval(),
            tuple(example[n] for n in names),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=names,
            output_names=["output"],
            dynamic_axes={
                **{n: {0: "batch", 1: "seq"} for n in names},
                "output": {0: "batch", 1: "seq"},
            },
        )
    return path
