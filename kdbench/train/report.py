"""What a teacher teaches: pairwise accuracy and margin distributions, teacher beside student.

A good re-ranker is not automatically a good teacher (issue 3): a teacher that orders fewer
training triples correctly than the untrained student, or whose margins are on another scale,
can make the student worse. These numbers make that visible before anyone reads test results.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypedDict

from kdbench.json_types import JsonObject


def pairwise_accuracy(margins: Sequence[float]) -> float:
    """Share of triples the scorer orders correctly (positive above negative); a tie counts half.

    >>> pairwise_accuracy([1.0, -0.5, 0.0, 2.0])
    0.625
    """
    if not margins:
        return float("nan")
    return sum(1.0 if m > 0 else 0.5 if m == 0 else 0.0 for m in margins) / len(margins)


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def margin_stats(margins: Sequence[float]) -> dict[str, float]:
    """Count, mean, standard deviation, mean |margin| and quantiles of positive-minus-negative margins.

    >>> stats = margin_stats([1.0, 2.0, 3.0, 4.0, 5.0])
    >>> stats["mean"], stats["std"], stats["p50"], stats["p05"]
    (3.0, 1.4142135623730951, 3.0, 1.2)
    """
    if not margins:
        return {"count": 0}
    ordered = sorted(margins)
    n = len(ordered)
    mean = sum(ordered) / n
    std = math.sqrt(sum((m - mean) ** 2 for m in ordered) / n)
    stats = {
        "count": float(n),
        "mean": mean,
        "std": std,
        "mean_abs": sum(abs(m) for m in ordered) / n,
        "min": ordered[0],
        "max": ordered[-1],
    }
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        stats[f"p{round(q * 100):02d}"] = _quantile(ordered, q)
    return stats


def scorer_summary(margins: Sequence[float], floor: float | None = None) -> JsonObject:
    """Pairwise accuracy (None without margins: JSON has no NaN), the margin distribution, and
    how many labelled pairs the scorer contradicts (negative above positive) or ties; with a
    margin `floor`, how many margins training raises to it.

    >>> summary = scorer_summary([2.0, -1.0, 0.0, 0.5], floor=1.0)
    >>> summary["contradicted"], summary["ties"], summary["floored"]
    (1, 1, 3)
    """
    summary: JsonObject = {
        "pairwise_accuracy": pairwise_accuracy(margins) if margins else None,
        "margin": {**margin_stats(margins)},
        "contradicted": sum(1 for m in margins if m < 0),
        "ties": sum(1 for m in margins if m == 0),
    }
    if floor is not None:
        summary["floored"] = sum(1 for m in margins if m < floor)
        summary["margin_floor"] = floor
    return summary


class Comparison(TypedDict):
    """What `compare_teacher_student` finds: the margins' spread, teacher over student, and
    the warnings it gives."""

    margin_std_ratio: float | None
    warnings: list[str]


def _margin_std(summary: Mapping[str, object]) -> float | None:
    margin = summary.get("margin")
    std = margin.get("std") if isinstance(margin, Mapping) else None
    return float(std) if isinstance(std, int | float) else None


def compare_teacher_student(
    teacher: Mapping[str, object], student: Mapping[str, object]
) -> Comparison:
    """Warnings a user should see before trusting a teacher, from the two summaries
    (`scorer_summary`'s).

    >>> found = compare_teacher_student(scorer_summary([0.1, 0.2]), scorer_summary([-10.0, 10.0]))
    >>> found["margin_std_ratio"], len(found["warnings"])
    (0.005, 1)
    """
    notes: list[str] = []
    t_acc, s_acc = teacher.get("pairwise_accuracy"), student.get("pairwise_accuracy")
    if isinstance(t_acc, float) and isinstance(s_acc, float) and t_acc < s_acc:
        notes.append(
            f"the teacher orders fewer training triples correctly ({t_acc:.1%}) than the untrained "
            f"student ({s_acc:.1%}): it may teach the student to be worse"
        )
    t_std, s_std = _margin_std(teacher), _margin_std(student)
    ratio = t_std / s_std if t_std and s_std else None
    if ratio is not None and not 1 / 3 <= ratio <= 3:
        notes.append(
            f"teacher margins are {ratio:.2g}x the student's (std {t_std:.3g} vs {s_std:.3g}); "
            "set --score-scale or --learn-score-scale so the student can match them"
        )
    return {"margin_std_ratio": ratio, "warnings": notes}
