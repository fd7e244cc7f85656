"""Label-consistent teacher targets, the hybrid objective, listwise score files, ensembles on dev."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from kdbench.cli import app
from kdbench.data.runs import read_run
from kdbench.data.teacher_scores import (
    ScoredTriple,
    normalize_scores,
    read_teacher_scores,
    write_teacher_scores,
)
from kdbench.errors import UserError
from kdbench.losses.functional import floor_teacher_margins, margin_mse
from kdbench.losses.objective import Objective
from kdbench.train.config import TrainConfig
from kdbench.train.ensemble import (
    build_ensemble,
    combine_runs,
    fit_weights,
    held_out_fit,
    weight_grid,
)
from kdbench.train.teacher import TeacherConfig, dev_run_path, score_teacher
from kdbench.train.training_set import group_negatives


def test_margin_floor_keeps_agreeing_margins_and_raises_the_rest() -> None:
    teacher = torch.tensor([[3.0, 0.0, 4.0], [1.0, 0.5, 1.0]])
    floored = floor_teacher_margins(teacher, 1.0)
    # margins (3, -1) -> (3, 1); (0.5, 0) -> (1, 1): negatives lowered to positive - 1
    assert floored.tolist() == [[3.0, 0.0, 2.0], [1.0, 0.0, 0.0]]
    student = torch.tensor([[2.0, 1.0, 1.5], [0.0, 0.0, 0.0]])
    # student margins (1, 0.5), (0, 0); targets max(t, 1) = (3, 1), (1, 1)
    expected = ((1 - 3) ** 2 + (0.5 - 1) ** 2 + (0 - 1) ** 2 + (0 - 1) ** 2) / 4
    objective = Objective.named("margin-mse", margin_floor=1.0)
    assert objective(student, teacher).item() == pytest.approx(expected)
    assert margin_mse(student, floored).item() == pytest.approx(expected)


def test_hybrid_objective_adds_the_weighted_label_term() -> None:
    student = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    teacher = torch.tensor([[3.0, 0.0], [1.0, 0.0]])
    mse = ((1 - 3) ** 2 + (-2 - 1) ** 2) / 2
    ranknet = (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(2.0))) / 2
    parts = Objective.named("margin-mse", "ranknet", 0.25).terms(student, teacher)
    assert parts["loss"].item() == pytest.approx(mse)
    assert parts["label"].item() == pytest.approx(ranknet)
    assert parts["total"].item() == pytest.approx(mse + 0.25 * ranknet)


def test_listwise_kl_with_temperature_and_ce_label_term() -> None:
    student = torch.tensor([[2.0, 0.0, 1.0]])
    teacher = torch.tensor([[4.0, 2.0, 0.0]])

    def softmax(values: list[float]) -> list[float]:
        exps = [math.exp(v) for v in values]
        return [e / sum(exps) for e in exps]

    p, q = softmax([2.0, 1.0, 0.0]), softmax([1.0, 0.0, 0.5])  # teacher, student at T = 2
    kl = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
    ce = -math.log(softmax([2.0, 0.0, 1.0])[0])
    objective = Objective.named("kl", "ce", 0.5, temperature=2.0)
    assert objective(student, teacher).item() == pytest.approx(kl + 0.5 * ce, rel=1e-6)


def test_score_files_group_into_listwise_examples(caplog: pytest.LogCaptureFixture) -> None:
    rows = [ScoredTriple("q1", "p", n, 9.0, float(i)) for i, n in enumerate("abcde")]
    rows += [ScoredTriple("q2", "p", "x", 7.0, 1.0)]
    triples, teacher = group_negatives(rows, 2, "scores.tsv")
    assert [t.neg_ids for t in triples] == [("a", "b"), ("c", "d")]
    assert teacher == [(9.0, 0.0, 1.0), (9.0, 2.0, 3.0)]
    assert "2 scored negative(s) left out" in caplog.text  # e of q1, and q2's only negative


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"loss": "ranknet", "label_loss": "ce"}, "trains on labels already"),
        ({"label_loss": "margin-mse"}, "learns from a teacher"),
        ({"label_loss": "ranknet", "label_weight": math.nan}, "--label-weight: must be a finite"),
        ({"label_weight": -1.0, "label_loss": "ranknet"}, "--label-weight: must be at least 0"),
        ({"loss": "ranknet", "teacher_margin_floor": 1.0}, "has no teacher"),
        ({"teacher_margin_floor": math.inf}, "finite"),
        ({"temperature": 2.0}, "applies to --loss kl"),
    ],
)
def test_objective_settings_are_checked_up_front(changes: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"model": "m", "output": "o", "teacher_scores": ("t.tsv",)}
    if changes.get("loss") == "ranknet":
        base.pop("teacher_scores")
        base["data"] = "d"
    with pytest.raises(UserError, match=message.replace("+", r"\+")):
        TrainConfig(**{**base, **changes})


def test_weight_grid_and_fit_pick_the_best_dev_combination() -> None:
    assert all(math.isclose(sum(w), 1.0) for w in weight_grid(3))
    assert len(weight_grid(3)) == 36  # compositions of 10 into 3 positive parts: C(9, 2)
    qrels = {"q": {"good": 1}}
    right = {"q": {"good": 1.0, "bad": 0.0}}
    wrong = {"q": {"good": 0.0, "bad": 3.0}}
    weights, ndcg = fit_weights([right, wrong], qrels)
    assert ndcg == pytest.approx(1.0)
    # 'good' wins while w_right > 3 w_wrong; among the winners the fit keeps the most equal
    assert weights == (0.8, 0.2)
    assert combine_runs([right, wrong], weights)["q"]["good"] == pytest.approx(0.8)


def _score_members(scifact_dir: Path, collection: Any, tmp_path: Path, **extra: Any) -> list[str]:
    paths = []
    for name in ("bm25", "bm25-again"):
        config = TeacherConfig(
            model="bm25",
            output=str(tmp_path / f"{name}.tsv"),
            data=str(scifact_dir),
            triples_per_positive=1,
            dev_queries=5,
            **extra,
        )
        score_teacher(config, collection=collection)
        paths.append(config.output)
    return paths


def test_ensemble_of_teachers_is_fitted_on_their_dev_runs(
    scifact_dir: Path, scifact_train: Any, tmp_path: Path
) -> None:
    collection, _ = scifact_train
    paths = _score_members(scifact_dir, collection, tmp_path)
    report = build_ensemble(paths, str(tmp_path / "t2.tsv"), collection.qrels)
    # Two copies of one teacher: every weighting ranks alike, so the fit keeps them equal and
    # the ensemble's dev nDCG@10 is the member's.
    assert [m["weight"] for m in report["members"]] == [0.5, 0.5]
    assert report["dev"]["nDCG@10"] == pytest.approx(report["members"][0]["dev"]["nDCG@10"])
    member_rows = normalize_scores(read_teacher_scores(paths[0]), "query-zscore")
    ensemble_rows = read_teacher_scores(tmp_path / "t2.tsv")
    # equal weights of one teacher twice: 0.5 z + 0.5 z = z
    assert ensemble_rows[0].pos_score == pytest.approx(member_rows[0].pos_score)
    assert (
        read_run(dev_run_path(tmp_path / "t2.tsv")).keys()
        == read_run(dev_run_path(paths[0])).keys()
    )


def test_held_out_fit_scores_each_fold_with_weights_fitted_on_the_others() -> None:
    """Member A ranks the relevant passage first on queries 1 and 3, B (a little louder, so
    equal weights never tie) on 2 and 4. In 2 folds ({1, 3} and {2, 4}) each fold's weights come
    from the other, where the other member is right, so every query is scored the wrong way
    round; fitted on all four, half are right."""

    def scores(rel: float) -> dict[str, float]:
        return {"rel": rel, "non": -rel}

    a = {q: scores(1.0 if q in "13" else -1.0) for q in "1234"}
    b = {q: scores(-1.1 if q in "13" else 1.1) for q in "1234"}
    qrels = {q: {"rel": 1} for q in "1234"}
    second = 1 / math.log2(3)  # nDCG@10 with the one relevant passage at rank 2

    held_out = held_out_fit([a, b], qrels, folds=2)
    assert held_out is not None
    assert held_out["nDCG@10"] == pytest.approx(second)
    # the grid's weights nearest to equal that rank the fitted fold right: on {2, 4} B's
    # loudness already wins at 0.5 each; on {1, 3} A needs 0.6
    assert held_out["weights"] == [[0.5, 0.5], [0.6, 0.4]]
    _, in_sample = fit_weights([a, b], qrels)
    assert in_sample == pytest.approx((1 + 1 + second + second) / 4)
    assert held_out_fit([a, b], qrels, folds=3) is None  # fewer than 2 queries a fold


def test_ensemble_cli_and_missing_dev_run(
    scifact_dir: Path, scifact_train: Any, tmp_path: Path
) -> None:
    collection, _ = scifact_train
    paths = _score_members(scifact_dir, collection, tmp_path)
    out = tmp_path / "t2.tsv"
    args = ["teacher", "ensemble", "--data", str(scifact_dir), "--output", str(out)]
    result = CliRunner().invoke(
        app, [*args, "--scores", paths[0], "--scores", paths[1], "--weights", "0.3,0.7"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(Path(f"{out}.json").read_text())["teacher_report"]
    assert [m["weight"] for m in report["members"]] == [0.3, 0.7]
    lonely = write_teacher_scores(tmp_path / "lonely.tsv", [ScoredTriple("0", "a", "b", 1.0, 0.0)])
    from kdbench.cli import main

    code = main([*args, "--scores", paths[0], "--scores", str(lonely)])
    assert code == 2


def test_bm25_teachers_dev_ndcg_is_bm25s_on_the_dev_slice(
    scifact_dir: Path, scifact_train: Any, tmp_path: Path
) -> None:
    """Also with --negatives-run: validation always re-ranks BM25's candidates."""
    collection, run = scifact_train
    negatives = tmp_path / "negatives.run"
    # a candidate run that is not BM25: every query's BM25 list in reverse order
    negatives.write_text(
        "".join(
            f"{qid} Q0 {doc} {rank} {-score!r} rev\n"
            for qid, docs in run.items()
            for rank, (doc, score) in enumerate(docs.items(), start=1)
        )
    )
    config = TeacherConfig(
        model="bm25",
        output=str(tmp_path / "bm25.tsv"),
        data=str(scifact_dir),
        triples_per_positive=1,
        dev_queries=5,
        seed=7,
        negatives_run=str(negatives),
    )
    teacher_dev = score_teacher(config, collection=collection)["teacher_report"]["dev"]
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--data",
            str(scifact_dir),
            "--split",
            "train",
            "--model",
            "bm25",
            "--dev-queries",
            "5",
            "--seed",
            "7",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    evaluated = json.loads(out.read_text())
    assert evaluated["queries"] == 5
    assert teacher_dev["nDCG@10"] == pytest.approx(evaluated["metrics"]["nDCG@10"], abs=1e-9)


