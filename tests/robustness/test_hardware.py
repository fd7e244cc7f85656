"""Hardware or libraries a flag asks for but this machine lacks: one clear line, exit 2, nothing written.

Each case is skipped where the machine does have the GPU, TensorRT or CUDA provider.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.robustness.conftest import one_line_error, write_beir
from tests.robustness.test_interrupt import RUN_PROFILE


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _ort_has_cuda() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


needs_no_gpu = pytest.mark.skipif(_has_cuda(), reason="a CUDA GPU is present")


@needs_no_gpu
def test_evaluate_on_cuda(
    beir_dir: Path, tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    argv = ["evaluate", "--data", str(beir_dir), "--model", str(tiny_bert_dir), "--arch", "dot"]
    line = one_line_error(capsys, [*argv, "--device", "cuda", "--output", str(out)])
    assert "--device cuda: torch sees no CUDA device here; use --device cpu" in line
    assert not out.exists()


@needs_no_gpu
@pytest.mark.parametrize("command", ["train", "teacher score"])
def test_training_and_teacher_on_cuda(
    command: str,
    beir_dir: Path,
    tiny_bert_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_beir(beir_dir, split="train")
    out = tmp_path / "out"
    argv = [*command.split(), "--data", str(beir_dir), "--model", str(tiny_bert_dir)]
    argv += ["--arch", "cat" if command != "train" else "dot", "--device", "cuda"]
    argv += ["--loss", "ranknet"] if command == "train" else []
    line = one_line_error(capsys, [*argv, "--dev-queries", "0", "-q", "--output", str(out)])
    assert "--device cuda: no CUDA device is visible to torch; use --device cpu" in line


PROFILE = ["--min-samples", "2", "--min-duration", "0", "--warmup", "1", "--warmup-time", "0"]


@pytest.mark.parametrize(
    ("args", "expected", "present"),
    [
        (["--device", "cuda"], "no CUDA GPU is visible", _has_cuda),
        (
            ["--backend", "tensorrt"],
            "TensorRT is not installed",
            lambda: importlib.util.find_spec("tensorrt") is not None and _has_cuda(),
        ),
        (["--backend", "onnx", "--device", "cuda"], "has no CUDAExecutionProvider", _ort_has_cuda),
    ],
    ids=["eager-cuda", "tensorrt", "onnx-cuda"],
)
def test_profile_backends_and_devices(
    args: list[str],
    expected: str,
    present: object,
    tiny_bert_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert callable(present)
    if present():
        pytest.skip("this machine has it")
    out = tmp_path / "p.json"
    argv = ["profile", "--model", str(tiny_bert_dir), "--arch", "dot", *args, *PROFILE]
    line = one_line_error(capsys, [*argv, "--output", str(out)])
    assert expected in line and "install" in line, line  # what is missing, and how to get it
    assert not out.exists()


@needs_no_gpu
def test_run_profile_on_cuda_is_refused_before_any_stage(
    beir_dir: Path, tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, profile = tmp_path / "results", tmp_path / "p.toml"
    text = RUN_PROFILE.format(out=out, data=beir_dir, model=tiny_bert_dir, seconds=0.05)
    profile.write_text(text.replace("[profile]", '[profile]\ndevices = ["cuda"]'))
    line = one_line_error(capsys, ["run", str(profile)])
    assert f"{profile}: profile: backend 'eager' on device 'cuda': no CUDA GPU is visible" in line
    assert not out.exists()
