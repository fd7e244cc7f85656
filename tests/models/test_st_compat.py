"""A dot folder kdbench writes loads where OpenVINO users are: sentence-transformers 5.x (with
optimum-intel, which pins transformers; its Transformer refuses unknown config keys) as well as
6.x, and `kdbench export --backend openvino` writes the `openvino/` layout it reads."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from kdbench.models import load_model, save_checkpoint

# What sentence-transformers 5.7's Transformer accepts from sentence_bert_config.json (its
# `config_keys` and the arguments of its __init__ a saved config carries)
ST5_KEYS = {
    "max_seq_length",
    "do_lower_case",
    "transformer_task",
    "modality_config",
    "module_output_name",
    "processing_kwargs",
    "unpad_inputs",
}
ST5_PYTHON = os.environ.get("KDBENCH_ST5_PYTHON", "/work/venvs/st57/bin/python")
QUERIES = ["Vitamin D deficiency is associated with heart disease.", "0-dimensional biomaterials"]


@pytest.fixture(scope="module")
def dot_folder(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = load_model(minilm_path, "dot", max_query_len=24, max_doc_len=64, layers=2)
    folder = save_checkpoint(model, tmp_path_factory.mktemp("st") / "dot", {})
    with torch.no_grad():
        np.save(folder.parent / "queries.npy", model.encode_queries(QUERIES).numpy())
    return folder


def test_sentence_bert_config_has_only_keys_5x_accepts(dot_folder: Path) -> None:
    config = json.loads((dot_folder / "sentence_bert_config.json").read_text())
    assert set(config) <= ST5_KEYS, set(config) - ST5_KEYS
    assert config["max_seq_length"] == 64


def test_export_openvino_writes_the_layout_and_computes_eager(dot_folder: Path) -> None:
    pytest.importorskip("openvino")
    from kdbench.backends.openvino.core import shared_core
    from kdbench.cli import main

    assert main(["export", "--model", str(dot_folder), "--backend", "openvino"]) == 0
    xml = dot_folder / "openvino" / "openvino_model.xml"
    assert xml.exists() and xml.with_suffix(".bin").exists()
    model = load_model(dot_folder)
    tokens = model.tokenizer(QUERIES, padding=True, return_tensors="pt")
    compiled = shared_core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    names = [port.get_any_name() for port in compiled.inputs]
    output = compiled({name: tokens[name].numpy() for name in names})[0]
    with torch.no_grad():
        expected = model.encoder(**{name: tokens[name] for name in names}).last_hidden_state
    mask = tokens["attention_mask"].numpy().astype(bool)
    assert np.abs(output[mask] - expected.numpy()[mask]).max() < 1e-4


def test_unknown_export_backend_is_one_line(
    dot_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kdbench.cli import main

    assert main(["export", "--model", str(dot_folder), "--backend", "tvm"]) == 2
    assert "--backend tvm: choose onnx or openvino" in capsys.readouterr().err


@pytest.mark.skipif(
    not Path(ST5_PYTHON).exists(), reason=f"no sentence-transformers 5.x venv at {ST5_PYTHON}"
)
def test_sentence_transformers_5x_loads_it_with_torch_and_openvino(dot_folder: Path) -> None:
    pytest.importorskip("openvino")
    from kdbench.cli import main

    if not (dot_folder / "openvino" / "openvino_model.xml").exists():
        assert main(["export", "--model", str(dot_folder), "--backend", "openvino"]) == 0
    code = (
        "import json, sys, numpy as np, sentence_transformers as s\n"
        "from sentence_transformers import SentenceTransformer\n"
        "folder, queries, ref = sys.argv[1], json.loads(sys.argv[2]), np.load(sys.argv[3])\n"
        "out = {'version': s.__version__}\n"
        "for backend, kwargs in (('torch', {}), ('openvino', {'model_kwargs': {'ov_config': "
        "{'INFERENCE_PRECISION_HINT': 'f32'}}})):\n"
        "    model = SentenceTransformer(folder, device='cpu', backend=backend, **kwargs)\n"
        "    out[backend] = float(np.abs(model.encode_query(queries) - ref).max())\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [ST5_PYTHON, "-c", code, str(dot_folder), json.dumps(QUERIES),
         str(dot_folder.parent / "queries.npy")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["version"].startswith("5.")
    assert found["torch"] < 1e-5 and found["openvino"] < 1e-4
