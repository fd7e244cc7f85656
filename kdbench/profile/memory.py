"""Memory and energy trackers: host peak RSS, PyTorch's CUDA allocator, NVML device and process.

Each tracker is started before a cell's timing loop and read after it; anything the machine
cannot tell (no GPU, no NVML, a kernel without resettable peak RSS) is recorded as null with
the reason, never guessed.

What belongs to one row rather than the process: `row_memory` gives the weights as the
backend loaded them, the activations (the cell's peak above what was resident when it
started: peak RSS on the CPU, PyTorch's allocator on a GPU, where only eager allocates
through it) and the index or cache the cell reads. An allocator that keeps memory from
earlier calls (ONNX Runtime's CPU arena, after the parity check) shows less activation than
it needed the first time: the figure is what the timed calls added.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any

_KIB = 1024
_MIB = 2**20


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_peak_rss() -> bool:
    """Linux resets VmHWM (peak RSS) when "5" is written to clear_refs (kernel >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class HostMemory:
    """Peak resident set size of this process over a cell."""

    def start(self) -> None:
        self._reset = _reset_peak_rss()
        self._start_kib = _status_kib("VmRSS")

    def read(self) -> dict[str, Any]:
        peak_kib = _status_kib("VmHWM")
        since = "cell start" if self._reset and peak_kib is not None else "process start"
        if peak_kib is None:
            # ru_maxrss is KiB on Linux, the process's lifetime peak
            peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss_kib = _status_kib("VmRSS")
        record = {
            "host_peak_rss_mib": round(peak_kib * _KIB / _MIB, 1),
            "host_peak_rss_since": since,
            "host_rss_mib": round(rss_kib * _KIB / _MIB, 1) if rss_kib is not None else None,
        }
        if since == "cell start" and self._start_kib is not None:
            record["host_rss_start_mib"] = round(self._start_kib * _KIB / _MIB, 1)
            record["activations_mib"] = round(max(0, peak_kib - self._start_kib) * _KIB / _MIB, 1)
        return record


class CudaMemory:
    """PyTorch's allocator peaks, NVML device/process memory and the NVML energy counter."""

    def __init__(self, device_index: int = 0) -> None:
        import torch

        self.torch = torch
        self.device_index = device_index
        self.nvml: Any = None
        self.handle: Any = None
        self.nvml_reason: str | None = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self.nvml = pynvml
            self.handle = self._nvml_handle()
        except Exception as exc:  # no driver, no library, or a device NVML cannot map
            self.nvml_reason = f"NVML unavailable: {exc}"
        self._energy_start_mj: int | None = None
        self._started_s = 0.0

    def _nvml_handle(self) -> Any:
        # NVML numbers devices physically; CUDA_VISIBLE_DEVICES may renumber them for torch,
        # so match by UUID where torch exposes it.
        uuid = getattr(self.torch.cuda.get_device_properties(self.device_index), "uuid", None)
        if uuid is not None:
            try:
                # torch prints the bare UUID; NVML names a GPU "GPU-<uuid>" (a MIG slice "MIG-...")
                text = str(uuid)
                name = text if text.startswith(("GPU-", "MIG-")) else f"GPU-{text}"
                return self.nvml.nvmlDeviceGetHandleByUUID(name)
            except Exception:
                pass
        return self.nvml.nvmlDeviceGetHandleByIndex(self.device_index)

    def start(self) -> None:
        self.torch.cuda.synchronize(self.device_index)
        self.torch.cuda.reset_peak_memory_stats(self.device_index)
        self._allocated_start = self.torch.cuda.memory_allocated(self.device_index)
        self._energy_start_mj = self._energy_mj()
        self._started_s = time.perf_counter()

    def _energy_mj(self) -> int | None:
        if self.handle is None:
            return None
        try:
            return int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))
        except Exception:  # pre-Volta GPUs have no energy counter
            return None

    def read(self, items: int) -> dict[str, Any]:
        """Memory after the loop; energy per item over the `items` processed since start()."""
        torch = self.torch
        torch.cuda.synchronize(self.device_index)
        peak = torch.cuda.max_memory_allocated(self.device_index)
        record: dict[str, Any] = {
            "torch_peak_allocated_mib": round(peak / _MIB, 1),
            "activations_mib": round(max(0, peak - self._allocated_start) / _MIB, 1),
            "torch_peak_reserved_mib": round(
                torch.cuda.max_memory_reserved(self.device_index) / _MIB, 1
            ),
            "nvml_device_used_mib": None,
            "nvml_process_used_mib": None,
            "energy_j_per_item": None,
        }
        if self.handle is None:
            record["nvml_reason"] = self.nvml_reason
            return record
        try:
            record["nvml_device_used_mib"] = round(
                self.nvml.nvmlDeviceGetMemoryInfo(self.handle).used / _MIB, 1
            )
            for process in self.nvml.nvmlDeviceGetComputeRunningProcesses(self.handle):
                if process.pid == os.getpid() and process.usedGpuMemory is not None:
                    record["nvml_process_used_mib"] = round(process.usedGpuMemory / _MIB, 1)
        except Exception as exc:
            record["nvml_reason"] = f"NVML query failed: {exc}"
        record.update(self._energy(items))
        return record

    def _energy(self, items: int) -> dict[str, Any]:
        """Joules per item from NVML's cumulative counter (mJ, the whole device) since start()."""
        end_mj = self._energy_mj()
        window_s = time.perf_counter() - self._started_s
        if end_mj is None or self._energy_start_mj is None:
            return {"energy_reason": "this GPU has no NVML energy counter"}
        if end_mj <= self._energy_start_mj or items <= 0:
            # the counter refreshes on the driver's schedule: a short cell can see no change,
            # which is no measurement, not zero joules
            return {
                "energy_window_s": round(window_s, 3),
                "energy_reason": f"the NVML energy counter did not advance in {window_s:.2f} s",
            }
        return {
            "energy_j_per_item": (end_mj - self._energy_start_mj) / 1000 / items,
            "energy_window_s": round(window_s, 3),
        }


def row_memory(
    tracked: dict[str, Any], *, weight_bytes: int | None, index_bytes: int | None, eager: bool
) -> dict[str, Any]:
    """`tracked` (the trackers' reading of one cell) with the row's own parts: weights and
    index in MiB, and activations only where a tracker saw them (on a GPU, PyTorch's
    allocator sees eager's work only; other backends allocate outside it)."""
    record = dict(tracked)
    if "torch_peak_allocated_mib" in record and not eager:
        record.pop("activations_mib", None)
    if weight_bytes is not None:
        record["weights_mib"] = weight_bytes / _MIB  # exact: a power-of-two divisor
    if index_bytes is not None:
        record["index_mib"] = index_bytes / _MIB
    return record
