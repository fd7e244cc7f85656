"""Training losses as pure functions of scores, so one Margin-MSE serves cat, dot and colbert.

Layout: `student_scores` is a float Tensor[n, 1 + k]: row i holds the student's scores for query i's
positive passage (column 0) and its k negatives (columns 1..k). Teacher scores use the same layout;
`margin_mse` also accepts the teacher's margins directly, as Tensor[n, k] or (when k = 1) Tensor[n].
Every loss returns a scalar: the mean over queries (and over negatives where the loss is pairwise).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _check_student(name: str, student_scores: Tensor) -> None:
    if student_scores.dim() != 2 or student_scores.shape[1] < 2:
        raise ValueError(
            f"{name}: student_scores has shape {tuple(student_scores.shape)}; expected [n, 1 + k] "
            "with the positive's score in column 0 and k >= 1 negatives after it"
        )


def _check_teacher_scores(
    name: str, student_scores: Tensor, teacher_scores: Tensor | None
) -> Tensor:
    if teacher_scores is None:
        raise ValueError(
            f"{name}: needs teacher_scores (Tensor[n, 1 + k]); use ranknet or ce without a teacher"
        )
    if teacher_scores.shape != student_scores.shape:
        raise ValueError(
            f"{name}: teacher_scores has shape {tuple(teacher_scores.shape)}; expected the student's layout "
            f"{tuple(student_scores.shape)} ([n, 1 + k], positive in column 0)"
        )
    return teacher_scores.detach().to(student_scores.dtype)


def margins(scores: Tensor) -> Tensor:
    """Positive-minus-negative margins: Tensor[n, 1 + k] -> Tensor[n, k].

    >>> margins(torch.tensor([[3.0, 1.0, 2.5]]))
    tensor([[2.0000, 0.5000]])
    """
    return scores[:, :1] - scores[:, 1:]


def margin_mse(student_scores: Tensor, teacher_scores: Tensor | None) -> Tensor:
    """Margin-MSE (Hofstätter et al., 2020): mean of ((s_pos - s_neg) - (t_pos - t_neg))².

    `teacher_scores` is Tensor[n, 1 + k] (scores), Tensor[n, k] (margins) or Tensor[n] (margins, k = 1).

    >>> student = torch.tensor([[2.0, 1.0], [0.0, 1.0]])
    >>> teacher = torch.tensor([[5.0, 2.0], [1.0, 1.0]])
    >>> margin_mse(student, teacher)  # margins (1, -1) vs (3, 0): ((1-3)² + (-1-0)²) / 2
    tensor(2.5000)
    >>> margin_mse(student, torch.tensor([3.0, 0.0]))
    tensor(2.5000)
    """
    _check_student("margin_mse", student_scores)
    if teacher_scores is None:
        raise ValueError("margin_mse: needs teacher_scores; use ranknet or ce without a teacher")
    n, width = student_scores.shape
    k = width - 1
    if teacher_scores.shape == (n, 1 + k):
        teacher_margins = margins(teacher_scores)
    elif teacher_scores.shape == (n, k):
        teacher_margins = teacher_scores
    elif k == 1 and teacher_scores.shape == (n,):
        teacher_margins = teacher_scores.unsqueeze(1)
    else:
        raise ValueError(
            f"margin_mse: teacher_scores has shape {tuple(teacher_scores.shape)}; accepted layouts are scores "
            f"[n, 1 + k] = {(n, 1 + k)}, margins [n, k] = {(n, k)}"
            + (f", or margins [n] = {(n,)}" if k == 1 else "")
        )
    teacher_margins = teacher_margins.detach().to(student_scores.dtype)
    return F.mse_loss(margins(student_scores), teacher_margins)


def mse(student_scores: Tensor, teacher_scores: Tensor | None) -> Tensor:
    """Pointwise MSE on the teacher's scores themselves (needs students on the teacher's scale).

    >>> mse(torch.tensor([[2.0, 1.0]]), torch.tensor([[4.0, 1.0]]))
    tensor(2.)
    """
    _check_student("mse", student_scores)
    teacher = _check_teacher_scores("mse", student_scores, teacher_scores)
    return F.mse_loss(student_scores, teacher)


def floor_teacher_margins(teacher_scores: Tensor, floor: float) -> Tensor:
    """Label-consistent teacher targets: every positive-minus-negative margin at least `floor`.

    Training triples are labelled (column 0 is judged relevant, the rest are not); where the
    teacher orders a pair against its label, or with less margin than `floor`, its negative's
    score is lowered to `positive - floor`, so target margins become max(t⁺ - t⁻, floor) and
    agreeing margins are kept as they are. Tensor[n, 1 + k] -> Tensor[n, 1 + k].

    >>> floor_teacher_margins(torch.tensor([[2.0, 5.0, 0.5]]), 1.0)  # margins (-3, 1.5) -> (1, 1.5)
    tensor([[2.0000, 1.0000, 0.5000]])
    """
    if teacher_scores.dim() != 2 or teacher_scores.shape[1] < 2:
        raise ValueError(
            f"floor_teacher_margins: teacher_scores has shape {tuple(teacher_scores.shape)}; "
            "expected [n, 1 + k] scores with the positive in column 0"
        )
    ceiling = teacher_scores[:, :1] - floor
    return torch.cat([teacher_scores[:, :1], torch.minimum(teacher_scores[:, 1:], ceiling)], dim=1)


def kl(student_scores: Tensor, teacher_scores: Tensor | None, temperature: float = 1.0) -> Tensor:
    """Listwise KL(teacher || student) over each query's 1 + k passages, averaged over queries.

    >>> s = torch.tensor([[1.0, 0.0, 0.0]])
    >>> kl(s, s)
    tensor(0.)
    >>> round(kl(torch.tensor([[0.0, 0.0]]), torch.tensor([[1e9, 0.0]])).item(), 4)  # log 2
    0.6931
    """
    _check_student("kl", student_scores)
    teacher = _check_teacher_scores("kl", student_scores, teacher_scores)
    student_log_probs = F.log_softmax(student_scores / temperature, dim=1)
    teacher_log_probs = F.log_softmax(teacher / temperature, dim=1)
    return F.kl_div(student_log_probs, teacher_log_probs, reduction="batchmean", log_target=True)


def ranknet(student_scores: Tensor, teacher_scores: Tensor | None = None) -> Tensor:
    """RankNet on labels (no teacher): mean over negatives of -log σ(s_pos - s_neg).

    >>> ranknet(torch.tensor([[0.0, 0.0]]))  # log 2
    tensor(0.6931)
    >>> round(ranknet(torch.tensor([[1.0, 0.0, 2.0]])).item(), 4)  # (softplus(-1) + softplus(1)) / 2
    0.8133
    """
    _check_student("ranknet", student_scores)
    return F.softplus(-margins(student_scores)).mean()


def ce(student_scores: Tensor, teacher_scores: Tensor | None = None) -> Tensor:
    """Listwise softmax cross-entropy on labels (no teacher): the positive is class 0.

    >>> round(ce(torch.tensor([[0.0, 0.0, 0.0]])).item(), 4)  # log 3
    1.0986
    """
    _check_student("ce", student_scores)
    target = torch.zeros(student_scores.shape[0], dtype=torch.long, device=student_scores.device)
    return F.cross_entropy(student_scores, target)
