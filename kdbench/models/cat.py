"""CAT (cross-encoder): the query and the passage are concatenated, "[CLS] q [SEP] d [SEP]",
and a linear head on the [CLS] vector gives the score. Most effective, least cacheable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from kdbench.errors import UserError
from kdbench.models.base import (
    ExportKind,
    ModelSpec,
    Ranker,
    TextKind,
    check_pairs,
    length_sorted_batches,
    pad_token_ids,
)


class CatRanker(Ranker):
    """Pair encoder + `head` (Linear(hidden, 1)) on the [CLS] vector."""

    arch: ClassVar[str] = "cat"
    export_methods: ClassVar[dict[ExportKind, str]] = {"pair": "forward_score"}

    def __init__(self, encoder: nn.Module, tokenizer: Any, spec: ModelSpec) -> None:
        super().__init__(encoder, tokenizer, spec)
        if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
            raise UserError(f"{spec.encoder}: cat needs a tokenizer with [CLS] and [SEP] tokens")
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

        The query is cut to fit `max_query_len` ("[CLS] q [SEP]") and the passage to fit
        `max_doc_len` ("d [SEP]"), so a long passage never pushes the query out.
        """
        check_pairs(queries, docs)
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
