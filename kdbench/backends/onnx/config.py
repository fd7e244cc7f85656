"""ONNX Runtime: exported graph, graph optimisation, CPU/CUDA/TensorRT execution providers, int8."""

from __future__ import annotations

import importlib.util
import os

from kdbench.backends.base import BackendInfo, cuda_missing

# The opsets an export can use: torch.onnx's TorchScript exporter (dynamo=False) writes
# ONNX_MIN_OPSET..ONNX_MAX_OPSET (7..23 in torch 2.13, torch/onnx/_constants.py), and a
# transformer with dynamic batch and sequence axes needs Slice with dynamic inputs, which
# opsets below 10 do not have (the exporter refuses them). Pinned against torch by a test.
OPSET_MIN, OPSET_MAX = 10, 23

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def graph_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ONNX Runtime cannot load the graph at `path` (its CPU provider), or None.

    A graph a user hands over is opened once before any work: a truncated file, another
    format or an operator this onnxruntime lacks is then one line, not a traceback later.
    """
    import onnxruntime
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

    errors = tuple(
        getattr(ort_errors, name)
        for name in ("Fail", "InvalidProtobuf", "InvalidGraph", "NoSuchFile", "InvalidArgument",
                     "NotImplemented", "RuntimeException")
        if hasattr(ort_errors, name)
    )  # fmt: skip
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # the error comes back as an exception; no C++ log lines
    try:
        onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except (*errors, RuntimeError, OSError, ValueError) as error:
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        # "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from X failed:Protobuf parsing failed."
        text = text.split(" : ")[-1]
        return text if len(text) <= 200 else text[:197] + "..."
    return None


def provider_missing(provider: str) -> str | None:
    """Why this onnxruntime build cannot run `provider` ("cpu" | "cuda" | "tensorrt"), or None."""
    import onnxruntime

    offered = onnxruntime.get_available_providers()
    if PROVIDERS[provider] in offered:
        return None
    return (
        f"onnxruntime {onnxruntime.__version__} has no {PROVIDERS[provider]} "
        f"(it offers {', '.join(offered)})"
    )


def provider_conflict(device: str, provider: str | None) -> str | None:
    """Why `--onnx-provider` cannot serve `--device`, or None.

    On a CUDA device the runner binds CUDA memory (IO binding): a CPU session would be handed
    device pointers, so that pairing is refused rather than silently copied through the host.

    >>> provider_conflict("cuda", "cpu").split(":")[0]
    '--device cuda --onnx-provider cpu'
    >>> provider_conflict("cuda:1", "tensorrt") is None, provider_conflict("cpu", None) is None
    (True, True)
    """
    if device.split(":")[0] == "cuda" and provider == "cpu":
        return (
            f"--device {device} --onnx-provider cpu: the inputs live on the GPU but "
            f"{PROVIDERS['cpu']} reads host memory; use --onnx-provider cuda or tensorrt, "
            "or --device cpu"
        )
    return None


def _onnx_missing(device_type: str) -> str | None:
    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
        return "onnxruntime and onnx are not installed"
    if device_type != "cuda":
        return None
    return provider_missing("cuda") or cuda_missing()


ONNX = BackendInfo(
    name="onnx",
    target="kdbench.backends.onnx.backend:OnnxBackend",
    summary="ONNX Runtime with graph optimisation; fp32, int8 (dynamic), int8-static (QDQ, calibrated), fp16 on GPU",
    # fp16 kernels on ORT's CPU provider are few: most ops would fall back with casts.
    precisions={"cpu": ("fp32", "int8", "int8-static"), "cuda": ("fp32", "fp16")},
    install="pip uninstall onnxruntime && pip install 'kdbench[gpu]' (onnxruntime-gpu) on a machine with an NVIDIA GPU",
    availability=_onnx_missing,
    fp32_is_eager=True,
    calibrated=("int8-static",),
)
