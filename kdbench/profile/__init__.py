"""`kdbench profile`: query latency, memory and throughput per backend, behind a parity gate.

Light on import: `run_profile` loads torch and the backends only when called, so the CLI
and `kdbench run` can import this package freely.

    from kdbench.profile import ProfileConfig, run_profile
    result = run_profile(ProfileConfig(model="all-MiniLM-L6-v2", arch="dot", scenario="index",
                                       backends=(("eager", None), ("onnx", None))))
"""

from __future__ import annotations

from collections.abc import Callable

from kdbench.profile.bm25 import is_bm25, run_bm25_profile
from kdbench.profile.config import ProfileConfig
from kdbench.profile.measurements import ProfileResult

__all__ = ["ProfileConfig", "run_profile"]


def run_profile(config: ProfileConfig, log: Callable[[str], None] | None = None) -> ProfileResult:
    """Profile per `config`; returns the `profile` result (not yet saved: `to_dict` is its JSON).

    `--model bm25` times the BM25 first stage (kdbench.profile.bm25), without torch.
    """
    if is_bm25(config.model):
        return run_bm25_profile(config, log)
    if config.is_load:
        from kdbench.profile.serve_runner import run_serving

        return run_serving(config, log)
    from kdbench.profile.runner import profile_model as run

    return run(config, log)
