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


def test_colbert_layout_masks_scale_and_compression(
    tmp_path: Path, minilm_path: Path, tiny_distilbert: Path
) -> None:
    """'[CLS] q [SEP] [MASK]x8 [PAD]...' with the masks attended; a dot product per term (no
    cosine): doubling a zero-bias compressor scales every score by 4; compression_dim honoured."""
    torch.manual_seed(8)
    weight = torch.randn(16, HIDDEN) / 10
    heads = {
        scale: {"compressor.weight": weight * scale, "compressor.bias": torch.zeros(16)}
        for scale in (1, 2)
    }
    for scale in heads:
        (tmp_path / str(scale)).mkdir()
    models = [
        load_model(
            released_folder(
                tmp_path / str(scale), minilm_path, tiny_distilbert, "ColBERT", head,
                {"compression_dim": 16},
            ),
            allow_pickle=True,
        )
        for scale, head in heads.items()
    ]  # fmt: skip
    single, double = models
    assert single.dim == 16 and single.spec.similarity == "dot"
    assert (single.spec.max_query_len, single.spec.max_doc_len) == (30, 200)
    tokenizer = single.tokenizer
    inputs = single.tokenize(["cats", QUERY], "query")
    short = inputs["input_ids"][0].tolist()
    length = len(tokenizer("cats")["input_ids"])
    assert short[length - 1] == tokenizer.sep_token_id
    assert short[length : length + 8] == [tokenizer.mask_token_id] * 8
    assert set(short[length + 8 :]) == {tokenizer.pad_token_id}
    assert inputs["attention_mask"][0].tolist() == [1] * (length + 8) + [0] * (
        len(short) - length - 8
    )
    with torch.no_grad():
        vecs, mask = single.encode_queries(["cats"])
        assert vecs.shape[-1] == 16 and bool(mask[0, length : length + 8].all())
        scores = single.score_pairs([QUERY, QUERY], DOCS)
        torch.testing.assert_close(double.score_pairs([QUERY, QUERY], DOCS), 4 * scores)


def test_released_cat_cuts_pairs_longest_first_at_230(cat_folder: Path) -> None:
    model = load_model(cat_folder, allow_pickle=True)
    assert (model.spec.pair_truncation, model.spec.max_query_len + model.spec.max_doc_len) == (
        "longest_first",
        230,
    )
    long_doc = " ".join(DOCS * 40)
    inputs = model.tokenize([QUERY], "pair", pair_docs=[long_doc])
    expected = model.tokenizer(QUERY, long_doc, truncation="longest_first", max_length=230)
    assert inputs["input_ids"][0].tolist() == expected["input_ids"]
