"""Teacher ensembles across architectures (the paper's T2), weighted on the dev slice.

Members are teacher-score files from `kdbench teacher score` (a trained cat, colbert or dot,
BM25, ...), each with the run of its scores over the dev slice's candidates beside it
(`SCORES.tsv.dev.run`). Scorers of different architectures live on different scales, so each
member is first normalised per query (`query-zscore`: every query's scores to mean 0, standard
deviation 1, over the distinct passages scored for it), or over the whole file (`zscore`,
`minmax`). The ensemble score is the weighted sum of the normalised members; with
`weights="fit"` the weights are searched on a simplex grid for the best dev nDCG@10 (the dev
queries are held out of training, so the test split is never read).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kdbench.data.load import load_collection
from kdbench.data.runs import Run, read_run, write_run
from kdbench.data.teacher_scores import (
    NORMALIZATIONS,
    ScoredTriple,
    normalize_scores,
    read_teacher_scores,
    write_teacher_scores,
    zscore,
)
from kdbench.errors import InputFileError, UserError
from kdbench.evaluate.metrics import compute_metrics
from kdbench.json_types import JsonObject, JsonValue
from kdbench.results import new_result, save_result
from kdbench.train.report import scorer_summary

if TYPE_CHECKING:
    from kdbench.train.config import EnsembleConfig

GRID_STEP = 0.1  # weight resolution of the fitted ensemble


@dataclass(frozen=True)
class Member:
    path: str
    rows: list[ScoredTriple]
    dev_run: Run


def _normalized_run(run: Run, method: str) -> Run:
    if method == "query-zscore":
        return {qid: zscore(docs) for qid, docs in run.items() if docs}
    if method == "none":
        return run
    values = [s for docs in run.values() for s in docs.values()]
    if method == "zscore":
        mean = sum(values) / len(values)
        offset = mean
        scale = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    else:  # minmax
        offset, scale = min(values), max(values) - min(values)
    scale = scale or 1.0
    return {qid: {d: (s - offset) / scale for d, s in docs.items()} for qid, docs in run.items()}


def weight_grid(members: int, step: float = GRID_STEP) -> list[tuple[float, ...]]:
    """Every weight vector on the simplex with the given resolution, each weight at least one step.

    >>> weight_grid(2, 0.25)
    [(0.25, 0.75), (0.5, 0.5), (0.75, 0.25)]
    """
    units = round(1 / step)
    grid = []
    for cut in itertools.combinations(range(1, units), members - 1):
        bounds = (0, *cut, units)
        grid.append(tuple(round((b - a) * step, 10) for a, b in itertools.pairwise(bounds)))
    return grid


def combine_runs(runs: Sequence[Run], weights: Sequence[float]) -> Run:
    """Weighted sum per (query, passage) over runs that hold the same candidates."""
    return {
        qid: {
            doc: sum(w * run[qid][doc] for w, run in zip(weights, runs, strict=True))
            for doc in docs
        }
        for qid, docs in runs[0].items()
    }


def combine_rows(
    members: Sequence[Sequence[ScoredTriple]], weights: Sequence[float], names: Sequence[str]
) -> list[ScoredTriple]:
    """Weighted sum per triple, in the first member's order; every member scores the same triples."""
    by_key = [{r.key: r for r in rows} for rows in members]
    out = []
    for row in members[0]:
        parts = []
        for name, keyed in zip(names, by_key, strict=True):
            if row.key not in keyed:
                raise InputFileError(
                    name,
                    f"does not score the triple {chr(9).join(row.key)} that {names[0]} scores; "
                    "score one triples file with every teacher",
                )
            parts.append(keyed[row.key])
        out.append(
            ScoredTriple(
                *row.key,
                sum(w * p.pos_score for w, p in zip(weights, parts, strict=True)),
                sum(w * p.neg_score for w, p in zip(weights, parts, strict=True)),
            )
        )
    return out


def read_member(path: str) -> Member:
    """A teacher-score file and the dev run `kdbench teacher score` wrote beside it."""
    from kdbench.train.teacher import dev_run_path

    dev = dev_run_path(path)
    if not dev.is_file():
        raise UserError(
            f"{path}: no dev-slice run beside it ({dev.name}); score it with `kdbench teacher "
            "score --data ... --dev-queries N` (it writes one), or pass --weights instead of fit"
        )
    return Member(path, read_teacher_scores(path), read_run(dev))


def _check_same_dev(members: Sequence[Member]) -> None:
    base = members[0]
    for member in members[1:]:
        if {q: set(d) for q, d in member.dev_run.items()} != {
            q: set(d) for q, d in base.dev_run.items()
        }:
            raise UserError(
                f"{member.path}: its dev run has other queries or candidates than {base.path}'s; "
                "score every member with the same --data, --seed and --dev-queries"
            )


