"""Achieved FLOP/s: a transformer encoder's matmul FLOPs per call, and the machine's peak
measured on the spot by large GEMMs (datasheet peaks are rarely reached, shared CPUs never).

The peak of a dtype is the best of the GEMMs this machine has for it (`machine_peak`):
torch, and on the CPU also numpy, ONNX Runtime (whose MLAS kernels beat torch's fp32
GEMM on some CPUs) and OpenVINO (oneDNN: AMX tiles for bf16 and int8 where the CPU has
them); int8 is integer GEMM (ONNX Runtime's `MatMulInteger`, OpenVINO's quantised MatMul),
never fp32's; bf16 is the best bf16 GEMM of torch and OpenVINO. Which library won is recorded, so a
fraction of peak names its yardstick.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kdbench.json_types import JsonObject

if TYPE_CHECKING:
    import torch

_CPU_SIZE = 1024
_GPU_SIZE = 8192


def encoder_flops(
    batch_size: int, seq_len: int, *, layers: int, hidden: int, intermediate: int
) -> int:
    """Matmul FLOPs (2 per multiply-add) of one BERT-style encoder forward.

    Per layer and token: Q, K, V and output projections 8·h², the feed-forward 4·h·i, and
    attention scores plus weighted values 4·L·h. Padding tokens count: they are computed.
    Embeddings, layer norms and softmax are left out (a few percent).

    >>> encoder_flops(1, 1, layers=1, hidden=1, intermediate=1)
    16
    """
    per_token = 8 * hidden * hidden + 4 * hidden * intermediate + 4 * seq_len * hidden
    return batch_size * seq_len * layers * per_token


def measure_peak_flops(
    device: str, dtype: torch.dtype, *, size: int | None = None, repeats: int = 5
) -> float:
    """Best FLOP/s of `repeats` square matmuls of `size` in `dtype` on `device`."""
    import torch

    if size is None:
        size = 8192 if device.startswith("cuda") else 1024
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    torch.matmul(a, b)  # warm-up: kernel selection, thread pool start
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        sync()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


@dataclass(frozen=True)
class Peak:
    """The best GEMM throughput measured for one dtype on one device, and who reached it."""

    per_s: float
    library: str  # "torch" | "numpy" | "onnxruntime"
    candidates: dict[str, float]  # every library tried -> its best FLOP/s
    size: int
    repeats: int

    @property
    def source(self) -> str:
        """'onnxruntime fp32 GEMM 1024³, best of 20 (numpy 2.1e+11, torch 2.3e+11)'."""
        others = ", ".join(
            f"{name} {value:.2g}"
            for name, value in sorted(self.candidates.items())
            if name != self.library
        )
        text = f"{self.library} GEMM {self.size}³, best of {self.repeats}"
        return f"{text} ({others})" if others else text

    def to_dict(self) -> JsonObject:
        return dataclasses.asdict(self)


_TORCH_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def machine_peak(
    device: str, precision: str, *, threads: int | None = None, repeats: int = 20
) -> Peak:
    """The best FLOP/s (2 per multiply-add; int8: per integer multiply-add) any library here
    reaches on square GEMMs in `precision` on `device`."""
    import torch

    cpu = not device.startswith("cuda")
    size = _CPU_SIZE if cpu else _GPU_SIZE
    candidates: dict[str, float] = {}
    if precision in _TORCH_DTYPES:
        dtype = getattr(torch, _TORCH_DTYPES[precision])
        candidates["torch"] = measure_peak_flops(device, dtype, size=size, repeats=repeats)
    if cpu and precision == "fp32":
        candidates["numpy"] = numpy_peak(size, repeats)
    if cpu and precision in ("fp32", "int8"):
        candidates["onnxruntime"] = onnxruntime_peak(precision, size, repeats, threads)
    if cpu and precision in OPENVINO_TYPES and importlib.util.find_spec("openvino") is not None:
        candidates["openvino"] = openvino_peak(precision, size, repeats, threads)
    if not candidates:
        raise ValueError(f"no GEMM to measure for {precision} on {device}")
    library = max(candidates, key=lambda name: candidates[name])
    return Peak(candidates[library], library, candidates, size, repeats)


def _best_of(call: Callable[[], Any], repeats: int) -> float:
    """The shortest of `repeats` timed calls, after one warm-up call, in seconds."""
    call()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def numpy_peak(size: int, repeats: int) -> float:
    """FLOP/s of numpy's fp32 matmul (its BLAS; threads as the BLAS library sets them)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    return 2 * size**3 / _best_of(lambda: a @ b, repeats)


