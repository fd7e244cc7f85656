from __future__ import annotations

import subprocess
import sys

import pytest

from kdbench.backends import BACKENDS, parse_backend_list
from kdbench.errors import UserError


def test_parse_backend_list_aliases_precisions_and_duplicates() -> None:
    assert parse_backend_list("eager, ort,onnx:INT8,trt,eager") == [
        ("eager", None),
        ("onnx", None),
        ("onnx", "int8"),
        ("tensorrt", None),
    ]
    with pytest.raises(
        UserError,
        match="--backend 'tvm': unknown backend; choose one of eager \\(torch, pytorch\\)",
    ):
        parse_backend_list("eager,tvm")
    with pytest.raises(UserError, match="names no backend"):
        parse_backend_list(" , ")


def test_supports_names_what_is_allowed() -> None:
    assert BACKENDS["eager"].supports("cat", "cpu", "bf16") is None
    assert BACKENDS["onnx"].supports("dot", "cpu", "int8") is None
    assert "supports fp32, int8, int8-static, not fp16" in (
        BACKENDS["onnx"].supports("dot", "cpu", "fp16") or ""
    )
    assert "does not run on cpu" in (BACKENDS["tensorrt"].supports("dot", "cpu", "fp16") or "")


def test_tensorrt_missing_is_one_actionable_line() -> None:
    info = BACKENDS["tensorrt"]
    if info.is_available("cuda"):
        pytest.skip("TensorRT and a GPU are present")
    with pytest.raises(UserError) as caught:
        info.require("cuda")
    message = str(caught.value)
    assert "\n" not in message
    assert "TensorRT" in message and "pip install 'kdbench[tensorrt]'" in message


def test_the_stubs_are_not_mistaken_for_tensorrt() -> None:
    import importlib.util

    if importlib.util.find_spec("tensorrt") is None:
        pytest.skip("tensorrt-stubs not installed")
    import tensorrt

    if hasattr(tensorrt, "Builder"):
        pytest.skip("the real TensorRT is installed")
    assert "only its type stubs" in (BACKENDS["tensorrt"].missing("cuda") or "")


def test_choosing_a_backend_imports_nothing_heavy() -> None:
    code = (
        "import sys; import kdbench.backends, kdbench.profile, kdbench.commands.profile;"
        "from kdbench.backends import BACKENDS; BACKENDS['onnx']; BACKENDS['tensorrt'].supports('dot', 'cuda', 'fp16');"
        "heavy = [m for m in ('torch', 'onnxruntime', 'tensorrt', 'transformers') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_resolve_imports_the_heavy_module_on_demand() -> None:
    from kdbench.backends.eager.backend import EagerBackend

    assert BACKENDS["eager"].resolve() is EagerBackend
