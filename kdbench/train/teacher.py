"""`kdbench teacher score`: score training triples with any scorer into the paper's teacher format.

A teacher is a trained `cat`, any other ranker, or BM25 (`--model bm25`). Without `--triples`
the triples are mined exactly as `kdbench train` mines them (same options, same seed), so the
score file trains a student on the triples the teacher saw. Beside SCORES.tsv goes
SCORES.tsv.json (a result of kind "teacher"): the teacher's pairwise accuracy on the triples,
its margin distribution and its dev-slice nDCG@10, which `kdbench train` copies into the
student's report.

Cross-fitting (`--folds K`): a teacher trained on the triples it scores is over-confident on
them. With K folds of the train queries, K teachers are trained from `--model`, each on K-1
folds, and each scores only its held-out fold.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from kdbench import distributed
from kdbench.data.collection import Collection
from kdbench.data.load import load_collection
from kdbench.data.runs import write_run
from kdbench.data.teacher_scores import ScoredTriple, write_teacher_scores
from kdbench.data.triples import Triple, write_id_triples
from kdbench.errors import UserError
from kdbench.hashing import config_hash
from kdbench.models.base import RankerModule
from kdbench.models.encode import rich_progress
from kdbench.models.load import load_model
from kdbench.results import new_result, save_result
from kdbench.retrieval.bm25 import BM25
from kdbench.shards import Parts, format_pair_scores, item_range, parse_pair_scores
from kdbench.train.config import TeacherConfig, TrainConfig
from kdbench.train.loop import train
from kdbench.train.report import scorer_summary
from kdbench.train.training_set import TrainingData, TrainingSet, load_training_set
from kdbench.train.validation import (
    dev_metrics,
    dev_pairs,
    rerank_dev,
    score_dev_pairs,
    validate,
)

log = logging.getLogger("kdbench")


def _unique_pairs(triples: list[Triple]) -> list[tuple[str, str]]:
    """Every (qid, doc) pair the triples need, once (a positive recurs in many triples)."""
    seen: dict[tuple[str, str], None] = {}
    for t in triples:
        for doc in t.doc_ids:
            seen.setdefault((t.qid, doc), None)
    return list(seen)


def _scored_rows(
    triples: list[Triple], pair_scores: dict[tuple[str, str], float]
) -> list[ScoredTriple]:
    return [
        ScoredTriple(
            t.qid, t.pos_id, neg, pair_scores[(t.qid, t.pos_id)], pair_scores[(t.qid, neg)]
        )
        for t in triples
        for neg in t.neg_ids
    ]


def model_pair_scores(
    ranker: RankerModule,
    training_set: TrainingSet,
    pairs: list[tuple[str, str]],
    batch_size: int,
    progress: Any = None,
) -> dict[tuple[str, str], float]:
    """Model scores of (qid, doc) pairs, in batches of `batch_size`."""

    run = score_dev_pairs(ranker, training_set, pairs, batch_size, progress)
    return {(qid, doc): run[qid][doc] for qid, doc in pairs}


def bm25_pair_scores(
    collection: Collection | None, training_set: TrainingSet, pairs: list[tuple[str, str]]
) -> dict[tuple[str, str], float]:
    """BM25 scores of (qid, doc) pairs with the first stage `evaluate` uses (same analysis, same k1/b)."""

    if collection is None:
        raise UserError("--model bm25 needs --data: BM25 statistics come from the collection")
    bm25 = BM25(collection.docs)
    by_query: dict[str, list[str]] = {}
    for qid, doc in pairs:
        by_query.setdefault(qid, []).append(doc)
    scores: dict[tuple[str, str], float] = {}
    for qid, docs in by_query.items():
        try:
            values = bm25.score_docs(training_set.queries[qid], docs)
        except KeyError as missing:
            raise UserError(
                f"passage {missing.args[0]!r} is not in the BM25 index of --data; score with the "
                "collection the triples came from"
            ) from None
        scores.update(((qid, doc), value) for doc, value in zip(docs, values, strict=True))
    return scores


@contextlib.contextmanager
def _progress(total: int, description: str, quiet: bool) -> Iterator[Callable[[int], None] | None]:
    if quiet:
        yield None
        return

    with rich_progress(total, description) as advance:
        yield advance


def _fold_of(qids: list[str], folds: int, seed: int) -> dict[str, int]:
    """Queries to folds: a seeded shuffle dealt round-robin, so folds differ in size by at most one.

    >>> _fold_of(["a", "b", "c", "d"], 2, seed=0)
    {'c': 0, 'a': 1, 'b': 0, 'd': 1}
    """
    shuffled = sorted(qids)
    random.Random(seed).shuffle(shuffled)
    return {qid: i % folds for i, qid in enumerate(shuffled)}


def score_teacher(config: TeacherConfig, *, collection: Collection | None = None) -> dict[str, Any]:
    """Write config.output (teacher scores), config.output + ".dev.run" (the teacher's scores of
    the dev slice's candidates, for fitting ensembles on dev) and config.output + ".json" (the
    teacher report); return the report.

    Under torchrun every rank scores its share (see `_score_sharded`); rank 0 writes the
    files and returns the report, the other ranks return {}.
    """
    if collection is None and config.data is not None:
        collection = load_collection(config.data, config.split)
    training_set = load_training_set(
        TrainingData.of(config.training_config()), collection=collection
    )
    pairs = _unique_pairs(training_set.triples)
    context = distributed.setup(config.device, timeout=distributed.SHARDED_WAIT)
    try:
        if context.enabled:
            return _score_sharded(config, training_set, collection, pairs, context)
        return _score_and_report(config, training_set, collection, pairs, context.device)
    finally:
        distributed.teardown(context)


def _score_and_report(
    config: TeacherConfig,
    training_set: TrainingSet,
    collection: Collection | None,
    pairs: list[tuple[str, str]],
    device: torch.device,
    sharded: tuple[dict[tuple[str, str], float], dict[str, dict[str, float]], dict[str, Any]]
    | None = None,
    split: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score (unless `sharded` brings the merged scores, dev run and scorer), write the score
    file, its dev run and its report (with `split`: how torchrun's ranks shared the work)."""
    report: dict[str, Any] = {"pairs_scored": len(pairs), "triples": len(training_set.triples)}
    if sharded is not None:
        scores, dev_run, report["scorer"] = sharded
    elif config.model == "bm25":
        scores = bm25_pair_scores(collection, training_set, pairs)
        dev_run = dict(training_set.dev_run)  # BM25's own candidates and scores
        report["scorer"] = {"model": "bm25"}
    elif config.folds:
        scores, dev_run, report["folds"] = _cross_fit(config, training_set, pairs, device)
        report["scorer"] = {
            "model": config.model,
            "arch": config.arch,
            "cross_fitted_folds": config.folds,
        }
    else:
        scores, dev_run, report["scorer"] = _model_scores(config, training_set, pairs, device)
    rows = _scored_rows(training_set.triples, scores)
    write_teacher_scores(config.output, rows)
    report.update(scorer_summary([r.margin for r in rows]))
    report["dev"] = dev_metrics(dev_run, training_set) if training_set.dev_qids else None
    if training_set.dev_qids:
        write_run(dev_run_path(config.output), dev_run, tag="teacher")
    if config.compare_student is not None:
        report["student_dev"] = _student_dev(config, training_set, device)
        report["warnings"] = _teacher_vs_student(report["dev"], report["student_dev"])
        for note in report["warnings"]:
            log.warning("teacher: %s", note)
    result = new_result("teacher", dataclasses.asdict(config))
    result["data"] = training_set.source
    result["teacher_report"] = report
    result["units"] = {
        "teacher_report.dev.nDCG@10": "mean over dev-slice queries",
        "teacher_report.pairwise_accuracy": "fraction of triples",
    }
    if split is not None:
        result["distributed"] = split
    save_result(str(config.output) + ".json", result)
    return result


