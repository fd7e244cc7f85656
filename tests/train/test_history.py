"""The typed training history reads what checkpoints have always held and writes it back unchanged."""

from __future__ import annotations

from typing import Any

from kdbench.train.history import History, TeacherReport, Validation

SUMMARY = {"pairwise_accuracy": 0.5, "margin": {"count": 2.0, "mean": 0.0}, "contradicted": 1}

# A history as the loop kept it in trainer_state.pt before it was typed: plain dicts.
OLD_HISTORY: dict[str, Any] = {
    "validations": [
        {"step": 2, "nDCG@10": 0.5, "RR@10": 0.25},
        {"step": 4, "nDCG@10": 0.75, "RR@10": 0.5},
        {"step": 6, "nDCG@10": 0.625, "RR@10": 0.5},
    ],
    "best": {"step": 4, "nDCG@10": 0.75, "RR@10": 0.5},
    "bad_validations": 1,
    "report": {
        "student_before": SUMMARY,
        "sample": 2,
        "teacher": {**SUMMARY, "files": {}},
        "margin_std_ratio": 4.0,
        "warnings": ["teacher margins are 4x the student's"],
    },
    "train_seconds": 12.5,
}


def test_an_old_checkpoint_history_round_trips() -> None:
    history = History.from_dict(OLD_HISTORY)
    assert history.best == Validation(4, 0.75, 0.5)
    assert [v.step for v in history.validations] == [2, 4, 6]
    assert history.report is not None and history.report.margin_std_ratio == 4.0
    assert history.to_dict() == OLD_HISTORY


def test_a_history_saved_before_its_first_measurements() -> None:
    # Before the teacher report was measured the report was {}; train_seconds came with the
    # first checkpoint.
    history = History.from_dict(
        {"validations": [], "best": None, "bad_validations": 0, "report": {}}
    )
    assert history == History()
    assert history.to_dict() == {
        "validations": [],
        "best": None,
        "bad_validations": 0,
        "report": {},
        "train_seconds": 0.0,
    }


def test_a_report_without_teacher_keeps_the_label_only_layout() -> None:
    report = TeacherReport(sample=3, student_before=SUMMARY, student_after=SUMMARY)
    assert report.to_dict() == {"student_before": SUMMARY, "sample": 3, "student_after": SUMMARY}
    assert list(TeacherReport.from_dict(OLD_HISTORY["report"]).to_dict()) == [
        "student_before",
        "sample",
        "teacher",
        "margin_std_ratio",
        "warnings",
    ]


def test_early_stopping_counts_validations_since_the_best() -> None:
    history = History()
    improved = [history.record(Validation(s, v, 0.0)) for s, v in [(1, 0.3), (2, 0.3), (3, 0.2)]]
    assert improved == [True, False, False]  # an equal nDCG@10 is no improvement
    assert history.best == Validation(1, 0.3, 0.0) and history.bad_validations == 2
    assert history.validated_at(3) and not history.validated_at(2)
