"""The ranker contract shared by training, evaluation and profiling.

Every architecture subclasses `RankerModule`, which satisfies the `Ranker` protocol
(ranker.py) that callers type against. Text-level methods (`score_pairs`, `encode_*`)
tokenize, sort by length, batch and run under the caller's grad mode (training calls them
with grad; `kdbench.models.encode.encode_texts` is the no-grad evaluation path);
tensor-level methods (`forward_*`, `export_module`) are what backends export and time.

The one tokenization path: `tokenize(texts, kind)` returns the tensors whose keys, in order,
are the positional arguments of `export_module(kind).forward` (see `export_inputs`), so a
profiler can feed one to the other without knowing the architecture.

Shapes: n = batch, L = tokens, d = vector size.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from kdbench.errors import UserError
from kdbench.json_types import JsonObject
from kdbench.models.registry import ARCHITECTURES, Architecture

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

ExportKind = Literal["query", "doc", "pair"]
# What `encode_queries`/`encode_docs` return for a ranker that encodes texts apart: one
# tensor (dot: [n, d]) or several whose first axis is the text (colbert: vectors, mask).
Encoded = torch.Tensor | tuple[torch.Tensor, ...]
TextKind = Literal["query", "doc"]
POOLINGS = ("cls", "mean")
# Rankers that encode each text apart (dot, colbert): queries and passages, one method.
ENCODER_EXPORTS: dict[ExportKind, str] = {"query": "forward_encode", "doc": "forward_encode"}
SIMILARITIES = ("dot", "cosine")
# cat/prettr scoring heads: a Linear on the last [CLS] vector (the paper's), or the encoder
# family's own *ForSequenceClassification head (hub cross-encoders; what kdbench trains now).
HEADS = ("cls-linear", "sequence-classification")
# cat pairs: query and passage cut to their own budgets, or one budget cut longest first
# (transformers' `tokenizer(q, d, truncation="longest_first")`, what CrossEncoder does).
PAIR_TRUNCATIONS = ("separate", "longest_first")


@dataclass
class ModelSpec:
    """Everything needed to rebuild a ranker; saved as `kdbench.json` in a checkpoint."""

    arch: str  # "dot" | "cat" | "colbert" | "prettr"
    encoder: str  # where the encoder weights came from (hub id or folder)
    pooling: str = "cls"  # dot: "cls" | "mean"
    similarity: str = "dot"  # dot, colbert: "dot" | "cosine" (cosine L2-normalises the vectors)
    score_scale: float = 1.0  # multiplies dot/colbert scores (cosine x 20 is common)
    max_query_len: int = 32  # tokens, special tokens included (cat: "[CLS] q [SEP]")
    max_doc_len: int = 256  # tokens, special tokens included (cat: "d [SEP]")
    layers: int | None = None  # keep the first N encoder layers (None: all)
    colbert_dim: int | None = None  # colbert: linear compression size (None: hidden size, no layer)
    query_augment: int = 8  # colbert: [MASK] tokens appended to every query
    split_layer: int | None = None  # prettr: layers 1..l see query and passage apart
    extra: dict[str, Any] = field(default_factory=dict)
    head: str = "cls-linear"  # cat, prettr: one of HEADS (older checkpoints: cls-linear)
    # cat: one of PAIR_TRUNCATIONS; longest_first cuts the pair to max_query_len + max_doc_len
    pair_truncation: str = "separate"

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise UserError(
                f"pooling {self.pooling!r} is not supported; choose one of {', '.join(POOLINGS)}"
            )
        if self.similarity not in SIMILARITIES:
            raise UserError(
                f"similarity {self.similarity!r} is not supported; choose one of {', '.join(SIMILARITIES)}"
            )
        # cat needs room for "[CLS] x [SEP]" and "y [SEP]"; every arch needs one real token.
        if self.head not in HEADS:
            raise UserError(
                f"head {self.head!r} is not supported; choose one of {', '.join(HEADS)}"
            )
        if self.pair_truncation not in PAIR_TRUNCATIONS:
            raise UserError(
                f"pair_truncation {self.pair_truncation!r} is not supported; choose one of "
                f"{', '.join(PAIR_TRUNCATIONS)}"
            )
        if self.max_query_len < 3 or self.max_doc_len < 3:
            raise UserError(
                f"max query/doc length must be at least 3 tokens (got {self.max_query_len}/{self.max_doc_len})"
            )
        if self.layers is not None and self.layers < 1:
            raise UserError(f"--layers must be at least 1 (got {self.layers})")
        if self.colbert_dim is not None and self.colbert_dim < 1:
            raise UserError(f"--colbert-dim must be at least 1 (got {self.colbert_dim})")
        if self.query_augment < 0:
            raise UserError(f"query_augment must be 0 or more (got {self.query_augment})")
        if self.split_layer is not None and self.split_layer < 1:
            raise UserError(f"--split-layer must be at least 1 (got {self.split_layer})")

    def to_dict(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: object = "kdbench.json") -> ModelSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(
                f"{where}: unknown model setting(s) {unknown}; written by a newer kdbench?"
            )
        if "arch" not in data or "encoder" not in data:
            raise UserError(f'{where}: needs "arch" and "encoder"')
        return cls(**data)


def pad_token_ids(
    ids: Sequence[Sequence[int]], pad_id: int, append: Sequence[int] = ()
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id lists (after appending `append` to each) -> (input_ids, attention_mask).

    Vectorised: one pass over the ids in C, no per-text Python work.

    >>> pad_token_ids([[5, 6, 7], [8]], pad_id=0, append=[9])
    (tensor([[5, 6, 7, 9],
            [8, 9, 0, 0]]), tensor([[1, 1, 1, 1],
            [1, 1, 0, 0]]))
    """
    n = len(ids)
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=n)
    width = (int(lengths.max()) if n else 0) + len(append)
    flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
    positions = np.arange(width)
    input_ids = np.full((n, width), pad_id, dtype=np.int64)
    input_ids[positions[None, :] < lengths[:, None]] = (
        flat  # row-major fill keeps each text's order
    )
    rows = np.arange(n)
    for offset, token in enumerate(append):
        input_ids[rows, lengths + offset] = token
    attention_mask = (positions[None, :] < (lengths + len(append))[:, None]).astype(np.int64)
    return torch.from_numpy(input_ids), torch.from_numpy(attention_mask)


