"""Training: the loop, teacher scoring, checkpoints and distributed launch.

Library entry points (heavy imports happen on first use):

- `train(TrainConfig) -> TrainResult` (loop.py): trains and writes OUTPUT/ (final model, training.json,
  train_log.jsonl, checkpoints/); `TrainResult.status` is completed | early-stopped | interrupted.
  The run is a `loop.Trainer`; what it records, a typed `history.History`.
- `TrainConfig`, `TeacherConfig` (config.py): every setting, validated on construction (light, no torch).
- `score_teacher(...)` (teacher.py): score triples with a model or BM25 into the paper's score format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kdbench.lazy import lazy_attributes
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


__getattr__ = lazy_attributes(__name__, _LAZY)
