"""Distilled / not-distilled pairs: the effect of knowledge distillation on one model, tested.

A pair is two `evaluate` results of the same architecture on the same queries, one trained
with a teacher (Margin-MSE) and one without. The effect per measure is the mean per-query
difference (KD minus no-KD) with a 95% paired-t interval and a paired bootstrap interval, the
two-sided paired t-test the paper's tables use (scipy.stats.ttest_rel), read from each
result's `per_query`, and Holm-Bonferroni-adjusted p (`with_holm`: over every comparison a
report shows; `significant` is p_holm < alpha).

Pure functions of result dicts (no I/O), so `kdbench report --pair KD NOKD` and tests share them.
A pair is JSON (`Pair`): a run result keeps its pairs, and the report reads them back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypedDict

from kdbench.errors import UserError
from kdbench.evaluate.result import EvaluateResult
from kdbench.json_types import JsonObject, is_json_object
from kdbench.report.like import ALLOW, differences, scope_of
from kdbench.report.rows import label_of
from kdbench.report.significance import TEST, holm, paired_test

MEASURES = ("nDCG@10",)
ALPHA = 0.05


class PairRow(TypedDict):
    """One measure of a pair: KD and no-KD means, their difference (KD minus no-KD), its
    intervals and paired test, and how many queries each side won."""

    measure: str
    kd: float
    nokd: float
    difference: float
    relative_difference: float | None
    ci95_t: list[float]
    ci95_bootstrap: list[float]
    t: float | None  # None when every difference is the same (the statistic is undefined)
    p_value: float
    p_holm: float
    significant: bool
    wins: int
    losses: int
    ties: int


class Pair(TypedDict):
    """A KD / no-KD pair as a run result and `kdbench report --pair` write it."""

    kd: str  # labels
    nokd: str
    arch: str | None
    data: str
    split: str
    queries: int
    test: str
    alpha: float
    warnings: list[str]
    rows: list[PairRow]


def pair_rows(
    kd_result: Mapping[str, object],
    nokd_result: Mapping[str, object],
    *,
    measures: tuple[str, ...] = MEASURES,
    alpha: float = ALPHA,
    allow_different: bool = False,
) -> Pair:
    """Compare a distilled model's `evaluate` result with its not-distilled twin.

    Returns {"kd", "nokd" (labels), "arch", "data", "split", "queries", "test", "alpha",
    "warnings", "rows": [{"measure", "kd", "nokd", "difference", "relative_difference",
    "ci95_t", "ci95_bootstrap", "t", "p_value", "p_holm", "significant", "wins", "losses",
    "ties"}]}; `difference` is KD minus no-KD, `t` is None when every difference is the same
    (the statistic is undefined).
    """
    (kd, kd_label), (nokd, nokd_label) = _check(kd_result, "KD"), _check(nokd_result, "no-KD")
    kd_data = _dataset(kd)
    differ = differences(scope_of([kd_result]), scope_of([nokd_result]))
    if differ and not allow_different:
        raise UserError(
            f"--pair: {kd_label} and {nokd_label} were not measured alike ({'; '.join(differ)}); "
            "evaluate both on the same --data, --split and queries with the same --measure, "
            f"or pass {ALLOW} (the pair then covers the queries both scored)"
        )
    warnings: list[str] = [f"KD and no-KD differ in {line}" for line in differ]
    kd_arch, nokd_arch = kd.settings.config.get("arch"), nokd.settings.config.get("arch")
    if kd_arch != nokd_arch:
        warnings.append(f"architectures differ ({kd_arch} vs {nokd_arch}): not a KD/no-KD pair")
    if _first_stage(kd) != _first_stage(nokd):
        warnings.append("first stages differ: the difference mixes re-ranking and candidates")
    tested = [
        _row(measure, (kd, nokd), (kd_label, nokd_label), alpha, allow_different)
        for measure in measures
    ]
    rows = [row for row, _ in tested]
    pair: Pair = {
        "kd": kd_label,
        "nokd": nokd_label,
        "arch": None if kd_arch is None else str(kd_arch),
        "data": kd_data[0],
        "split": kd_data[1],
        "queries": tested[0][1] if tested else 0,
        "test": TEST,
        "alpha": alpha,
        "warnings": warnings,
        "rows": rows,
    }
    # Holm over this pair's measures (`with_holm`: over every comparison a report shows).
    for row, adjusted in zip(rows, holm([row["p_value"] for row in rows]), strict=True):
        row["p_holm"] = adjusted
        row["significant"] = adjusted < alpha
    return pair


def common_measures(
    kd_result: Mapping[str, object], nokd_result: Mapping[str, object]
) -> tuple[str, ...]:
    """The measures both evaluations kept per query, in the KD result's order.

    >>> common_measures({"kind": "evaluate", "per_query": {"nDCG@10": {}, "AP": {}}},
    ...                 {"kind": "evaluate", "per_query": {"AP": {}}})
    ('AP',)
    """
    theirs = _kept(nokd_result)
    return tuple(m for m in _kept(kd_result) if m in theirs) or MEASURES


def _kept(result: Mapping[str, object]) -> tuple[str, ...]:
    """The measures an evaluate result kept per query (none: another kind, `pair_rows` says)."""
    if result.get("kind") != "evaluate":
        return ()
    return tuple(EvaluateResult.from_dict(result).per_query or {})


def with_holm(
    pairs: Sequence[JsonObject], measures: Sequence[str] | None = None
) -> list[JsonObject]:
    """`pairs` (as a run result holds them) restricted to `measures` (None: all), each row's
    `p_holm` adjusted over every comparison left, and `significant` read from it (p_holm
    below the pair's alpha)."""
    kept: list[JsonObject] = []
    compared: list[tuple[float, JsonObject]] = []  # (the pair's alpha, a row)
    for pair in pairs:
        found = pair.get("rows")
        rows = [
            dict(row)
            for row in (found if isinstance(found, list) else [])
            if is_json_object(row) and (measures is None or row.get("measure") in measures)
        ]
        if rows:
            kept.append({**pair, "rows": [*rows]})
            alpha = pair.get("alpha", ALPHA)
            compared += [(alpha if isinstance(alpha, float) else ALPHA, row) for row in rows]
    adjusted_p = holm([_p_value(row) for _, row in compared])
    for (alpha, row), adjusted in zip(compared, adjusted_p, strict=True):
        row["p_holm"] = adjusted
        row["significant"] = adjusted < alpha
    return kept


def _p_value(row: JsonObject) -> float:
    p_value = row.get("p_value")
    if not isinstance(p_value, int | float):
        raise UserError(f"a KD/no-KD pair's {row.get('measure')} row has no p_value: rerun it")
    return p_value


def _row(
    measure: str,
    results: tuple[EvaluateResult, EvaluateResult],
    labels: tuple[str, str],
    alpha: float,
    allow_different: bool,
) -> tuple[PairRow, int]:
    """One measure's row of the pair, and how many queries it compared."""
    kd_label, nokd_label = labels
    kd_values = _per_query(results[0], measure, kd_label)
    nokd_values = _per_query(results[1], measure, nokd_label)
    if allow_different:  # the queries both scored (the difference is a warning already)
        kd_values = {q: v for q, v in kd_values.items() if q in nokd_values}
        nokd_values = {q: v for q, v in nokd_values.items() if q in kd_values}
    if set(kd_values) != set(nokd_values):
        only_kd, only_nokd = set(kd_values) - set(nokd_values), set(nokd_values) - set(kd_values)
        raise UserError(
            f"--pair: {kd_label} and {nokd_label} scored different queries ({len(kd_values)} vs "
            f"{len(nokd_values)}; {len(only_kd)} only in the first, {len(only_nokd)} only in the second); "
            "evaluate both with the same --split and --queries"
        )
    qids = sorted(kd_values)
    if len(qids) < 2:
        raise UserError(
            f"--pair: a paired t-test needs at least 2 queries ({len(qids)} in the results)"
        )
    kd = [kd_values[q] for q in qids]
    nokd = [nokd_values[q] for q in qids]
    test = paired_test(kd, nokd)
    kd_mean, nokd_mean = math.fsum(kd) / len(kd), math.fsum(nokd) / len(nokd)
    difference = kd_mean - nokd_mean
    row: PairRow = {
        "measure": measure,
        "kd": kd_mean,
        "nokd": nokd_mean,
        "difference": difference,
        "relative_difference": difference / nokd_mean if nokd_mean else None,
        "ci95_t": list(test.ci95_t),
        "ci95_bootstrap": list(test.ci95_bootstrap),
        "t": test.t,
        "p_value": test.p_value,
        "p_holm": test.p_value,  # over this pair's measures; with_holm: over the report
        "significant": test.p_value < alpha,
        "wins": sum(a > b for a, b in zip(kd, nokd, strict=True)),
        "losses": sum(a < b for a, b in zip(kd, nokd, strict=True)),
        "ties": sum(a == b for a, b in zip(kd, nokd, strict=True)),
    }
    return row, len(qids)


def _check(result: Mapping[str, object], role: str) -> tuple[EvaluateResult, str]:
    """The evaluate result of `role` and its label, or an error naming it."""
    config = result.get("config")
    label = label_of(config) if isinstance(config, Mapping) else role
    if result.get("kind") != "evaluate":
        raise UserError(
            f"--pair: the {role} result ({label}) is a {result.get('kind')!r} result; pass `kdbench evaluate` results"
        )
    evaluation = EvaluateResult.from_dict(result)
    if evaluation.per_query is None:
        raise UserError(
            f"--pair: the {role} result ({label}) has no per-query values; rerun kdbench evaluate"
        )
    return evaluation, label


def _first_stage(result: EvaluateResult) -> JsonObject | None:
    return None if result.first_stage is None else result.first_stage.to_dict()


def _dataset(result: EvaluateResult) -> tuple[str, str]:
    settings = result.settings
    collection = settings.collection
    where = str(collection.get("path") or settings.data or "?")
    return where, str(settings.split or collection.get("split") or "?")


def _per_query(result: EvaluateResult, measure: str, label: str) -> dict[str, float]:
    per_query = result.per_query or {}
    values = per_query.get(measure)
    if values is None:
        available = ", ".join(sorted(per_query)) or "none"
        raise UserError(
            f"--pair: {label} has no per-query {measure} (it has {available}); rerun kdbench evaluate"
        )
    return {qid: float(value) for qid, value in values.items()}
