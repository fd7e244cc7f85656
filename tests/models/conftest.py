"""Fixtures for the model tests: tiny random DistilBERTs in the paper's released layouts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

TINY_DISTILBERT = {
    "dim": 128,
    "n_layers": 2,
    "n_heads": 2,
    "hidden_dim": 256,
    "max_position_embeddings": 512,
}
TOKENIZER_FILES = ("vocab.txt", "special_tokens_map.json")


@pytest.fixture(scope="session")
def tiny_distilbert(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 128-dim random DistilBERT (head size 64, as in DistilBERT base), MiniLM's tokenizer."""
    import torch
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("tiny-distilbert")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    DistilBertModel(
        DistilBertConfig(vocab_size=tokenizer.vocab_size, **TINY_DISTILBERT)
    ).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def released_folder(
    tmp_path: Path,
    minilm_path: Path,
    tiny_distilbert: Path,
    model_type: str,
    head: dict,
    extra_config: dict,
    pickled: bool = True,
) -> Path:
    """A folder shaped like the paper's hub releases: custom config.json, vocab.txt, one weights file."""
    import torch
    from safetensors.torch import load_file, save_file

    folder = tmp_path / model_type
    folder.mkdir()
    encoder = load_file(str(tiny_distilbert / "model.safetensors"))
    state = {f"bert_model.{k}": v for k, v in encoder.items()} | head
    if pickled:
        torch.save(state, folder / "pytorch_model.bin")
    else:
        save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    config = {
        "architectures": [model_type],
        "bert_model": "distilbert-base-uncased",
        "model_type": model_type,
        "trainable": True,
    } | extra_config
    (folder / "config.json").write_text(json.dumps(config))
    for name in TOKENIZER_FILES:
        shutil.copy(minilm_path / name, folder / name)
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": True, "model_max_length": 512})
    )
    return folder
