"""Hub cross-encoders (one-label *ForSequenceClassification) as `cat`: scores equal transformers'
logits and sentence-transformers' CrossEncoder.predict on real SciFact pairs; a trained cat is a
folder CrossEncoder loads; the same heads split as prettr."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DebertaV2Config,
    DistilBertConfig,
    ElectraConfig,
    RobertaConfig,
)

from kdbench.models import load_model, save_checkpoint
from kdbench.models.base import uses_token_type_ids
from kdbench.models.cat import classifier_logits

TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}
FAMILIES = {
    "electra": lambda vocab: ElectraConfig(vocab_size=vocab, embedding_size=16, **TINY),
    "distilbert": lambda vocab: DistilBertConfig(
        vocab_size=vocab, dim=32, n_layers=2, n_heads=2, hidden_dim=64
    ),
    "roberta": lambda vocab: RobertaConfig(
        vocab_size=vocab, pad_token_id=0, max_position_embeddings=130, **TINY
    ),
    "deberta-v2": lambda vocab: DebertaV2Config(
        vocab_size=vocab, relative_attention=True, position_buckets=16, type_vocab_size=0, **TINY
    ),
}


@pytest.fixture(scope="module")
def scifact_pairs(scifact_dir: Path) -> tuple[list[str], list[str]]:
    """Eight real (claim, abstract) pairs: abstracts run past 512 tokens, so truncation counts."""
    lines = (scifact_dir / "queries.jsonl").read_text().splitlines()
    queries = [json.loads(line)["text"] for line in lines[:8]]
    docs = []
    with open(scifact_dir / "corpus.jsonl") as corpus:
        for line in corpus:
            record = json.loads(line)
            docs.append(f"{record['title']} {record['text']}")
            if len(docs) == 8:
                break
    return queries, docs


@pytest.fixture(scope="module")
def minilm_cross_encoder(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """all-MiniLM-L6-v2's BERT with its pooler and a seeded one-label classifier, saved as a
    BertForSequenceClassification folder: a hub cross-encoder, offline."""
    torch.manual_seed(13)
    folder = tmp_path_factory.mktemp("minilm-cross-encoder")
    AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=1).save_pretrained(
        folder
    )
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family_cross_encoder(
    request: pytest.FixtureRequest, minilm_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A tiny random one-label *ForSequenceClassification of another family, MiniLM's tokenizer."""
    torch.manual_seed(17)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = FAMILIES[request.param](tokenizer.vocab_size)
    config.num_labels = 1
    folder = tmp_path_factory.mktemp(f"tiny-{request.param}")
    AutoModelForSequenceClassification.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def reference_logits(
    folder: Path, queries: list[str], docs: list[str], budget: int
) -> torch.Tensor:
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    inputs = tokenizer(
        queries, docs, truncation="longest_first", max_length=budget, padding=True,
        return_tensors="pt",
    )  # fmt: skip
    with torch.no_grad():
        logits: torch.Tensor = model(**inputs).logits[:, 0]
    return logits


def cross_encoder_predict(folder: Path, queries: list[str], docs: list[str], **options: Any) -> Any:
    from sentence_transformers import CrossEncoder

    encoder = CrossEncoder(str(folder), device="cpu", **options)
    return torch.as_tensor(encoder.predict(list(zip(queries, docs, strict=True))))


def test_minilm_cross_encoder_scores_equal_transformers_and_cross_encoder(
    minilm_cross_encoder: Path, scifact_pairs: tuple[list[str], list[str]]
) -> None:
    queries, docs = scifact_pairs
    model = load_model(minilm_cross_encoder)  # no --arch: a one-label classifier is a cat
    spec = model.spec
    assert (model.arch, spec.head, spec.pair_truncation) == (
        "cat",
        "sequence-classification",
        "longest_first",
    )
    assert spec.max_query_len + spec.max_doc_len == 512  # as much as CrossEncoder reads
    with torch.no_grad():
        scores = model.score_pairs(queries, docs, batch_size=3)
    expected = reference_logits(minilm_cross_encoder, queries, docs, 512)
    torch.testing.assert_close(scores, expected, rtol=0, atol=1e-5)
    predicted = cross_encoder_predict(
        minilm_cross_encoder, queries, docs, activation_fn=torch.nn.Identity()
    )
    torch.testing.assert_close(scores, predicted.float(), rtol=0, atol=1e-5)


