"""The issue's invocations, end to end on the tiny model and real SciFact text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kdbench.cli import main
from tests.profile.conftest import FAST, ProfileScifact, profile

LATENCY_KEYS = {"p50", "p90", "p95", "p99", "mean", "std"}


def _check_entries(path: Path, backends: set[str], scenario: str) -> list[dict[str, Any]]:
    result = json.loads(path.read_text())
    assert result["schema"] == "kdbench.result" and result["kind"] == "profile"
    entries = result["results"]
    assert {e["backend"] for e in entries} == backends
    for entry in entries:
        assert entry["scenario"] == scenario and entry["status"] == "ok"
        assert {"arch", "batch_size", "seq_len", "precision"} <= set(entry)
        assert set(entry["latency_ms"]) >= LATENCY_KEYS
        assert entry["latency_ms"]["p50"] > 0 and entry["throughput"]["items_per_s"] > 0
        assert entry["memory"]["host_peak_rss_mib"] > 0
        assert entry["parity"]["passed"] and entry["parity"]["max_abs_diff"] is not None
        assert len(entry["samples_ns"]["total"]) == entry["latency_ms"]["n"] >= 3
    assert result["environment"]["threads"]["torch_intra_op"] == 1
    return entries


def test_index_sweep_eager_and_onnx(profile_scifact: ProfileScifact) -> None:
    out = profile_scifact(
        arch="dot",
        scenario="index",
        backend="eager,onnx",
        device="cpu",
        batch_size="1,4",
        seq_len=16,
    )
    entries = _check_entries(out, {"eager", "onnx"}, "index")
    assert sorted((e["backend"], e["batch_size"], e["seq_len"]) for e in entries) == [
        ("eager", 1, 16),
        ("eager", 4, 16),
        ("onnx", 1, 16),
        ("onnx", 4, 16),
    ]
    assert all(e["throughput"]["item"] == "passage" for e in entries)
    onnx = next(e for e in entries if e["backend"] == "onnx")
    assert onnx["vs_eager_fp32"]["throughput_ratio"] > 0
    assert "ndcg_at_10" in onnx["parity"]  # SciFact has qrels


def test_query_encode_and_search_reported_apart(profile_scifact: ProfileScifact) -> None:
    out = profile_scifact(
        arch="dot", scenario="query", backend="eager,onnx", device="cpu", index_size=300
    )
    entries = _check_entries(out, {"eager", "onnx"}, "query")
    for entry in entries:
        assert entry["batch_size"] == 1 and entry["seq_len"] == 32  # query defaults
        assert {"encode", "search", "tokenize"} <= set(entry["stages"])
        assert (
            entry["stages"]["encode"]["n"]
            == entry["stages"]["search"]["n"]
            == entry["latency_ms"]["n"]
        )


def test_cat_rerank_with_onnx(profile_scifact: ProfileScifact) -> None:
    out = profile_scifact(arch="cat", scenario="rerank", depth=100, backend="onnx", seq_len=32)
    (entry,) = _check_entries(out, {"onnx"}, "rerank")
    assert entry["depth"] == 100 and entry["throughput"]["item"] == "query"
    assert entry["flops"]["per_call"] > 0


@pytest.mark.parametrize("scenario", ["rerank", "index"])
def test_colbert_scenarios(scenario: str, profile_scifact: ProfileScifact) -> None:
    depth = {"depth": 20} if scenario == "rerank" else {}  # index reads no depth
    out = profile_scifact(
        arch="colbert", scenario=scenario, backend="eager,onnx", seq_len=24, batch_size=2, **depth
    )
    _check_entries(out, {"eager", "onnx"}, scenario)


def test_synthetic_text_without_data(tiny_bert_dir: Path, profile_cache: Path) -> None:
    result = profile(
        model=tiny_bert_dir, arch="dot", scenario="index", backend="onnx", batch_size=2, seq_len=16
    )
    assert "onnx:fp32" in result.output


def test_parity_gate_rejects_a_mask_ignoring_onnx_model(
    tiny_bert_dir: Path, profile_scifact: ProfileScifact, tmp_path: Path
) -> None:
    from kdbench.models import load_model
    from kdbench.profile.scenarios import fixed_batch
    from tests.profile.helpers import export_mask_ignored

    ranker = load_model(tiny_bert_dir, "dot")
    example = fixed_batch(
        ranker, "query", ["protein", "how do microglia respond to amyloid plaques"], 32
    )
    bad = export_mask_ignored(ranker.export_module("query"), example, tmp_path / "bad.onnx")
    out = profile_scifact(
        arch="dot", scenario="query", backend="eager,onnx", onnx_model=bad, index_size=100
    )
    entries = {e["backend"]: e for e in json.loads(out.read_text())["results"]}
    rejected = entries["onnx"]
    assert rejected["status"] == "failed_parity" and not rejected["parity"]["passed"]
    assert rejected["latency_ms"] is None and "samples_ns" not in rejected  # not timed
    assert any("attention mask is ignored" in f for f in rejected["parity"]["failures"])
    assert rejected["parity"]["padding_invariance_error"] > 1e-3  # fp32 allows rounding only
    assert entries["eager"]["status"] == "ok"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--backend", "tensorrt"], "TensorRT"),
        (["--backend", "tensorrt", "--device", "cuda"], "pip install 'kdbench[tensorrt]'"),
        (["--backend", "eager", "--device", "cuda"], "no CUDA GPU"),
        (["--backend", "onnx", "--device", "cuda"], "CUDAExecutionProvider"),
        (["--backend", "onnx:fp16"], "supports fp32, int8, int8-static, not fp16"),
        (["--backend", "eager", "--batch-size", "1,x"], "--batch-size"),
        (["--backend", "eager", "--scenario", "search"], "--scenario"),
        (["--backend", "eager", "--onnx-model", "missing.onnx"], "--onnx-model"),
    ],
)
def test_unavailable_or_wrong_options_are_one_line_exit_2_nothing_written(
    args: list[str],
    expected: str,
    tiny_bert_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import torch

    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    out = tmp_path / "P.json"
    code = main(
        ["profile", "--model", str(tiny_bert_dir), "--arch", "dot", *args, "--output", str(out)]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and expected in err, err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_scenario_must_fit_the_arch(
    tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["profile", "--model", str(tiny_bert_dir), "--arch", "cat", "--scenario", "query", *FAST]
    )
    assert code == 2 and "does not apply to cat" in capsys.readouterr().err


@pytest.mark.slow
def test_compiled_eager(profile_scifact: ProfileScifact) -> None:
    out = profile_scifact(
        arch="dot", scenario="index", backend="eager", compile=True, batch_size=2, seq_len=16
    )
    _check_entries(out, {"eager"}, "index")
    assert json.loads(out.read_text())["backends"]["eager:fp32"]["compiled"] is True


def test_rounds_alternate_backends_and_pool_samples(profile_scifact: ProfileScifact) -> None:
    out = profile_scifact(
        arch="dot",
        scenario="index",
        backend="eager,onnx",
        batch_size=2,
        seq_len=16,
        rounds=2,
        min_samples=6,  # wins over QUICK's 3
    )
    for entry in json.loads(out.read_text())["results"]:
        assert entry["timing"]["rounds"] == 2
        assert entry["latency_ms"]["n"] == len(entry["samples_ns"]["total"]) == 6  # 3 per round
