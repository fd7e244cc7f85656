"""`kdbench export`: onnx/model.onnx (+ int8) in the model folder, fed as sentence-transformers'
ONNX backend feeds it (the tokenizer's tensors by name); through SentenceTransformer/CrossEncoder
with backend="onnx" where optimum is installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from kdbench.cli import main
from kdbench.models import load_model, save_checkpoint

TEXTS = ["what causes tides", "The Moon's gravity raises the tides twice a day on most coasts."]
OPTIMUM = importlib.util.find_spec("optimum") is not None and (
    importlib.util.find_spec("optimum.onnxruntime") is not None
)
NO_OPTIMUM = (
    "sentence-transformers' ONNX backend needs optimum[onnxruntime]; optimum-onnx 0.1.0 (the latest "
    "on PyPI) requires transformers<4.58 and this venv has transformers 5"
)


def run_session(path: Path, tokenizer: object, *texts: list[str]) -> tuple[np.ndarray, dict]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = tokenizer(*texts, padding=True, truncation=True, return_tensors="np")  # type: ignore[operator]
    wanted = {i.name for i in session.get_inputs()}
    (out,) = session.run(None, {k: v for k, v in feeds.items() if k in wanted})
    return out, dict(feeds)


@pytest.fixture
def dot_folder(tiny_bert_dir: Path, tmp_path: Path) -> tuple[Path, object]:
    model = load_model(tiny_bert_dir, "dot", pooling="mean", similarity="cosine", max_doc_len=32)
    return save_checkpoint(model, tmp_path / "dot", {}), model


def test_dot_export_is_the_encoder_sentence_transformers_pools(dot_folder: tuple) -> None:
    folder, model = dot_folder
    assert main(["export", "--model", str(folder)]) == 0
    assert (folder / "onnx" / "model.onnx").exists()
    assert (folder / "onnx" / "model_qint8_avx512.onnx").exists()
    hidden, feeds = run_session(folder / "onnx" / "model.onnx", model.tokenizer, TEXTS)
    mask = feeds["attention_mask"][..., None]
    pooled = torch.from_numpy((hidden * mask).sum(1) / mask.sum(1)).float()
    with torch.no_grad():
        expected = model.encode_docs(TEXTS)
    torch.testing.assert_close(
        torch.nn.functional.normalize(pooled, dim=-1), expected, atol=1e-5, rtol=0
    )
    quantized, _ = run_session(folder / "onnx" / "model_qint8_avx512.onnx", model.tokenizer, TEXTS)
    assert quantized.shape == hidden.shape


def test_cross_encoder_export_gives_kdbench_scores(tiny_bert_dir: Path, tmp_path: Path) -> None:
    model = load_model(tiny_bert_dir, "cat", max_query_len=12, max_doc_len=36)
    folder = save_checkpoint(model, tmp_path / "cat", {})
    assert main(["export", "--model", str(folder), "--no-quantize"]) == 0
    logits, _ = run_session(folder / "onnx" / "model.onnx", model.tokenizer, [TEXTS[0]] * 2, TEXTS)
    with torch.no_grad():
        expected = model.score_pairs([TEXTS[0]] * 2, TEXTS)
    torch.testing.assert_close(torch.from_numpy(logits[:, 0]), expected, atol=1e-5, rtol=0)


def test_colbert_has_no_sentence_transformers_form(
    tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = save_checkpoint(load_model(tiny_bert_dir, "colbert"), tmp_path / "colbert", {})
    assert main(["export", "--model", str(folder)]) == 2
    assert "no sentence-transformers form" in capsys.readouterr().err


@pytest.mark.skipif(not OPTIMUM, reason=NO_OPTIMUM)
def test_sentence_transformers_onnx_backend_runs_the_export(dot_folder: tuple) -> None:
    from sentence_transformers import SentenceTransformer

    folder, model = dot_folder
    assert main(["export", "--model", str(folder), "--no-quantize"]) == 0
    st = SentenceTransformer(str(folder), backend="onnx", device="cpu")
    with torch.no_grad():
        expected = model.encode_docs(TEXTS)
    torch.testing.assert_close(
        torch.as_tensor(st.encode_document(TEXTS)), expected, atol=1e-5, rtol=0
    )
