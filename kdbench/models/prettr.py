"""PreTTR (MacAvaney et al., SIGIR 2020): query and passage pass layers 1..l apart, then
layers l+1..L jointly; a linear head on the [CLS] vector gives the score.

Passage states after layer l depend on the passage alone, so a re-ranker computes them
at indexing time (`encode_passage_states`) and at query time runs only the query's first
l layers and the joint top layers (`score_with_cache`). This is the layout of the paper's
released `prettr-distilbert-split_at_3-margin_mse-T2-msmarco` (its model card's code):

- the query is "[CLS] q [SEP]" at positions 0, 1, ...; the passage is "d [SEP]" (no
  [CLS]) at positions starting after the query's slot; both attend only to their own
  tokens (their own padding masks) in layers 1..l, and to the concatenation afterwards;
- the score is `head(h_L[CLS])`, a Linear(hidden, 1) without bias (or, for a model with
  the sequence-classification head, that head over the joint states: `classifier_logits`).

Positions (`ModelSpec.extra`, see `passage_positions`): the card's code appends 8 [MASK]
tokens to every query ("[CLS] q [SEP] [MASK]x8", attended, `QUERY_MASKS_KEY`) and starts the
passage's positions at the *query's width* ("query_width", the released layout's default).
A passage's states then depend on the query they are scored with, so they cannot be cached
before the query is known: the cached design uses a *fixed* offset instead ("fixed", the
query slot `passage_position_offset`, max_query_len + masks when the model was built), as
PreTTR itself does with its fixed-length query slot, and cached and uncached scores agree.
kdbench's own prettr models (masks 0, fixed) and `profile`'s cached re-ranking use "fixed".
In "query_width" mode each pair's passage starts at its own query's width: pairs are
batched by query width, so no padding sits between query and passage and a score never
depends on the other queries in its batch (the card's single-query call, and re-ranking,
are exactly this). Encoders with segment embeddings (BERT, MiniLM, ELECTRA) give passage
tokens segment 1, as a cross-encoder would.

Encoder families (`EncoderStack`): BERT/MiniLM, ELECTRA, RoBERTa/XLM-RoBERTa, DistilBERT
and DeBERTa-v2/v3 (its relative positions are built from the same position ids, so the
padding between query and passage in the joint sequence does not shift them).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
    backbone,
    check_pairs,
    length_sorted_batches,
    pad_token_ids,
    position_offset,
)
from kdbench.models.cat import check_sequence_classifier, classifier_logits
from kdbench.models.colbert import TermVectors

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

DEFAULT_SPLIT_LAYER = 3
OFFSET_KEY = "passage_position_offset"
QUERY_MASKS_KEY = "query_masks"  # [MASK] tokens appended to every query (the released layout: 8)
POSITIONS_KEY = "passage_positions"  # "fixed" (absent: kdbench's own) | "query_width" (the card's)
POSITION_MODES = ("fixed", "query_width")
BERT_LIKE = ("bert", "electra", "roberta", "xlm-roberta", "camembert")
FAMILIES = ("distilbert", "deberta-v2", *BERT_LIKE)

PassageStates = TermVectors  # packed [tokens, hidden] states after layer l + per-passage offsets


class EncoderStack:
    """An encoder's embeddings and layers, run one layer range at a time.

    A view, not a module: it holds no weights of its own, so the ranker's state dict (and
    its released-layout mapping) stays the encoder's plus the head.
    """

    def __init__(self, encoder: nn.Module, where: str = "encoder") -> None:
        config: Any = encoder.config
        self.encoder: Any = encoder
        self.config = config
        self.family = str(getattr(config, "model_type", type(encoder).__name__))
        if self.family not in FAMILIES:
            raise UserError(
                f"{where}: prettr splits {', '.join(FAMILIES)} encoders, not {self.family!r}; "
                "use --arch cat for a joint encoder"
            )
        parent: Any = getattr(encoder, "transformer" if self.family == "distilbert" else "encoder")
        self.layers: nn.ModuleList = parent.layer
        self.position_base = position_offset(encoder)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def max_positions(self) -> int:
        """Usable positions (RoBERTa's first padding_idx + 1 rows are not token positions)."""
        return int(getattr(self.config, "max_position_embeddings", 512)) - self.position_base

    def embed(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        token_type_ids: torch.Tensor,
    ) -> torch.Tensor:
        """Token ids [n, L] at `position_ids` [1, L] -> layer-0 states [n, L, hidden]."""
        embeddings = self.encoder.embeddings
        if self.family == "distilbert":
            hidden: torch.Tensor = embeddings(input_ids, None, position_ids)
            return hidden
        if self.family == "deberta-v2":
            hidden = embeddings(
                input_ids=input_ids,
                token_type_ids=token_type_ids,
                position_ids=position_ids,
                mask=attention_mask,
            )
            return hidden
        hidden = embeddings(
            input_ids=input_ids,
            token_type_ids=token_type_ids,
            position_ids=position_ids + self.position_base,
        )
        project = getattr(self.encoder, "embeddings_project", None)  # ELECTRA's small embeddings
        return project(hidden) if project is not None else hidden

    def run(
        self,
        hidden: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        start: int,
        stop: int,
    ) -> torch.Tensor:
        """Layers start+1..stop over `hidden` [n, L, h] with padding mask [n, L]."""
        if self.family == "deberta-v2":
            return self._run_deberta(hidden, attention_mask, position_ids, start, stop)
        from transformers.masking_utils import create_bidirectional_mask

        mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=hidden, attention_mask=attention_mask
        )
        for layer in self.layers[start:stop]:
            hidden = layer(hidden, mask)
        return hidden

    def _run_deberta(
        self,
        hidden: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        start: int,
        stop: int,
    ) -> torch.Tensor:
        from transformers.models.deberta_v2.modeling_deberta_v2 import make_log_bucket_position

        stack = self.encoder.encoder
        relative_pos = None
        if stack.relative_attention:
            # Relative distances from the tokens' positions, not their indices in the
            # (padded) joint sequence.
            positions = position_ids[0]
            relative = positions[:, None] - positions[None, :]
            if stack.position_buckets > 0 and stack.max_relative_positions > 0:
                relative = make_log_bucket_position(
                    relative, stack.position_buckets, stack.max_relative_positions
                )
            relative_pos = relative.to(torch.long).unsqueeze(0)
        mask = stack.get_attention_mask(attention_mask)
        rel_embeddings = stack.get_rel_embedding()
        for index in range(start, stop):
            output, _ = self.layers[index](
                hidden, mask, relative_pos=relative_pos, rel_embeddings=rel_embeddings
            )
            if index == 0 and stack.conv is not None:
                output = stack.conv(hidden, output, attention_mask)
            hidden = output
        return hidden