def dev_run_path(scores: str | Path) -> Path:
    """Where a teacher-score file's dev-slice run lives (beside it)."""
    return Path(str(scores) + ".dev.run")


def _model_scores(
    config: TeacherConfig,
    training_set: TrainingSet,
    pairs: list[tuple[str, str]],
    device: torch.device,
) -> tuple[dict[tuple[str, str], float], dict[str, dict[str, float]], dict[str, Any]]:
    """A model's scores of the training pairs and of the dev candidates, and what it was."""

    # A plain encoder gets a fresh head (cat, colbert's projection): drawn from --seed, so the
    # same command scores the same (a rerun after a crash included).
    torch.manual_seed(config.seed)
    ranker = config.load(config.model, device=str(device))
    with _progress(
        len(pairs), f"teacher: scoring {len(pairs)} (query, passage) pairs", config.quiet
    ) as advance:
        scores = model_pair_scores(ranker, training_set, pairs, config.batch_size, advance)
    dev_run = rerank_dev(ranker, training_set, config.batch_size) if training_set.dev_qids else {}
    scorer = {"model": config.model, "arch": ranker.arch, "spec": ranker.spec.to_dict()}
    return scores, dev_run, scorer


def _student_dev(
    config: TeacherConfig, training_set: TrainingSet, device: torch.device
) -> dict[str, Any]:
    """The comparison student's nDCG@10 on the teacher's dev slice (same candidates)."""

    if not training_set.dev_qids:
        raise UserError("--compare-student needs a dev slice: pass --data and --dev-queries N")
    student = load_model(
        str(config.compare_student),
        device=str(device),
        allow_pickle=config.allow_pickle,
        trust_remote_code=config.trust_remote_code,
    )
    return {"model": config.compare_student, **validate(student, training_set, config.batch_size)}


