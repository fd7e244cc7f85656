"""The paper's released checkpoints, read without their custom model code.

- `sebastian-hofstaetter/distilbert-dot-margin_mse-T2-msmarco`: a plain DistilBERT
  (model_type "distilbert"); loads through the ordinary Hugging Face path as `dot` with
  CLS pooling and dot product, kdbench's defaults.
- `.../distilbert-cat-margin_mse-T2-msmarco`: model_type "BERT_Cat"; weights
  `bert_model.*` (DistilBERT) and `_classification_layer.{weight,bias}` (Linear(768, 1) on
  the [CLS] vector), per the model card's code.
- `.../colbert-distilbert-margin_mse-T2-msmarco`: model_type "ColBERT"; weights
  `bert_model.*` and `compressor.{weight,bias}` (Linear(768, compression_dim)); config
  fields bert_model, compression_dim, return_vecs, trainable; dot product per term, no
  normalisation, 8 [MASK] tokens appended to queries.
- `.../prettr-distilbert-split_at_3-margin_mse-T2-msmarco`: the model card's `PreTTR` is a
  DistilBertModel subclass (config model_type "distilbert", architectures ["PreTTR"]), so
  its weights carry no prefix: `embeddings.*`, `transformer.layer.*` and
  `_classification_layer.weight` (Linear(768, 1, bias=False) on the joint [CLS] vector);
  split at `join_layer_idx` (3 unless the config says otherwise). See `prettr.py`.

Their config.json names the encoder only by hub id (`bert_model`, e.g.
"distilbert-base-uncased"), so the encoder config is rebuilt from the weights' shapes
(attention heads: config `n_heads` if given, else hidden size / 64, as in BERT/DistilBERT
base). Every weight is mapped by name; a missing or unexpected key is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from kdbench.errors import UserError
from kdbench.models.base import ModelSpec
from kdbench.models.files import read_state_dict

if TYPE_CHECKING:
    from transformers import BertConfig, DistilBertConfig

ENCODER_PREFIX = "bert_model."
AUTHORS_QUERY_LEN = 30  # tokens, special tokens included (the paper's code defaults)
AUTHORS_DOC_LEN = 200
# Buffers older transformers versions saved; today's models recompute them.
IGNORED_KEYS = ("embeddings.position_ids",)


@dataclass(frozen=True)
class ReleasedLayout:
    name: str  # model_type (or architectures entry) in config.json
    arch: str
    head_keys: dict[str, str]  # released name -> kdbench name
    encoder_prefix: str = ENCODER_PREFIX  # "" when the encoder's weights sit at the top level

    def spec(self, source: str, config: dict[str, Any]) -> ModelSpec:
        """The authors' settings: queries cut at 30 tokens, passages at 200, a cat pair at
        230 longest first (`tokenizer(q, d)`), 8 [MASK] tokens after colbert and prettr queries,
        prettr passages positioned after the query's width."""
        if self.arch == "colbert":
            return ModelSpec(
                arch="colbert",
                encoder=source,
                colbert_dim=int(config.get("compression_dim", 768)),
                max_query_len=AUTHORS_QUERY_LEN,
                max_doc_len=AUTHORS_DOC_LEN,
            )
        if self.arch == "prettr":
            return ModelSpec(
                arch="prettr",
                encoder=source,
                split_layer=int(config.get("join_layer_idx", 3)),
                max_query_len=AUTHORS_QUERY_LEN,
                # the card cuts "[CLS] d [SEP]" at 200 and drops the [CLS]
                max_doc_len=AUTHORS_DOC_LEN - 1,
                extra={"query_masks": 8, "passage_positions": "query_width"},
            )
        return ModelSpec(
            arch=self.arch,
            encoder=source,
            pair_truncation="longest_first",
            max_query_len=AUTHORS_QUERY_LEN,
            max_doc_len=AUTHORS_DOC_LEN,
        )


LAYOUTS = {
    "bert_cat": ReleasedLayout(
        "BERT_Cat",
        "cat",
        {"_classification_layer.weight": "head.weight", "_classification_layer.bias": "head.bias"},
    ),
    "colbert": ReleasedLayout(
        "ColBERT",
        "colbert",
        {"compressor.weight": "compressor.weight", "compressor.bias": "compressor.bias"},
    ),
    "prettr": ReleasedLayout(
        "PreTTR", "prettr", {"_classification_layer.weight": "head.weight"}, encoder_prefix=""
    ),
}


def detect_layout(config: Mapping[str, object], folder: Path) -> ReleasedLayout | None:
    """The released layout named by config.json's model_type/architectures, else None."""
    architectures = config.get("architectures")
    names = [str(config.get("model_type", ""))] + [
        str(a) for a in (architectures if isinstance(architectures, list) else [])
    ]
    for name in names:
        layout = LAYOUTS.get(name.lower())
        if layout is not None:
            return layout
    return None