def test_train_records_the_hybrid_objective_and_floored_pairs(
    tiny_bert_dir: Path, scifact_dir: Path, tmp_path: Path
) -> None:
    rows = [
        ScoredTriple("0", "31715818", neg, pos, neg_score)
        for neg, pos, neg_score in (("4983", 2.0, 0.0), ("5836", 1.0, 3.0), ("7912", 1.0, 0.5))
    ]
    scores = write_teacher_scores(tmp_path / "t.tsv", rows)
    options = (
        "--arch dot --loss margin-mse --label-loss ranknet --label-weight 0.5 "
        "--teacher-margin-floor 1.0 --steps 1 --batch-size 3 --dev-queries 0 "
        "--max-query-len 12 --max-doc-len 24 --quiet"
    )
    result = CliRunner().invoke(
        app,
        [
            "train",
            *options.split(),
            "--data",
            str(scifact_dir),
            "--model",
            str(tiny_bert_dir),
            "--teacher-scores",
            str(scores),
            "--output",
            str(tmp_path / "student"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "student/training.json").read_text())
    assert summary["config"]["label_loss"] == "ranknet"
    assert summary["config"]["label_weight"] == 0.5
    teacher = summary["teacher_report"]["teacher"]
    assert (teacher["contradicted"], teacher["floored"]) == (1, 2)  # margins 2, -2, 0.5
