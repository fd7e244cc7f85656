from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from kdbench.errors import UserError
from kdbench.profile.scenarios import fixed_batch

QUERY = "microglia respond to amyloid"
PASSAGE = " ".join(["Microglia are the resident immune cells of the brain."] * 20)


def test_fixed_batch_pads_every_kind_to_exactly_seq_len(tiny_dot: Any, tiny_bert_dir: Path) -> None:
    from kdbench.models import load_model

    pad = tiny_dot.tokenizer.pad_token_id
    for seq_len in (8, 24):
        batch = fixed_batch(tiny_dot, "query", ["short", QUERY], seq_len)
        assert batch["input_ids"].shape == (2, seq_len)
        # padding positions carry the pad id and a zero mask
        assert torch.equal(
            batch["input_ids"][batch["attention_mask"] == 0],
            torch.full_like(batch["input_ids"][batch["attention_mask"] == 0], pad),
        )
    long = fixed_batch(tiny_dot, "doc", [PASSAGE], 16)
    assert long["attention_mask"].sum() == 16  # truncated, ends in [SEP]
    assert long["input_ids"][0, -1] == tiny_dot.tokenizer.sep_token_id

    cat = load_model(tiny_bert_dir, "cat")
    pairs = fixed_batch(cat, "pair", [QUERY, QUERY], 20, [PASSAGE, "tiny"])
    assert set(pairs) == {"input_ids", "attention_mask", "token_type_ids"}
    # one budget of seq_len cut longest first: the short query stays whole, the passage fills the rest
    query_tokens = len(cat.tokenizer(QUERY)["input_ids"])
    assert pairs["input_ids"].shape == (2, 20) and pairs["attention_mask"][0].sum() == 20
    assert int((pairs["token_type_ids"][0] == 0).sum()) == query_tokens
    assert pairs["token_type_ids"][1].sum() < pairs["token_type_ids"][0].sum()  # the short passage

    colbert = load_model(tiny_bert_dir, "colbert")
    queries = fixed_batch(colbert, "query", ["short", QUERY], 16)
    assert queries["input_ids"].shape == (2, 16)
    mask_id = colbert.tokenizer.mask_token_id
    assert (
        queries["input_ids"][0] == mask_id
    ).sum() == colbert.spec.query_augment  # augmentation kept
    with pytest.raises(UserError, match="too short for colbert queries"):
        fixed_batch(colbert, "query", [QUERY], colbert.spec.query_augment + 2)


def test_fixed_batch_leaves_the_ranker_spec_unchanged(tiny_dot: Any) -> None:
    before = tiny_dot.spec
    fixed_batch(tiny_dot, "doc", [PASSAGE], 12)
    assert tiny_dot.spec is before
