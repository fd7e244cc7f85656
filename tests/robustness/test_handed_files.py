"""Files a user was handed: damaged weights, pickles that hold more than tensors, graphs ONNX
Runtime cannot load, and `kdbench export` writing where it is told, loadable by
sentence-transformers."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pytest
import torch

from kdbench.backends.onnx.config import OPSET_MAX, OPSET_MIN
from tests.robustness.conftest import one_line_error

TEXTS = ["what causes tides", "The Moon's gravity raises the tides twice a day on most coasts."]


@pytest.fixture
def model_copy(tiny_bert_dir: Path, tmp_path: Path) -> Path:
    """A kdbench dot checkpoint of the tiny BERT (it carries its arch), ready to be damaged."""
    from kdbench.models import load_model, save_checkpoint

    model = load_model(tiny_bert_dir, "dot", pooling="mean", max_doc_len=32)
    folder = Path(save_checkpoint(model, tmp_path / "handed", {}))
    assert (folder / "model.safetensors").is_file()
    return folder


def _pickled(folder: Path, extra: object = None) -> Path:
    """The folder's weights as a pytorch_model.bin (with `extra` among the tensors)."""
    from safetensors.torch import load_file

    state: dict[str, object] = dict(load_file(str(folder / "model.safetensors")))
    if extra is not None:
        state["extra"] = extra
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    return folder / "pytorch_model.bin"


def _truncate(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


@pytest.mark.parametrize("command", ["export", "evaluate"])
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_truncate, "incomplete metadata"),
        (lambda path: path.write_bytes(b"\xff" * 4096), "header too large"),
        (lambda path: path.write_bytes(b""), "header too small"),
    ],
)
def test_damaged_safetensors_is_one_line_naming_the_file(
    model_copy: Path,
    beir_dir: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    damage: object,
    message: str,
) -> None:
    weights = model_copy / "model.safetensors"
    damage(weights)  # type: ignore[operator]
    argv = ["export", "--model", str(model_copy)]
    if command == "evaluate":
        argv = ["evaluate", "--data", str(beir_dir), "--model", str(model_copy)]
    error = one_line_error(capsys, argv)
    assert f"{weights}: cannot read the weights (" in error and message in error
    assert "truncated or corrupt: copy or download it again" in error
    assert not (model_copy / "onnx").exists()