class PrettrRanker(RankerModule):
    """Split encoder + `head` (Linear(hidden, 1), no bias) on the joint [CLS] vector."""

    arch: ClassVar[str] = "prettr"
    # "doc": passage -> states after layer l (the cache); "pair": query + cached passage states -> score.
    export_methods: ClassVar[dict[ExportKind, str]] = {
        "doc": "forward_passage_states",
        "pair": "forward_score",
    }

    def __init__(
        self, encoder: nn.Module, tokenizer: PreTrainedTokenizerBase, spec: ModelSpec
    ) -> None:
        super().__init__(encoder, tokenizer, spec)
        if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
            raise UserError(f"{spec.encoder}: prettr needs a tokenizer with [CLS] and [SEP] tokens")
        stack = EncoderStack(backbone(encoder), where=spec.encoder)
        if spec.split_layer is None:
            spec.split_layer = DEFAULT_SPLIT_LAYER
        if not 1 <= spec.split_layer < stack.num_layers:
            raise UserError(
                f"{spec.encoder}: --split-layer {spec.split_layer} needs {spec.split_layer + 1}+ layers "
                f"and the encoder has {stack.num_layers}; pass --split-layer between 1 and {stack.num_layers - 1}"
                if stack.num_layers > 1
                else f"{spec.encoder}: prettr needs at least 2 encoder layers (it has 1)"
            )
        masks = int(spec.extra.get(QUERY_MASKS_KEY, 0))
        if masks and tokenizer.mask_token_id is None:
            raise UserError(
                f"{spec.encoder}: the query's [MASK] tokens need a tokenizer with [MASK]"
            )
        if spec.extra.get(POSITIONS_KEY, "fixed") not in POSITION_MODES:
            raise UserError(
                f"{spec.encoder}: passage_positions {spec.extra[POSITIONS_KEY]!r}; choose one of "
                f"{', '.join(POSITION_MODES)}"
            )
        offset = int(spec.extra.setdefault(OFFSET_KEY, spec.max_query_len + masks))
        if spec.max_query_len + masks > offset:
            raise UserError(
                f"{spec.encoder}: --max-query-len {spec.max_query_len} exceeds the {offset - masks}-token query "
                f"slot this prettr model was built with; pass --max-query-len {offset - masks} or less"
            )
        if offset + spec.max_doc_len > stack.max_positions:
            raise UserError(
                f"{spec.encoder}: query slot {offset} + --max-doc-len {spec.max_doc_len} tokens exceeds "
                f"the encoder's {stack.max_positions} positions; lower --max-doc-len"
            )
        if spec.head == "sequence-classification":  # a hub cross-encoder's own head, split
            check_sequence_classifier(encoder, where=spec.encoder)
        else:
            self.head = nn.Linear(self.hidden_size, 1, bias=False)

    @classmethod
    def position_needs(cls, spec: ModelSpec) -> dict[str, int]:
        # passages sit after the query slot, which __init__ checks itself
        return {"--max-query-len + --max-doc-len": spec.max_query_len + spec.max_doc_len}

    # -- properties ---------------------------------------------------------------------------
    @property
    def split_layer(self) -> int:
        assert self.spec.split_layer is not None  # set in __init__
        return self.spec.split_layer

    @property
    def passage_offset(self) -> int:
        """Position of a passage's first token in "fixed" mode (after the query slot)."""
        return int(self.spec.extra[OFFSET_KEY])

    @property
    def passage_positions(self) -> str:
        """ "fixed" (cacheable) or "query_width" (the released card's: after each query)."""
        return str(self.spec.extra.get(POSITIONS_KEY, "fixed"))

    @property
    def query_masks(self) -> int:
        return int(self.spec.extra.get(QUERY_MASKS_KEY, 0))

    def _offset(self, query_width: int) -> int:
        return query_width if self.passage_positions == "query_width" else self.passage_offset

    def collate(self, ids: Sequence[Sequence[int]], kind: TextKind) -> dict[str, torch.Tensor]:
        # The released layout's queries carry [MASK] tokens after their [SEP], attended to,
        # before the padding (as colbert's).
        append = [self.tokenizer.mask_token_id] * self.query_masks if kind == "query" else []
        input_ids, attention_mask = pad_token_ids(ids, self.tokenizer.pad_token_id, append)
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def stack(self) -> EncoderStack:
        return EncoderStack(backbone(self.encoder))

    # -- tensor level ---------------------------------------------------------------------------
    def _split_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, offset: int, segment: int
    ) -> torch.Tensor:
        stack = self.stack()
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0) + offset
        segments = torch.full_like(input_ids, segment)
        hidden = stack.embed(input_ids, attention_mask, positions, segments)
        return stack.run(hidden, attention_mask, positions, 0, self.split_layer)

    def forward_query_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """'[CLS] q [SEP]' ids [n, Lq] -> states after layer l [n, Lq, hidden]."""
        return self._split_states(input_ids, attention_mask, 0, 0)

    def forward_passage_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, offset: int | None = None
    ) -> torch.Tensor:
        """'d [SEP]' ids [n, Ld] -> states after layer l [n, Ld, hidden], zero at padding.

        `offset`: the position of the first passage token (None: the fixed query slot)."""
        segment = 1 if self.token_type_input else 0
        offset = self.passage_offset if offset is None else offset
        states = self._split_states(input_ids, attention_mask, offset, segment)
        return states * attention_mask.unsqueeze(-1).to(states.dtype)

    def forward_joint(
        self,
        query_states: torch.Tensor,
        query_mask: torch.Tensor,
        passage_states: torch.Tensor,
        passage_mask: torch.Tensor,
        offset: int | None = None,
    ) -> torch.Tensor:
        """Layers l+1..L over the concatenated states -> scores [n] (`offset` as for the passage
        states; only DeBERTa's relative positions read it here)."""
        device = query_states.device
        offset = self.passage_offset if offset is None else offset
        positions = torch.cat(
            [
                torch.arange(query_states.shape[1], device=device),
                torch.arange(passage_states.shape[1], device=device) + offset,
            ]
        ).unsqueeze(0)
        hidden = torch.cat([query_states, passage_states.to(query_states.dtype)], dim=1)
        mask = torch.cat([query_mask, passage_mask.to(query_mask.dtype)], dim=1)
        stack = self.stack()
        hidden = stack.run(hidden, mask, positions, self.split_layer, stack.num_layers)
        if self.spec.head == "sequence-classification":
            return classifier_logits(self.encoder, hidden)
        score: torch.Tensor = self.head(hidden[:, 0]).squeeze(-1)
        return score

    def forward_score(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        passage_states: torch.Tensor,
        passage_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Query ids [n, Lq] + cached passage states [n, Ld, h] -> scores [n] (the query-time work)."""
        query_states = self.forward_query_states(input_ids, attention_mask)
        return self.forward_joint(query_states, attention_mask, passage_states, passage_mask)

    # -- tokenization ---------------------------------------------------------------------------
    def token_ids(self, texts: Sequence[str], kind: TextKind) -> list[list[int]]:
        """Queries as '[CLS] q [SEP]', passages as 'd [SEP]' (the joint sequence has one [CLS])."""
        if kind == "query":
            return super().token_ids(texts, kind)
        encoded = self.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.spec.max_doc_len - 1,
            add_special_tokens=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        sep = self.tokenizer.sep_token_id
        return [[*ids, sep] for ids in encoded["input_ids"]]

    def export_inputs(self, kind: ExportKind) -> tuple[str, ...]:
        self._check_kind(kind)
        if kind == "pair":
            return ("input_ids", "attention_mask", "passage_states", "passage_mask")
        return ("input_ids", "attention_mask")

    def tokenize(
        self, texts: list[str], kind: ExportKind, pair_docs: list[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Kind "doc": passage ids. Kind "pair": query ids plus the passages' cached states
        (computed here, as an index holds them), so `export_module("pair")` is query-time work."""
        self._check_kind(kind)
        if kind == "doc":
            return self.collate(self.token_ids(texts, "doc"), "doc")
        if pair_docs is None:
            raise ValueError("prettr scores (query, cached passage) pairs: pass pair_docs")
        check_pairs(texts, pair_docs)
        inputs = self.collate(self.token_ids(texts, "query"), "query")
        with torch.no_grad():
            states, mask = self.encode_passage_states(pair_docs, out_device=self.device).padded()
        inputs["passage_states"] = states.cpu()
        inputs["passage_mask"] = mask.long().cpu()
        return inputs

    # -- text level -----------------------------------------------------------------------------
    def score_pairs(
        self, queries: list[str], docs: list[str], batch_size: int = 32
    ) -> torch.Tensor:
        """Uncached scoring, under the caller's grad mode (training calls it with grad)."""
        check_pairs(queries, docs)
        query_ids = self.token_ids(queries, "query")
        doc_ids = self.token_ids(docs, "doc")
        device = self.device
        parts: list[torch.Tensor] = []
        orders: list[np.ndarray] = []
        for batch in self._pair_batches(query_ids, doc_ids, batch_size):
            q = self.collate([query_ids[i] for i in batch], "query")
            d = self.collate([doc_ids[i] for i in batch], "doc")
            q_mask, d_mask = q["attention_mask"].to(device), d["attention_mask"].to(device)
            offset = self._offset(q_mask.shape[1])
            passage_states = self.forward_passage_states(d["input_ids"].to(device), d_mask, offset)
            query_states = self.forward_query_states(q["input_ids"].to(device), q_mask)
            parts.append(self.forward_joint(query_states, q_mask, passage_states, d_mask, offset))
            orders.append(batch)
        return _in_input_order(parts, orders, device)

    def _pair_batches(
        self, query_ids: list[list[int]], doc_ids: list[list[int]], batch_size: int
    ) -> Iterator[np.ndarray]:
        """Length-sorted batches; in "query_width" mode each batch holds one query width, so
        every passage starts right after its own query."""
        if self.passage_positions == "fixed":
            yield from length_sorted_batches([len(d) for d in doc_ids], batch_size)
            return
        widths = np.fromiter(map(len, query_ids), dtype=np.int64, count=len(query_ids))
        for width in np.unique(widths):
            group = np.flatnonzero(widths == width)
            for batch in length_sorted_batches([len(doc_ids[i]) for i in group], batch_size):
                yield group[batch]

    def use_fixed_positions(self) -> None:
        """Switch to the cacheable mode: passages start at the fixed query slot."""
        self.spec.extra[POSITIONS_KEY] = "fixed"

    def _need_fixed_positions(self) -> None:
        if self.passage_positions != "fixed":
            raise UserError(
                f"{self.spec.encoder}: its passages start after each query (passage_positions "
                "query_width, the released PreTTR's), so their states cannot be cached before the "
                "query is known; cached scoring needs passage_positions fixed (`use_fixed_positions`)"
            )

    def encode_passage_states(
        self,
        docs: Sequence[str],
        batch_size: int = 32,
        *,
        dtype: torch.dtype | None = None,
        out_device: str | torch.device = "cpu",
    ) -> PassageStates:
        """The cache: every passage's states after layer l, packed without padding (no grad).

        `dtype=torch.float16` halves it; `cache_bytes_per_passage` gives its size.
        """
        self._need_fixed_positions()
        doc_ids = self.token_ids(docs, "doc")
        device, out = self.device, torch.device(out_device)
        dtype = dtype or next(self.parameters()).dtype
        rows: list[torch.Tensor] = [torch.empty(0)] * len(doc_ids)
        with torch.no_grad():
            for batch in length_sorted_batches([len(d) for d in doc_ids], batch_size):
                inputs = self.collate([doc_ids[i] for i in batch], "doc")
                mask = inputs["attention_mask"].to(device)
                states = self.forward_passage_states(inputs["input_ids"].to(device), mask)
                for row, index in enumerate(batch):
                    length = len(doc_ids[index])
                    rows[index] = states[row, :length].to(out, dtype)
        lengths = torch.tensor([len(d) for d in doc_ids], dtype=torch.long, device=out)
        offsets = torch.zeros(len(doc_ids) + 1, dtype=torch.long, device=out)
        offsets[1:] = torch.cumsum(lengths, 0)
        if not rows:
            return TermVectors(torch.empty(0, self.hidden_size, dtype=dtype, device=out), offsets)
        return TermVectors(torch.cat(rows), offsets)

    def score_with_cache(
        self,
        queries: list[str],
        cache: PassageStates,
        indices: Sequence[int] | None = None,
        batch_size: int = 32,
    ) -> torch.Tensor:
        """Score (queries[i], cached passage indices[i]) pairs (indices default: i) -> Tensor[n].

        Each distinct query passes layers 1..l once, however many passages it is scored with.
        """
        self._need_fixed_positions()
        rows = list(range(len(queries))) if indices is None else [int(i) for i in indices]
        if len(rows) != len(queries):
            raise ValueError(
                f"score_with_cache needs one passage index per query (got {len(queries)} queries, {len(rows)} indices)"
            )
        device = self.device
        distinct = list(dict.fromkeys(queries))
        query_row = {query: row for row, query in enumerate(distinct)}
        query_ids = self.token_ids(distinct, "query")
        inputs = self.collate(query_ids, "query")
        query_mask = inputs["attention_mask"].to(device)
        query_states = self.forward_query_states(inputs["input_ids"].to(device), query_mask)
        lengths = cache.lengths.tolist()
        parts: list[torch.Tensor] = []
        orders: list[np.ndarray] = []
        for batch in length_sorted_batches([lengths[r] for r in rows], batch_size):
            q_index = torch.tensor([query_row[queries[i]] for i in batch], device=device)
            states, mask = cache.padded([rows[i] for i in batch])
            width = int(query_mask[q_index].sum(1).max())  # trim the distinct queries' padding
            parts.append(
                self.forward_joint(
                    query_states[q_index, :width],
                    query_mask[q_index, :width],
                    states.to(device, query_states.dtype),
                    mask.to(device).long(),
                )
            )
            orders.append(batch)
        return _in_input_order(parts, orders, device)


def cache_bytes_per_passage(cache: PassageStates) -> float:
    """Mean bytes a passage's cached states take (tokens x hidden x element size)."""
    if len(cache) == 0:
        return 0.0
    per_token = cache.vecs.shape[-1] * cache.vecs.element_size()
    return float(cache.lengths.float().mean()) * per_token


def _in_input_order(
    parts: list[torch.Tensor], orders: list[np.ndarray], device: torch.device
) -> torch.Tensor:
    if not parts:
        return torch.empty(0, device=device)
    scores = torch.cat(parts)
    order = torch.from_numpy(np.concatenate(orders)).to(scores.device)
    return scores[torch.argsort(order)]  # a gather, so grads flow
