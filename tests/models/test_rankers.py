"""The three architectures on the tiny random BERT, checked against direct computations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer, BertModel

from kdbench.models import load_model
from kdbench.models.base import backbone
from kdbench.models.colbert import maxsim_scores

QUERIES = ["what is dense retrieval", "cats", "how do cross encoders rank passages in practice"]
DOCS = [
    "Dense retrieval encodes queries and passages into vectors.",
    "Cats sleep a lot.",
    "A cross-encoder reads the query and the passage together and outputs one relevance score.",
]


def reference_hidden(
    folder: Path, texts: list[str], max_length: int, **pair: list[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    tokenizer = AutoTokenizer.from_pretrained(folder)
    inputs = tokenizer(
        texts,
        *pair.values(),
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    encoder = BertModel.from_pretrained(folder).eval()
    with torch.no_grad():
        return encoder(**inputs).last_hidden_state, inputs["attention_mask"]


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_dot_pooling_matches_hand_computation(tiny_bert_dir: Path, pooling: str) -> None:
    model = load_model(tiny_bert_dir, "dot", pooling=pooling, max_doc_len=64)
    with torch.no_grad():
        vectors = model.encode_docs(DOCS, batch_size=2)
    hidden, mask = reference_hidden(tiny_bert_dir, DOCS, 64)
    if pooling == "mean":
        m = mask.unsqueeze(-1).float()
        expected = (hidden * m).sum(1) / m.sum(1)
    else:
        expected = hidden[:, 0]
    torch.testing.assert_close(vectors, expected, rtol=1e-5, atol=1e-5)


def test_dot_cosine_and_score_scale(tiny_bert_dir: Path) -> None:
    model = load_model(tiny_bert_dir, "dot", pooling="mean", similarity="cosine")
    model.spec.score_scale = 20.0
    with torch.no_grad():
        q, d = model.encode_queries(QUERIES), model.encode_docs(DOCS)
        scores = model.score_pairs(QUERIES, DOCS)
    torch.testing.assert_close(q.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(scores, 20.0 * F.cosine_similarity(q, d), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ["dot", "cat", "colbert"])
def test_score_pairs_keeps_input_order_whatever_the_batching(
    tiny_bert_dir: Path, arch: str
) -> None:
    model = load_model(tiny_bert_dir, arch)
    with torch.no_grad():
        together = model.score_pairs(QUERIES, DOCS, batch_size=2)
        one_by_one = torch.cat(
            [model.score_pairs([q], [d], batch_size=1) for q, d in zip(QUERIES, DOCS, strict=True)]
        )
    torch.testing.assert_close(together, one_by_one, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("arch", ["dot", "cat", "colbert"])
def test_score_pairs_trains(tiny_bert_dir: Path, arch: str) -> None:
    model = load_model(tiny_bert_dir, arch, colbert_dim=8 if arch == "colbert" else None)
    model.train()
    model.score_pairs(QUERIES, DOCS, batch_size=2).sum().backward()
    word_embeddings = backbone(model.encoder).embeddings.word_embeddings.weight
    assert word_embeddings.grad is not None and word_embeddings.grad.abs().sum() > 0


def test_colbert_appends_eight_masks_after_each_query(tiny_bert_dir: Path) -> None:
    model = load_model(tiny_bert_dir, "colbert")
    tokenizer = model.tokenizer
    inputs = model.tokenize(["cats", "what is dense retrieval"], "query")
    for row, mask in zip(
        inputs["input_ids"].tolist(), inputs["attention_mask"].tolist(), strict=True
    ):
        real = row[: sum(mask)]
        assert real[-8:] == [tokenizer.mask_token_id] * 8
        assert real[-9] == tokenizer.sep_token_id and real[0] == tokenizer.cls_token_id
        assert set(row[sum(mask) :]) <= {tokenizer.pad_token_id}


def test_colbert_passage_padding_does_not_change_scores(tiny_bert_dir: Path) -> None:
    model = load_model(tiny_bert_dir, "colbert")
    with torch.no_grad():
        q_vecs, q_mask = model.encode_queries(["dense retrieval"])
        alone_vecs, alone_mask = model.encode_docs([DOCS[1]])
        padded_vecs, padded_mask = model.encode_docs([DOCS[1], DOCS[2] * 5])
    assert padded_vecs.shape[1] > alone_vecs.shape[1]  # the short passage is padded in the batch
    alone = maxsim_scores(q_vecs[0], q_mask[0], alone_vecs, alone_mask)
    padded = maxsim_scores(q_vecs[0], q_mask[0], padded_vecs, padded_mask)
    torch.testing.assert_close(padded[0], alone[0], rtol=1e-5, atol=1e-5)
    assert padded_vecs[0, ~padded_mask[0]].abs().sum() == 0


def test_colbert_compression_and_cosine(tiny_bert_dir: Path) -> None:
    model = load_model(tiny_bert_dir, "colbert", colbert_dim=8, similarity="cosine")
    with torch.no_grad():
        vecs, mask = model.encode_docs(DOCS)
    assert vecs.shape[-1] == 8 == model.dim
    torch.testing.assert_close(vecs[mask].norm(dim=-1), torch.ones(int(mask.sum())))


def test_colbert_matches_hand_computation(tiny_bert_dir: Path) -> None:
    model = load_model(tiny_bert_dir, "colbert", colbert_dim=8)
    with torch.no_grad():
        score = model.score_pairs([QUERIES[0]], [DOCS[0]])
        tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
        encoder = BertModel.from_pretrained(tiny_bert_dir).eval()
        q_ids = (
            tokenizer(QUERIES[0], truncation=True, max_length=32)["input_ids"]
            + [tokenizer.mask_token_id] * 8
        )
        q = model.compressor(encoder(input_ids=torch.tensor([q_ids])).last_hidden_state[0])
        d = model.compressor(
            encoder(**tokenizer(DOCS[0], return_tensors="pt")).last_hidden_state[0]
        )
        expected = (q @ d.T).max(dim=1).values.sum()
    torch.testing.assert_close(score[0], expected, rtol=1e-4, atol=1e-4)


def test_cat_pairs_truncate_the_passage_not_the_query(tiny_bert_dir: Path) -> None:
    """pair_truncation "separate" (kdbench cats before the classification head)."""
    model = load_model(tiny_bert_dir, "cat", max_query_len=8, max_doc_len=10)
    model.spec.pair_truncation = "separate"
    tokenizer = model.tokenizer
    long_query = "one two three four five six seven eight nine ten"
    inputs = model.tokenize([long_query, "cats"], "pair", pair_docs=[DOCS[2] * 3, "dogs"])
    ids, types = inputs["input_ids"].tolist(), inputs["token_type_ids"].tolist()
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    query_ids = tokenizer(long_query, add_special_tokens=False)["input_ids"][:6]
    passage_ids = tokenizer(DOCS[2] * 3, add_special_tokens=False)["input_ids"][:9]
    assert ids[0] == [
        cls,
        *query_ids,
        sep,
        *passage_ids,
        sep,
    ]  # 8 query-side tokens + 10 passage-side
    assert types[0] == [0] * 8 + [1] * 10
    short = [
        cls,
        *tokenizer("cats", add_special_tokens=False)["input_ids"],
        sep,
        *tokenizer("dogs", add_special_tokens=False)["input_ids"],
        sep,
    ]
    assert ids[1][: len(short)] == short and set(ids[1][len(short) :]) == {tokenizer.pad_token_id}
    assert inputs["attention_mask"][1].sum() == len(short)


def test_cat_pairs_longest_first_are_the_tokenizers_own(tiny_bert_dir: Path) -> None:
    model = load_model(tiny_bert_dir, "cat", max_query_len=8, max_doc_len=10)
    long_query = "one two three four five six seven eight nine ten"
    queries, docs = [long_query, "cats"], [DOCS[2] * 3, "dogs"]
    inputs = model.tokenize(queries, "pair", pair_docs=docs)
    expected = model.tokenizer(
        queries, docs, truncation="longest_first", max_length=18, padding=True, return_tensors="pt"
    )
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert torch.equal(inputs[key], expected[key]), key


def test_cat_matches_hand_computation(tiny_bert_dir: Path) -> None:
    """The sequence-classification head: BERT's pooler, then the classifier, on [CLS]."""
    model = load_model(tiny_bert_dir, "cat")
    classifier: Any = model.encoder
    with torch.no_grad():
        scores = model.score_pairs(QUERIES, DOCS)
        hidden, _ = reference_hidden(tiny_bert_dir, QUERIES, 288, pair=DOCS)
        pooled = torch.tanh(classifier.bert.pooler.dense(hidden[:, 0]))
        expected = classifier.classifier(pooled).squeeze(-1)
    torch.testing.assert_close(scores, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("arch", "kind"), [("dot", "query"), ("dot", "doc"), ("colbert", "query"), ("cat", "pair")]
)
def test_export_module_takes_tokenize_output(tiny_bert_dir: Path, arch: str, kind: str) -> None:
    model = load_model(tiny_bert_dir, arch)
    pair_docs = DOCS if kind == "pair" else None
    inputs = model.tokenize(QUERIES, kind, pair_docs=pair_docs)  # type: ignore[arg-type]
    assert tuple(inputs) == model.export_inputs(kind)  # type: ignore[arg-type]
    with torch.no_grad():
        out = model.export_module(kind)(*inputs.values())  # type: ignore[arg-type]
        if arch == "cat":
            torch.testing.assert_close(out, model.score_pairs(QUERIES, DOCS))
        elif arch == "dot":
            torch.testing.assert_close(
                out,
                model.encode_queries(QUERIES) if kind == "query" else model.encode_docs(QUERIES),
            )
        else:
            vecs, mask = model.encode_queries(QUERIES)
            torch.testing.assert_close(out, vecs)
            assert torch.equal(inputs["attention_mask"].bool(), mask)


def test_export_kinds_are_checked(tiny_bert_dir: Path) -> None:
    with pytest.raises(ValueError, match="has no 'pair' input"):
        load_model(tiny_bert_dir, "dot").export_module("pair")
    with pytest.raises(ValueError, match="pass pair_docs"):
        load_model(tiny_bert_dir, "cat").tokenize(QUERIES, "pair")
