"""The scenario registry: what a profile can time (light: no torch import).

A scenario is registered once here, by name; which architectures it applies to, and the
class that times it for each, are what each architecture declares
(`kdbench.models.registry.Architecture.scenarios`), so a new architecture reuses or adds
scenario classes without editing this module.

>>> SCENARIOS.names()
('index', 'query', 'rerank')
>>> scenario_archs("index")
('dot', 'colbert')
>>> resolve_scenario(None, "cat")
'rerank'
"""

from __future__ import annotations

from dataclasses import dataclass

from kdbench.errors import UserError
from kdbench.models.registry import ARCHITECTURES
from kdbench.registry import Registry

__all__ = [
    "LOADS",
    "SCENARIOS",
    "ScenarioInfo",
    "profile_scenarios",
    "resolve_scenario",
    "scenario_archs",
    "scenario_class",
    "scenario_names",
    "scenarios_help",
]


@dataclass(frozen=True)
class ScenarioInfo:
    name: str
    summary: str


SCENARIOS: Registry[ScenarioInfo] = Registry("scenario", "--scenario")
SCENARIOS.register("index", ScenarioInfo("index", "passages/s encoding a collection"))
SCENARIOS.register("query", ScenarioInfo("query", "encode the query, search a pre-encoded index"))
SCENARIOS.register("rerank", ScenarioInfo("rerank", "score k candidates of one query"))


# MLPerf's load scenarios: they serve the architecture's per-query scenario (query for dot,
# rerank otherwise; BM25's retrieval) under traffic (kdbench.profile.serving).
LOADS = {
    "server": "Poisson arrivals at --qps through a dynamic batcher; with a bound, the highest "
    "QPS that holds it",
    "offline": "every query at once; the highest throughput",
}


@dataclass(frozen=True)
class _ProfileScenarios:
    """What `kdbench profile --scenario` accepts: the registered scenarios and the loads.

    >>> "server" in profile_scenarios(), profile_scenarios().names()[-2:]
    (True, ('server', 'offline'))
    """

    def __contains__(self, name: object) -> bool:
        return name in LOADS or name in SCENARIOS

    def canonical(self, name: str) -> str:
        return name if name in LOADS else SCENARIOS.canonical(name)

    def names(self) -> tuple[str, ...]:
        return (*SCENARIOS.names(), *LOADS)


def profile_scenarios() -> _ProfileScenarios:
    return _ProfileScenarios()


def scenario_names() -> Registry[ScenarioInfo]:
    """The choices of `--scenario` and a profile's `scenario` key."""
    return SCENARIOS


def scenario_archs(name: str) -> tuple[str, ...]:
    """The architectures that `name` applies to, in registry order."""
    scenario = SCENARIOS.canonical(name)
    return tuple(a.name for a in ARCHITECTURES.entries() if scenario in a.scenarios)


def resolve_scenario(name: str | None, arch: str) -> str:
    """The scenario to time `arch` in: `name` (None: the architecture's default), checked
    to apply to it; otherwise a UserError naming the architectures it is for.

    >>> resolve_scenario("query", "cat")
    Traceback (most recent call last):
    ...
    kdbench.errors.UserError: --scenario query does not apply to cat models (it is for dot)
    """
    architecture = ARCHITECTURES[arch]
    if name is None:
        return architecture.default_scenario
    scenario = SCENARIOS.canonical(name)
    if scenario not in architecture.scenarios:
        raise UserError(
            f"--scenario {scenario} does not apply to {architecture.name} models "
            f"(it is for {', '.join(scenario_archs(scenario))})"
        )
    return scenario


def scenario_class(name: str, arch: str) -> type:
    """The `kdbench.profile.scenarios.Scenario` subclass timing `name` for `arch` (imports it)."""
    scenario = resolve_scenario(name, arch)
    cls = ARCHITECTURES[arch].scenario_class(scenario)
    if getattr(cls, "name", None) != scenario:
        raise TypeError(f"{cls.__name__} times {getattr(cls, 'name', None)!r}, not {scenario!r}")
    return cls


def scenarios_help() -> str:
    """'index (dot, colbert), query (dot), rerank (...). Default: query for dot, rerank otherwise.'

    >>> scenarios_help()
    'index (dot, colbert), query (dot), rerank (cat, colbert, prettr). Default: query for dot; rerank for cat, colbert, prettr.'
    """
    choices = ", ".join(f"{name} ({', '.join(scenario_archs(name))})" for name in SCENARIOS.names())
    defaults: dict[str, list[str]] = {}
    for architecture in ARCHITECTURES.entries():
        defaults.setdefault(architecture.default_scenario, []).append(architecture.name)
    text = "; ".join(f"{scenario} for {', '.join(archs)}" for scenario, archs in defaults.items())
    return f"{choices}. Default: {text}."
