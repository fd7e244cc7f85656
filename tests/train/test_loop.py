"""The training loop on a tiny model: resume, signals, NaN, accumulation, DDP, early stopping, scale."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from kdbench.cli import main
from kdbench.data.teacher_scores import ScoredTriple, write_teacher_scores
from kdbench.data.triples import Triple, mine_triples, write_id_triples
from kdbench.errors import UserError
from kdbench.models import load_model
from kdbench.train import TrainingDiverged, read_log, train
from kdbench.train.loop import lr_factor
from tests.helpers import cli_options

from .conftest import tiny_config


def losses(output: Path) -> list[tuple[int, float, float, float]]:
    return [
        (e["step"], e["loss"], e["lr"], e["grad_norm"])
        for e in read_log(output)
        if e.get("event") is None
    ]


def weights(folder: Path) -> dict[str, torch.Tensor]:
    tensors = load_file(str(folder / "model.safetensors"))
    if (folder / "head.safetensors").exists():
        tensors |= {f"head:{k}": v for k, v in load_file(str(folder / "head.safetensors")).items()}
    return tensors


def assert_same_curve(
    expected: list[tuple[int, float, float, float]],
    actual: list[tuple[int, float, float, float]],
    grad_norm_rel: float,
) -> None:
    """Step for step the same loss (to 1e-5), learning rate and gradient norm (to `grad_norm_rel`)."""
    for (_, loss_a, lr_a, norm_a), (_, loss_b, lr_b, norm_b) in zip(expected, actual, strict=True):
        assert (
            loss_b == pytest.approx(loss_a, rel=1e-5)
            and lr_a == lr_b
            and norm_b == pytest.approx(norm_a, rel=grad_norm_rel)
        )


def mined_triples(scifact_train: Any, queries: int, triples_per_positive: int) -> list[Triple]:
    """Triples mined from the BM25 run (depth 20) for the first `queries` train queries by id."""
    collection, run = scifact_train
    return mine_triples(
        collection.qrels,
        run,
        sorted(collection.queries)[:queries],
        depth=20,
        triples_per_positive=triples_per_positive,
        seed=0,
    )


def assert_same_weights(a: Path, b: Path, atol: float = 0.0) -> None:
    """Equal weights; `atol` allows float summation-order noise, which Adam's normalised steps amplify
    to ~1e-6 on parameters with near-zero gradients (lr 1e-3, a few steps)."""
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(
            wa[key], wb[key], atol=atol, rtol=0.0 if atol == 0 else 1e-5, msg=key
        )


def test_learning_rate_schedule() -> None:
    assert [lr_factor(s, 0, 4) for s in range(4)] == [1.0, 0.75, 0.5, 0.25]
    assert [lr_factor(s, 4, 4) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_then_resume_repeats_the_uninterrupted_curve(
    signum: int, tiny_bert_dir: Path, scifact_dir: Path, scifact_train: Any, tmp_path: Path
) -> None:
    collection, run = scifact_train
    # Dropout stays on: the resumed run must also restore the RNG streams.
    config = tiny_config(
        tiny_bert_dir, tmp_path / "a", scifact_dir, checkpoint_every=2, validate_every=3
    )
    whole = train(config, collection=collection, run=run)
    assert whole.status == "completed" and whole.steps_done == 6

    def interrupt(step: int, loss: float) -> None:
        if step == 3:
            signal.raise_signal(signum)

    cut = dataclasses.replace(config, output=str(tmp_path / "b"))
    handler = signal.getsignal(signal.SIGINT)  # default_int_handler; SIG_IGN in a background job
    first = train(cut, collection=collection, run=run, on_step=interrupt)
    assert first.status == "interrupted" and first.steps_done == 3
    assert (tmp_path / "b/checkpoints/step-0000003/trainer_state.safetensors").exists()
    assert not (tmp_path / "b/kdbench.json").exists()  # no final model yet
    assert signal.getsignal(signal.SIGINT) is handler  # handlers restored

    resumed = train(dataclasses.replace(cut, resume=True), collection=collection, run=run)
    assert resumed.status == "completed" and resumed.steps_done == 6
    assert losses(tmp_path / "b") == losses(tmp_path / "a")  # bit for bit, steps 1-6
    validations = [{k: v for k, v in e.items()} for e in read_log(tmp_path / "a") if e.get("event")]
    assert [e for e in read_log(tmp_path / "b") if e.get("event")] == validations
    assert_same_weights(tmp_path / "a", tmp_path / "b")
    summary = json.loads((tmp_path / "b/training.json").read_text())
    assert summary["kind"] == "train" and summary["status"] == "completed"
    assert (
        summary["teacher_report"]["student_before"]
        == whole.summary["teacher_report"]["student_before"]
    )
    # Every checkpoint loads like any model folder.
    assert load_model(tmp_path / "b/checkpoints/step-0000004").arch == "cat"
    assert load_model(tmp_path / "b").spec.max_doc_len == 24


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(
    tiny_bert_dir: Path,
    scifact_dir: Path,
    scifact_train: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import kdbench.losses.functional as functional

    collection, run = scifact_train
    real = functional.ranknet
    calls = {"n": 0}

    def nan_at_third_step(
        student: torch.Tensor, teacher: torch.Tensor | None = None
    ) -> torch.Tensor:
        calls["n"] += 1
        loss = real(student, teacher)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(functional, "ranknet", nan_at_third_step)
    config = tiny_config(tiny_bert_dir, tmp_path / "out", scifact_dir, checkpoint_every=2)
    with pytest.raises(
        TrainingDiverged,
        match=r"loss is nan at step 3: training stopped; the last good "
        r"checkpoint is .*step-0000002; lower --learning-rate",
    ) as info:
        train(config, collection=collection, run=run)
    assert isinstance(info.value, UserError)  # the CLI prints it as one line, exit code 2
    assert not (tmp_path / "out/kdbench.json").exists()
    assert [e["step"] for e in read_log(tmp_path / "out")] == [1, 2, 3]
    assert read_log(tmp_path / "out")[-1]["event"] == "diverged"
    good = tmp_path / "out/checkpoints/step-0000002"
    assert [p.name for p in (tmp_path / "out/checkpoints").iterdir()] == [good.name]
    assert load_model(good).arch == "cat"
    assert all(torch.isfinite(w).all() for w in weights(good).values())


def test_gradient_accumulation_matches_the_full_batch(
    tiny_bert_dir: Path, scifact_dir: Path, scifact_train: Any, tmp_path: Path
) -> None:
    collection, run = scifact_train
    config = tiny_config(
        tiny_bert_dir, tmp_path / "full", scifact_dir, steps=3, dropout=0.0, dev_queries=0
    )
    train(config, collection=collection, run=run)
    train(
        dataclasses.replace(config, output=str(tmp_path / "accum"), grad_accum=2),
        collection=collection,
        run=run,
    )
    full, accum = losses(tmp_path / "full"), losses(tmp_path / "accum")
    assert [s for s, *_ in accum] == [1, 2, 3]
    assert_same_curve(full, accum, grad_norm_rel=1e-4)
    # the cat head (pooler + classifier) amplifies the same noise; lr 1e-3 moves weights ~3e-3
    assert_same_weights(tmp_path / "full", tmp_path / "accum", atol=3e-5)


def test_two_process_ddp_matches_one_process_on_the_same_global_batch(
    tiny_bert_dir: Path, scifact_dir: Path, scifact_train: Any, tmp_path: Path
) -> None:
    triples = mined_triples(scifact_train, queries=30, triples_per_positive=2)
    triples_file = write_id_triples(tmp_path / "triples.tsv", triples)
    args = ["train", *cli_options(
        data=scifact_dir, triples=triples_file, model=tiny_bert_dir, arch="dot", loss="ranknet",
        steps=3, batch_size=4, dropout=0, max_query_len=12, max_doc_len=24, dev_queries=0,
        learning_rate="1e-3", device="cpu", quiet=True,
    )]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launched = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "kdbench",
            *args,
            "--output",
            str(tmp_path / "ddp"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]
    assert main([*args, "--output", str(tmp_path / "single")]) == 0
    ddp, single = losses(tmp_path / "ddp"), losses(tmp_path / "single")
    assert [s for s, *_ in ddp] == [1, 2, 3]
    # Step 1: the same loss, and the same gradient norm up to float summation order (two ranks pad
    # their halves of the batch to different lengths and gloo sums their gradients in another order).
    assert ddp[0][:3] == single[0][:3]
    assert ddp[0][3] == pytest.approx(single[0][3], rel=1e-5)
    # Later steps differ by float summation order only, which Adam's normalised updates amplify a little.
    assert_same_curve(single, ddp, grad_norm_rel=1e-3)
    # One Adam step moves a weight by up to lr = 1e-3; float noise in a near-zero gradient changes that
    # step by a fraction (measured: 6e-6 after one step, 6e-5 after three on an AMD EPYC; 1.3e-4 after
    # three on an Intel Xeon with AMX, whose GEMM kernels sum a batch of N and of 2N in another order).
    # A rank whose gradients were not averaged would be off by a whole step (1e-3).
    assert_same_weights(tmp_path / "single", tmp_path / "ddp", atol=3e-4)
    assert json.loads((tmp_path / "ddp/training.json").read_text())["world_size"] == 2
    # Only rank 0 wrote: one log line per step, one final model.
    assert len(read_log(tmp_path / "ddp")) == 3


def test_early_stopping_keeps_the_best_dev_model(
    tiny_bert_dir: Path,
    scifact_dir: Path,
    scifact_train: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import kdbench.train.loop as loop

    collection, run = scifact_train
    dev_scores = iter([0.5, 0.7, 0.6, 0.4, 0.9])
    monkeypatch.setattr(
        loop,
        "validate",
        lambda ranker, training_set, **_: {"nDCG@10": next(dev_scores), "RR@10": 0.0},
    )
    config = tiny_config(
        tiny_bert_dir, tmp_path / "out", scifact_dir, steps=8, validate_every=1, patience=2
    )
    result = train(config, collection=collection, run=run)
    assert result.status == "early-stopped" and result.steps_done == 4
    assert result.summary["best"] == {"step": 2, "nDCG@10": 0.7, "RR@10": 0.0}
    assert result.summary["final_model_step"] == 2
    saved = json.loads((tmp_path / "out/kdbench.json").read_text())
    assert saved["metadata"]["step"] == 2
    assert_same_weights(tmp_path / "out", tmp_path / "out/checkpoints/best")


def test_margin_mse_student_with_learned_scale_and_teacher_report(
    tiny_bert_dir: Path, scifact_dir: Path, scifact_train: Any, tmp_path: Path
) -> None:
    collection, run = scifact_train
    triples = mined_triples(scifact_train, queries=40, triples_per_positive=1)
    # A teacher that is right on 3 of every 4 triples, with margins of ±8.
    rows = [
        ScoredTriple(t.qid, t.pos_id, t.neg_ids[0], 8.0 if i % 4 else 0.0, 0.0 if i % 4 else 8.0)
        for i, t in enumerate(triples)
    ]
    scores = write_teacher_scores(tmp_path / "teacher.tsv", rows)
    config = tiny_config(
        tiny_bert_dir,
        tmp_path / "student",
        scifact_dir,
        arch="dot",
        loss="margin-mse",
        teacher_scores=(str(scores),),
        learn_score_scale=True,
        learning_rate=0.05,
        steps=4,
        dev_queries=0,
    )
    result = train(config, collection=collection, run=run)
    learned = [e["score_scale"] for e in read_log(tmp_path / "student") if "score_scale" in e]
    assert len(learned) == 4 and learned[-1] != 1.0 and len(set(learned)) == 4  # learned every step
    spec = json.loads((tmp_path / "student/kdbench.json").read_text())["spec"]
    assert spec["score_scale"] == pytest.approx(learned[-1])
    assert load_model(tmp_path / "student").spec.score_scale == pytest.approx(learned[-1])
    teacher = result.summary["teacher_report"]["teacher"]
    assert teacher["pairwise_accuracy"] == sum(1 for r in rows if r.margin > 0) / len(rows)
    assert teacher["margin"]["mean_abs"] == 8.0


def test_user_mistakes_are_one_line_exit_2(
    tiny_bert_dir: Path, scifact_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["train", "--data", str(scifact_dir), "--model", str(tiny_bert_dir), "--arch", "dot"]
    assert main([*base, "--output", str(tmp_path / "x"), "--loss", "margin-mse"]) == 2
    assert (
        "--loss margin-mse needs a teacher: pass --teacher-scores FILE" in capsys.readouterr().err
    )
    assert main([*base, "--output", str(tmp_path / "x"), "--loss", "hinge"]) == 2
    assert "--loss 'hinge': unknown loss" in capsys.readouterr().err
    ranknet = [*base, *cli_options(output=tmp_path / "x", loss="ranknet")]
    assert main([*ranknet, *cli_options(batch_size=6, grad_accum=4)]) == 2
    assert "--batch-size 6 is not a multiple of --grad-accum 4" in capsys.readouterr().err
    bad = tmp_path / "bad.tsv"
    bad.write_text("1.0\t0.5\t1\t2\n")
    assert main([*base, "--output", str(tmp_path / "x"), "--teacher-scores", str(bad)]) == 2
    assert f"kdbench: error: {bad}:1: 4 tab-separated fields" in capsys.readouterr().err
    assert main([*ranknet, *cli_options(precision="fp16", device="cpu")]) == 2
    assert "--precision fp16 needs a CUDA device" in capsys.readouterr().err


def test_an_existing_run_needs_resume(
    tiny_bert_dir: Path, scifact_dir: Path, scifact_train: Any, tmp_path: Path
) -> None:
    collection, run = scifact_train
    config = tiny_config(tiny_bert_dir, tmp_path / "out", scifact_dir, steps=2, dev_queries=0)
    train(config, collection=collection, run=run)
    with pytest.raises(UserError, match="already holds a training run; pass --resume"):
        train(config, collection=collection, run=run)
    again = train(dataclasses.replace(config, resume=True), collection=collection, run=run)
    assert again.status == "completed" and again.steps_done == 2  # nothing left to do
    with pytest.raises(
        UserError, match=r"--resume: .* was trained with other settings \(learning_rate\)"
    ):
        partial = dataclasses.replace(
            config, output=str(tmp_path / "p"), checkpoint_every=1, steps=2
        )
        train(
            partial,
            collection=collection,
            run=run,
            on_step=lambda s, _: s == 1 and signal.raise_signal(2),
        )
        train(
            dataclasses.replace(partial, resume=True, learning_rate=0.5),
            collection=collection,
            run=run,
        )
