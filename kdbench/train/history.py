"""What a training run records as it goes: its validations, the best one, the teacher report,
its training time (`History`, kept in every checkpoint and summarised in training.json), and
the step-by-step log (train_log.jsonl).

Light (no torch). `History.to_dict()` is plain JSON-able values, the layout checkpoints have
always held, so a checkpoint's history from any version loads with `History.from_dict`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kdbench.errors import UserError
from kdbench.io import atomic_write_text
from kdbench.json_types import JsonObject, JsonValue, is_json_object

LOG_FILE = "train_log.jsonl"


def _number_at(entry: Mapping[str, object], key: str, default: float | None = None) -> float:
    value = entry.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise UserError(f"training history: {key} is {value!r}, not a number")
    return value


def _summary(value: object) -> JsonObject | None:
    """A scorer summary as JSON (`kdbench.train.report.scorer_summary`), None when absent."""
    return value if is_json_object(value) else None


@dataclass(frozen=True)
class Validation:
    """One validation on the dev slice: nDCG@10 and RR@10 after `step` optimizer steps.

    >>> Validation.from_dict({"step": 4, "nDCG@10": 0.5, "RR@10": 0.25}).to_dict()
    {'step': 4, 'nDCG@10': 0.5, 'RR@10': 0.25}
    """

    step: int
    ndcg_at_10: float
    rr_at_10: float

    def metrics(self) -> dict[str, float]:
        return {"nDCG@10": self.ndcg_at_10, "RR@10": self.rr_at_10}

    def to_dict(self) -> JsonObject:
        return {"step": self.step, **self.metrics()}

    @classmethod
    def from_dict(cls, entry: Mapping[str, object]) -> Validation:
        step, ndcg, rr = (_number_at(entry, key) for key in ("step", "nDCG@10", "RR@10"))
        return cls(int(step), float(ndcg), float(rr))


@dataclass
class TeacherReport:
    """The student's margins before (and after) training beside the teacher's, on the first
    `sample` training triples; `teacher` and the comparison only when there are teacher scores."""

    sample: int
    student_before: JsonObject  # train.report.scorer_summary
    teacher: JsonObject | None = None  # scorer_summary, plus "files": the score files' reports
    margin_std_ratio: float | None = None
    warnings: list[str] = field(default_factory=list)
    student_after: JsonObject | None = None

    def to_dict(self) -> JsonObject:
        report: JsonObject = {"student_before": self.student_before, "sample": self.sample}
        if self.teacher is not None:
            report.update(
                teacher=self.teacher,
                margin_std_ratio=self.margin_std_ratio,
                warnings=list(self.warnings),
            )
        if self.student_after is not None:
            report["student_after"] = self.student_after
        return report

    @classmethod
    def from_dict(cls, report: Mapping[str, object]) -> TeacherReport:
        ratio, warnings = report.get("margin_std_ratio"), report.get("warnings")
        return cls(
            sample=int(_number_at(report, "sample")),
            student_before=_summary(report.get("student_before")) or {},
            teacher=_summary(report.get("teacher")),
            margin_std_ratio=None if ratio is None else _number_at(report, "margin_std_ratio"),
            warnings=[str(w) for w in warnings] if isinstance(warnings, list) else [],
            student_after=_summary(report.get("student_after")),
        )


@dataclass
class History:
    """Validations, the best so far and early stopping's count, the teacher report and the
    training seconds of every segment so far (a resumed run adds its own)."""

    validations: list[Validation] = field(default_factory=list)
    best: Validation | None = None
    bad_validations: int = 0  # validations since the best one
    report: TeacherReport | None = None  # measured once, before the first step
    train_seconds: float = 0.0

    def record(self, validation: Validation) -> bool:
        """Add a validation; True when it is the best so far (the first always is).

        >>> history = History()
        >>> [history.record(Validation(s, ndcg, 0.0)) for s, ndcg in ((1, 0.5), (2, 0.4), (3, 0.6))]
        [True, False, True]
        >>> history.best.step, history.bad_validations
        (3, 0)
        """
        self.validations.append(validation)
        if self.best is None or validation.ndcg_at_10 > self.best.ndcg_at_10:
            self.best = validation
            self.bad_validations = 0
            return True
        self.bad_validations += 1
        return False

    def validated_at(self, step: int) -> bool:
        return bool(self.validations) and self.validations[-1].step == step

    def to_dict(self) -> JsonObject:
        return {
            "validations": [v.to_dict() for v in self.validations],
            "best": self.best.to_dict() if self.best is not None else None,
            "bad_validations": self.bad_validations,
            "report": self.report.to_dict() if self.report is not None else {},
            "train_seconds": self.train_seconds,
        }

    @classmethod
    def from_dict(cls, history: Mapping[str, object]) -> History:
        """A checkpoint's history (an empty report: not measured yet; no train_seconds: none saved).

        >>> History.from_dict(History(best=Validation(2, 0.7, 0.1)).to_dict()).best
        Validation(step=2, ndcg_at_10=0.7, rr_at_10=0.1)
        """
        best, report = history.get("best"), history.get("report")
        validations = history.get("validations")
        return cls(
            validations=[
                Validation.from_dict(v)
                for v in (validations if isinstance(validations, list) else [])
                if isinstance(v, Mapping)
            ],
            best=Validation.from_dict(best) if isinstance(best, Mapping) and best else None,
            bad_validations=int(_number_at(history, "bad_validations", 0)),
            report=TeacherReport.from_dict(report)
            if isinstance(report, Mapping) and report
            else None,
            train_seconds=_number_at(history, "train_seconds", 0.0),
        )


def append_log(path: Path, entry: Mapping[str, JsonValue]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, allow_nan=True) + "\n")


def truncate_log(path: Path, step: int) -> None:
    """Keep log lines up to `step` (a resumed run rewrites what came after its checkpoint)."""
    if not path.exists():
        return
    kept = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line).get("step", 0) <= step
    ]
    atomic_write_text(path, "".join(line + "\n" for line in kept))


def read_log(output: str | Path) -> list[JsonObject]:
    """The JSONL training log of a run folder, one object per line."""
    path = Path(output) / LOG_FILE
    entries = [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    return [entry for entry in entries if is_json_object(entry)]
