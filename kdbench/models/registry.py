"""The architecture registry: names and aliases -> what each ranker is and can do, resolved lazily.

Light on purpose (no torch import): the CLI and the profile validator list and check
`--arch` values, and read what each architecture supports, without loading a model; the
ranker class is imported only when a model is built.

Adding an architecture is one new module plus one registration:

1. `kdbench/models/NAME.py` with a `Ranker` subclass whose `arch` is NAME (see `base.py`
   for the contract; subclassing `DotRanker`, `CatRanker` or `ColbertRanker` keeps their
   evaluation and scenario code working);
2. one `ARCHITECTURES.register(NAME, Architecture(...), aliases=...)` call, below or in your
   own code before the CLI runs, that names the class and states the capabilities: which
   profile scenarios time it (and with which `kdbench.profile.scenarios` class), whether it
   encodes texts apart, whether it can search a whole collection, which model settings apply.

Everything else (CLI choices, profile validation, the profiler's scenario dispatch, the
re-ranking path, error messages) reads these entries. tests/test_toy_architecture.py does
exactly this with a toy ranker.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kdbench.registry import Registry

if TYPE_CHECKING:
    from kdbench.models.base import RankerModule

__all__ = [
    "ARCHITECTURES",
    "MODEL_OPTIONS",
    "ST_FORMS",
    "Architecture",
    "Registry",
    "applies_to",
    "archs_where",
    "archs_with",
    "capabilities_table",
    "check_options",
]

# Model settings an architecture may accept (`Architecture.options`).
MODEL_OPTIONS = (
    "pooling",
    "similarity",
    "score_scale",  # a multiplier on similarity scores (a head sets its own scale)
    "learn_score_scale",
    "colbert_dim",
    "split_layer",
)

_SCENARIOS = "kdbench.profile.scenarios"

# What `kdbench export` can make of an architecture's folder: nothing, a SentenceTransformer
# (encoder + pooling [+ normalize], dot or cosine) or a CrossEncoder (a sequence-classification head).
ST_FORMS = ("", "SentenceTransformer", "CrossEncoder")


@dataclass(frozen=True)
class Architecture:
    """One ranking architecture: where its class lives, what it is and what it supports."""

    name: str
    target: str  # "module:Class", imported on first use
    summary: str
    # profile scenario -> "module:Class" that times it for this architecture
    scenarios: Mapping[str, str]
    default_scenario: str
    # queries and passages are encoded apart (`encode_texts`) and scored from their
    # representations; otherwise every (query, passage) pair goes through `score_pairs`
    encodes_texts: bool = False
    # one vector per text: a whole collection can be encoded once and searched (mode retrieve)
    dense_retrieval: bool = False
    options: frozenset[str] = field(default_factory=frozenset)  # of MODEL_OPTIONS
    # the passage half of a pair can be computed once and cached (prettr's passage states)
    caches_passage_states: bool = False
    # the folder `kdbench export` completes for sentence-transformers: one of ST_FORMS
    sentence_transformers: str = ""

    def __post_init__(self) -> None:
        if self.default_scenario not in self.scenarios:
            raise ValueError(
                f"architecture {self.name!r}: default scenario {self.default_scenario!r} "
                f"is not among its scenarios {sorted(self.scenarios)}"
            )
        unknown = sorted(self.options - set(MODEL_OPTIONS))
        if unknown:
            raise ValueError(f"architecture {self.name!r}: unknown option(s) {unknown}")
        if self.sentence_transformers not in ST_FORMS:
            raise ValueError(
                f"architecture {self.name!r}: sentence_transformers must be one of {ST_FORMS}"
            )

    @property
    def scores_pairs(self) -> bool:
        """Every (query, passage) pair goes through one forward pass (`score_pairs`): nothing
        per text to encode once and reuse."""
        return not self.encodes_texts

    def resolve(self) -> type[RankerModule]:
        """The `RankerModule` subclass (imported now; this light module names the heavy base
        it describes for the type checker only)."""
        cls: type[RankerModule] = _import(self.target)
        return cls

    def scenario_class(self, scenario: str) -> type:
        """The class that times `scenario` for this architecture (a `profile.scenarios.Scenario`)."""
        cls: type = _import(self.scenarios[scenario])
        return cls


def _import(target: str) -> Any:
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def archs_with(option: str) -> tuple[str, ...]:
    """Architectures that accept a model setting, for validation and its error text.

    >>> archs_with("similarity")
    ('dot', 'colbert')
    """
    return tuple(a.name for a in ARCHITECTURES.entries() if option in a.options)


def archs_where(capability: Callable[[Architecture], bool]) -> tuple[str, ...]:
    """Architectures with a capability, in registry order, for help and error texts.

    >>> archs_where(lambda a: a.dense_retrieval)
    ('dot',)
    """
    return tuple(a.name for a in ARCHITECTURES.entries() if capability(a))


def applies_to(option: str) -> str:
    """'dot/colbert': the architectures a model setting applies to, for its help text.

    >>> applies_to("similarity")
    'dot/colbert'
    """
    return "/".join(archs_with(option))


def check_options(arch: str, chosen: Iterable[str], where: str = "students") -> None:
    """ValueError naming each chosen model setting (of MODEL_OPTIONS) that `arch` does not take."""
    architecture = ARCHITECTURES[arch]
    for key in chosen:
        if key in MODEL_OPTIONS and key not in architecture.options:
            raise ValueError(
                f"{key} applies to {applies_to(key) or 'no'} {where}, not {architecture.name}"
            )


def capabilities_table() -> str:
    """The registered architectures and what each can do, as the Markdown table in
    docs/settings.md (a test keeps the two equal)."""

    def yes(flag: bool) -> str:
        return "yes" if flag else ""

    lines = [
        "| arch | aliases | encodes texts apart | dense retrieval | caches passage states "
        "| profile scenarios (default first) | model settings | sentence-transformers form |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, a in ARCHITECTURES.items():
        scenarios = [a.default_scenario, *sorted(set(a.scenarios) - {a.default_scenario})]
        settings = [key for key in MODEL_OPTIONS if key in a.options]
        cells = [
            f"`{name}`",
            ", ".join(ARCHITECTURES.aliases(name)),
            yes(a.encodes_texts),
            yes(a.dense_retrieval),
            yes(a.caches_passage_states),
            ", ".join(scenarios),
            ", ".join(settings),
            a.sentence_transformers,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


ARCHITECTURES: Registry[Architecture] = Registry("architecture", "--arch")
ARCHITECTURES.register(
    "dot",
    Architecture(
        "dot",
        "kdbench.models.dot:DotRanker",
        "bi-encoder: one vector per text, dot/cosine",
        scenarios={"query": f"{_SCENARIOS}:QueryScenario", "index": f"{_SCENARIOS}:IndexScenario"},
        default_scenario="query",
        encodes_texts=True,
        dense_retrieval=True,
        options=frozenset({"pooling", "similarity", "score_scale", "learn_score_scale"}),
        sentence_transformers="SentenceTransformer",
    ),
    aliases=("bi-encoder", "biencoder", "bert_dot", "dense"),
)
ARCHITECTURES.register(
    "cat",
    Architecture(
        "cat",
        "kdbench.models.cat:CatRanker",
        "cross-encoder: [CLS] q [SEP] d [SEP] -> score",
        scenarios={"rerank": f"{_SCENARIOS}:CatRerankScenario"},
        default_scenario="rerank",
        sentence_transformers="CrossEncoder",
    ),
    aliases=("cross-encoder", "crossencoder", "bert_cat", "mono"),
)
ARCHITECTURES.register(
    "colbert",
    Architecture(
        "colbert",
        "kdbench.models.colbert:ColbertRanker",
        "late interaction: term vectors, MaxSim",
        scenarios={
            "rerank": f"{_SCENARIOS}:ColbertRerankScenario",
            "index": f"{_SCENARIOS}:ColbertIndexScenario",
        },
        default_scenario="rerank",
        encodes_texts=True,
        options=frozenset({"similarity", "score_scale", "learn_score_scale", "colbert_dim"}),
    ),
    aliases=("late-interaction", "maxsim"),
)
ARCHITECTURES.register(
    "prettr",
    Architecture(
        "prettr",
        "kdbench.models.prettr:PrettrRanker",
        "split encoder: query and passage apart up to layer l (passage states cacheable), then joint",
        scenarios={"rerank": f"{_SCENARIOS}:PrettrRerankScenario"},
        default_scenario="rerank",
        options=frozenset({"split_layer"}),
        caches_passage_states=True,
    ),
    aliases=("pre-ttr", "bert_split"),
)
