"""The environment record attached to every result, and `kdbench env`.

Library versions come from package metadata, so collecting them imports nothing heavy;
torch, NVML and ONNX Runtime are queried only if installed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import subprocess
from pathlib import Path
from typing import Required, TypedDict

from kdbench.json_types import JsonObject

LIBRARIES = (
    "kdbench",
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "numpy",
    "onnx",
    "onnxruntime",
    "onnxruntime-gpu",
    "tensorrt",
    "ir_measures",
    "ir_datasets",
    "bm25s",
    "faiss-cpu",
    "faiss-gpu",
    "nvidia-ml-py",
    "sentence-transformers",
)


class TorchInfo(TypedDict, total=False):
    available: Required[bool]
    threads: int
    cuda_available: bool
    cuda_version: str | None
    devices: list[str]  # CUDA device names


class GpuInfo(TypedDict):
    index: int
    name: str
    memory_total_mib: int


class NvmlInfo(TypedDict, total=False):
    available: Required[bool]
    reason: str  # why not available
    driver: str
    gpus: list[GpuInfo]


class TensorrtStatus(TypedDict, total=False):
    available: Required[bool]
    reason: str  # why not available
    version: str


# "from" is a keyword: the functional form
LastLevelCache = TypedDict("LastLevelCache", {"level": str, "bytes": int, "from": str})


class Environment(TypedDict, total=False):
    """A result's "environment" (`collect_environment`); `heavy=False` leaves out torch, nvml,
    onnxruntime_providers and tensorrt. `kdbench profile` adds the last three keys."""

    python: Required[str]
    platform: Required[str]
    cpu: Required[str]
    cpu_count: Required[int | None]
    git_commit: Required[str | None]
    libraries: Required[dict[str, str | None]]  # package -> version (None: not installed)
    torch: TorchInfo
    nvml: NvmlInfo
    onnxruntime_providers: list[str] | None
    tensorrt: TensorrtStatus
    last_level_cache: LastLevelCache | None
    threads: dict[str, int]  # threads per library (and a server's workers and cores)
    peak_flops_measured: dict[str, JsonObject]  # "device:precision" -> kdbench.profile.flops.Peak


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity; all of them off Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _size_bytes(text: str) -> int | None:
    """sysfs cache sizes: "32768K" -> 33554432."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    text = text.strip()
    try:
        return int(text[:-1]) * units[text[-1]] if text[-1:] in units else int(text)
    except ValueError:
        return None


def last_level_cache(device: str = "cpu") -> LastLevelCache | None:
    """The largest cache in front of memory: the CPU's last data cache level (Linux sysfs) or,
    on cuda, the GPU's L2. An index larger than it is read from memory on every search."""
    if device.startswith("cuda"):
        import torch

        index = int(device.split(":")[1]) if ":" in device else 0
        size = getattr(torch.cuda.get_device_properties(index), "L2_cache_size", 0)
        return {"level": "L2", "bytes": int(size), "from": "torch.cuda"} if size else None
    best: tuple[int, int] | None = None  # (level, bytes)
    for folder in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = int((folder / "level").read_text())
            kind = (folder / "type").read_text().strip()
            size = _size_bytes((folder / "size").read_text())
        except (OSError, ValueError):
            continue
        if kind in ("Data", "Unified") and size and (best is None or level > best[0]):
            best = (level, size)
    if best is None:
        return None
    return {"level": f"L{best[0]}", "bytes": best[1], "from": "sysfs, cpu0"}


def git_commit() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    ).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def nvml_info() -> NvmlInfo:
    """NVIDIA driver and GPUs through NVML; {"available": False, "reason": ...} without a driver."""
    try:
        import pynvml
    except ImportError:
        return {"available": False, "reason": "nvidia-ml-py is not installed"}
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return {"available": False, "reason": f"no NVIDIA driver ({exc})"}
    try:

        def text(value: object) -> str:
            return value.decode() if isinstance(value, bytes) else str(value)

        gpus: list[GpuInfo] = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(
                {
                    "index": index,
                    "name": text(pynvml.nvmlDeviceGetName(handle)),
                    "memory_total_mib": round(memory.total / 2**20),
                }
            )
        return {
            "available": True,
            "driver": text(pynvml.nvmlSystemGetDriverVersion()),
            "gpus": gpus,
        }
    finally:
        pynvml.nvmlShutdown()


def torch_info() -> TorchInfo:
    if importlib.util.find_spec("torch") is None:
        return {"available": False}
    import torch

    info: TorchInfo = {
        "available": True,
        "threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
    }
    if torch.cuda.is_available():
        info["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def onnxruntime_providers() -> list[str] | None:
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    import onnxruntime

    return list(onnxruntime.get_available_providers())


def tensorrt_status() -> TensorrtStatus:
    if importlib.util.find_spec("tensorrt") is None:
        return {
            "available": False,
            "reason": "not installed (pip install 'kdbench[tensorrt]' on a machine with an NVIDIA GPU)",
        }
    try:
        import tensorrt
    except Exception as exc:  # a broken install raises anything from ImportError to OSError
        return {"available": False, "reason": f"installed but fails to import: {exc}"}
    if not hasattr(tensorrt, "Builder"):
        # tensorrt-stubs (a dev dependency for mypy) makes an importable namespace package.
        return {
            "available": False,
            "reason": "only type stubs found, not the library (pip install 'kdbench[tensorrt]' on a machine with an NVIDIA GPU)",
        }
    return {"available": True, "version": str(getattr(tensorrt, "__version__", "unknown"))}


def collect_environment(*, heavy: bool = True) -> Environment:
    """Everything needed to compare a number with another machine's.

    `heavy=False` skips torch/NVML/ONNX Runtime (for fast paths that only need versions).
    """
    env: Environment = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "git_commit": git_commit(),
        "libraries": library_versions(),
    }
    if heavy:
        env["torch"] = torch_info()
        env["nvml"] = nvml_info()
        env["onnxruntime_providers"] = onnxruntime_providers()
        env["tensorrt"] = tensorrt_status()
    return env
