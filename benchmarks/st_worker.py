"""sentence-transformers' side of `benchmarks/side_by_side.py`, run by *another* venv's python
(sentence-transformers 5.x with optimum-intel: its OpenVINO backend pins transformers).

Reads one JSON command per stdin line, answers one JSON line on stdout:
  {"op": "load", "folder": F, "calibration": [texts]}  load every backend (see BACKENDS)
  {"op": "encode", "backend": B, "texts": [...]}         -> {"seconds": s} (one encode call)
  {"op": "vectors", "backend": B, "texts": [...], "out": F}  -> writes float32 .npy to F
  {"op": "quit"}
Only the standard library, numpy and sentence-transformers' own packages are imported.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BATCH = 32
MAX_LEN = 128
BACKENDS = ("st-torch", "st-onnx", "st-onnx-int8", "st-openvino", "st-openvino-int8")
STATIC_FILE = "openvino/openvino_model_qint8_quantized.xml"
ONNX_INT8 = "onnx/model_qint8_avx512_vnni.onnx"


def quantize_openvino(folder: Path, texts: list[str], tokenizer: Any) -> None:
    """NNCF static int8 of the folder's openvino_model.xml, calibrated on `texts` (train
    passages), saved where sentence-transformers looks for a quantised OpenVINO model: what
    its `export_static_quantized_openvino_model` does, with our calibration set (that helper
    downloads a GLUE set; this machine has no network)."""
    import nncf
    import openvino as ov

    target = folder / STATIC_FILE
    if target.exists():
        return
    batches = []
    for start in range(0, len(texts), 8):
        tokens = tokenizer(
            texts[start : start + 8],
            padding=True,
            truncation=True,
            max_length=MAX_LEN,
            return_tensors="np",
        )
        batches.append(dict(tokens))
    model = ov.Core().read_model(str(folder / "openvino" / "openvino_model.xml"))
    quantized = nncf.quantize(
        model,
        nncf.Dataset(batches),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(batches),
    )
    ov.save_model(quantized, str(target), compress_to_fp16=False)


def load(folder: Path, calibration: list[str]) -> dict[str, Any]:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.backend import export_dynamic_quantized_onnx_model

    models: dict[str, Any] = {}
    models["st-torch"] = SentenceTransformer(str(folder), device="cpu")
    onnx = SentenceTransformer(str(folder), device="cpu", backend="onnx")
    if not (folder / ONNX_INT8).exists():
        onnx.save_pretrained(str(folder))
        # the configuration sentence-transformers recommends for a CPU with AVX-512 VNNI
        export_dynamic_quantized_onnx_model(onnx, "avx512_vnni", str(folder))
    models["st-onnx"] = onnx
    models["st-onnx-int8"] = SentenceTransformer(
        str(folder),
        device="cpu",
        backend="onnx",
        model_kwargs={"file_name": ONNX_INT8},
    )
    openvino = SentenceTransformer(str(folder), device="cpu", backend="openvino")
    if not (folder / "openvino" / "openvino_model.xml").exists():
        openvino.save_pretrained(str(folder))
    models["st-openvino"] = openvino
    quantize_openvino(folder, calibration, openvino.tokenizer)
    models["st-openvino-int8"] = SentenceTransformer(
        str(folder), device="cpu", backend="openvino", model_kwargs={"file_name": STATIC_FILE}
    )
    for model in models.values():
        model.max_seq_length = MAX_LEN
    return models


def main() -> None:
    # answers go to the original stdout; anything libraries print goes to stderr
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import sentence_transformers

    models: dict[str, Any] = {}
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "quit":
            break
        if op == "load":
            models = load(Path(command["folder"]), command["calibration"])
            answer: dict[str, Any] = {
                "loaded": sorted(models),
                "sentence_transformers": sentence_transformers.__version__,
            }
        elif op == "encode":
            model = models[command["backend"]]
            start = time.perf_counter()
            model.encode(command["texts"], batch_size=BATCH, convert_to_numpy=True)
            answer = {"seconds": time.perf_counter() - start}
        elif op == "vectors":
            model = models[command["backend"]]
            encode = model.encode_query if command.get("task") == "query" else model.encode_document
            vectors = encode(command["texts"], batch_size=BATCH, convert_to_numpy=True)
            np.save(command["out"], np.asarray(vectors, dtype=np.float32))
            answer = {"rows": len(vectors)}
        else:
            answer = {"error": f"unknown op {op}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
