"""Profiling beyond BERT-style pairs: ONNX inputs taken from the ranker (DistilBERT has no
token_type_ids), and PreTTR re-ranking from cached passage states (own token axis)."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

from kdbench.backends import BackendOptions, ShapeRange
from kdbench.backends.eager.backend import EagerBackend
from kdbench.backends.onnx import export
from kdbench.models import load_model
from kdbench.profile.config import ProfileConfig
from kdbench.profile.inputs import synthetic_inputs
from kdbench.profile.runner import _padding_invariance
from kdbench.profile.scenarios import build_scenario, fixed_batch
from tests.profile.conftest import QUICK, ProfileScifact
from tests.profile.test_cli import _check_entries

QUERY = "how do microglia respond to amyloid plaques"
PASSAGE = " ".join(["Microglia are the resident immune cells of the brain."] * 20)
HIDDEN = 32  # tiny_bert_dir and the tiny DistilBERT below


@pytest.fixture(scope="module")
def tiny_distilbert_dir(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-dim random DistilBERT with MiniLM's tokenizer: no segment embeddings."""
    torch.manual_seed(3)
    folder = tmp_path_factory.mktemp("tiny-distilbert-profile")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = DistilBertConfig(
        vocab_size=tokenizer.vocab_size, dim=HIDDEN, n_layers=2, n_heads=2, hidden_dim=64
    )
    DistilBertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_prettr(tiny_bert_dir: Path) -> Any:
    return load_model(tiny_bert_dir, "prettr", split_layer=1)


# -- ONNX export: the ranker's own inputs ------------------------------------------------------
@pytest.mark.parametrize(
    ("encoder", "expected"),
    [
        ("bert", ["input_ids", "attention_mask", "token_type_ids"]),
        ("distilbert", ["input_ids", "attention_mask"]),
    ],
)
def test_cat_export_inputs_follow_the_encoder(
    encoder: str,
    expected: list[str],
    tiny_bert_dir: Path,
    tiny_distilbert_dir: Path,
    tmp_path: Path,
) -> None:
    ranker = load_model(tiny_bert_dir if encoder == "bert" else tiny_distilbert_dir, "cat")
    example = fixed_batch(ranker, "pair", [QUERY, QUERY], 24, ["microglia", PASSAGE])
    module = ranker.export_module("pair")
    path, info = export.ensure_raw(
        module, "pair", example, tmp_path, 17, names=ranker.export_inputs("pair")
    )
    assert info["inputs"] == expected and info["export_check_max_abs_diff"] < 1e-4
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == expected


def test_prettr_pair_export_has_its_own_passage_axis(tiny_prettr: Any, tmp_path: Path) -> None:
    example = fixed_batch(tiny_prettr, "pair", ["microglia", QUERY], 24, ["amyloid", PASSAGE])
    module = tiny_prettr.export_module("pair")
    path, _ = export.ensure_raw(
        module, "pair", example, tmp_path, 17, names=tiny_prettr.export_inputs("pair")
    )
    graph = onnx.load(str(path)).graph
    dims = {
        i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
        for i in graph.input
    }
    assert dims == {
        "input_ids": ["batch", "seq"],
        "attention_mask": ["batch", "seq"],
        "passage_states": ["batch", "doc_seq", HIDDEN],
        "passage_mask": ["batch", "doc_seq"],
    }
    # query and passage parts of other widths than the export's (and than each other)
    other = fixed_batch(tiny_prettr, "pair", [QUERY] * 3, 40, [PASSAGE, "tau", "amyloid beta"])
    assert other["input_ids"].shape[1] == 20 and other["passage_states"].shape[1] == 20
    width = int(other["attention_mask"].sum(1).max())  # the query part cut to its real tokens
    assert width < 20
    other = {**other, "input_ids": other["input_ids"][:, :width]}
    other["attention_mask"] = other["attention_mask"][:, :width]
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (scores,) = session.run(None, {name: t.numpy() for name, t in other.items()})
    with torch.inference_mode():
        expected = module(**other).numpy()
    np.testing.assert_allclose(scores, expected, atol=1e-5)


