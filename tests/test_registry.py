"""The generic registry, and that every name list is derived from a registry."""

from __future__ import annotations

import doctest
import importlib

import pytest

from kdbench.backends import BACKENDS, devices, precisions
from kdbench.errors import UserError
from kdbench.losses import LOSSES, teacher_losses
from kdbench.models.registry import ARCHITECTURES, Architecture, archs_with
from kdbench.profile.parity import THRESHOLDS
from kdbench.profile.registry import (
    SCENARIOS,
    resolve_scenario,
    scenario_archs,
    scenario_names,
    scenarios_help,
)
from kdbench.registry import Registry


def test_names_fold_case_spaces_and_underscores() -> None:
    registry: Registry[int] = Registry("colour", "--colour")
    registry.register("dark-red", 1, aliases=("Crimson",))
    assert registry.canonical("DARK_RED") == registry.canonical(" crimson ") == "dark-red"
    assert "dark red" not in registry and 3 not in registry
    assert registry.aliases("crimson") == ("Crimson",)


def test_duplicates_are_refused_across_and_within_entries() -> None:
    registry: Registry[int] = Registry("colour", "--colour")
    registry.register("red", 1, aliases=("crimson",))
    with pytest.raises(ValueError, match="colour 'Crimson' is already registered \\(as 'red'\\)"):
        registry.register("blue", 2, aliases=("Crimson",))
    with pytest.raises(ValueError, match="colour 'Navy' is listed twice for 'navy'"):
        registry.register("navy", 3, aliases=("Navy",))
    assert registry.names() == ("red",)  # a refused entry leaves nothing behind
    assert "blue" not in registry and "navy" not in registry


def test_unknown_names_list_every_choice_and_say_where() -> None:
    registry: Registry[int] = Registry("colour", "--colour")
    registry.register("red", 1, aliases=("crimson",))
    registry.register("blue", 2)
    with pytest.raises(UserError) as caught:
        registry["green"]
    assert (
        str(caught.value) == "--colour 'green': unknown colour; choose one of red (crimson), blue"
    )
    with pytest.raises(UserError, match=r"^students\[0\]\.colour 'green': unknown colour"):
        registry.canonical("green", where="students[0].colour")


def test_derived_views_follow_registration_order() -> None:
    registry: Registry[str] = Registry("colour", "--colour")
    registry.register("red", "warm", aliases=("crimson",))
    registry.register("blue", "cold", aliases=("navy",))
    assert list(registry) == ["red", "blue"] and len(registry) == 2
    assert registry.choices() == ("red", "blue", "crimson", "navy")
    assert registry.entries() == ("warm", "cold")
    assert (
        registry.help_text(lambda entry: f"{entry} colour") == "red: warm colour; blue: cold colour"
    )
    assert registry.unregister("NAVY") == "cold"
    assert registry.choices() == ("red", "crimson") and "navy" not in registry


def test_families_use_the_one_registry() -> None:
    for family in (ARCHITECTURES, BACKENDS, LOSSES, SCENARIOS):
        assert isinstance(family, Registry)
    assert ARCHITECTURES.canonical("Bi_Encoder") == "dot"
    assert BACKENDS.canonical("ORT") == "onnx"
    assert LOSSES.canonical("Margin_MSE") == "margin-mse"


def test_teacher_losses_are_those_that_need_a_teacher() -> None:
    assert teacher_losses() == ("margin-mse", "mse", "kl")
    assert all(LOSSES[name].needs_teacher for name in teacher_losses())
    from kdbench import options

    assert options.teacher_losses() == teacher_losses()


def test_settings_choice_lists_are_the_registries() -> None:
    from kdbench import options

    assert options.architecture_names() is ARCHITECTURES
    assert ARCHITECTURES.names() == ("dot", "cat", "colbert", "prettr")
    assert options.backend_names() is BACKENDS and scenario_names() is SCENARIOS
    assert SCENARIOS.names() == ("index", "query", "rerank")
    assert (
        tuple(options.precision_names().names())
        == precisions()
        == ("fp32", "fp16", "bf16", "int8", "int8-static")
    )
    assert tuple(options.device_names().names()) == devices() == ("cpu", "cuda")
    assert set(precisions()) == set(THRESHOLDS)  # every precision has a parity gate


def test_capabilities_answer_what_the_shared_code_asks() -> None:
    assert scenario_archs("index") == ("dot", "colbert")
    assert scenario_archs("query") == ("dot",)
    assert scenario_archs("rerank") == ("cat", "colbert", "prettr")
    assert [resolve_scenario(None, arch) for arch in ARCHITECTURES] == [
        "query",
        "rerank",
        "rerank",
        "rerank",
    ]
    assert resolve_scenario("INDEX", "colbert") == "index"
    with pytest.raises(UserError, match="--scenario index does not apply to cat models"):
        resolve_scenario("index", "cat")
    with pytest.raises(UserError, match="--scenario 'warm': unknown scenario"):
        resolve_scenario("warm", "dot")
    assert [a.name for a in ARCHITECTURES.entries() if a.encodes_texts] == ["dot", "colbert"]
    assert [a.name for a in ARCHITECTURES.entries() if a.dense_retrieval] == ["dot"]
    assert archs_with("split_layer") == ("prettr",) and archs_with("colbert_dim") == ("colbert",)
    assert scenarios_help().startswith("index (dot, colbert), query (dot), rerank (cat, ")


def test_an_architecture_states_consistent_capabilities() -> None:
    with pytest.raises(ValueError, match="default scenario 'query' is not among"):
        Architecture("x", "m:C", "x", scenarios={"rerank": "m:S"}, default_scenario="query")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['pool'\]"):
        Architecture(
            "x",
            "m:C",
            "x",
            scenarios={"rerank": "m:S"},
            default_scenario="rerank",
            options=frozenset({"pool"}),
        )


@pytest.mark.parametrize(
    "module",
    [
        "kdbench.registry",
        "kdbench.models.registry",
        "kdbench.profile.registry",
        "kdbench.profile.measurements",
        "kdbench.backends",
        "kdbench.losses",
    ],
)
def test_doctests(module: str) -> None:
    failures, tried = doctest.testmod(importlib.import_module(module))
    assert tried > 0 and failures == 0


def test_settings_doc_shows_the_registered_capabilities() -> None:
    """docs/settings.md's architecture table is the registry's, as generated now."""
    from pathlib import Path

    from kdbench.models.registry import capabilities_table

    doc = (Path(__file__).parent.parent / "docs" / "settings.md").read_text()
    assert capabilities_table() in doc, "regenerate the table with capabilities_table()"
