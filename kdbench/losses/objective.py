"""What one training step minimises: a registered loss, optionally with label-consistent teacher
targets and a weighted label term beside it (a hybrid of distillation and supervision).

    total = loss(student, floor(teacher)) + label_weight * label_loss(student)

`floor` keeps the teacher's margins where they agree with the labels and raises them to
`margin_floor` where they do not (`functional.floor_teacher_margins`); without a floor the
teacher's scores are used as they are. On a collection whose mined negatives are true
negatives, the labels order every training pair right and a teacher orders only most of them:
the floor and the label term keep the teacher's margins from pulling the student the wrong way
on the rest, while the teacher still says by how much each pair differs.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from kdbench.losses import LossSpec, get_loss
from kdbench.losses.functional import floor_teacher_margins


@dataclass(frozen=True)
class Objective:
    loss: LossSpec
    label_loss: LossSpec | None = None
    label_weight: float = 0.0
    margin_floor: float | None = None
    temperature: float = 1.0

    @classmethod
    def named(
        cls,
        loss: str,
        label_loss: str | None = None,
        label_weight: float = 0.0,
        margin_floor: float | None = None,
        temperature: float = 1.0,
    ) -> Objective:
        return cls(
            get_loss(loss),
            get_loss(label_loss) if label_loss else None,
            label_weight,
            margin_floor,
            temperature,
        )

    def teacher_targets(self, teacher_scores: Tensor | None) -> Tensor | None:
        """The teacher's scores as the loss sees them (floored where they contradict the labels)."""
        if teacher_scores is None or self.margin_floor is None:
            return teacher_scores
        return floor_teacher_margins(teacher_scores, self.margin_floor)

    def terms(self, student_scores: Tensor, teacher_scores: Tensor | None) -> dict[str, Tensor]:
        """Each term of the objective by name (`loss`, `label`) and their weighted sum (`total`).

        >>> import torch
        >>> objective = Objective.named("margin-mse", "ranknet", 0.5, margin_floor=1.0)
        >>> parts = objective.terms(torch.tensor([[1.0, 1.0]]), torch.tensor([[0.0, 2.0]]))
        >>> {name: round(value.item(), 4) for name, value in parts.items()}  # (0 - 1)² + 0.5 log 2
        {'loss': 1.0, 'label': 0.6931, 'total': 1.3466}
        """
        kwargs = {"temperature": self.temperature} if "temperature" in self.loss.options else {}
        parts = {
            "loss": self.loss.fn(student_scores, self.teacher_targets(teacher_scores), **kwargs)
        }
        total = parts["loss"]
        if self.label_loss is not None:
            parts["label"] = self.label_loss.fn(student_scores, None)
            total = total + self.label_weight * parts["label"]
        parts["total"] = total
        return parts

    def __call__(self, student_scores: Tensor, teacher_scores: Tensor | None) -> Tensor:
        return self.terms(student_scores, teacher_scores)["total"]
