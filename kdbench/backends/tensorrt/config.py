"""TensorRT: an engine built from the ONNX export, run with execute_async_v3 on CUDA tensors."""

from __future__ import annotations

from kdbench.backends.base import BackendInfo, cuda_missing
from kdbench.env import tensorrt_status

# Every result of this backend carries this line (in `backends` and on each entry) until a
# GPU run with TensorRT has checked the code: until then it is read against the TensorRT
# 10/11 docs, typed against tensorrt-stubs and exercised only through CPU fakes.
NEVER_RUN = (
    "never run: no GPU with TensorRT has been lent to this project; the TensorRT code is "
    "checked only against the docs, tensorrt-stubs and CPU fakes"
)


def _tensorrt_missing(device_type: str) -> str | None:

    missing = []
    status = tensorrt_status()
    if not status["available"]:
        reason = str(status["reason"])
        if reason.startswith("only type stubs"):
            missing.append("TensorRT is not installed (only its type stubs, tensorrt-stubs, are)")
        elif reason.startswith("not installed"):
            missing.append("TensorRT is not installed")
        else:
            missing.append(f"TensorRT {reason}")
    gpu = cuda_missing()
    if gpu is not None:
        missing.append(f"it needs a CUDA GPU: {gpu}")
    elif device_type != "cuda":
        missing.append("it runs only on the GPU (use --device cuda)")
    return " and ".join(missing) if missing else None


TENSORRT = BackendInfo(
    name="tensorrt",
    target="kdbench.backends.tensorrt.backend:TensorRTBackend",
    summary="TensorRT engine (ONNX parser, optimisation profile, fp16), cached on disk",
    precisions={"cuda": ("fp32", "fp16")},
    install="on a machine with an NVIDIA GPU and a CUDA build of PyTorch run: pip install 'kdbench[tensorrt]'",
    availability=_tensorrt_missing,
)
