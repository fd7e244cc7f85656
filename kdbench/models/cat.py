"""CAT (cross-encoder): the query and the passage are concatenated, "[CLS] q [SEP] d [SEP]",
and a head on the joint encoding gives the score. Most effective, least cacheable.

Two heads (`ModelSpec.head`):
- "sequence-classification": the encoder family's own one-label *ForSequenceClassification
  head (BERT/MiniLM: pooler + classifier; ELECTRA, RoBERTa/XLM-R: their classification head;
  DistilBERT: pre_classifier + ReLU + classifier; DeBERTa-v2/v3: context pooler + classifier).
  `self.encoder` is then the whole Hugging Face model and the score is its `logits[:, 0]`,
  so hub cross-encoders score exactly as in transformers, and a saved checkpoint is a plain
  *ForSequenceClassification folder that sentence-transformers' CrossEncoder loads.
- "cls-linear": `head` = Linear(hidden, 1) on the last [CLS] vector, the paper's BERT_Cat
  (and kdbench checkpoints from before the sequence-classification head).

Pairs (`ModelSpec.pair_truncation`): "longest_first" is the tokenizer's own pair template
cut to max_query_len + max_doc_len tokens, longest segment first, as transformers'
`tokenizer(q, d, truncation="longest_first")` and CrossEncoder cut them; "separate" builds
"[CLS] q [SEP] d [SEP]" with the query cut to max_query_len and the passage to max_doc_len.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from kdbench.errors import UserError
from kdbench.models.base import (
    ExportKind,
    ModelSpec,
    RankerModule,
    TextKind,
    check_pairs,
    length_sorted_batches,
    pad_token_ids,
)

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


class CatRanker(RankerModule):
    """Pair encoder + a one-score head: the family's sequence-classification head, or
    `head` (Linear(hidden, 1)) on the [CLS] vector."""

    arch: ClassVar[str] = "cat"
    export_methods: ClassVar[dict[ExportKind, str]] = {"pair": "forward_score"}

    def __init__(
        self, encoder: nn.Module, tokenizer: PreTrainedTokenizerBase, spec: ModelSpec
    ) -> None:
        super().__init__(encoder, tokenizer, spec)
        if spec.pair_truncation == "separate" and (
            tokenizer.cls_token_id is None or tokenizer.sep_token_id is None
        ):
            raise UserError(f"{spec.encoder}: cat needs a tokenizer with [CLS] and [SEP] tokens")
        if spec.head == "sequence-classification":
            check_sequence_classifier(encoder, where=spec.encoder)
        else:
            self.head = nn.Linear(self.hidden_size, 1)

    @classmethod
    def position_needs(cls, spec: ModelSpec) -> dict[str, int]:
        return {"--max-query-len + --max-doc-len": spec.max_query_len + spec.max_doc_len}

    def forward_score(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Pair token ids [n, L] -> scores [n]."""
        if self.spec.head == "sequence-classification":
            segments = {"token_type_ids": token_type_ids} if self.token_type_input else {}
            output = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **segments)
            logits: torch.Tensor = output.logits[:, 0]
            return logits
        cls_vectors = self.encode_hidden(input_ids, attention_mask, token_type_ids)[:, 0]
        score: torch.Tensor = self.head(cls_vectors).squeeze(-1)
        return score

    # -- tokenization ---------------------------------------------------------------------------
    def _content_ids(self, texts: Sequence[str], budget: int) -> list[list[int]]:
        encoded = self.tokenizer(
            list(texts),
            truncation=True,
            max_length=budget,
            add_special_tokens=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        ids: list[list[int]] = encoded["input_ids"]
        return ids

    def pair_token_ids(
        self, queries: Sequence[str], docs: Sequence[str]
    ) -> tuple[list[list[int]], np.ndarray]:
        """'[CLS] q [SEP] d [SEP]' ids, unpadded, and each pair's query segment length.

        "separate": the query is cut to fit `max_query_len` ("[CLS] q [SEP]") and the passage
        to fit `max_doc_len` ("d [SEP]"), so a long passage never pushes the query out.
        "longest_first": the tokenizer's pair template, cut to both budgets together.
        """
        check_pairs(queries, docs)
        if self.spec.pair_truncation == "longest_first":
            encoded = self.tokenizer(
                list(queries),
                list(docs),
                truncation="longest_first",
                max_length=self.spec.max_query_len + self.spec.max_doc_len,
                return_attention_mask=False,
                return_token_type_ids=True,
            )
            ids: list[list[int]] = encoded["input_ids"]
            # segment 0 is the query's part: the tokens whose segment id is 0
            query_lengths = np.fromiter(
                (len(t) - sum(t) for t in encoded["token_type_ids"]), dtype=np.int64, count=len(ids)
            )
            return ids, query_lengths
        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        q_ids = self._content_ids(queries, self.spec.max_query_len - 2)
        d_ids = self._content_ids(docs, self.spec.max_doc_len - 1)
        pairs = [[cls_id, *q, sep_id, *d, sep_id] for q, d in zip(q_ids, d_ids, strict=True)]
        query_lengths = np.fromiter((len(q) + 2 for q in q_ids), dtype=np.int64, count=len(q_ids))
        return pairs, query_lengths

    def collate_pairs(
        self, pairs: Sequence[Sequence[int]], query_lengths: np.ndarray
    ) -> dict[str, torch.Tensor]:
        input_ids, attention_mask = pad_token_ids(pairs, self.tokenizer.pad_token_id)
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.token_type_input:
            positions = torch.arange(input_ids.shape[1]).unsqueeze(0)
            passage = positions >= torch.from_numpy(query_lengths).unsqueeze(1)
            inputs["token_type_ids"] = (passage & attention_mask.bool()).long()
        return inputs

    def export_inputs(self, kind: ExportKind) -> tuple[str, ...]:
        self._check_kind(kind)
        return (
            ("input_ids", "attention_mask", "token_type_ids")
            if self.token_type_input
            else ("input_ids", "attention_mask")
        )

    def tokenize(
        self, texts: list[str], kind: ExportKind, pair_docs: list[str] | None = None
    ) -> dict[str, torch.Tensor]:
        self._check_kind(kind)
        if pair_docs is None:
            raise ValueError("cat tokenizes (query, passage) pairs: pass pair_docs")
        return self.collate_pairs(*self.pair_token_ids(texts, pair_docs))

    def token_ids(self, texts: Sequence[str], kind: TextKind) -> list[list[int]]:
        raise ValueError("cat encodes (query, passage) pairs, not single texts; use pair_token_ids")

    # -- text level -----------------------------------------------------------------------------
    def score_pairs(
        self, queries: list[str], docs: list[str], batch_size: int = 32
    ) -> torch.Tensor:
        pairs, query_lengths = self.pair_token_ids(queries, docs)
        device = self.device
        parts: list[torch.Tensor] = []
        orders: list[np.ndarray] = []
        for batch in length_sorted_batches([len(p) for p in pairs], batch_size):
            inputs = self.collate_pairs([pairs[i] for i in batch], query_lengths[batch])
            parts.append(self.forward_score(**{k: v.to(device) for k, v in inputs.items()}))
            orders.append(batch)
        if not parts:
            return torch.empty(0, device=device)
        scores = torch.cat(parts)
        return scores[torch.argsort(torch.from_numpy(np.concatenate(orders)).to(scores.device))]


# model_type -> how its *ForSequenceClassification turns last hidden states [n, L, h] into logits.
# BERT-style (MiniLM included) pools with BERT's pooler; the others read hidden[:, 0] inside.
CLASSIFIER_FAMILIES = (
    "bert",
    "electra",
    "roberta",
    "xlm-roberta",
    "camembert",
    "distilbert",
    "deberta-v2",
)


def check_sequence_classifier(model: nn.Module, where: str) -> None:
    """UserError unless `model` is a one-label *ForSequenceClassification."""
    config: Any = getattr(model, "config", None)
    name = type(model).__name__
    if not name.endswith("ForSequenceClassification"):
        raise UserError(
            f"{where}: a sequence-classification head needs a *ForSequenceClassification model, not {name}"
        )
    if int(getattr(config, "num_labels", 1)) != 1:
        raise UserError(
            f"{where}: {name} has {config.num_labels} labels; a cat ranker scores with one (a relevance logit)"
        )


def classifier_logits(model: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """The one-label logits [n] that `model` (a *ForSequenceClassification) computes from its
    encoder's last hidden states `hidden` [n, L, h]; for rankers that run the encoder
    themselves (prettr's split). Equal to `model(...).logits[:, 0]` on the same states."""
    family = str(getattr(getattr(model, "config", None), "model_type", ""))
    heads: Any = model
    if family == "bert":
        pooled = heads.bert.pooler(hidden)
        logits = heads.classifier(heads.dropout(pooled))
    elif family in ("electra", "roberta", "xlm-roberta", "camembert"):
        logits = heads.classifier(hidden)
    elif family == "distilbert":
        pooled = torch.relu(heads.pre_classifier(hidden[:, 0]))
        logits = heads.classifier(heads.dropout(pooled))
    elif family == "deberta-v2":
        logits = heads.classifier(heads.dropout(heads.pooler(hidden)))
    else:
        raise UserError(
            f"{type(model).__name__}: split scoring supports the sequence-classification heads of "
            f"{', '.join(CLASSIFIER_FAMILIES)}; use --arch cat"
        )
    result: torch.Tensor = logits[:, 0]
    return result
