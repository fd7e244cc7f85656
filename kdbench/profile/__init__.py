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


def run_profile(
    config: ProfileConfig, log: Callable[[str], None] | None = None, *, allow_unread: bool = False
) -> ProfileResult:
    """Profile per `config`; returns the `profile` result (not yet saved: `to_dict` is its JSON).

    `--model bm25` times the BM25 first stage (kdbench.profile.bm25), without torch.
    A setting the run's scenario does not read (`kdbench.profile.config.READ_BY`) is refused
    once the scenario is known, unless `allow_unread` (an experiment's one [profile] table,
    shared by runs of several scenarios, checked when the profile is read).
    """
    if is_bm25(config.model):
        return run_bm25_profile(config, log, allow_unread=allow_unread)
    if config.is_load:
        from kdbench.profile.serve_runner import run_serving

        return run_serving(config, log, allow_unread=allow_unread)
    from kdbench.profile.runner import profile_model as run

    return run(config, log, allow_unread=allow_unread)