# -- fixed shapes for prettr pairs -----------------------------------------------------------------
def test_prettr_pairs_pad_query_and_passage_states_apart(tiny_prettr: Any) -> None:
    batch = fixed_batch(tiny_prettr, "pair", [QUERY, "tau"], 30, [PASSAGE, "amyloid"])
    # 30 tokens: the query keeps min(max_query_len 32, 30 // 2) = 15, the passage the other 15
    assert tuple(batch) == tiny_prettr.export_inputs("pair")
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (2, 15)
    assert batch["passage_states"].shape == (2, 15, HIDDEN)
    assert batch["passage_mask"].shape == (2, 15)
    amyloid = len(tiny_prettr.token_ids(["amyloid"], "doc")[0])
    assert batch["passage_mask"].sum(1).tolist() == [15, amyloid]
    # padding is zero states with a zero mask; real tokens are the cache's states
    assert not batch["passage_states"][1, amyloid:].any()
    with torch.inference_mode():
        cache = tiny_prettr.encode_passage_states(["amyloid"])
    torch.testing.assert_close(batch["passage_states"][1, :amyloid], cache.vecs)


def test_shape_range_bounds_give_passages_their_own_token_axis() -> None:
    shapes = ShapeRange.covering([(1, 4), (8, 16), (2, 32)], (8, 16), [2, 96, 64], 64)
    assert shapes.doc_seq == (2, 64, 96)
    assert shapes.bounds("input_ids", [-1, -1]) == ((1, 4), (8, 16), (8, 32))
    assert shapes.bounds("passage_states", [-1, -1, 384]) == (
        (1, 2, 384),
        (8, 64, 384),
        (8, 96, 384),
    )
    with pytest.raises(ValueError, match="doc_seq"):
        ShapeRange(1, 1, 1, 1, 1, 1).bounds("passage_mask", [-1, -1])


# -- the scenario, on synthetic text ----------------------------------------------------------------
@pytest.fixture
def prettr_scenario(tiny_prettr: Any, tiny_bert_dir: Path) -> Any:
    config = ProfileConfig(
        model=str(tiny_bert_dir),
        arch="prettr",
        split_layer=1,
        batch_sizes=(2,),
        seq_lens=(24,),
        depths=(6,),
        parity_queries=2,
        parity_depth=5,
    )
    inputs = synthetic_inputs(
        tiny_prettr.tokenizer,
        passages=8,
        parity_queries=2,
        parity_depth=5,
        index_size=10,
        seed=0,
    )
    return build_scenario("rerank", tiny_prettr, inputs, config)


def _eager(scenario: Any) -> Any:
    return EagerBackend(BackendOptions()).prepare(
        scenario.ranker, "pair", scenario.shapes(), scenario.example()
    )


def test_cached_parity_scores_equal_the_models_cache_api(prettr_scenario: Any) -> None:
    runner, ranker = _eager(prettr_scenario), prettr_scenario.ranker
    assert not prettr_scenario.reference_is_timed  # eager fp32 is gated too
    cached = prettr_scenario.parity_scores(runner)
    reference = prettr_scenario.reference_scores(runner)
    model = copy.deepcopy(ranker)  # its head is random: the same weights, not a fresh load
    # the parity length (24) splits into a 12-token query and a 12-token passage part
    model.spec = dataclasses.replace(model.spec, max_query_len=12, max_doc_len=12)
    assert model.passage_offset == ranker.passage_offset == 32
    with torch.no_grad():
        for pool, values, expected in zip(
            prettr_scenario.inputs.pools, cached, reference, strict=True
        ):
            via_cache = model.score_with_cache(
                [pool.query] * len(pool.docs), model.encode_passage_states(pool.docs)
            )
            np.testing.assert_allclose(values, via_cache.numpy(), atol=1e-5)
            np.testing.assert_allclose(expected, values, atol=1e-5)


