"""export_module traces to ONNX with dynamic batch/sequence axes and honours the attention mask."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from kdbench.models import load_model

QUERIES = ["tides", "what causes the tides in the oceans of the earth", "moon"]
DOCS = [
    "The Moon's gravity raises the tides twice a day, and the Sun adds a smaller pull.",
    "Cats.",
    "Tides are waves.",
]


@pytest.mark.parametrize(
    ("encoder", "arch", "kind"),
    [
        ("bert", "dot", "doc"),
        ("bert", "colbert", "query"),
        ("bert", "cat", "pair"),
        ("distilbert", "cat", "pair"),
    ],
)
def test_onnx_export_matches_eager_on_other_shapes(
    tiny_bert_dir: Path, tiny_distilbert: Path, tmp_path: Path, encoder: str, arch: str, kind: str
) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    model = load_model(tiny_bert_dir if encoder == "bert" else tiny_distilbert, arch)
    names = model.export_inputs(kind)  # type: ignore[arg-type]
    example = model.tokenize(QUERIES[:2], kind, pair_docs=DOCS[:2] if kind == "pair" else None)  # type: ignore[arg-type]
    path = tmp_path / f"{arch}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # A copy: in torch 2.13 the TorchScript exporter leaves the module it traced computing
        # wrong embeddings afterwards (checked: the weights are unchanged, the outputs are not).
        torch.onnx.export(
            copy.deepcopy(model.export_module(kind)),
            tuple(example.values()),
            str(path),
            dynamo=False,  # type: ignore[arg-type]
            input_names=list(names),
            output_names=["output"],
            dynamic_axes={
                **{n: {0: "batch", 1: "seq"} for n in names},
                "output": {0: "batch", 1: "seq"},
            },
        )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(names)
    # Another batch size, another length, other padding than the traced example.
    texts = [*QUERIES, "a b c d e f g h i j k l m n o p"]
    inputs = model.tokenize(texts, kind, pair_docs=[*DOCS, "x"] if kind == "pair" else None)  # type: ignore[arg-type]
    (onnx_out,) = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    with torch.no_grad():
        eager = model.export_module(kind)(*inputs.values()).numpy()  # type: ignore[arg-type]
    np.testing.assert_allclose(onnx_out, eager, rtol=1e-4, atol=1e-4)
