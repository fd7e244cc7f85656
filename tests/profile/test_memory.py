"""Memory that belongs to a row: weights as the backend loaded them, activations, index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kdbench.backends import ShapeRange
from tests.profile.conftest import ProfileScifact


def _bert(folder: Path, minilm_path: Path, hidden: int) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=AutoTokenizer.from_pretrained(minilm_path).vocab_size,
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
    )
    BertModel(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(folder)
    return folder


def test_weights_equal_parameter_bytes_and_differ_between_models(
    profile_scifact: ProfileScifact,
    tiny_bert_dir: Path,
    minilm_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from kdbench.models import load_model

    wider = _bert(tmp_path_factory.mktemp("bert-48"), minilm_path, 48)
    weights = {}
    for model in (tiny_bert_dir, wider):
        out = profile_scifact(
            model=model, arch="dot", scenario="query", backend="eager,onnx", index_size=200
        )
        cells = {(c["backend"], c["precision"]): c for c in json.loads(out.read_text())["results"]}
        ranker = load_model(model, "dot")
        parameter_bytes = sum(p.numel() * p.element_size() for p in ranker.parameters())
        memory = cells[("eager", "fp32")]["memory"]
        assert memory["weights_mib"] * 2**20 == parameter_bytes
        # ONNX's initializers are the same fp32 weights (a few constants folded in or out)
        onnx_bytes = cells[("onnx", "fp32")]["memory"]["weights_mib"] * 2**20
        assert onnx_bytes == pytest.approx(parameter_bytes, rel=0.05)
        # the searched index: 200 passages x hidden fp32 values
        assert memory["index_mib"] * 2**20 == 200 * ranker.dim * 4
        assert memory["activations_mib"] >= 0
        assert memory["host_rss_start_mib"] <= memory["host_peak_rss_mib"]
        weights[model] = memory["weights_mib"]
    assert weights[wider] > weights[tiny_bert_dir]


def test_int8_graph_holds_a_fraction_of_the_fp32_weights(
    tiny_dot: Any, profile_cache: Path
) -> None:
    from kdbench.backends import BACKENDS, BackendOptions
    from kdbench.profile.scenarios import fixed_batch

    example = fixed_batch(tiny_dot, "query", ["a b c", "a much longer query text here"], 16)
    shapes = ShapeRange(1, 2, 2, 1, 16, 16)
    held = {}
    for precision in ("fp32", "int8"):
        backend = BACKENDS["onnx"].resolve()(BackendOptions(precision=precision, threads=1))
        backend.prepare(tiny_dot, "query", shapes, example)
        held[precision] = backend.weight_bytes["query"]
        assert backend.describe()["graphs"]["query"]["weight_bytes"] == held[precision]
    # the matrices go to int8 (a quarter), embeddings and norms stay fp32
    assert held["int8"] < 0.75 * held["fp32"]