def split_state_dict(
    layout: ReleasedLayout, state: dict[str, torch.Tensor], where: object
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(encoder weights without the layout's prefix, head weights under kdbench names).

    Every key must be an encoder weight or one of the layout's head keys.
    """
    encoder: dict[str, torch.Tensor] = {}
    head: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    prefix = layout.encoder_prefix
    for key, tensor in state.items():
        if key in layout.head_keys:
            head[layout.head_keys[key]] = tensor
        elif key.startswith(prefix):
            inner = key[len(prefix) :]
            if inner not in IGNORED_KEYS:
                encoder[_modern_name(inner)] = tensor
        else:
            unexpected.append(key)
    missing = [k for k in layout.head_keys if layout.head_keys[k] not in head]
    if unexpected or missing or not encoder:
        raise UserError(
            f"{where}: not a {layout.name} checkpoint (unexpected {unexpected[:3]}, missing {missing[:3]}"
            f"{f', no {prefix}* weights' if not encoder else ''})"
        )
    return encoder, head


def _modern_name(key: str) -> str:
    # TF-era names (LayerNorm.gamma/beta) in early checkpoints.
    if key.endswith("LayerNorm.gamma"):
        return key[: -len("gamma")] + "weight"
    if key.endswith("LayerNorm.beta"):
        return key[: -len("beta")] + "bias"
    return key


def infer_encoder_config(
    state: dict[str, torch.Tensor], config: dict[str, Any], where: object
) -> BertConfig | DistilBertConfig:
    """A DistilBertConfig or BertConfig matching the weights' shapes."""
    from transformers import BertConfig, DistilBertConfig

    try:
        vocab_size, hidden = state["embeddings.word_embeddings.weight"].shape
        positions = int(state["embeddings.position_embeddings.weight"].shape[0])
    except KeyError as exc:
        raise UserError(f"{where}: no {exc.args[0]} among the bert_model.* weights") from exc
    heads = int(config.get("n_heads") or config.get("num_attention_heads") or max(1, hidden // 64))
    pad_token_id = int(config.get("pad_token_id", 0))

    def layer_count(prefix: str) -> int:
        return 1 + max(int(k[len(prefix) :].split(".")[0]) for k in state if k.startswith(prefix))

    if any(k.startswith("transformer.layer.") for k in state):
        return DistilBertConfig(
            vocab_size=vocab_size,
            dim=hidden,
            n_layers=layer_count("transformer.layer."),
            n_heads=heads,
            hidden_dim=int(state["transformer.layer.0.ffn.lin1.weight"].shape[0]),
            max_position_embeddings=positions,
            pad_token_id=pad_token_id,
        )
    if any(k.startswith("encoder.layer.") for k in state):
        return BertConfig(
            vocab_size=vocab_size,
            hidden_size=hidden,
            num_hidden_layers=layer_count("encoder.layer."),
            num_attention_heads=heads,
            intermediate_size=int(state["encoder.layer.0.intermediate.dense.weight"].shape[0]),
            max_position_embeddings=positions,
            pad_token_id=pad_token_id,
            type_vocab_size=int(state["embeddings.token_type_embeddings.weight"].shape[0])
            if "embeddings.token_type_embeddings.weight" in state
            else 2,
        )
    raise UserError(
        f"{where}: bert_model.* weights are neither BERT (encoder.layer.*) nor DistilBERT (transformer.layer.*)"
    )


def build_encoder(
    state: dict[str, torch.Tensor], config: dict[str, Any], where: object
) -> nn.Module:
    """The bare encoder with exactly the given weights (no key missing, none left over)."""
    from transformers import AutoModel, BertConfig, BertModel

    encoder_config = infer_encoder_config(state, config, where)
    if isinstance(encoder_config, BertConfig):  # model_type "bert"
        encoder: nn.Module = BertModel(
            encoder_config, add_pooling_layer=any(k.startswith("pooler.") for k in state)
        )
    else:
        encoder = AutoModel.from_config(encoder_config)  # type: ignore[no-untyped-call]
    result = encoder.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise UserError(
            f"{where}: encoder weights do not fit (missing {result.missing_keys[:3]}, "
            f"unexpected {result.unexpected_keys[:3]})"
        )
    return encoder


def load_released(
    layout: ReleasedLayout, config: dict[str, Any], folder: Path, *, allow_pickle: bool
) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """(encoder, head weights under kdbench names) from a released checkpoint folder."""
    state = read_state_dict(folder, allow_pickle=allow_pickle)
    encoder_state, head = split_state_dict(layout, state, folder)
    return build_encoder(encoder_state, config, folder), head
