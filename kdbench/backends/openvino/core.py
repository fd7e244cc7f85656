"""The process's one OpenVINO `Core`: every model kdbench compiles goes through it.

One, not one per backend or per call, because of how OpenVINO's CPU plugin (2026.4) treats
signals: loading it gives the calling thread an alternate signal stack of the plugin's own
(`sigaltstack`), and destroying it unmaps that stack, putting back the one it replaced only if
its own is still the current one. Two plugin instances (two `ov.Core`s that each used the CPU)
destroyed in the order they were created leave the thread's alternate stack on unmapped memory.
Python runs its SIGINT and SIGTERM handlers on the alternate stack, so the next Ctrl-C then
kills the process with SIGSEGV (exit 139), or, where that memory has been mapped again, writes
the signal frame over whatever lives there (a hang). kdbench's plugin, loaded once here and kept
for the life of the process, sits under every other: the ones NNCF creates while quantising
(its engines' own Cores, each freed when the engine is) come and go above it, last in first out.
"""

from __future__ import annotations

import functools

import openvino as ov


@functools.cache
def shared_core() -> ov.Core:
    """The Core every kdbench compile uses, its CPU plugin loaded (and its signal stack set) now."""
    core = ov.Core()
    core.get_property("CPU", ov.properties.device.full_name)
    return core
