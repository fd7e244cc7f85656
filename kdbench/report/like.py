"""Like with like: what each result measured on, so two sets of results are compared only when
they scored the same queries of the same collection with the same measures.

`kdbench report --compare OLD NEW` and KD/no-KD pairs read each result's own record of it: an
evaluation's `config` (its collection, split, relevance grade), its `per_query` (the query ids
and the measures) or its query count; a profile's `inputs` (its collection and split). A run's
results are read through the evaluations and profiles it holds. `differences` names what
differs; the callers refuse, or with `--allow-different-queries` print it as a warning.

>>> a = {"kind": "evaluate", "config": {"data": "d/scifact", "split": "test"},
...      "per_query": {"nDCG@10": {"1": 0.5, "2": 1.0}}}
>>> b = {"kind": "evaluate", "config": {"data": "d/scifact", "split": "dev"},
...      "per_query": {"nDCG@10": {"1": 0.5}}}
>>> differences(scope_of([a]), scope_of([b]))
['split: test vs dev', 'queries: 2 vs 1 (1 only in the first, 0 only in the second)']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath

from kdbench.evaluate.result import EvaluateResult
from kdbench.report.rows import run_evaluations, run_models

ALLOW = "--allow-different-queries"


@dataclass
class Scope:
    """What a set of results measured on (each entry: every value its results hold)."""

    collections: set[str] = field(default_factory=set)  # by name, wherever it is kept
    documents: set[int] = field(default_factory=set)
    splits: set[str] = field(default_factory=set)
    query_ids: set[str] = field(default_factory=set)
    query_counts: set[int] = field(default_factory=set)  # of results without per-query ids
    measures: set[str] = field(default_factory=set)
    relevance: set[int] = field(default_factory=set)

    def add_evaluation(self, result: EvaluateResult) -> None:
        settings = result.settings
        self._add_place(settings.collection, settings.data, settings.split)
        per_query = result.per_query or {}
        ids = {qid for values in per_query.values() for qid in values}
        if ids:
            self.query_ids |= ids
        elif result.queries is not None:
            self.query_counts.add(result.queries)
        self.measures |= set(result.metrics) | set(per_query)
        if settings.rel is not None:
            self.relevance.add(settings.rel)

    def add_profile(self, result: Mapping[str, object]) -> None:
        inputs = result.get("inputs")
        if not isinstance(inputs, Mapping) or inputs.get("type") in (None, "synthetic"):
            return  # synthetic text: no collection to differ in
        self._add_place(inputs, None, inputs.get("split"))

    def _add_place(self, collection: Mapping[str, object], data: object, split: object) -> None:
        name = collection.get("name") or collection.get("id")
        path = collection.get("path") or data
        if not name and path:
            name = PurePath(str(path).rstrip("/")).name  # one collection, wherever it is kept
        if name:
            self.collections.add(str(name))
        documents = collection.get("documents")
        if isinstance(documents, int):
            self.documents.add(documents)
        split = split or collection.get("split")
        if split:
            self.splits.add(str(split))


def scope_of(results: Iterable[Mapping[str, object]]) -> Scope:
    """The scope of `results` (evaluate, profile and run results alike)."""
    scope = Scope()
    for result in results:
        kind = result.get("kind")
        if kind == "evaluate":
            scope.add_evaluation(EvaluateResult.from_dict(result))
        elif kind == "profile":
            scope.add_profile(result)
        elif kind == "run":
            for model in run_models(result):
                for evaluation in run_evaluations(model):
                    scope.add_evaluation(evaluation)
                profile = model.get("profile")
                if isinstance(profile, Mapping) and profile:
                    scope.add_profile(profile)
    return scope


def differences(old: Scope, new: Scope) -> list[str]:
    """What differs between two scopes, one line each ("split: test vs dev"); [] when alike.

    A value only one side records (an older result without per-query ids) is no difference.
    """
    found: list[str] = []
    for what, first, second in (
        ("collection", old.collections, new.collections),
        ("documents in the collection", old.documents, new.documents),
        ("split", old.splits, new.splits),
        ("measures", old.measures, new.measures),
        ("relevance grade (rel)", old.relevance, new.relevance),
    ):
        if first and second and first != second:
            found.append(f"{what}: {_listed(first)} vs {_listed(second)}")
    if old.query_ids and new.query_ids and old.query_ids != new.query_ids:
        only_old, only_new = old.query_ids - new.query_ids, new.query_ids - old.query_ids
        found.append(
            f"queries: {len(old.query_ids)} vs {len(new.query_ids)} ({len(only_old)} only in "
            f"the first, {len(only_new)} only in the second)"
        )
    else:
        old_counts = old.query_counts | ({len(old.query_ids)} if old.query_ids else set())
        new_counts = new.query_counts | ({len(new.query_ids)} if new.query_ids else set())
        if old_counts and new_counts and old_counts != new_counts:
            found.append(f"queries: {_listed(old_counts)} vs {_listed(new_counts)}")
    return found


def _listed(values: set[str] | set[int]) -> str:
    return ", ".join(sorted(map(str, values)))
