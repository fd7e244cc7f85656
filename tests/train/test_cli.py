"""`kdbench train` + `kdbench teacher score` end to end on SciFact with the tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kdbench.cli import app
from kdbench.data.teacher_scores import ScoredTriple, read_teacher_scores, write_teacher_scores
from kdbench.data.triples import read_id_triples
from kdbench.evaluate.metrics import compute_metrics
from kdbench.train import TrainConfig, train
from kdbench.train.teacher import TeacherConfig, score_teacher
from kdbench.train.training_set import TrainingData, load_training_set

SHORT = [
    "--max-query-len",
    "12",
    "--max-doc-len",
    "24",
    "--triples-per-positive",
    "1",
    "--dev-queries",
    "5",
]


def invoke(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_the_documented_sequence_runs_end_to_end(
    tiny_bert_dir: Path, scifact_dir: Path, tmp_path: Path
) -> None:
    data, teacher, scores = str(scifact_dir), tmp_path / "teacher", tmp_path / "scores.tsv"
    student, out = tmp_path / "student", tmp_path / "out.json"
    invoke(
        [
            "train",
            "--data",
            data,
            "--model",
            str(tiny_bert_dir),
            "--arch",
            "cat",
            "--loss",
            "ranknet",
            "--steps",
            "2",
            "--output",
            str(teacher),
            "--batch-size",
            "4",
            "--validate-depth",
            "8",
            "--quiet",
            *SHORT,
        ]
    )
    printed = invoke(
        [
            "teacher",
            "score",
            "--data",
            data,
            "--model",
            str(teacher),
            "--arch",
            "cat",
            "--output",
            str(scores),
            "--triples-per-positive",
            "1",
            "--dev-queries",
            "5",
        ]
    )
    assert "pairwise accuracy" in printed and "dev nDCG@10" in printed
    invoke(
        [
            "train",
            "--data",
            data,
            "--model",
            str(tiny_bert_dir),
            "--arch",
            "dot",
            "--layers",
            "2",
            "--loss",
            "margin-mse",
            "--teacher-scores",
            str(scores),
            "--steps",
            "2",
            "--output",
            str(student),
            "--batch-size",
            "4",
            "--validate-depth",
            "8",
            "--quiet",
            *SHORT,
        ]
    )
    invoke(
        [
            "evaluate",
            "--data",
            data,
            "--split",
            "test",
            "--model",
            str(student),
            "--output",
            str(out),
            "--queries",
            "10",
        ]
    )

    # The teacher scored exactly the triples `train` mines with the same options, dev queries left out.
    rows = read_teacher_scores(scores)
    mined = load_training_set(
        TrainingData.of(
            TrainConfig(
                model="m",
                output="o",
                loss="ranknet",
                data=data,
                triples_per_positive=1,
                dev_queries=5,
            )
        )
    )
    assert [(r.qid, r.pos_id, r.neg_id) for r in rows] == [
        (t.qid, t.pos_id, t.neg_ids[0]) for t in mined.triples
    ]
    assert not {r.qid for r in rows} & set(mined.dev_qids)
    sidecar = json.loads(Path(f"{scores}.json").read_text())
    assert sidecar["kind"] == "teacher"
    report = sidecar["teacher_report"]
    assert report["pairwise_accuracy"] == pytest.approx(sum(r.margin > 0 for r in rows) / len(rows))
    assert set(report["dev"]) == {"nDCG@10", "RR@10"}

    summary = json.loads((student / "training.json").read_text())
    assert summary["status"] == "completed" and summary["data"]["teacher_scores"] == [str(scores)]
    assert summary["teacher_report"]["teacher"]["files"][str(scores)]["dev"] == report["dev"]
    assert summary["model"]["arch"] == "dot" and summary["model"]["layers"] == 2
    evaluated = json.loads(out.read_text())
    assert evaluated["kind"] == "evaluate" and 0.0 <= evaluated["metrics"]["nDCG@10"] <= 1.0


def test_bm25_teacher_scores_are_bm25s(
    scifact_dir: Path, scifact_train: Any, tmp_path: Path
) -> None:
    collection, run = scifact_train
    config = TeacherConfig(
        model="bm25",
        output=str(tmp_path / "bm25.tsv"),
        data=str(scifact_dir),
        triples_per_positive=1,
        dev_queries=5,
    )
    result = score_teacher(config, collection=collection)
    rows = read_teacher_scores(tmp_path / "bm25.tsv")
    checked = 0
    for row in rows:
        for doc, score in ((row.pos_id, row.pos_score), (row.neg_id, row.neg_score)):
            if doc in run[row.qid]:
                assert score == pytest.approx(run[row.qid][doc], rel=1e-6)
                checked += 1
    assert checked > len(rows)  # every negative comes from the BM25 top 50, so it is checked
    training_set = load_training_set(
        TrainingData.of(config.training_config()), collection=collection
    )
    expected = compute_metrics(training_set.dev_run, training_set.dev_qrels)[0]["nDCG@10"]
    assert result["teacher_report"]["dev"]["nDCG@10"] == pytest.approx(expected)


def test_cross_fitted_teacher_never_scores_its_own_training_queries(
    tiny_bert_dir: Path, scifact_dir: Path, scifact_train: Any, tmp_path: Path
) -> None:
    collection, _ = scifact_train
    output = tmp_path / "crossfit.tsv"
    config = TeacherConfig(
        model=str(tiny_bert_dir),
        arch="cat",
        output=str(output),
        data=str(scifact_dir),
        triples_per_positive=1,
        dev_queries=5,
        folds=2,
        fold_steps=1,
        fold_batch_size=4,
        fold_max_query_len=12,
        fold_max_doc_len=24,
        quiet=True,
    )
    result = score_teacher(config, collection=collection)
    folds = result["teacher_report"]["folds"]
    trained_on = [
        {t.qid for t in read_id_triples(tmp_path / f"crossfit.tsv.folds/fold-{i}.train.tsv")}
        for i in (1, 2)
    ]
    rows = read_teacher_scores(output)
    scored = {r.qid for r in rows}
    # Each query is in exactly one fold's training file, so the other fold's teacher scored it.
    assert not trained_on[0] & trained_on[1] and trained_on[0] | trained_on[1] == scored
    assert sum(f["scored_triples"] for f in folds) == len(rows)
    assert [f["train_triples"] for f in folds] == [f["scored_triples"] for f in reversed(folds)]


def test_teacher_ensemble_and_text_triples(
    tiny_bert_dir: Path, scifact_dir: Path, tmp_path: Path
) -> None:
    a = write_teacher_scores(tmp_path / "a.tsv", [ScoredTriple("0", "31715818", "4983", 4.0, 0.0)])
    b = write_teacher_scores(tmp_path / "b.tsv", [ScoredTriple("0", "31715818", "4983", 2.0, 1.0)])
    config = TrainConfig(
        model="m", output="o", data=str(scifact_dir), teacher_scores=(str(a), str(b)), dev_queries=0
    )
    training_set = load_training_set(TrainingData.of(config))
    assert training_set.teacher_scores == [(3.0, 0.5)]
    queries, docs, teacher = training_set.batch([0])
    assert (
        queries[0].startswith("0-dimensional biomaterials")
        and len(docs[0]) == 2
        and teacher == [(3.0, 0.5)]
    )

    options = (
        "--arch dot --loss mse --teacher-normalize zscore --steps 1 --batch-size 2 --dev-queries 0"
    )
    paths = ["--data", scifact_dir, "--model", tiny_bert_dir, "--output", tmp_path / "ensemble"]
    teachers = ["--teacher-scores", a, "--teacher-scores", b]
    invoke(["train", *options.split(), *map(str, paths + teachers), *SHORT[:4], "--quiet"])
    summary = json.loads((tmp_path / "ensemble/training.json").read_text())
    assert summary["data"]["teacher_scores"] == [str(a), str(b)]
    assert summary["data"]["teacher_normalize"] == "zscore"
    z_margin = summary["teacher_report"]["teacher"]["margin"]["mean"]
    assert z_margin == pytest.approx(2.0)  # each teacher's scores z-score to (1, -1)

    text = tmp_path / "text.tsv"
    text.write_text(
        "".join(f"query {i} about cells\tcells divide {i}\tstars shine {i}\n" for i in range(8))
    )
    result = train(
        TrainConfig(
            model=str(tiny_bert_dir),
            output=str(tmp_path / "out"),
            arch="dot",
            loss="ce",
            triples=str(text),
            steps=2,
            batch_size=4,
            max_query_len=12,
            max_doc_len=24,
            quiet=True,
        )
    )
    assert result.status == "completed" and result.summary["data"]["triples_format"] == "text"