def test_other_families_score_equal_transformers_and_cross_encoder(
    family_cross_encoder: Path, scifact_pairs: tuple[list[str], list[str]]
) -> None:
    queries, docs = scifact_pairs
    model = load_model(family_cross_encoder, max_query_len=16, max_doc_len=48)
    assert model.spec.head == "sequence-classification"
    with torch.no_grad():
        scores = model.score_pairs(queries, docs, batch_size=3)
    torch.testing.assert_close(
        scores, reference_logits(family_cross_encoder, queries, docs, 64), rtol=0, atol=1e-5
    )
    predicted = cross_encoder_predict(
        family_cross_encoder, queries, docs, max_length=64, activation_fn=torch.nn.Identity()
    )
    torch.testing.assert_close(scores, predicted.float(), rtol=0, atol=1e-5)


def test_classifier_logits_equal_the_models_own_head(family_cross_encoder: Path) -> None:
    """prettr runs the encoder itself and applies the head to its joint states."""
    model = AutoModelForSequenceClassification.from_pretrained(family_cross_encoder).eval()
    tokenizer = AutoTokenizer.from_pretrained(family_cross_encoder)
    inputs = tokenizer(
        ["a query", "cats"], ["a passage of text", "dogs"], padding=True, return_tensors="pt"
    )
    if not uses_token_type_ids(model):
        inputs.pop("token_type_ids", None)
    with torch.no_grad():
        hidden = model.base_model(**inputs)[0]
        torch.testing.assert_close(classifier_logits(model, hidden), model(**inputs).logits[:, 0])


def test_a_cross_encoder_splits_as_prettr_with_its_head(
    family_cross_encoder: Path, scifact_pairs: tuple[list[str], list[str]]
) -> None:
    queries, docs = scifact_pairs
    prettr = load_model(
        family_cross_encoder, "prettr", split_layer=1, max_query_len=16, max_doc_len=32
    )
    assert prettr.spec.head == "sequence-classification" and not hasattr(prettr, "head")
    with torch.no_grad():
        uncached = prettr.score_pairs(queries[:3], docs[:3])
        cached = prettr.score_with_cache(queries[:3], prettr.encode_passage_states(docs[:3]))
    torch.testing.assert_close(cached, uncached, rtol=1e-5, atol=1e-5)


def test_a_new_cat_is_a_folder_cross_encoder_loads_with_kdbench_scores(
    tiny_bert_dir: Path, tmp_path: Path, scifact_pairs: tuple[list[str], list[str]]
) -> None:
    queries, docs = scifact_pairs
    torch.manual_seed(21)
    model = load_model(tiny_bert_dir, "cat", max_query_len=12, max_doc_len=36)
    assert model.spec.head == "sequence-classification"
    folder = save_checkpoint(model, tmp_path / "cat", {})
    config = json.loads((folder / "config.json").read_text())
    assert (
        config["architectures"] == ["BertForSequenceClassification"]
        and len(config["id2label"]) == 1
    )
    with torch.no_grad():
        scores = model.score_pairs(queries, docs)
    # No options: the folder itself says the pair budget (48) and the identity activation.
    torch.testing.assert_close(
        cross_encoder_predict(folder, queries, docs).float(), scores, rtol=0, atol=1e-5
    )
    restored = load_model(folder)
    assert restored.spec == model.spec
    with torch.no_grad():
        torch.testing.assert_close(restored.score_pairs(queries, docs), scores, rtol=0, atol=0)


def test_profile_eager_and_onnx_pass_the_parity_gate(
    family_cross_encoder: Path, scifact_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kdbench profile --model PATH/TO/SEQ-CLS-FOLDER --backend eager,onnx --data beir/scifact`."""
    from tests.profile.conftest import profile

    monkeypatch.setenv("KDBENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "P.json"
    profile(model=family_cross_encoder, backend="eager,onnx", data=scifact_dir, output=out,
            seq_len=32, depth=10, device="cpu")  # fmt: skip
    entries = json.loads(out.read_text())["results"]
    assert {e["backend"] for e in entries} == {"eager", "onnx"}
    assert all(e["status"] == "ok" and e["parity"]["passed"] for e in entries)
    assert all(e["arch"] == "cat" for e in entries)


def test_fine_tuning_a_cross_encoder_keeps_its_head(
    minilm_cross_encoder: Path, scifact_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kdbench.cli import main
    from tests.helpers import cli_options

    monkeypatch.setenv("KDBENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "tuned"
    code = main(["train", *cli_options(
        data=scifact_dir, model=minilm_cross_encoder, loss="ranknet", steps=1, batch_size=2,
        max_query_len=12, max_doc_len=20, triples_per_positive=1, dev_queries=2,
        validate_depth=4, output=out, quiet=True,
    )])  # fmt: skip
    assert code == 0
    spec = json.loads((out / "kdbench.json").read_text())["spec"]
    assert (spec["arch"], spec["head"], spec["pair_truncation"]) == (
        "cat",
        "sequence-classification",
        "longest_first",
    )
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert not (out / "head.safetensors").exists()
