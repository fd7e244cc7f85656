"""*How* a ranker runs: a registry of backends, each a light config plus a heavy module.

Choosing `eager` never imports ONNX Runtime or TensorRT: the registry holds only
`BackendInfo` (names, what each supports, how to check availability and install); the
implementation module is imported by `resolve()` when a profile actually uses it.

    >>> BACKENDS.canonical("ort")
    'onnx'
    >>> parse_backend_list("eager,onnx:int8")
    [('eager', None), ('onnx', 'int8')]

The precisions and device types are those the registered backends declare:

    >>> precisions(), devices()
    (('fp32', 'fp16', 'bf16', 'int8', 'int8-static'), ('cpu', 'cuda'))
"""

from __future__ import annotations

from kdbench.backends.base import BackendInfo, BackendOptions, Runner, ShapeRange
from kdbench.backends.eager.config import EAGER
from kdbench.backends.onnx.config import ONNX
from kdbench.backends.openvino.config import OPENVINO
from kdbench.backends.tensorrt.config import TENSORRT
from kdbench.errors import UserError
from kdbench.registry import Registry

__all__ = [
    "BACKENDS",
    "BackendInfo",
    "BackendOptions",
    "Runner",
    "ShapeRange",
    "arithmetic",
    "devices",
    "evaluated_apart",
    "parse_backend_list",
    "precisions",
]

BACKENDS: Registry[BackendInfo] = Registry("backend", "--backend")
BACKENDS.register("eager", EAGER, aliases=("torch", "pytorch"))
BACKENDS.register("onnx", ONNX, aliases=("ort", "onnxruntime"))
BACKENDS.register("tensorrt", TENSORRT, aliases=("trt",))
BACKENDS.register("openvino", OPENVINO, aliases=("ov",))

# The arithmetic a precision's matmuls run in, where its name says more (how it was quantised)
ARITHMETIC = {"int8-static": "int8"}


def arithmetic(precision: str) -> str:
    """The dtype a precision's GEMMs run in: its peak is that dtype's.

    >>> arithmetic("int8-static"), arithmetic("bf16")
    ('int8', 'bf16')
    """
    return ARITHMETIC.get(precision, precision)


def precisions() -> tuple[str, ...]:
    """Every precision some registered backend runs, in the order they first declare them."""
    found = (
        p
        for info in BACKENDS.entries()
        for by_device in info.precisions.values()
        for p in by_device
    )
    return tuple(dict.fromkeys(found))


def devices() -> tuple[str, ...]:
    """Every device type ("cpu", "cuda") some registered backend runs on."""
    return tuple(dict.fromkeys(d for info in BACKENDS.entries() for d in info.precisions))


def evaluated_apart(backend: str, precision: str) -> bool:
    """Whether a (backend, precision) needs an evaluation of its own: its scores are not
    eager fp32's to float tolerance (int8, fp16, bf16, every TensorRT engine).

    >>> evaluated_apart("onnx", "fp32"), evaluated_apart("onnx", "int8"), evaluated_apart("trt", "fp32")
    (False, True, True)
    """
    return precision != "fp32" or not BACKENDS[backend].fp32_is_eager


def parse_backend_list(text: str) -> list[tuple[str, str | None]]:
    """`--backend eager,onnx:int8` -> [(canonical name, precision or None), ...]."""
    entries: list[tuple[str, str | None]] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, _, precision = item.partition(":")
        entry = (BACKENDS.canonical(name.strip()), precision.strip().lower() or None)
        if entry not in entries:
            entries.append(entry)
    if not entries:
        raise UserError(f"--backend {text!r} names no backend; choose from: {BACKENDS.describe()}")
    return entries
