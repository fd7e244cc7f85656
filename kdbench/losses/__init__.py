"""The loss registry: names and aliases resolve to pure functions of scores (functional.py).

The registry itself imports no torch, so the CLI can check `--loss` at once; the function is
imported when a loss is first computed.

>>> get_loss("MarginMSE").name
'margin-mse'
>>> get_loss("ranknet").needs_teacher
False
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kdbench.registry import Registry

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class LossSpec:
    name: str
    function: str  # attribute of kdbench.losses.functional
    needs_teacher: bool
    description: str
    aliases: tuple[str, ...] = ()
    options: tuple[str, ...] = ()  # keyword settings the function takes besides the scores

    @property
    def fn(self) -> Callable[..., torch.Tensor]:
        """(student_scores Tensor[n, 1+k], teacher_scores Tensor | None) -> scalar Tensor."""
        module = importlib.import_module("kdbench.losses.functional")
        function: Callable[..., torch.Tensor] = getattr(module, self.function)
        return function


LOSSES: Registry[LossSpec] = Registry("loss", "--loss")


def register_loss(spec: LossSpec) -> LossSpec:
    """Add `spec` under its name and aliases; a name already taken is a programming error."""
    return LOSSES.register(spec.name, spec, aliases=spec.aliases)


def get_loss(name: str) -> LossSpec:
    """The loss called `name` (or an alias; case, `_` and `-` do not matter)."""
    return LOSSES[name]


def teacher_losses() -> tuple[str, ...]:
    """The losses that learn from teacher scores (`LossSpec.needs_teacher`), in registry order.

    >>> teacher_losses()
    ('margin-mse', 'mse', 'kl')
    """
    return tuple(spec.name for spec in LOSSES.entries() if spec.needs_teacher)


def label_losses() -> tuple[str, ...]:
    """The losses that learn from labels alone.

    >>> label_losses()
    ('ranknet', 'ce')
    """
    return tuple(spec.name for spec in LOSSES.entries() if not spec.needs_teacher)


def losses_help() -> str:
    """'margin-mse: MSE between ...; mse: ...': the --loss help text."""
    return LOSSES.help_text(lambda spec: spec.description)


register_loss(
    LossSpec(
        "margin-mse",
        "margin_mse",
        True,
        "MSE between student and teacher positive-negative margins (the paper's loss)",
        aliases=("marginmse", "margin"),
    )
)
register_loss(
    LossSpec(
        "mse", "mse", True, "pointwise MSE on the teacher's scores", aliases=("pointwise-mse",)
    )
)
register_loss(
    LossSpec(
        "kl",
        "kl",
        True,
        "listwise KL divergence to the teacher's softmax over 1 + k passages",
        aliases=("kl-div", "kldiv", "listwise-kl"),
        options=("temperature",),
    )
)
register_loss(
    LossSpec(
        "ranknet",
        "ranknet",
        False,
        "pairwise logistic loss on labels (no teacher)",
        aliases=("pairwise", "bce-pairwise"),
    )
)
register_loss(
    LossSpec(
        "ce",
        "ce",
        False,
        "listwise softmax cross-entropy on labels (no teacher)",
        aliases=("cross-entropy", "softmax-ce", "listwise-ce"),
    )
)