def length_sorted_batches(
    lengths: Sequence[int] | np.ndarray, batch_size: int
) -> Iterator[np.ndarray]:
    """Index batches, longest texts first: little padding per batch, and an out-of-memory
    error shows up on the first batch rather than at the end.

    >>> [b.tolist() for b in length_sorted_batches([3, 9, 1, 7], batch_size=2)]
    [[1, 3], [0, 2]]
    """
    if batch_size < 1:
        raise UserError(f"--batch-size must be at least 1 (got {batch_size})")
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def backbone(model: nn.Module) -> nn.Module:
    """The bare encoder of a Hugging Face model (a *ForSequenceClassification's `.bert`,
    `.roberta`, ...); the model itself when it is bare already."""
    base = getattr(model, "base_model", model)
    return base if isinstance(base, nn.Module) else model


def position_offset(encoder: nn.Module) -> int:
    """Rows of the position table before token position 0: RoBERTa-style embeddings count
    positions from padding_idx + 1; BERT, DistilBERT and DeBERTa-v2/v3 from 0."""
    encoder = backbone(encoder)
    family = getattr(getattr(encoder, "config", None), "model_type", "")
    padding_idx = getattr(getattr(encoder, "embeddings", None), "padding_idx", None)
    if family in ("distilbert", "deberta-v2") or padding_idx is None:
        return 0
    return int(padding_idx) + 1


def usable_positions(encoder: nn.Module) -> int | None:
    """Token positions the encoder can embed (None: its config does not say)."""
    limit = getattr(getattr(encoder, "config", None), "max_position_embeddings", None)
    return limit - position_offset(encoder) if isinstance(limit, int) else None


def encoder_shape(module: nn.Module) -> dict[str, int] | None:
    """Layers, hidden and intermediate size of the first Hugging Face encoder inside `module`."""
    for child in module.modules():
        config = getattr(child, "config", None)
        if config is not None and all(
            hasattr(config, name)
            for name in ("num_hidden_layers", "hidden_size", "intermediate_size")
        ):
            return {
                "layers": int(config.num_hidden_layers),
                "hidden": int(config.hidden_size),
                "intermediate": int(config.intermediate_size),
            }
    return None


