"""load_model: sources, sentence-transformers settings, layer truncation and one-line user errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer

from kdbench.errors import UserError
from kdbench.models import ARCHITECTURES, Registry, load_model
from kdbench.models.encode import encode_texts

TEXTS = [
    "What causes tides?",
    "The Moon's gravity pulls on the oceans, raising tides twice a day.",
    "tides",
]


def test_minilm_alias_reads_sentence_transformers_config() -> None:
    for name in ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"):
        model = load_model(name)
        assert model.arch == "dot"
        spec = model.spec
        assert (spec.pooling, spec.similarity, spec.max_query_len, spec.max_doc_len) == (
            "mean",
            "cosine",
            256,
            256,
        )


def test_minilm_dot_equals_sentence_transformers_formula(minilm_path: Path) -> None:
    model = load_model("sentence-transformers/all-MiniLM-L6-v2", "dot")
    ours = encode_texts(model, TEXTS, "doc", batch_size=2)
    # sentence-transformers' recipe by hand: tokens up to 256, mean over the mask, L2 norm.
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    encoder = AutoModel.from_pretrained(minilm_path).eval()
    inputs = tokenizer(TEXTS, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = encoder(**inputs).last_hidden_state
    mask = inputs["attention_mask"].unsqueeze(-1).float()
    expected = F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)
    assert isinstance(ours, torch.Tensor)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


def test_minilm_dot_equals_sentence_transformers_library(minilm_path: Path) -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    reference = sentence_transformers.SentenceTransformer(str(minilm_path), device="cpu")
    expected = torch.from_numpy(reference.encode(TEXTS))
    ours = encode_texts(load_model("all-MiniLM-L6-v2"), TEXTS, "query")
    assert isinstance(ours, torch.Tensor)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)


def test_explicit_settings_override_the_folder() -> None:
    model = load_model(
        "all-MiniLM-L6-v2", pooling="cls", similarity="dot", max_query_len=30, max_doc_len=200
    )
    assert (
        model.spec.pooling,
        model.spec.similarity,
        model.spec.max_query_len,
        model.spec.max_doc_len,
    ) == ("cls", "dot", 30, 200)


def test_layers_keeps_the_first_bert_layers(tiny_bert_dir: Path) -> None:
    full = load_model(tiny_bert_dir, "dot")
    cut = load_model(tiny_bert_dir, "dot", layers=1)
    assert len(cut.encoder.encoder.layer) == 1 and cut.encoder.config.num_hidden_layers == 1
    assert cut.spec.layers == 1
    torch.testing.assert_close(
        cut.encoder.encoder.layer[0].state_dict(), full.encoder.encoder.layer[0].state_dict()
    )
    # One layer computed by hand: embeddings then layer 0 of the full model.
    inputs = full.tokenize(["tides and the moon"], "doc")
    with torch.no_grad():
        hidden = full.encoder.embeddings(input_ids=inputs["input_ids"])
        hidden = full.encoder.encoder.layer[0](hidden)  # no padding in one text: no mask needed
        torch.testing.assert_close(cut.forward_encode(**inputs), hidden[:, 0], rtol=1e-5, atol=1e-5)


def test_layers_keeps_the_first_distilbert_layers(tiny_distilbert: Path) -> None:
    model = load_model(tiny_distilbert, "colbert", layers=1)
    assert len(model.encoder.transformer.layer) == 1 and model.encoder.config.n_layers == 1
    with torch.no_grad():
        assert model.score_pairs(["a"], ["b"]).shape == (1,)


@pytest.mark.parametrize("layers", [0, 3])
def test_layers_out_of_range(tiny_bert_dir: Path, layers: int) -> None:
    with pytest.raises(UserError, match="layers"):
        load_model(tiny_bert_dir, "dot", layers=layers)


def test_plain_folder_needs_arch(tiny_bert_dir: Path) -> None:
    with pytest.raises(UserError, match=r"--arch \(dot \(.*cat.*colbert"):
        load_model(tiny_bert_dir)


def test_arch_aliases(tiny_bert_dir: Path) -> None:
    assert load_model(tiny_bert_dir, "cross-encoder").arch == "cat"
    assert load_model(tiny_bert_dir, "Bi-Encoder").arch == "dot"


def test_unknown_arch_lists_the_registry(tiny_bert_dir: Path) -> None:
    with pytest.raises(
        UserError,
        match=r"--arch 'splade': unknown architecture; choose one of dot .*, cat .*, colbert",
    ):
        load_model(tiny_bert_dir, "splade")


def test_registry_rejects_duplicates() -> None:
    registry: Registry[int] = Registry("thing", "--thing")
    registry.register("a", 1, aliases=("alpha",))
    with pytest.raises(ValueError, match="already registered"):
        registry.register("b", 2, aliases=("ALPHA",))
    assert registry["Alpha"] == 1 and "b" not in registry
    assert set(ARCHITECTURES.names()) == {"dot", "cat", "colbert", "prettr"}


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such model folder"):
        load_model(tmp_path / "nope", "dot")


def test_hub_id_offline_names_the_id(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty cache, whatever this machine holds
    with pytest.raises(UserError, match=r"someone/no-such-model: .*HF_HUB_OFFLINE=1") as caught:
        load_model("someone/no-such-model", "dot")
    assert "\n" not in str(caught.value)


def test_file_instead_of_folder(tiny_bert_dir: Path) -> None:
    with pytest.raises(UserError, match="is a file"):
        load_model(tiny_bert_dir / "config.json", "dot")


def test_pickled_weights_need_allow_pickle(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_bert_dir, folder)
    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(UserError, match="--allow-pickle"):
        load_model(folder, "dot")
    with torch.no_grad():
        pickled = load_model(folder, "dot", allow_pickle=True).encode_docs(TEXTS)
        torch.testing.assert_close(pickled, load_model(tiny_bert_dir, "dot").encode_docs(TEXTS))


def test_incomplete_weights_are_an_error(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "broken"
    shutil.copytree(tiny_bert_dir, folder)
    state = load_file(str(folder / "model.safetensors"))
    save_file(
        {k: v for k, v in state.items() if "layer.1." not in k}, str(folder / "model.safetensors")
    )
    with pytest.raises(UserError, match="weights do not fit"):
        load_model(folder, "dot")


def test_lengths_beyond_positions(tiny_bert_dir: Path) -> None:
    with pytest.raises(UserError, match="--max-doc-len = 600 tokens exceeds the encoder's 512"):
        load_model(tiny_bert_dir, "dot", max_doc_len=600)
    with pytest.raises(UserError, match=r"--max-query-len \+ --max-doc-len"):
        load_model(tiny_bert_dir, "cat", max_query_len=300, max_doc_len=300)


def test_bad_settings(tiny_bert_dir: Path) -> None:
    with pytest.raises(UserError, match="pooling 'max'"):
        load_model(tiny_bert_dir, "dot", pooling="max")
    with pytest.raises(UserError, match="--colbert-dim only applies to colbert"):
        load_model(tiny_bert_dir, "dot", colbert_dim=8)
    with pytest.raises(UserError, match="--pooling only applies to dot, not cat"):
        load_model(tiny_bert_dir, "cat", pooling="mean")
    with pytest.raises(UserError, match="--device 'gpu0'"):
        load_model(tiny_bert_dir, "dot", device="gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu(tiny_bert_dir: Path) -> None:
    with pytest.raises(UserError, match="no CUDA device"):
        load_model(tiny_bert_dir, "dot", device="cuda")


def test_unsupported_sentence_transformers_module(minilm_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "st"
    shutil.copytree(minilm_path, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    (folder / "model.safetensors").symlink_to(minilm_path / "model.safetensors")
    modules = json.loads((folder / "modules.json").read_text())
    modules.append(
        {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"}
    )
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(UserError, match=r"Dense.* not supported"):
        load_model(folder)


def test_a_cross_encoder_without_its_classifier_weights_is_refused(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    """A config that names a trained head whose weights are absent: never a random head."""
    folder = tmp_path / "cross-encoder"
    shutil.copytree(tiny_bert_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(
        json.dumps(config | {"architectures": ["BertForSequenceClassification"]})
    )
    with pytest.raises(UserError, match=r"weights do not fit .*classifier"):
        load_model(folder, "cat")
    assert load_model(folder, "dot").arch == "dot"
