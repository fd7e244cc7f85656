from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
import torch

from kdbench.backends.onnx import export
from kdbench.profile.scenarios import fixed_batch
from tests.profile.helpers import export_mask_ignored

NAMES = ("input_ids", "attention_mask")  # a dot ranker's doc inputs
TEXTS = [
    "protein folding",
    "a much longer sentence about how microglia respond to amyloid plaques in mice",
]


def _padded(ranker: Any, texts: list[str] = TEXTS, seq_len: int = 24) -> dict[str, torch.Tensor]:
    batch = fixed_batch(ranker, "doc", texts, seq_len)
    assert (batch["attention_mask"] == 0).any()
    return batch


def _run(path: Path, batch: dict[str, torch.Tensor]) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: batch[i.name].numpy() for i in session.get_inputs()}
    return session.run(None, feeds)[0]


def test_export_has_dynamic_axes_and_matches_eager_on_padding(
    tiny_dot: Any, tmp_path: Path
) -> None:
    module = tiny_dot.export_module("doc")
    path, info = export.ensure_raw(module, "doc", _padded(tiny_dot), tmp_path, 17, names=NAMES)
    assert path.exists() and not info["cached"] and info["export_check_max_abs_diff"] < 1e-4
    # another batch size and length than the export's, with padding inside
    other = _padded(tiny_dot, [*TEXTS, "microglia", "amyloid beta plaques"], seq_len=40)
    with torch.inference_mode():
        expected = module(**other).numpy()
    np.testing.assert_allclose(_run(path, other), expected, atol=1e-5)


def test_export_is_cached_by_weights_kind_and_opset(tiny_dot: Any, tmp_path: Path) -> None:
    module = tiny_dot.export_module("doc")
    first, _ = export.ensure_raw(module, "doc", _padded(tiny_dot), tmp_path, 17, names=NAMES)
    stamp = first.stat().st_mtime_ns
    again, info = export.ensure_raw(module, "doc", _padded(tiny_dot), tmp_path, 17, names=NAMES)
    assert again == first and info["cached"] and first.stat().st_mtime_ns == stamp
    assert export.export_path(tmp_path, info["model_hash"], "query", 17) != first
    assert export.export_path(tmp_path, info["model_hash"], "doc", 18) != first
    import copy

    changed = copy.deepcopy(module)
    with torch.no_grad():
        next(changed.parameters()).add_(1.0)
    assert export.weights_hash(changed) != export.weights_hash(module)


def test_export_refuses_an_unpadded_example(tiny_dot: Any, tmp_path: Path) -> None:
    full = fixed_batch(tiny_dot, "doc", [TEXTS[1]] * 2, 8)  # long texts fill all 8 positions
    with pytest.raises(ValueError, match="padded example"):
        export.export_raw(tiny_dot.export_module("doc"), NAMES, full, tmp_path / "x.onnx", 17)


def test_check_export_rejects_a_mask_ignoring_graph(tiny_dot: Any, tmp_path: Path) -> None:
    module = tiny_dot.export_module("doc")
    bad = export_mask_ignored(module, _padded(tiny_dot), tmp_path / "bad.onnx")
    with pytest.raises(RuntimeError, match="differs from eager"):
        export.check_export(bad, module, NAMES, [_padded(tiny_dot)])


def test_int8_and_fused_graphs_derive_from_the_raw_export(tiny_dot: Any, tmp_path: Path) -> None:
    module = tiny_dot.export_module("doc")
    raw, _ = export.ensure_raw(module, "doc", _padded(tiny_dot), tmp_path, 17, names=NAMES)
    int8 = export.quantized_int8(raw)
    assert "MatMulInteger" in export.operator_counts(
        int8
    ) or "DynamicQuantizeMatMul" in export.operator_counts(int8)
    fused = export.fused(raw, num_heads=2, hidden_size=32, use_gpu=False)
    assert (
        export.operator_counts(fused).get("Attention", 0) == 2
    )  # one per layer: the eager-attention export fuses
    batch = _padded(tiny_dot)
    np.testing.assert_allclose(_run(fused, batch), _run(raw, batch), atol=1e-4)
    assert np.abs(_run(int8, batch) - _run(raw, batch)).max() < 0.5 * np.abs(_run(raw, batch)).max()


def _tensor_types(path: Path) -> tuple[Any, dict[str, int]]:
    """The graph after ONNX shape inference and each tensor's element type."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    graph = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.input]}
    types.update({v.name: v.type.tensor_type.elem_type for v in graph.output})
    types.update({init.name: init.data_type for init in graph.initializer})
    return graph, types


@pytest.mark.parametrize("arch", ["cat", "dot"])
def test_mixed_fp16_keeps_layernorm_softmax_and_the_head_in_fp32(
    arch: str, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    from onnx import TensorProto

    from kdbench.models import load_model

    ranker = load_model(tiny_bert_dir, arch)
    kind = "pair" if arch == "cat" else "doc"
    docs = TEXTS if arch == "cat" else None
    example = fixed_batch(ranker, kind, ["amyloid", "microglia in mice"], 32, docs)
    raw, _ = export.ensure_raw(
        ranker.export_module(kind), kind, example, tmp_path, 17, names=ranker.export_inputs(kind)
    )
    mixed = export.mixed_float16(raw)
    graph, types = _tensor_types(mixed)
    nodes = list(graph.node)
    ops = [node.op_type for node in nodes]
    assert (
        ops.count("LayerNormalization") == 5 and ops.count("Softmax") == 2
    )  # 2 layers + embeddings
    fp32, fp16 = TensorProto.FLOAT, TensorProto.FLOAT16
    for node in nodes:
        if node.op_type in export.FP32_OPS:
            assert [types[name] for name in node.input if name] == [fp32] * len(
                [n for n in node.input if n]
            ), node.name
            assert types[node.output[0]] == fp32, node.name
    # the score head: everything from the last LayerNorm on computes in fp32 (or on integers)
    last_norm = max(i for i, op in enumerate(ops) if op == "LayerNormalization")
    head_types = {types[out] for node in nodes[last_norm:] for out in node.output}
    assert fp16 not in head_types and fp32 in head_types
    # ...while the encoder's matmuls did go to fp16, and the graph's interface is unchanged
    matmuls = [node for node in nodes[:last_norm] if node.op_type == "MatMul"]
    assert matmuls and all(types[node.output[0]] == fp16 for node in matmuls)
    assert [types[v.name] for v in graph.output] == [fp32]
    assert all(types[v.name] == TensorProto.INT64 for v in graph.input)
    # and it still ranks like the fp32 graph (ORT's CPU provider runs the fp16 ops too)
    batch = fixed_batch(
        ranker,
        kind,
        ["amyloid beta", "microglia", "plaques"],
        32,
        ["a", "b c", "d e f"] if docs else None,
    )
    np.testing.assert_allclose(_run(mixed, batch), _run(raw, batch), atol=5e-3)


def test_export_cache_key_tells_apart_what_the_same_weights_compute(tiny_bert_dir: Path) -> None:
    """dot with cosine normalises its vectors, colbert keeps term vectors: same weights, other
    graphs, so other cached exports."""
    from kdbench.models import load_model

    def key(arch: str, **options: Any) -> str:
        torch.manual_seed(0)
        return export.weights_hash(load_model(tiny_bert_dir, arch, **options).export_module("doc"))

    assert key("dot") == key("dot")
    assert len({key("dot"), key("dot", similarity="cosine"), key("colbert")}) == 3