def _teacher_vs_student(teacher: dict[str, float] | None, student: dict[str, Any]) -> list[str]:
    """A warning when the teacher is no better than the student on the dev slice.

    >>> _teacher_vs_student({"nDCG@10": 0.60}, {"nDCG@10": 0.65, "model": "dot6"})
    ['the teacher (dev nDCG@10 0.6000) is not better than the student dot6 (0.6500) on the dev slice: distilling it may make the student worse']
    """
    if teacher is None or teacher["nDCG@10"] > student["nDCG@10"]:
        return []
    return [
        f"the teacher (dev nDCG@10 {teacher['nDCG@10']:.4f}) is not better than the student "
        f"{student['model']} ({student['nDCG@10']:.4f}) on the dev slice: distilling it may make "
        "the student worse"
    ]


def _fold_training_config(config: TeacherConfig, output: Path, triples: Path) -> TrainConfig:
    """How one fold teacher trains: `--fold-*` settings (`--fold-steps` is its `steps`...), on
    the id triples of the other folds, no dev slice of its own."""
    fold_settings = {
        f.name.removeprefix("fold_"): getattr(config, f.name)
        for f in dataclasses.fields(config)
        if f.name.startswith("fold_")
    }
    passed_on = {name: getattr(config, name) for name in ("layers", "device", "quiet")}
    return config.training_config(
        output=str(output),
        triples=str(triples),
        dev_queries=0,
        resume=True,
        **passed_on,
        **fold_settings,
    )


def _cross_fit(
    config: TeacherConfig,
    training_set: TrainingSet,
    pairs: list[tuple[str, str]],
    device: torch.device,
) -> tuple[dict[tuple[str, str], float], dict[str, dict[str, float]], list[Any]]:

    fold_of = _fold_of(sorted({t.qid for t in training_set.triples}), config.folds, config.seed)
    work = Path(str(config.output) + ".folds")
    scores: dict[tuple[str, str], float] = {}
    folds: list[dict[str, Any]] = []
    dev_runs: list[dict[str, dict[str, float]]] = []
    for fold in range(config.folds):
        train_triples = [t for t in training_set.triples if fold_of[t.qid] != fold]
        held_out = [t for t in training_set.triples if fold_of[t.qid] == fold]
        triples_file = work / f"fold-{fold + 1}.train.tsv"
        write_id_triples(triples_file, train_triples)
        fold_config = _fold_training_config(config, work / f"fold-{fold + 1}", triples_file)
        log.info(
            "teacher fold %d/%d: training on %d triples, scoring %d",
            fold + 1,
            config.folds,
            len(train_triples),
            len(held_out),
        )
        result = train(fold_config)
        ranker = load_model(result.output, device=str(device))
        held_pairs = [p for p in pairs if fold_of[p[0]] == fold]
        scores.update(model_pair_scores(ranker, training_set, held_pairs, config.batch_size))
        metrics = None
        if training_set.dev_qids:
            dev_runs.append(rerank_dev(ranker, training_set, config.batch_size))
            metrics = dev_metrics(dev_runs[-1], training_set)
        folds.append(
            {
                "fold": fold + 1,
                "model": str(result.output),
                "train_triples": len(train_triples),
                "scored_triples": len(held_out),
                "dev": metrics,
            }
        )
    # The fold teachers together score the dev slice as their mean (the dev queries are
    # trained on by none of them).
    dev_run = {
        qid: {doc: sum(run[qid][doc] for run in dev_runs) / len(dev_runs) for doc in docs}
        for qid, docs in (dev_runs[0].items() if dev_runs else [])
    }
    return scores, dev_run, folds