def uses_token_type_ids(encoder: nn.Module) -> bool:
    """BERT-style encoders embed segment ids; DistilBERT and friends take no such input."""
    config = getattr(encoder, "config", None)
    return int(getattr(config, "type_vocab_size", 0) or 0) > 1


class RankerModule(nn.Module):
    """Base class: a tokenizer, a Hugging Face encoder (`self.encoder`) and a scoring rule."""

    arch: ClassVar[str]
    # export kind -> the tensor-level method `export_module(kind)` runs, in order
    export_methods: ClassVar[dict[ExportKind, str]]
    spec: ModelSpec
    tokenizer: PreTrainedTokenizerBase

    def __init__(
        self, encoder: nn.Module, tokenizer: PreTrainedTokenizerBase, spec: ModelSpec
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.spec = spec
        self.token_type_input = uses_token_type_ids(encoder)
        if tokenizer.pad_token_id is None:
            raise UserError(
                f"{spec.encoder}: its tokenizer has no padding token; kdbench needs one to batch texts"
            )

    @classmethod
    def position_needs(cls, spec: ModelSpec) -> dict[str, int]:
        """Token positions one encoder input takes at most, by the options that set them
        (load_model checks them against the encoder's position table)."""
        return {"--max-query-len": spec.max_query_len, "--max-doc-len": spec.max_doc_len}

    # -- properties ---------------------------------------------------------------------
    @property
    def architecture(self) -> Architecture:
        """This ranker's registry entry: its scenarios, how it scores, which settings apply."""
        return ARCHITECTURES[self.arch]

    @property
    def appended_query_tokens(self) -> int:
        """Tokens `collate` appends to every query (ColBERT's [MASK] augmentation): a query
        padded to L tokens holds L minus these from the text."""
        return 0

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def hidden_size(self) -> int:
        config: Any = self.encoder.config
        return int(config.hidden_size)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- the encoder ----------------------------------------------------------------------
    def encode_hidden(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Last hidden states [n, L, hidden]; segment ids only reach encoders that embed them."""
        if self.token_type_input and token_type_ids is not None:
            output = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
        else:
            output = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        hidden: torch.Tensor = output[0]
        return hidden

    # -- tokenization -----------------------------------------------------------------------
    def max_len(self, kind: TextKind) -> int:
        return self.spec.max_query_len if kind == "query" else self.spec.max_doc_len

    def token_ids(self, texts: Sequence[str], kind: TextKind) -> list[list[int]]:
        """Token ids with special tokens, truncated to the kind's max length, unpadded."""
        encoded = self.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.max_len(kind),
            add_special_tokens=True,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        ids: list[list[int]] = encoded["input_ids"]
        return ids

    def collate(self, ids: Sequence[Sequence[int]], kind: TextKind) -> dict[str, torch.Tensor]:
        """Padded model inputs for token id lists from `token_ids` (same keys as `tokenize`)."""
        input_ids, attention_mask = pad_token_ids(ids, self.tokenizer.pad_token_id)
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def export_inputs(self, kind: ExportKind) -> tuple[str, ...]:
        """Names of `export_module(kind).forward`'s arguments, in order (= `tokenize` keys)."""
        self._check_kind(kind)
        return ("input_ids", "attention_mask")

    def tokenize(
        self, texts: list[str], kind: ExportKind, pair_docs: list[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Tokenize as the model expects for `kind` (colbert query augmentation included)."""
        self._check_kind(kind)
        if kind == "pair":
            raise NotImplementedError  # CatRanker overrides
        return self.collate(self.token_ids(texts, kind), kind)

    @property
    def export_kinds(self) -> tuple[ExportKind, ...]:
        return tuple(self.export_methods)

    def _check_kind(self, kind: str) -> None:
        if kind not in self.export_kinds:
            raise ValueError(
                f"{self.arch} has no {kind!r} input; it has {', '.join(self.export_kinds)}"
            )

    # -- batched text-level helpers -------------------------------------------------------
    def _batched(
        self,
        ids: Sequence[Sequence[int]],
        kind: TextKind,
        batch_size: int,
        forward: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    ) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor], torch.Tensor]]:
        """(indices, inputs on device, forward(inputs)) per length-sorted batch."""
        device = self.device
        for batch in length_sorted_batches([len(x) for x in ids], batch_size):
            inputs = {
                k: v.to(device) for k, v in self.collate([ids[i] for i in batch], kind).items()
            }
            yield batch, inputs, forward(inputs)

    # -- the architecture's part --------------------------------------------------------------
    # Architectures that encode texts apart (`Architecture.encodes_texts`) implement the
    # three methods below; the others score pairs only (`score_pairs`).
    def encode_queries(self, texts: list[str], batch_size: int = 32) -> Encoded:
        """Query representations in input order, under the caller's grad mode."""
        raise NotImplementedError(f"{self.arch} does not encode texts apart; use score_pairs")

    def encode_docs(self, texts: list[str], batch_size: int = 32) -> Encoded:
        """Passage representations in input order, under the caller's grad mode."""
        raise NotImplementedError(f"{self.arch} does not encode texts apart; use score_pairs")

    def score_encoded(self, queries: Encoded, docs: Encoded) -> torch.Tensor:
        """Score of row i of `queries` with row i of `docs` (from `encode_*`) -> Tensor[n]."""
        raise NotImplementedError(f"{self.arch} does not encode texts apart; use score_pairs")

    def score_all(self, q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """Every encoded query against every encoded passage -> [n, m] (architectures with
        `Architecture.dense_retrieval`: one vector per text, a whole collection searched)."""
        raise NotImplementedError(f"{self.arch} cannot search a collection; re-rank a first stage")

    def score_pairs(
        self, queries: list[str], docs: list[str], batch_size: int = 32
    ) -> torch.Tensor:
        """Relevance score for each (queries[i], docs[i]) pair -> float Tensor[n] on the model's device."""
        raise NotImplementedError

    def export_module(self, kind: ExportKind) -> nn.Module:
        """A tensor-in, tensor-out module for ONNX/TensorRT export and timing: the method
        `export_methods[kind]` as a module.

        dot: kind "query"/"doc" -> forward(input_ids, attention_mask) -> [n, d]
        colbert: kind "query"/"doc" -> forward(input_ids, attention_mask) -> [n, L, d] (padding zeroed)
        cat: kind "pair" -> forward(input_ids, attention_mask[, token_type_ids]) -> [n]
        (token_type_ids only for encoders that embed segments; see `export_inputs`).
        The module shares the ranker's weights: export a `copy.deepcopy` of it, because in
        torch 2.13 the TorchScript ONNX exporter leaves the module it traced computing wrong
        outputs afterwards (weights unchanged; tests/models/test_export_onnx.py).
        """
        self._check_kind(kind)
        return TensorModule(self, self.export_methods[kind])


# What only tokenisation reads (and the weights' origin, which the weights themselves carry).
TOKENIZATION_SETTINGS = ("encoder", "max_query_len", "max_doc_len")


class TensorModule(nn.Module):
    """One tensor-level method of a ranker as a module of its own (`RankerModule.export_module`).

    The ranker is a submodule, so the module shares its weights; `identity` tells apart
    modules with the same weights that compute different things (an export cache key).
    Truncation lengths are left out: they shape the tokens, not the computation, so an
    evaluation and a profile of one model with other lengths share one export."""

    def __init__(self, ranker: RankerModule, method: str) -> None:
        super().__init__()
        self.ranker = ranker
        self.method = method
        settings = {
            k: v for k, v in ranker.spec.to_dict().items() if k not in TOKENIZATION_SETTINGS
        }
        self.identity = f"{type(ranker).__qualname__}.{method} {sorted(settings.items())}"

    def forward(self, *inputs: torch.Tensor, **named: torch.Tensor) -> torch.Tensor:
        output: torch.Tensor = getattr(self.ranker, self.method)(*inputs, **named)
        return output


def repeat_rows(encoded: Encoded, times: int) -> Encoded:
    """Each text's representation `times` times in a row (one query against its k passages).

    >>> repeat_rows(torch.tensor([[1.0], [2.0]]), 2).tolist()
    [[1.0], [1.0], [2.0], [2.0]]
    """
    if isinstance(encoded, torch.Tensor):
        return encoded.repeat_interleave(times, dim=0)
    return tuple(part.repeat_interleave(times, dim=0) for part in encoded)


def check_pairs(queries: Sequence[str], docs: Sequence[str]) -> None:
    if len(queries) != len(docs):
        raise ValueError(
            f"score_pairs needs one doc per query (got {len(queries)} queries, {len(docs)} docs)"
        )
