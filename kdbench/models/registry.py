"""The architecture registry: names and aliases -> ranker classes, resolved lazily.

Light on purpose (no torch import): the CLI can list and validate `--arch` values at once;
the ranker class is imported only when a model is built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from kdbench.errors import UserError

if TYPE_CHECKING:
    from kdbench.models.base import Ranker

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries by canonical name and by alias (case-insensitive); a name is never registered twice."""

    def __init__(self, family: str) -> None:
        self.family = family
        self._entries: dict[str, T] = {}
        self._canonical: dict[str, str] = {}

    def register(self, name: str, entry: T, aliases: tuple[str, ...] = ()) -> T:
        for key in (name, *aliases):
            folded = key.lower()
            if folded in self._canonical:
                raise ValueError(
                    f"{self.family} {key!r} is already registered (as {self._canonical[folded]!r})"
                )
        for key in (name, *aliases):
            self._canonical[key.lower()] = name
        self._entries[name] = entry
        return entry

    def canonical(self, name: str) -> str:
        """The canonical name for `name` or an alias; UserError listing the registry otherwise."""
        try:
            return self._canonical[name.lower()]
        except KeyError:
            raise UserError(
                f"unknown {self.family} {name!r}; choose one of: {self.describe()}"
            ) from None

    def __getitem__(self, name: str) -> T:
        return self._entries[self.canonical(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._canonical

    def names(self) -> list[str]:
        return list(self._entries)

    def describe(self) -> str:
        """'dot (bi-encoder, ...), cat (...)' for error and help texts."""
        aliases: dict[str, list[str]] = {name: [] for name in self._entries}
        for alias, name in self._canonical.items():
            if alias != name.lower():
                aliases[name].append(alias)
        return ", ".join(
            f"{name} ({', '.join(extra)})" if extra else name for name, extra in aliases.items()
        )


@dataclass(frozen=True)
class Architecture:
    """One ranking architecture: where its class lives and what it is."""

    name: str
    target: str  # "module:Class", imported on first use
    summary: str

    def resolve(self) -> type[Ranker]:
        module_name, class_name = self.target.split(":")
        cls: type[Ranker] = getattr(importlib.import_module(module_name), class_name)
        return cls


ARCHITECTURES: Registry[Architecture] = Registry("architecture")
ARCHITECTURES.register(
    "dot",
    Architecture(
        "dot", "kdbench.models.dot:DotRanker", "bi-encoder: one vector per text, dot/cosine"
    ),
    aliases=("bi-encoder", "biencoder", "bert_dot", "dense"),
)
ARCHITECTURES.register(
    "cat",
    Architecture(
        "cat", "kdbench.models.cat:CatRanker", "cross-encoder: [CLS] q [SEP] d [SEP] -> score"
    ),
    aliases=("cross-encoder", "crossencoder", "bert_cat", "mono"),
)
ARCHITECTURES.register(
    "colbert",
    Architecture(
        "colbert", "kdbench.models.colbert:ColbertRanker", "late interaction: term vectors, MaxSim"
    ),
    aliases=("late-interaction", "maxsim"),
)
ARCHITECTURES.register(
    "prettr",
    Architecture(
        "prettr",
        "kdbench.models.prettr:PrettrRanker",
        "split encoder: query and passage apart up to layer l (passage states cacheable), then joint",
    ),
    aliases=("pre-ttr", "bert_split"),
)