PairScores = dict[tuple[str, str], float]


def parts_folder(scores: str | Path) -> Path:
    """Where the ranks of `torchrun ... teacher score` write their parts (beside the output)."""
    return Path(str(scores) + ".parts")


def _score_sharded(
    config: TeacherConfig,
    training_set: TrainingSet,
    collection: Collection | None,
    pairs: list[tuple[str, str]],
    context: distributed.DistContext,
) -> dict[str, Any]:
    """Each rank scores a contiguous share of the pairs (whole batches of `--batch-size`, so
    every batch is one a single process runs: the same bits) into a part file; rank 0 merges
    the parts in order and writes what one process writes. A relaunch skips finished parts."""
    if config.folds:
        raise UserError(
            "--folds trains one teacher per fold: run it in one process, not under torchrun"
        )
    job = {**dataclasses.asdict(config), "quiet": None, "pairs": len(pairs)}
    folder = parts_folder(config.output)

    def parts(name: str) -> Parts:
        return Parts(folder, name, context.world_size, config_hash({**job, "part": name}))

    if config.model == "bm25":
        train_scores = _share_scores(
            context,
            parts("train"),
            pairs,
            config.batch_size,
            lambda share: bm25_pair_scores(collection, training_set, share),
        )
        dev_run = dict(training_set.dev_run)
        scorer: dict[str, Any] = {"model": "bm25"}
    else:
        torch.manual_seed(config.seed)  # a fresh head: the same draw on every rank
        ranker = config.load(config.model, device=str(context.device))
        quiet = config.quiet or not context.is_main

        def model_scores(share: list[tuple[str, str]]) -> PairScores:
            with _progress(
                len(share), f"teacher: rank {context.rank} scoring {len(share)} pairs", quiet
            ) as advance:
                return model_pair_scores(ranker, training_set, share, config.batch_size, advance)

        train_scores = _share_scores(
            context, parts("train"), pairs, config.batch_size, model_scores
        )
        dev_scores = _share_scores(
            context, parts("dev"), dev_pairs(training_set), config.batch_size, model_scores
        )
        dev_run = {qid: {} for qid in training_set.dev_qids}
        for (qid, doc), score in (dev_scores or {}).items():
            dev_run[qid][doc] = score
        scorer = {"model": config.model, "arch": ranker.arch, "spec": ranker.spec.to_dict()}
    if not context.is_main:
        return {}
    assert train_scores is not None
    # How the work was split, and each rank's rate (a part kept from an earlier launch keeps
    # the rate it was scored at).
    split = {
        "world_size": context.world_size,
        "unit": f"--batch-size {config.batch_size} pairs",
        "ranks": parts("train").records(),
        "units": {"seconds": "s (wall clock, scoring only)", "pairs_per_s": "pairs/s"},
    }
    result = _score_and_report(
        config,
        training_set,
        collection,
        pairs,
        context.device,
        sharded=(train_scores, dev_run, scorer),
        split=split,
    )
    for name in ("train", "dev"):
        parts(name).remove()
    return result


def _share_scores(
    context: distributed.DistContext,
    parts: Parts,
    pairs: list[tuple[str, str]],
    unit: int,
    score: Callable[[list[tuple[str, str]]], PairScores],
) -> PairScores | None:
    """This rank's share of `pairs` scored into its part (unless done); on rank 0 every
    part merged in pair order, None on the others."""
    mine = item_range(len(pairs), unit, context.rank, context.world_size)
    share = pairs[mine.start : mine.stop]
    if parts.done(context.rank):
        log.info("rank %d: %s already scored, kept", context.rank, parts.path(context.rank))
    else:
        with parts.writing(context.rank) as record:
            started = time.perf_counter()
            scores = score(share) if share else {}
            seconds = time.perf_counter() - started
            rows = [(qid, doc, scores[(qid, doc)]) for qid, doc in share]
            record.update(
                text=format_pair_scores(rows),
                rank=context.rank,
                first=mine.start,
                pairs=len(share),
                seconds=round(seconds, 4),
                pairs_per_s=round(len(share) / seconds, 2) if share and seconds > 0 else None,
            )
    distributed.barrier(context)
    if not context.is_main:
        return None
    merged: PairScores = {}
    for text in parts.read_all():
        merged.update(((qid, doc), value) for qid, doc, value in parse_pair_scores(text))
    return merged
