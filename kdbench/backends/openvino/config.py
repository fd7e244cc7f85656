"""OpenVINO on the CPU: fp32 (inference precision pinned to f32), bf16 (AVX512_BF16 or AMX),
int8 (static, NNCF post-training quantisation calibrated on the collection's train split)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from kdbench.backends.base import BackendInfo

# Instruction sets whose bf16 kernels OpenVINO's CPU plugin runs (else it would emulate bf16
# in fp32 or refuse): AVX512_BF16 (Cooper Lake, Zen 4) or AMX-BF16 (Sapphire Rapids on)
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (empty where there is no /proc/cpuinfo)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def _refusal(device_type: str, precision: str) -> str | None:
    return bf16_missing() if precision == "bf16" else None


def bf16_missing() -> str | None:
    """Why this CPU has no bf16 kernels for OpenVINO, or None."""
    if any(flag in cpu_flags() for flag in BF16_FLAGS):
        return None
    return (
        "this CPU has neither AVX512_BF16 nor AMX-BF16, so OpenVINO has no bf16 kernels "
        "here; use --precision fp32 or int8"
    )


def _missing(device_type: str) -> str | None:
    if importlib.util.find_spec("openvino") is None:
        return "openvino is not installed"
    if importlib.util.find_spec("onnx") is None:
        return "onnx is not installed (the graph comes from kdbench's ONNX export)"
    return None


OPENVINO = BackendInfo(
    name="openvino",
    target="kdbench.backends.openvino.backend:OpenVinoBackend",
    summary="OpenVINO CPU plugin: fp32 (pinned), bf16 (AVX512_BF16/AMX), int8 static (NNCF)",
    precisions={"cpu": ("fp32", "bf16", "int8")},
    install="pip install 'kdbench[openvino]' (openvino and nncf)",
    availability=_missing,
    fp32_is_eager=True,
    refusal=_refusal,
    calibrated=("int8",),
)
