"""Memory and energy trackers: host peak RSS, PyTorch's CUDA allocator, NVML device and process.

Each tracker is started after a cell's warm-up, just before its timed calls, and read after
them: a lazy initialisation, a compile or a first call's allocations are not the cell's cost.
Anything the machine cannot tell (no GPU, no NVML, a kernel without resettable peak RSS) is
recorded as null with the reason, never guessed.

What belongs to one row rather than the process: `row_memory` gives the weights as the
backend loaded them, the activations (the timed calls' peak above what was resident when
they started: peak RSS on the CPU, PyTorch's allocator on a GPU, where only eager allocates
through it) and the index or cache the cell reads.

On the CPU the base must not already hold the activations: glibc keeps the pages of freed
chunks (warm-up's, the parity check's) resident, so the timed calls reuse them without the
RSS moving and the peak above the start reads 0. `HostMemory.start` first hands the free
pages back (`malloc_trim(0)`, every arena), so the base is what is live and the timed calls'
activations show in the peak. An allocator that keeps memory itself (ONNX Runtime's CPU
arena) still shows only what the timed calls added to it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from kdbench.json_types import JsonObject, JsonValue

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


def release_free_heap() -> bool:
    """Return the C heap's free pages to the kernel (glibc's malloc_trim(0) walks every
    arena); False where the C library has no malloc_trim (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    return True


class HostMemory:
    """Peak resident set size of this process over a cell's timed calls."""

    def start(self) -> None:
        self._trimmed = release_free_heap()
        self._reset = _reset_peak_rss()
        self._start_kib = _status_kib("VmRSS")

    def read(self) -> JsonObject:
        peak_kib = _status_kib("VmHWM")
        since = "cell start" if self._reset and peak_kib is not None else "process start"
        if peak_kib is None:
            # ru_maxrss is KiB on Linux, the process's lifetime peak
            peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss_kib = _status_kib("VmRSS")
        record: JsonObject = {
            "host_peak_rss_mib": round(peak_kib * _KIB / _MIB, 1),
            "host_peak_rss_since": since,
            "host_rss_mib": round(rss_kib * _KIB / _MIB, 1) if rss_kib is not None else None,
        }
        if since == "cell start" and self._start_kib is not None:
            record["host_rss_start_mib"] = round(self._start_kib * _KIB / _MIB, 1)
            record["activations_mib"] = round(max(0, peak_kib - self._start_kib) * _KIB / _MIB, 1)
            if not self._trimmed:
                record["activations_reason"] = (
                    "no malloc_trim in this C library: freed pages stayed resident, so the "
                    "activations are a lower bound"
                )
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

    def read(self, items: int) -> JsonObject:
        """Memory after the loop; energy per item over the `items` processed since start()."""
        torch = self.torch
        torch.cuda.synchronize(self.device_index)
        peak = torch.cuda.max_memory_allocated(self.device_index)
        record: JsonObject = {
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
        record.update(gpu_conditions(self.nvml, self.handle))
        record.update(self._energy(items))
        return record

    def _energy(self, items: int) -> JsonObject:
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


# NVML's clock event ("throttle") reason bits, by the short name a reader knows them by
_THROTTLE_REASONS = (
    ("GpuIdle", "gpu_idle"),
    ("ApplicationsClocksSetting", "applications_clocks_setting"),
    ("SwPowerCap", "sw_power_cap"),
    ("HwSlowdown", "hw_slowdown"),
    ("SyncBoost", "sync_boost"),
    ("SwThermalSlowdown", "sw_thermal_slowdown"),
    ("HwThermalSlowdown", "hw_thermal_slowdown"),
    ("HwPowerBrakeSlowdown", "hw_power_brake_slowdown"),
    ("DisplayClockSetting", "display_clock_setting"),
)


def throttle_names(nvml: object, mask: int) -> list[str]:
    """The reasons set in NVML's clock-event bit mask, by name ([] when the clock runs free);
    `nvml` is pynvml, or anything with its reason constants.

    >>> import types
    >>> fake = types.SimpleNamespace(nvmlClocksThrottleReasonSwPowerCap=4,
    ...                              nvmlClocksThrottleReasonHwSlowdown=8)
    >>> throttle_names(fake, 12)
    ['sw_power_cap', 'hw_slowdown']
    """
    names = []
    for suffix, name in _THROTTLE_REASONS:
        bit = getattr(nvml, f"nvmlClocksEventReason{suffix}", None)
        bit = bit if bit is not None else getattr(nvml, f"nvmlClocksThrottleReason{suffix}", None)
        if bit is not None and mask & int(bit):
            names.append(name)
    return names


def gpu_conditions(nvml: ModuleType, handle: object) -> JsonObject:
    """The GPU's state as a cell's timed calls end: SM clock (MHz), temperature (°C) and the
    reasons its clocks are held down; a value NVML cannot give is None, with the reason.
    `nvml` is pynvml, `handle` its handle of the device."""
    record: JsonObject = {"sm_clock_mhz": None, "temperature_c": None, "throttle_reasons": None}
    try:
        record["sm_clock_mhz"] = int(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM))
        record["temperature_c"] = int(
            nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
        )
        reasons = (
            getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
            or nvml.nvmlDeviceGetCurrentClocksThrottleReasons
        )
        reasons_set: list[JsonValue] = [*throttle_names(nvml, int(reasons(handle)))]
        record["throttle_reasons"] = reasons_set
    except Exception as exc:  # an old driver or a MIG slice answers some of these only
        record["conditions_reason"] = f"NVML query failed: {exc}"
    return record


def row_memory(
    tracked: Mapping[str, JsonValue],
    *,
    weight_bytes: int | None,
    index_bytes: int | None,
    eager: bool,
) -> JsonObject:
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
