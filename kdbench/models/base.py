"""The ranker contract shared by training, evaluation and profiling.

Every architecture subclasses `Ranker`. Text-level methods (`score_pairs`, `encode_*`)
tokenize, batch and run under the caller's grad mode; tensor-level methods
(`forward_*`, `export_module`) are what backends export and time.

Shapes: n = batch, L = tokens, d = vector size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import nn

ExportKind = Literal["query", "doc", "pair"]


@dataclass
class ModelSpec:
    """Everything needed to rebuild a ranker; saved as `kdbench.json` in a checkpoint."""

    arch: str                       # "dot" | "cat" | "colbert"
    encoder: str                    # where the encoder weights came from (hub id or folder)
    pooling: str = "cls"            # dot: "cls" | "mean"
    similarity: str = "dot"         # dot: "dot" | "cosine"
    score_scale: float = 1.0        # multiplies dot/colbert scores (cosine x 20 is common)
    max_query_len: int = 32
    max_doc_len: int = 256
    layers: int | None = None       # keep the first N encoder layers (None: all)
    colbert_dim: int | None = None  # colbert: linear compression size (None: hidden size, no layer)
    query_augment: int = 8          # colbert: [MASK] tokens appended to every query
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Ranker(nn.Module):
    """Base class: a tokenizer, an encoder and a scoring rule."""

    arch: ClassVar[str]
    spec: ModelSpec
    tokenizer: Any  # transformers.PreTrainedTokenizerBase

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def score_pairs(self, queries: list[str], docs: list[str], batch_size: int = 32) -> torch.Tensor:
        """Relevance score for each (queries[i], docs[i]) pair -> float Tensor[n] on CPU."""
        raise NotImplementedError

    def export_module(self, kind: ExportKind) -> nn.Module:
        """A tensor-in, tensor-out module for ONNX/TensorRT export and timing.

        dot: kind "query"/"doc" -> forward(input_ids, attention_mask) -> [n, d]
        colbert: kind "query"/"doc" -> forward(input_ids, attention_mask) -> [n, L, d]
        cat: kind "pair" -> forward(input_ids, attention_mask, token_type_ids) -> [n]
        """
        raise NotImplementedError

    def tokenize(self, texts: list[str], kind: ExportKind, pair_docs: list[str] | None = None) -> dict[str, torch.Tensor]:
        """Tokenize as the model expects for `kind` (colbert query augmentation included)."""
        raise NotImplementedError

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
