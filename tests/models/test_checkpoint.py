"""save_checkpoint -> load_model round trips, and the atomic folder write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kdbench.errors import UserError
from kdbench.models import load_model, save_checkpoint
from kdbench.models.checkpoint import config_hash

QUERIES = ["what causes tides", "cats"]
DOCS = ["The Moon's gravity raises the tides.", "Cats sleep most of the day."]


@pytest.mark.parametrize(
    ("arch", "options"),
    [
        ("dot", {"pooling": "mean", "similarity": "cosine"}),
        ("cat", {"layers": 1}),
        ("colbert", {"colbert_dim": 8, "max_query_len": 16}),
    ],
)
def test_round_trip_gives_identical_scores(
    tiny_bert_dir: Path, tmp_path: Path, arch: str, options: dict
) -> None:
    torch.manual_seed(3)
    model = load_model(tiny_bert_dir, arch, **options)
    model.spec.score_scale = 2.0
    folder = save_checkpoint(model, tmp_path / "ckpt", {"config": {"lr": 7e-6}, "step": 10})
    restored = load_model(folder)  # no arch: kdbench.json carries it
    assert restored.spec == model.spec
    with torch.no_grad():
        torch.testing.assert_close(
            restored.score_pairs(QUERIES, DOCS), model.score_pairs(QUERIES, DOCS), rtol=0, atol=0
        )
    info = json.loads((folder / "kdbench.json").read_text())
    assert info["metadata"] == {"config": {"lr": 7e-6}, "step": 10}
    assert info["config_hash"] == config_hash({"lr": 7e-6})
    assert (folder / "model.safetensors").exists() and (folder / "config.json").exists()
    # cat is a plain *ForSequenceClassification folder; only colbert's compressor sits beside
    assert (folder / "head.safetensors").exists() == (arch == "colbert")


def test_checkpoint_is_replaced_whole_and_leaves_no_temporaries(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    target = tmp_path / "ckpt"
    save_checkpoint(load_model(tiny_bert_dir, "dot"), target, {"step": 1})
    save_checkpoint(load_model(tiny_bert_dir, "cat"), target, {"step": 2})
    assert load_model(target).arch == "cat"
    assert json.loads((target / "kdbench.json").read_text())["metadata"] == {"step": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_refuses_to_overwrite_another_folder(tiny_bert_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="not a kdbench checkpoint"):
        save_checkpoint(load_model(tiny_bert_dir, "dot"), tmp_path / "data", {})


def test_arch_conflict_with_checkpoint(tiny_bert_dir: Path, tmp_path: Path) -> None:
    folder = save_checkpoint(load_model(tiny_bert_dir, "colbert"), tmp_path / "ckpt", {})
    with pytest.raises(
        UserError, match="kdbench colbert checkpoint; drop --arch or pass --arch colbert"
    ):
        load_model(folder, "dot")


def test_a_prettr_checkpoint_runs_as_cat_and_back(tiny_bert_dir: Path, tmp_path: Path) -> None:
    """cat and prettr share every weight: `profile --baseline-arch cat` times a trained prettr
    as a cat. Same encoder and head weights; the cat gets a zero bias (prettr's head has none)."""
    torch.manual_seed(5)
    prettr = load_model(tiny_bert_dir, "prettr", split_layer=1)
    folder = save_checkpoint(prettr, tmp_path / "ckpt", {})
    cat = load_model(folder, "cat")
    assert cat.arch == "cat" and cat.spec.split_layer is None
    assert "passage_position_offset" not in cat.spec.extra
    for name, value in prettr.state_dict().items():
        torch.testing.assert_close(cat.state_dict()[name], value, rtol=0, atol=0)
    assert float(cat.state_dict()["head.bias"]) == 0.0
    again = load_model(save_checkpoint(cat, tmp_path / "as-cat", {}), "prettr", split_layer=1)
    assert again.arch == "prettr" and "head.bias" not in again.state_dict()
    with torch.no_grad():
        assert torch.isfinite(cat.score_pairs(QUERIES, DOCS)).all()


def test_missing_head_is_an_error(tiny_bert_dir: Path, tmp_path: Path) -> None:
    folder = save_checkpoint(
        load_model(tiny_bert_dir, "colbert", colbert_dim=8), tmp_path / "ckpt", {}
    )
    (folder / "head.safetensors").unlink()
    with pytest.raises(UserError, match="head weights"):
        load_model(folder)


def test_config_hash_is_order_independent() -> None:
    assert (
        config_hash({"a": 1, "b": [1, 2]})
        == config_hash({"b": [1, 2], "a": 1})
        != config_hash({"a": 2})
    )


def test_a_cat_checkpoint_from_before_the_classification_head_still_loads(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    """kdbench <= format 1 cats: the bare encoder, head.safetensors (Linear on [CLS]) and a spec
    without `head`/`pair_truncation`; they keep scoring "[CLS] q [SEP] d [SEP]" cut per part."""
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer

    folder = tmp_path / "old-cat"
    encoder = AutoModel.from_pretrained(tiny_bert_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    encoder.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(9)
    weight, bias = torch.randn(1, 32), torch.randn(1)
    save_file({"head.weight": weight, "head.bias": bias}, str(folder / "head.safetensors"))
    spec = {"arch": "cat", "encoder": str(tiny_bert_dir), "max_query_len": 6, "max_doc_len": 8}
    (folder / "kdbench.json").write_text(
        json.dumps({"format": "kdbench.checkpoint", "format_version": 1, "spec": spec})
    )
    model = load_model(folder)
    assert (model.spec.head, model.spec.pair_truncation) == ("cls-linear", "separate")
    query, doc = "what causes tides on earth", "The Moon's gravity raises the tides twice a day."
    q = tokenizer(query, add_special_tokens=False)["input_ids"][:4]
    d = tokenizer(doc, add_special_tokens=False)["input_ids"][:7]
    ids = [tokenizer.cls_token_id, *q, tokenizer.sep_token_id, *d, tokenizer.sep_token_id]
    types = [0] * (len(q) + 2) + [1] * (len(d) + 1)
    with torch.no_grad():
        hidden = encoder(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types]))[0]
        expected = hidden[:, 0] @ weight.T + bias
        torch.testing.assert_close(
            model.score_pairs([query], [doc]), expected[:, 0], rtol=1e-5, atol=1e-5
        )