def test_a_pickle_weights_only_refuses_is_one_line_even_when_pickles_are_allowed(
    model_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = _pickled(model_copy, extra=datetime.datetime(2020, 1, 1))
    argv = ["export", "--model", str(model_copy), "--allow-pickle"]
    error = one_line_error(capsys, argv)
    assert (
        f"{weights}: holds objects other than tensors, or is damaged (Unsupported global" in error
    )
    assert "datetime.datetime" in error and "save the weights as model.safetensors" in error


def test_a_truncated_pickle_is_one_line(
    model_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = _pickled(model_copy)
    _truncate(weights)
    error = one_line_error(capsys, ["export", "--model", str(model_copy), "--allow-pickle"])
    assert f"{weights}: cannot read the weights" in error and "truncated or corrupt" in error


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not a graph at all" * 100, "Protobuf parsing failed"), (b"", "No graph was found")],
)
def test_a_graph_onnx_runtime_cannot_load_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    graph = tmp_path / "handed.onnx"
    graph.write_bytes(content)
    out = tmp_path / "p.json"
    argv = ["profile", "--model", "all-MiniLM-L6-v2", "--backend", "onnx"]
    error = one_line_error(capsys, [*argv, "--onnx-model", str(graph), "--output", str(out)])
    assert f"--onnx-model {graph}: ONNX Runtime cannot load it (" in error
    assert message in error and not out.exists()


def test_opset_range_is_the_exporters() -> None:
    from torch.onnx import _constants

    assert _constants.ONNX_MIN_OPSET <= OPSET_MIN and OPSET_MAX == _constants.ONNX_MAX_OPSET


@pytest.mark.parametrize("opset", [OPSET_MIN - 1, OPSET_MAX + 1, 0, -1])
@pytest.mark.parametrize("command", ["export", "evaluate", "profile"])
def test_an_opset_the_exporter_cannot_use_is_refused_before_export(
    model_copy: Path,
    beir_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    opset: int,
    command: str,
) -> None:
    argv = {
        "export": ["export", "--model", str(model_copy)],
        "evaluate": ["evaluate", "--data", str(beir_dir), "--model", str(model_copy)],
        "profile": ["profile", "--model", str(model_copy), "--arch", "dot"],
    }[command]
    extra = [] if command == "export" else ["--backend", "onnx"]
    error = one_line_error(capsys, [*argv, *extra, "--opset", str(opset)])
    assert "--opset" in error and str(opset) in error
    assert f"{OPSET_MIN} to {OPSET_MAX}" in error or f"between {OPSET_MIN} and {OPSET_MAX}" in error
    assert not (model_copy / "onnx").exists()
    assert not list(tmp_path.rglob("*.onnx"))


def test_export_of_a_hub_id_asks_for_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    error = one_line_error(capsys, ["export", "--model", "sentence-transformers/all-MiniLM-L6-v2"])
    assert "not a folder (a hub id or a packaged model); pass --output FOLDER" in error
    assert list(tmp_path.iterdir()) == []  # no folder named after the id
    error = one_line_error(capsys, ["export", "--model", "./no/such/folder"])
    assert "--model ./no/such/folder: no such folder" in error


def test_export_refuses_a_folder_that_holds_something_else(
    model_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    error = one_line_error(capsys, ["export", "--model", str(model_copy), "--output", str(taken)])
    assert f"--output {taken}: exists and is not empty" in error
    assert sorted(p.name for p in taken.iterdir()) == ["notes.txt"]


def _pooled(hidden: np.ndarray, mask: np.ndarray) -> torch.Tensor:
    weights = mask[..., None].astype(np.float32)
    pooled = torch.from_numpy((hidden * weights).sum(1) / weights.sum(1)).float()
    return torch.nn.functional.normalize(pooled, dim=-1)


def test_export_output_loads_in_sentence_transformers(
    minilm_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--output` gets the model's files and onnx/: sentence-transformers loads the folder, and
    the graph, fed as its ONNX backend feeds it, gives its embeddings."""
    import onnxruntime
    from sentence_transformers import SentenceTransformer

    from kdbench.cli import main

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "exported"
    assert (
        main(["export", "--model", "all-MiniLM-L6-v2", "--output", str(out), "--no-quantize"]) == 0
    )
    assert (out / "onnx" / "model.onnx").is_file() and (out / "modules.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported"]  # nothing else written

    original = SentenceTransformer(str(minilm_path), device="cpu")
    loaded = SentenceTransformer(str(out), device="cpu")
    expected = torch.as_tensor(original.encode(TEXTS, convert_to_numpy=True))
    torch.testing.assert_close(
        torch.as_tensor(loaded.encode(TEXTS, convert_to_numpy=True)), expected, atol=1e-6, rtol=0
    )
    session = onnxruntime.InferenceSession(
        str(out / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    feeds = loaded.tokenizer(TEXTS, padding=True, truncation=True, return_tensors="np")
    wanted = {item.name for item in session.get_inputs()}
    (hidden,) = session.run(None, {k: v for k, v in feeds.items() if k in wanted})
    torch.testing.assert_close(
        _pooled(hidden, feeds["attention_mask"]), expected, atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("opset", [OPSET_MIN, OPSET_MAX])
def test_export_into_the_model_folder_by_default_at_either_end_of_the_opsets(
    model_copy: Path, opset: int
) -> None:
    import onnx

    from kdbench.backends.onnx.config import graph_problem
    from kdbench.cli import main

    assert main(["export", "--model", str(model_copy), "--no-quantize", "--opset", str(opset)]) == 0
    graph = model_copy / "onnx" / "model.onnx"
    assert graph_problem(graph) is None
    assert {o.domain: o.version for o in onnx.load(str(graph)).opset_import}[""] == opset
