"""CUDA stream discipline of the GPU runners (heavy: imports torch).

ONNX Runtime and TensorRT each run on a stream of their own, created by torch: ORT is
given it as `user_compute_stream` when the session is made, TensorRT gets its handle in
`execute_async_v3`. Neither may run on torch's legacy default stream (handle 0): ORT
treats 0 as "no user stream" and falls back to a stream of its own that nothing orders
against the inputs, and TensorRT adds a `cudaStreamSynchronize` around every call.

A call is ordered on the GPU, without a host synchronisation: the runner's stream first
waits for the caller's (the inputs were produced there), the library's work runs on it,
then the caller's stream waits for the runner's, so whatever the caller does next with
the output (and the CUDA events the timer records) comes after that work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


class SideStream:
    """A dedicated CUDA stream for one runner, ordered after and before the caller's stream."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.stream = torch.cuda.Stream(device)

    @property
    def handle(self) -> int:
        """The raw `cudaStream_t` as an int (never 0: a created stream, not the legacy default)."""
        return int(self.stream.cuda_stream)

    @contextlib.contextmanager
    def ordered(self) -> Iterator[torch.cuda.Stream]:
        """Run the block on this stream after the caller's pending work; the caller's stream
        waits for the block's work on exit. Yields the caller's stream: an output made here and
        used there needs `tensor.record_stream(caller)`, so the allocator does not hand its
        memory to this stream again before the caller is done with it."""
        caller = torch.cuda.current_stream(self.device)
        self.stream.wait_stream(caller)
        with torch.cuda.stream(self.stream):
            yield caller
        caller.wait_stream(self.stream)
