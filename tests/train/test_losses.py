"""Losses: hand-computed values, accepted layouts, the registry, and sentence-transformers' MarginMSELoss."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kdbench.errors import UserError
from kdbench.losses import LOSSES, LossSpec, get_loss, register_loss, teacher_losses
from kdbench.losses.functional import ce, kl, margin_mse, mse, ranknet


def test_margin_mse_hand_values() -> None:
    student = torch.tensor([[3.0, 1.0], [0.5, 2.0], [1.0, 1.0]])
    teacher = torch.tensor([[10.0, 9.0], [4.0, 0.0], [2.0, 3.0]])
    # student margins 2, -1.5, 0; teacher margins 1, 4, -1: ((2-1)² + (-1.5-4)² + (0+1)²) / 3
    expected = (1.0 + 30.25 + 1.0) / 3
    assert margin_mse(student, teacher).item() == pytest.approx(expected)
    # The same teacher given as margins, [n, 1] or [n].
    assert margin_mse(student, torch.tensor([[1.0], [4.0], [-1.0]])).item() == pytest.approx(
        expected
    )
    assert margin_mse(student, torch.tensor([1.0, 4.0, -1.0])).item() == pytest.approx(expected)


def test_margin_mse_several_negatives_averages_over_all_margins() -> None:
    student = torch.tensor([[2.0, 1.0, 0.0]])  # margins 1, 2
    teacher = torch.tensor([[5.0, 5.0, 1.0]])  # margins 0, 4
    assert margin_mse(student, teacher).item() == pytest.approx(((1 - 0) ** 2 + (2 - 4) ** 2) / 2)


def test_margin_mse_gradient_is_the_formulas() -> None:
    student = torch.tensor([[3.0, 1.0]], requires_grad=True)
    margin_mse(student, torch.tensor([[0.0, 0.0]])).backward()
    # d/ds_pos (s_pos - s_neg - 0)² = 2 · 2 = 4; d/ds_neg = -4.
    assert student.grad is not None
    assert student.grad.tolist() == [[4.0, -4.0]]


def test_other_losses_hand_values() -> None:
    assert mse(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 2.0]])).item() == pytest.approx(2.0)
    # ranknet = mean softplus(-(s_pos - s_neg)): margins 1 and -1.
    expected = (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(1.0))) / 2
    assert ranknet(torch.tensor([[1.0, 0.0], [0.0, 1.0]])).item() == pytest.approx(expected)
    # ce: -log softmax(s)[0] = -(2 - log(e² + e⁰ + e¹)).
    assert ce(torch.tensor([[2.0, 0.0, 1.0]])).item() == pytest.approx(
        math.log(math.e**2 + 1 + math.e) - 2
    )
    # kl: sum p_t log(p_t / p_s); teacher (0.5, 0.5) vs student softmax(0, log 3) = (0.25, 0.75).
    student = torch.tensor([[0.0, math.log(3.0)]])
    value = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl(student, torch.tensor([[1.0, 1.0]])).item() == pytest.approx(value)


def test_ce_with_one_negative_equals_ranknet() -> None:
    scores = torch.tensor([[0.3, -1.2], [2.0, 2.5]])
    assert ce(scores).item() == pytest.approx(ranknet(scores).item())


@pytest.mark.parametrize("fn", [margin_mse, mse, kl])
def test_teacher_losses_name_the_accepted_layouts(fn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"\[n, 1 \+ k\]"):
        fn(torch.zeros(4, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="needs teacher_scores"):
        fn(torch.zeros(4, 2), None)


@pytest.mark.parametrize("fn", [margin_mse, mse, kl, ranknet, ce])
def test_student_layout_is_checked(fn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="positive's score in column 0"):
        fn(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match="k >= 1"):
        fn(torch.zeros(4, 1), torch.zeros(4, 1))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-50, 50), st.floats(-50, 50), st.floats(-50, 50), st.floats(-50, 50)),
        min_size=1,
        max_size=8,
    ),
    st.floats(-100, 100),
)
def test_margin_mse_ignores_per_query_offsets(
    rows: list[tuple[float, float, float, float]], offset: float
) -> None:
    """Only margins matter: shifting one query's scores (student or teacher) changes nothing."""
    student = torch.tensor([[a, b] for a, b, _, _ in rows], dtype=torch.float64)
    teacher = torch.tensor([[c, d] for _, _, c, d in rows], dtype=torch.float64)
    base = margin_mse(student, teacher)
    assert torch.allclose(margin_mse(student + offset, teacher), base, rtol=1e-9, atol=1e-6)
    assert torch.allclose(margin_mse(student, teacher - offset), base, rtol=1e-9, atol=1e-6)


def test_equals_sentence_transformers_margin_mse() -> None:
    """Same scores in, same loss out as sentence-transformers' MarginMSELoss (one and several negatives)."""
    st_losses = pytest.importorskip("sentence_transformers.sentence_transformer.losses")
    generator = torch.Generator().manual_seed(0)
    for negatives in (1, 3):
        student = torch.randn(6, 1 + negatives, generator=generator) * 4
        teacher = torch.randn(6, 1 + negatives, generator=generator) * 4
        reference_loss = st_losses.MarginMSELoss(model=None)  # the model is only used by forward()
        # pairwise_dot_score of [1] with [s] is s: one-dimensional "embeddings" carry the scores.
        embeddings = [torch.ones(6, 1)] + [student[:, i : i + 1] for i in range(1 + negatives)]
        for labels in (teacher, teacher[:, :1] - teacher[:, 1:]):  # scores, then margins
            reference = reference_loss.compute_loss_from_embeddings(embeddings, labels)
            assert margin_mse(student, labels).item() == pytest.approx(reference.item(), rel=1e-6)


def test_registry_resolves_aliases_and_rejects_unknown_names() -> None:
    assert get_loss("MarginMSE").name == "margin-mse"
    assert get_loss("margin_mse").name == "margin-mse"
    assert get_loss("cross-entropy").name == "ce"
    assert get_loss("KL-Div").name == "kl"
    assert teacher_losses() == ("margin-mse", "mse", "kl")
    assert teacher_losses() == tuple(name for name, spec in LOSSES.items() if spec.needs_teacher)
    with pytest.raises(
        UserError,
        match=r"--loss 'hinge': unknown loss; choose one of margin-mse \(marginmse, margin\), "
        r"mse \(pointwise-mse\), kl \(.*\), ranknet \(.*\), ce \(.*\)$",
    ):
        get_loss("hinge")
    with pytest.raises(ValueError, match="already registered"):
        register_loss(LossSpec("mine", "mse", True, "dup", aliases=("MSE",)))
    assert get_loss("mse").fn is mse
