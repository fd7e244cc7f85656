"""The `Ranker` protocol: what evaluation, profiling and training call on a model.

Every architecture (`base.RankerModule`'s subclasses: dot, cat, colbert, prettr) satisfies
it, and so does a ranker computing through a backend (`evaluate.backend.through_backend`: a
shallow copy whose tensor-level methods call an ONNX Runtime session, an OpenVINO compiled
model or a TensorRT engine). Callers type against this protocol; only code that needs the
`nn.Module` itself (training's optimiser and checkpoints, loading) names `RankerModule`.

Light: the heavy types (torch, transformers) are imported for the type checker only, so a
light module can name `Ranker` without loading them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch
    from torch import nn
    from transformers import PreTrainedTokenizerBase

    from kdbench.models.base import Encoded, ExportKind, ModelSpec, TextKind
    from kdbench.models.registry import Architecture


class Ranker(Protocol):
    """A tokenizer, an encoder and a scoring rule (shapes: n = batch, L = tokens, d = size).

    Text-level methods (`score_pairs`, `encode_*`) tokenize, batch and run under the caller's
    grad mode; tensor-level ones (`export_module(kind)`, fed by `tokenize(texts, kind)`) are
    what backends export and time.
    """

    @property
    def arch(self) -> str:
        """The registered architecture name ("dot", "cat", "colbert", "prettr", ...)."""
        ...

    @property
    def architecture(self) -> Architecture:
        """Its registry entry: scenarios, how it scores, which settings apply."""
        ...

    # Everything needed to rebuild it (kdbench.json); settable: fixed-shape batches swap
    # its truncation lengths for a while (`batches.truncation_lengths`).
    spec: ModelSpec

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase: ...

    @property
    def encoder(self) -> nn.Module:
        """The Hugging Face encoder (its config says positions, layers, sizes)."""
        ...

    @property
    def token_type_input(self) -> bool:
        """Whether the encoder embeds segment ids (BERT does, DistilBERT does not)."""
        ...

    @property
    def device(self) -> torch.device: ...

    @property
    def appended_query_tokens(self) -> int:
        """Tokens appended to every query (ColBERT's [MASK] augmentation)."""
        ...

    @property
    def export_methods(self) -> Mapping[ExportKind, str]:
        """Export kind -> the tensor-level method `export_module(kind)` runs."""
        ...

    @property
    def export_kinds(self) -> tuple[ExportKind, ...]: ...

    def num_parameters(self) -> int: ...

    # -- tokenization ---------------------------------------------------------------------
    def max_len(self, kind: TextKind) -> int: ...

    def token_ids(self, texts: Sequence[str], kind: TextKind) -> list[list[int]]:
        """Token ids with special tokens, truncated to the kind's max length, unpadded."""
        ...

    def collate(self, ids: Sequence[Sequence[int]], kind: TextKind) -> dict[str, torch.Tensor]:
        """Padded model inputs for `token_ids`' lists (the keys of `tokenize`)."""
        ...

    def tokenize(
        self, texts: list[str], kind: ExportKind, pair_docs: list[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """The inputs of `export_module(kind)`, keys in its argument order."""
        ...

    def export_inputs(self, kind: ExportKind) -> tuple[str, ...]: ...

    def export_module(self, kind: ExportKind) -> nn.Module:
        """A tensor-in, tensor-out module (shares the weights) for export and timing."""
        ...

    # -- scoring ----------------------------------------------------------------------------
    def score_pairs(
        self, queries: list[str], docs: list[str], batch_size: int = 32
    ) -> torch.Tensor:
        """Score of each (queries[i], docs[i]) -> Tensor[n] on the model's device."""
        ...

    def encode_queries(self, texts: list[str], batch_size: int = 32) -> Encoded:
        """Query representations in input order (architectures that encode texts apart)."""
        ...

    def encode_docs(self, texts: list[str], batch_size: int = 32) -> Encoded:
        """Passage representations in input order (architectures that encode texts apart)."""
        ...

    def score_encoded(self, queries: Encoded, docs: Encoded) -> torch.Tensor:
        """Row i of `queries` against row i of `docs` -> Tensor[n]."""
        ...

    def score_all(self, q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """Every encoded query against every encoded passage -> [n, m] (dense retrieval)."""
        ...


if TYPE_CHECKING:
    # Checked by mypy, never run: every built-in architecture satisfies the protocol.
    from kdbench.models.cat import CatRanker
    from kdbench.models.colbert import ColbertRanker
    from kdbench.models.dot import DotRanker
    from kdbench.models.prettr import PrettrRanker

    ARCHITECTURE_CLASSES: tuple[type[Ranker], ...] = (
        CatRanker,
        ColbertRanker,
        DotRanker,
        PrettrRanker,
    )
