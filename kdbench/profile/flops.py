"""Achieved FLOP/s: a transformer encoder's matmul FLOPs per call, and the device's peak
measured on the spot by a large matmul (datasheet peaks are rarely reached, shared CPUs never).
"""

from __future__ import annotations

import time
from typing import Any


def encoder_flops(
    batch_size: int, seq_len: int, *, layers: int, hidden: int, intermediate: int
) -> int:
    """Matmul FLOPs (2 per multiply-add) of one BERT-style encoder forward.

    Per layer and token: Q, K, V and output projections 8·h², the feed-forward 4·h·i, and
    attention scores plus weighted values 4·L·h. Padding tokens count: they are computed.
    Embeddings, layer norms and softmax are left out (a few percent).

    >>> encoder_flops(1, 1, layers=1, hidden=1, intermediate=1)
    16
    """
    per_token = 8 * hidden * hidden + 4 * hidden * intermediate + 4 * seq_len * hidden
    return batch_size * seq_len * layers * per_token


def measure_peak_flops(
    device: str, dtype: Any, *, size: int | None = None, repeats: int = 5
) -> float:
    """Best FLOP/s of `repeats` square matmuls of `size` in `dtype` on `device`."""
    import torch

    if size is None:
        size = 8192 if device.startswith("cuda") else 1024
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    torch.matmul(a, b)  # warm-up: kernel selection, thread pool start
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        sync()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best