def onnxruntime_peak(precision: str, size: int, repeats: int, threads: int | None) -> float:
    """FLOP/s of ONNX Runtime's CPU GEMM: `MatMul` on fp32, `MatMulInteger` (uint8
    activations × int8 weights -> int32, as its dynamic quantisation runs) for int8."""
    import numpy as np
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    a: np.ndarray
    b: np.ndarray
    if precision == "int8":
        a = rng.integers(0, 255, (size, size), dtype=np.uint8)
        b = rng.integers(-127, 127, (size, size), dtype=np.int8)
        node = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
        a_type, y_type = TensorProto.UINT8, TensorProto.INT32
    else:
        a = rng.standard_normal((size, size), dtype=np.float32)
        b = rng.standard_normal((size, size), dtype=np.float32)
        node = helper.make_node("MatMul", ["a", "b"], ["y"])
        a_type = y_type = TensorProto.FLOAT
    graph = helper.make_graph(
        [node],
        "gemm",
        [helper.make_tensor_value_info("a", a_type, [size, size])],
        [helper.make_tensor_value_info("y", y_type, [size, size])],
        initializer=[numpy_helper.from_array(b, "b")],  # a weight, as in a model
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 9)  # readable by older ONNX Runtime builds
    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(
        model.SerializeToString(),
        options,
        providers=["CPUExecutionProvider"],
    )
    return 2 * size**3 / _best_of(lambda: session.run(None, {"a": a}), repeats)


OPENVINO_TYPES = ("fp32", "bf16", "int8")


def openvino_peak(precision: str, size: int, repeats: int, threads: int | None) -> float:
    """FLOP/s of OpenVINO's CPU MatMul against a constant weight (a model's linear layer):
    fp32 with the inference precision pinned to f32, bf16 with it set to bf16, int8 as
    NNCF writes a quantised layer (FakeQuantize on the activation, int8 weights scaled), which
    the plugin runs as an integer GEMM."""
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    from kdbench.backends.openvino.core import shared_core

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    data = ops.parameter([size, size], ov.Type.f32, name="a")
    source: Any = data
    if precision == "int8":
        weight_int8 = rng.integers(-127, 127, (size, size), dtype=np.int8)
        weight: Any = ops.multiply(
            ops.convert(ops.constant(weight_int8), ov.Type.f32),
            ops.constant(np.full((size, 1), 0.01, dtype=np.float32)),
        )
        low, high = ops.constant(np.float32(-4.0)), ops.constant(np.float32(4.0))
        source = ops.fake_quantize(data, low, high, low, high, 256)
    else:
        weight = ops.constant(rng.standard_normal((size, size), dtype=np.float32))
    product = ops.matmul(source, weight, transpose_a=False, transpose_b=True)
    model = ov.Model([product], [data], "gemm")
    props = ov.properties
    config: dict[Any, Any] = {
        props.hint.inference_precision: ov.Type.bf16 if precision == "bf16" else ov.Type.f32,
        props.hint.performance_mode: props.hint.PerformanceMode.LATENCY,
        props.num_streams: 1,
    }
    if threads is not None:
        config[props.inference_num_threads] = threads
    request = shared_core().compile_model(model, "CPU", config).create_infer_request()
    return 2 * size**3 / _best_of(lambda: request.infer({0: a}, share_inputs=True), repeats)
