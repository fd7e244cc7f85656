"""Training: the loop, teacher scoring, checkpoints and distributed launch.

Library entry points (heavy imports happen on first use):

- `train(TrainConfig) -> TrainResult` (loop.py): trains and writes OUTPUT/ (final model, training.json,
  train_log.jsonl, checkpoints/); `TrainResult.status` is completed | early-stopped | interrupted.
- `TrainConfig`, `TeacherConfig` (config.py): every setting, validated on construction (light, no torch).
- `score_teacher(...)` (teacher.py): score triples with a model or BM25 into the paper's score format.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kdbench.train.config import TeacherConfig, TrainConfig

if TYPE_CHECKING:
    from kdbench.train.loop import TrainingDiverged, TrainResult, read_log, train
    from kdbench.train.teacher import score_teacher

_LAZY = {
    "train": "loop",
    "TrainResult": "loop",
    "TrainingDiverged": "loop",
    "read_log": "loop",
    "score_teacher": "teacher",
}

__all__ = [
    "TeacherConfig",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "read_log",
    "score_teacher",
    "train",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kdbench.train' has no attribute {name!r}")
    return getattr(importlib.import_module(f"kdbench.train.{module}"), name)