def test_padding_check_cuts_passages_to_their_own_length(prettr_scenario: Any) -> None:
    example = prettr_scenario.example()
    rows = prettr_scenario.unpadded_rows(example)
    for row, alone in enumerate(rows):
        assert alone["input_ids"].shape[1] == example["attention_mask"][row].sum()
        assert alone["passage_states"].shape[1] == example["passage_mask"][row].sum()
        assert alone["passage_mask"].all() and alone["attention_mask"].all()
    assert rows[0]["passage_states"].shape[1] < example["passage_states"].shape[1]  # padded
    assert _padding_invariance(_eager(prettr_scenario), example, prettr_scenario) < 1e-5

    def passage_width(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Output depends on the padded passage width: what an ignored passage_mask does."""
        mask = inputs["passage_mask"]
        return torch.full((mask.shape[0],), float(mask.shape[1]))

    assert _padding_invariance(passage_width, example, prettr_scenario) > 0.5


# -- end to end through the CLI on SciFact ------------------------------------------------------------
def test_onnx_profiles_a_distilbert_cat(
    tiny_distilbert_dir: Path, profile_scifact: ProfileScifact
) -> None:
    out = profile_scifact(
        model=tiny_distilbert_dir,
        arch="cat",
        backend="eager,onnx",
        depth=20,
        batch_size=10,
        seq_len=32,
    )
    entries = _check_entries(out, {"eager", "onnx"}, "rerank")
    assert all(e["arch"] == "cat" for e in entries)
    graphs = json.loads(out.read_text())["backends"]["onnx:fp32"]["graphs"]
    assert graphs["pair"]["inputs"] == ["input_ids", "attention_mask"]  # no token_type_ids


def test_prettr_rerank_from_cached_states_against_a_cat_baseline(
    tiny_bert_dir: Path, scifact_dir: Path, profile_scifact: ProfileScifact
) -> None:
    out = profile_scifact(
        arch="prettr",
        split_layer=1,
        baseline_arch="cross-encoder",  # an alias of cat
        rounds=2,
        backend="eager,onnx",
        depth=20,
        batch_size=4,
        seq_len=32,
    )
    entries = _check_entries(out, {"eager", "onnx"}, "rerank")
    result = json.loads(out.read_text())
    assert result["config"]["split_layer"] == 1 and result["model"]["spec"]["split_layer"] == 1
    assert result["scenario"]["split_layer"] == 1
    # the cache holds each candidate's first 16 tokens (32 = 16 query + 16 passage), fp32
    from kdbench.data import load_collection

    docs = load_collection(str(scifact_dir), "test").docs
    ranker = load_model(tiny_bert_dir, "prettr", split_layer=1, max_doc_len=16)
    first = docs.get_many([str(doc_id) for doc_id in docs.ids()[:20]])  # the timed candidates
    tokens = np.mean([len(ids) for ids in ranker.token_ids(first, "doc")])
    for entry in entries:
        assert entry["cache_tokens_per_passage"] == pytest.approx(tokens)
        assert entry["cache_bytes_per_passage"] == pytest.approx(tokens * HIDDEN * 4)
        assert entry["cache_dtype"] == "float32"
        # 5 calls of 4 pairs; per pair the 16 query tokens through layer 1 and all 32 tokens
        # through layer 2; per layer and token 8h² + 4h·i + 4·L·h (h 32, i 64)
        query = 4 * 16 * (8 * 32 * 32 + 4 * 32 * 64 + 4 * 16 * 32)
        joint = 4 * 32 * (8 * 32 * 32 + 4 * 32 * 64 + 4 * 32 * 32)
        assert entry["flops"]["per_call"] == 5 * (query + joint)
        assert entry["parity"]["max_abs_diff"] < 1e-5  # vs uncached eager scoring
    assert result["backends"]["onnx:fp32"]["graphs"]["pair"]["inputs"] == [
        "input_ids",
        "attention_mask",
        "passage_states",
        "passage_mask",
    ]
    # the same model as cat, timed in the same rounds; ratios from the two entries' own numbers
    baseline = result["baseline"]
    assert baseline["kind"] == "profile" and baseline["config"]["arch"] == "cat"
    assert baseline["config"]["split_layer"] is None and baseline["model"]["arch"] == "cat"
    cat = {e["backend"]: e for e in baseline["results"]}
    assert set(cat) == {"eager", "onnx"} and all(e["parity"]["passed"] for e in cat.values())
    for entry in entries:
        base = cat[entry["backend"]]
        assert entry["timing"]["rounds"] == base["timing"]["rounds"] == 2
        ratios = entry["vs_baseline"]
        assert ratios["arch"] == "cat"
        assert ratios["p50_ratio"] == base["latency_ms"]["p50"] / entry["latency_ms"]["p50"]
        assert ratios["throughput_ratio"] == (
            entry["throughput"]["items_per_s"] / base["throughput"]["items_per_s"]
        )
    assert "vs_baseline" not in cat["eager"] and "baseline" not in baseline


def test_baseline_must_be_another_architecture(
    tiny_bert_dir: Path, scifact_dir: Path, profile_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kdbench.cli import main

    code = main(
        ["profile", "--model", str(tiny_bert_dir), "--arch", "cat", "--baseline-arch", "mono",
         "--data", str(scifact_dir), "--depth", "4", "--seq-len", "16", *QUICK]
    )  # fmt: skip
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert code == 2 and errors == [
        "kdbench: error: --baseline-arch cat is the profiled model's own architecture; choose another"
    ]
