"""Eager PyTorch: the reference every other backend is checked against."""

from __future__ import annotations

import importlib.util

from kdbench.backends.base import BackendInfo, cuda_missing


def _eager_missing(device_type: str) -> str | None:
    if importlib.util.find_spec("torch") is None:
        return "PyTorch is not installed"
    return cuda_missing() if device_type == "cuda" else None


EAGER = BackendInfo(
    name="eager",
    target="kdbench.backends.eager.backend:EagerBackend",
    summary="PyTorch eager (optionally torch.compile), fp32/fp16/bf16",
    precisions={"cpu": ("fp32", "fp16", "bf16"), "cuda": ("fp32", "fp16", "bf16")},
    install="install a CUDA build of PyTorch (https://pytorch.org/get-started/locally/) on a machine with an NVIDIA GPU",
    availability=_eager_missing,
    fp32_is_eager=True,
)
