"""ONNX Runtime: exported graph, graph optimisation, CPU/CUDA/TensorRT execution providers, int8."""

from __future__ import annotations

import importlib.util

from kdbench.backends.base import BackendInfo, cuda_missing

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


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


def _missing(device_type: str) -> str | None:
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
    availability=_missing,
    fp32_is_eager=True,
    calibrated=("int8-static",),
)
