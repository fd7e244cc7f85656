"""sentence-transformers' OpenVINO layout: `openvino/openvino_model.xml` (+ `.bin`) in a model
folder, the graph `SentenceTransformer(folder, backend="openvino")` (optimum-intel) reads.

It is kdbench's checked ONNX graph of the same layout (`export_to_model_folder`: the
tokenizer's tensors in, `last_hidden_state` or `logits` out), converted by OpenVINO and
saved with fp32 weights: the precision is chosen when it is compiled, not here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import openvino as ov

from kdbench.backends.onnx.export import export_to_model_folder
from kdbench.models.ranker import Ranker

ST_OPENVINO_DIR = "openvino"
ST_OPENVINO_FILE = "openvino_model.xml"


def export_openvino_to_model_folder(
    ranker: Ranker, folder: Path, *, opset: int = 17
) -> dict[str, Path]:
    """Write `folder/openvino/openvino_model.xml` and its `.bin`; returns {"openvino": xml}."""
    from kdbench.backends.openvino.backend import _save

    with tempfile.TemporaryDirectory(prefix="kdbench-openvino-") as scratch:
        onnx_file = export_to_model_folder(ranker, Path(scratch), opset=opset, quantize=False)[
            "model"
        ]
        target = folder / ST_OPENVINO_DIR / ST_OPENVINO_FILE
        _save(ov.convert_model(str(onnx_file)), target)
    return {"openvino": target}
