"""The paper's released checkpoint layouts, rebuilt with random weights under the same names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, DistilBertModel

from kdbench.errors import UserError
from kdbench.models import load_model
from kdbench.models.released import LAYOUTS, read_state_dict, split_state_dict

from .conftest import TINY_DISTILBERT, released_folder

QUERY = "what is the transformers library"
DOCS = [
    "We are very happy to show you the Transformers library for pre-trained language models.",
    "Hmm I don't like this new movie about transformers that i got from my local library.",
]
HIDDEN = TINY_DISTILBERT["dim"]


def paper_encoder(tiny_distilbert: Path) -> tuple[DistilBertModel, object]:
    """What the model cards' code builds: the DistilBERT and the plain BERT WordPiece tokenizer."""
    return DistilBertModel.from_pretrained(tiny_distilbert).eval(), AutoTokenizer.from_pretrained(
        tiny_distilbert
    )


@pytest.fixture
def cat_folder(tmp_path: Path, minilm_path: Path, tiny_distilbert: Path) -> Path:
    torch.manual_seed(5)
    head = {
        "_classification_layer.weight": torch.randn(1, HIDDEN),
        "_classification_layer.bias": torch.randn(1),
    }
    return released_folder(tmp_path, minilm_path, tiny_distilbert, "BERT_Cat", head, {})


@pytest.fixture
def colbert_folder(tmp_path: Path, minilm_path: Path, tiny_distilbert: Path) -> Path:
    torch.manual_seed(6)
    head = {
        "compressor.weight": torch.randn(HIDDEN, HIDDEN) / 10,
        "compressor.bias": torch.randn(HIDDEN) / 10,
    }
    return released_folder(
        tmp_path,
        minilm_path,
        tiny_distilbert,
        "ColBERT",
        head,
        {"compression_dim": HIDDEN, "return_vecs": False},
    )


def test_cat_layout_maps_every_weight(cat_folder: Path) -> None:
    state = read_state_dict(cat_folder, allow_pickle=True)
    encoder, head = split_state_dict(LAYOUTS["bert_cat"], state, cat_folder)
    assert set(head) == {"head.weight", "head.bias"}
    assert len(encoder) + len(head) == len(state)
    model = load_model(cat_folder, allow_pickle=True)  # raises on any missing/unexpected key
    assert model.arch == "cat" and model.token_type_input is False
    assert model.export_inputs("pair") == ("input_ids", "attention_mask")


def test_cat_scores_equal_the_model_card_forward(cat_folder: Path, tiny_distilbert: Path) -> None:
    model = load_model(cat_folder, allow_pickle=True)
    encoder, tokenizer = paper_encoder(tiny_distilbert)
    state = torch.load(cat_folder / "pytorch_model.bin", weights_only=True)
    with torch.no_grad():
        scores = model.score_pairs([QUERY, QUERY], DOCS)
        expected = []
        for doc in DOCS:
            pair = tokenizer(QUERY, doc, return_tensors="pt", return_token_type_ids=False)
            cls = encoder(**pair)[0][:, 0, :]
            expected.append(
                cls @ state["_classification_layer.weight"].T + state["_classification_layer.bias"]
            )
    torch.testing.assert_close(scores, torch.cat(expected).squeeze(-1), rtol=1e-4, atol=1e-4)


def test_colbert_scores_equal_the_model_card_forward(
    colbert_folder: Path, tiny_distilbert: Path
) -> None:
    model = load_model(colbert_folder, allow_pickle=True)
    assert (
        model.arch == "colbert"
        and model.spec.colbert_dim == HIDDEN
        and model.spec.similarity == "dot"
    )
    encoder, tokenizer = paper_encoder(tiny_distilbert)
    state = torch.load(colbert_folder / "pytorch_model.bin", weights_only=True)

    def represent(ids: list[int]) -> torch.Tensor:
        vecs = encoder(input_ids=torch.tensor([ids]))[0]
        return vecs @ state["compressor.weight"].T + state["compressor.bias"]

    with torch.no_grad():
        scores = model.score_pairs([QUERY, QUERY], DOCS)
        query = represent(
            tokenizer(QUERY)["input_ids"] + [tokenizer.mask_token_id] * 8
        )  # the card's augmentation
        expected = [
            torch.bmm(query, represent(tokenizer(doc)["input_ids"]).transpose(2, 1))
            .max(-1)
            .values.sum()
            for doc in DOCS
        ]
    torch.testing.assert_close(scores, torch.stack(expected), rtol=1e-4, atol=1e-3)


def test_released_dot_is_a_plain_distilbert(tiny_distilbert: Path) -> None:
    model = load_model(tiny_distilbert, "dot")
    assert (model.spec.pooling, model.spec.similarity) == (
        "cls",
        "dot",
    )  # the card: CLS vector, dot product
    encoder, tokenizer = paper_encoder(tiny_distilbert)
    with torch.no_grad():
        q = encoder(**tokenizer(QUERY, return_tensors="pt", return_token_type_ids=False))[0][
            :, 0, :
        ]
        d = encoder(**tokenizer(DOCS[0], return_tensors="pt", return_token_type_ids=False))[0][
            :, 0, :
        ]
        torch.testing.assert_close(
            model.score_pairs([QUERY], [DOCS[0]]), (q * d).sum(-1), rtol=1e-4, atol=1e-4
        )


def test_released_safetensors_variant_needs_no_pickle(
    tmp_path: Path, minilm_path: Path, tiny_distilbert: Path
) -> None:
    head = {
        "_classification_layer.weight": torch.randn(1, HIDDEN),
        "_classification_layer.bias": torch.randn(1),
    }
    folder = released_folder(
        tmp_path, minilm_path, tiny_distilbert, "BERT_Cat", head, {}, pickled=False
    )
    assert load_model(folder, "cat").arch == "cat"


def test_released_pickle_needs_allow_pickle(cat_folder: Path) -> None:
    with pytest.raises(UserError, match="--allow-pickle"):
        load_model(cat_folder)


def test_wrong_arch_for_a_released_layout(cat_folder: Path) -> None:
    with pytest.raises(UserError, match=r"BERT_Cat layout .*pass --arch cat"):
        load_model(cat_folder, "dot", allow_pickle=True)


def test_unexpected_keys_are_an_error(
    tmp_path: Path, minilm_path: Path, tiny_distilbert: Path
) -> None:
    head = {
        "_classification_head.weight": torch.randn(1, HIDDEN),
        "_classification_head.bias": torch.randn(1),
    }
    folder = released_folder(tmp_path, minilm_path, tiny_distilbert, "BERT_Cat", head, {})
    with pytest.raises(
        UserError, match=r"not a BERT_Cat checkpoint \(unexpected \['_classification_head"
    ):
        load_model(folder, allow_pickle=True)
