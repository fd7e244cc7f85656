"""What can be checked of the TensorRT backend without TensorRT: the version logic.

The build and run paths need a GPU (`pytest -m tensorrt` on one); mypy checks them against
tensorrt-stubs in CI.
"""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is None, reason="needs tensorrt or tensorrt-stubs"
)


@pytest.mark.parametrize(
    ("version", "has_fp16_flag", "expected"),
    [
        ("10.13.0.35", True, False),
        ("10.3.0", False, True),
        ("11.0.0", False, True),
        ("11.1.0", True, True),
    ],
)
def test_strongly_typed_from_tensorrt_11_or_without_the_fp16_flag(
    monkeypatch: pytest.MonkeyPatch, version: str, has_fp16_flag: bool, expected: bool
) -> None:
    from kdbench.backends.tensorrt import backend

    flags = SimpleNamespace(FP16=object()) if has_fp16_flag else SimpleNamespace()
    monkeypatch.setattr(backend, "trt", SimpleNamespace(__version__=version, BuilderFlag=flags))
    assert backend.strongly_typed_only() is expected


def _tensorrt_missing() -> str | None:
    from kdbench.backends import BACKENDS

    return BACKENDS["tensorrt"].missing("cuda")


@pytest.mark.tensorrt
@pytest.mark.skipif(_tensorrt_missing() is not None, reason="needs TensorRT and a CUDA GPU")
def test_tensorrt_dot_query_matches_eager(
    tiny_bert_dir, scifact_dir, profile_cache, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from kdbench.cli import app
    from tests.profile.conftest import FAST

    out = tmp_path / "P.json"
    result = CliRunner().invoke(
        app,
        [
            "profile",
            "--model",
            str(tiny_bert_dir),
            "--arch",
            "dot",
            "--backend",
            "eager,tensorrt,tensorrt:fp16",
            "--device",
            "cuda",
            "--data",
            str(scifact_dir),
            "--index-size",
            "200",
            "--output",
            str(out),
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    entries = json.loads(out.read_text())["results"]
    assert {e["backend"] for e in entries} == {"eager", "tensorrt"}
    assert next(e for e in entries if e["precision"] == "fp32" and e["backend"] == "tensorrt")[
        "parity"
    ]["passed"]
