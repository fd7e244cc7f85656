from __future__ import annotations

from pathlib import Path

from kdbench.models.base import encoder_shape
from kdbench.profile.flops import encoder_flops, measure_peak_flops
from tests.profile.conftest import ProfileScifact


def test_bert_base_flops_hand_computed() -> None:
    # BERT-base, 128 tokens: per token and layer 8*768^2 + 4*768*3072 + 4*128*768 = 14,548,992
    flops = encoder_flops(1, 128, layers=12, hidden=768, intermediate=3072)
    assert flops == 14_548_992 * 128 * 12  # about 22 GFLOP, the usual figure for one sequence
    assert encoder_flops(32, 128, layers=12, hidden=768, intermediate=3072) == 32 * flops


def test_encoder_shape_reads_the_hf_config(tiny_bert_dir: Path) -> None:
    from kdbench.models import load_model

    ranker = load_model(tiny_bert_dir, "dot")
    assert encoder_shape(ranker) == {"layers": 2, "hidden": 32, "intermediate": 64}
    import torch

    assert encoder_shape(torch.nn.Linear(2, 2)) is None


def test_peak_flops_is_positive_and_finite() -> None:
    import torch

    peak = measure_peak_flops("cpu", torch.float32, size=128, repeats=2)
    assert 1e6 < peak < 1e15


def test_machine_peak_is_the_best_library_per_dtype() -> None:
    from kdbench.profile.flops import machine_peak

    fp32 = machine_peak("cpu", "fp32", threads=1, repeats=2)
    assert set(fp32.candidates) == {"torch", "numpy", "onnxruntime", "openvino"}
    assert fp32.per_s == max(fp32.candidates.values()) == fp32.candidates[fp32.library]
    assert fp32.library in fp32.source and "best of 2" in fp32.source
    # int8 is measured on integer MatMuls (ONNX Runtime, OpenVINO), never on a float GEMM
    int8 = machine_peak("cpu", "int8", threads=1, repeats=2)
    assert set(int8.candidates) == {"onnxruntime", "openvino"} and int8.per_s > 0


def test_no_fraction_of_peak_above_one(profile_scifact: ProfileScifact) -> None:
    import json

    out = profile_scifact(
        arch="dot", scenario="index", backend="eager,onnx", batch_size=8, seq_len=64
    )
    result = json.loads(out.read_text())
    for cell in result["results"]:
        assert 0 < cell["flops"]["fraction_of_peak"] <= 1.0
        assert "GEMM" in cell["flops"]["peak_from"]
    assert set(result["environment"]["peak_flops_measured"]) == {"cpu:fp32"}