def fit_weights(
    runs: Sequence[Run], qrels: dict[str, dict[str, int]], step: float = GRID_STEP
) -> tuple[tuple[float, ...], float]:
    """The grid weights with the best dev nDCG@10 (ties: the weights closest to equal)."""

    best: tuple[float, float, tuple[float, ...]] | None = None
    equal = 1 / len(runs)
    for weights in weight_grid(len(runs), step):
        ndcg = compute_metrics(combine_runs(runs, weights), qrels)[0]["nDCG@10"]
        spread = -sum((w - equal) ** 2 for w in weights)
        if best is None or (ndcg, spread) > best[:2]:
            best = (ndcg, spread, weights)
    assert best is not None
    return best[2], best[0]


HELD_OUT_FOLDS = 5  # folds of the dev queries for the held-out estimate of a fitted ensemble


def held_out_fit(
    runs: Sequence[Run], qrels: dict[str, dict[str, int]], folds: int = HELD_OUT_FOLDS
) -> JsonObject | None:
    """Dev nDCG@10 of the fitted ensemble on queries its weights did not see: the dev queries
    in `folds` folds (sorted ids, dealt in turn), each scored with the weights fitted on the
    others. The in-sample fit picks its weights on the queries it is scored on, so it flatters;
    this is the estimate to hold against a member's. None with fewer than 2 queries a fold.

    A query seen only by the other folds' fit may disagree with it, so the held-out value can
    sit below every member's.
    """

    qids = sorted(qrels)
    if len(qids) < 2 * folds:
        return None
    per_query: dict[str, float] = {}
    fold_weights: list[JsonValue] = []
    for k in range(folds):
        held = set(qids[k::folds])
        weights, _ = fit_weights(runs, {q: r for q, r in qrels.items() if q not in held})
        fold_weights.append(list(weights))
        combined = {q: d for q, d in combine_runs(runs, weights).items() if q in held}
        per_query.update(compute_metrics(combined, {q: qrels[q] for q in held})[1]["nDCG@10"])
    return {
        "nDCG@10": sum(per_query.values()) / len(per_query),
        "folds": folds,
        "weights": fold_weights,
    }


def build_ensemble(
    paths: Sequence[str],
    output: str,
    qrels: dict[str, dict[str, int]],
    normalize: str = "query-zscore",
    weights: Sequence[float] | None = None,
) -> JsonObject:
    """Write the ensemble's score file and dev run; return its report."""
    from kdbench.train.teacher import dev_run_path

    if normalize not in NORMALIZATIONS:
        raise UserError(f"--normalize {normalize!r}: choose one of {', '.join(NORMALIZATIONS)}")
    if len(paths) < 2:
        raise UserError("--scores: an ensemble needs at least two teacher-score files")
    if weights is not None and len(weights) != len(paths):
        raise UserError(f"--weights: {len(weights)} weight(s) for {len(paths)} --scores files")
    members = [read_member(p) for p in paths]
    _check_same_dev(members)
    dev_qrels = {q: qrels[q] for q in members[0].dev_run if q in qrels}
    if not dev_qrels:
        raise UserError("the members' dev queries have no qrels in --data; pass the same --data")
    runs = [_normalized_run(m.dev_run, normalize) for m in members]
    dev_of = [compute_metrics(run, dev_qrels)[0]["nDCG@10"] for run in runs]
    if weights is None:
        chosen, _ = fit_weights(runs, dev_qrels)
    else:
        chosen = tuple(float(w) for w in weights)
    dev_run = combine_runs(runs, chosen)
    rows = combine_rows([normalize_scores(m.rows, normalize) for m in members], chosen, paths)
    write_teacher_scores(output, rows)
    write_run(dev_run_path(output), dev_run, tag="ensemble")
    dev = compute_metrics(dev_run, dev_qrels)[0]
    held_out = held_out_fit(runs, dev_qrels) if weights is None else None
    return {
        "members": [
            {"scores": m.path, "weight": w, "dev": {"nDCG@10": d}}
            for m, w, d in zip(members, chosen, dev_of, strict=True)
        ],
        "normalize": normalize,
        "weights_from": "fit on the dev slice (grid step 0.1)" if weights is None else "given",
        "dev": {"nDCG@10": dev["nDCG@10"], "RR@10": dev["RR@10"]},
        **({"dev_held_out": held_out} if held_out else {}),
        "triples": len(rows),
        **scorer_summary([r.margin for r in rows]),
    }


def write_ensemble(config: EnsembleConfig) -> dict[str, Any]:
    """`kdbench teacher ensemble`: the ensemble's score file, dev run and result (OUTPUT.json)."""

    collection = load_collection(config.data, config.split)
    report = build_ensemble(
        list(config.scores), config.output, collection.qrels, config.normalize, config.weight_list()
    )
    result = new_result("teacher", config.record())
    result["teacher_report"] = report
    save_result(f"{config.output}.json", result)
    return result
