"""`teacher score` and `evaluate` under torchrun (gloo, 2 CPU processes): the merged output is
the one process's, byte for byte; a rank killed mid-run loses only its unfinished part; a
saved index is reused, and refused for another model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kdbench.cli import main
from kdbench.errors import UserError
from kdbench.shards import Parts, format_pair_scores, parse_pair_scores
from tests.helpers import cache_in_tmp, kdbench_cache  # noqa: F401 (fixtures)

SCIFACT_TRAIN_QUERIES = 40
SCIFACT_TEST_QUERIES = 30
SCIFACT_DOCS = 256


# -- the part files ----------------------------------------------------------------------------


def test_a_part_is_done_only_with_its_marker_key_and_digest(tmp_path: Path) -> None:
    parts = Parts(tmp_path / "parts", "train", 2, key="job-a")
    rows = [("q1", "d1", 0.1), ("q1", "d2", -1.0 / 3.0)]
    parts.write(0, format_pair_scores(rows), pairs=2)
    assert parts.done(0) and not parts.done(1)
    assert parse_pair_scores(parts.path(0).read_text()) == rows  # floats round-trip exactly
    assert not Parts(tmp_path / "parts", "train", 2, key="job-b").done(0)  # another job's part
    with pytest.raises(UserError, match="part of rank 1 is missing"):
        parts.read_all()
    parts.path(0).write_text("q1\td1\t0.2\n")  # changed after its marker: not done
    assert not parts.done(0)


def test_a_failed_part_leaves_no_marker_and_no_scratch(tmp_path: Path) -> None:
    parts = Parts(tmp_path, "dev", 1, key="k")
    with pytest.raises(RuntimeError), parts.writing(0) as record:
        assert list(tmp_path.glob(".dev.part-00000-of-00001.*.tmp"))  # visible while at work
        record["text"] = "q\td\t1.0\n"
        raise RuntimeError("killed")
    assert not parts.done(0) and list(tmp_path.iterdir()) == []


# -- real commands under torchrun --------------------------------------------------------------


@pytest.fixture(scope="module")
def small_scifact(scifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SciFact cut to its first train and test queries and a few hundred passages (theirs first)."""
    folder = tmp_path_factory.mktemp("scifact-small")
    (folder / "qrels").mkdir()
    docs = [json.loads(line) for line in (scifact_dir / "corpus.jsonl").open()]
    kept_docs: dict[str, None] = {}
    kept_queries: set[str] = set()
    for split, count in (("train", SCIFACT_TRAIN_QUERIES), ("test", SCIFACT_TEST_QUERIES)):
        lines = (scifact_dir / "qrels" / f"{split}.tsv").read_text().splitlines()
        rows = [line.split("\t") for line in lines[1:]]
        qids = list(dict.fromkeys(row[0] for row in rows))[:count]
        kept = [row for row in rows if row[0] in qids]
        (folder / "qrels" / f"{split}.tsv").write_text(
            lines[0] + "\n" + "".join("\t".join(row) + "\n" for row in kept)
        )
        kept_queries.update(qids)
        kept_docs.update(dict.fromkeys(row[1] for row in kept))
    for doc in docs:
        if len(kept_docs) >= SCIFACT_DOCS:
            break
        kept_docs.setdefault(doc["_id"], None)
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps(doc) + "\n" for doc in docs if doc["_id"] in kept_docs)
    )
    queries = [json.loads(line) for line in (scifact_dir / "queries.jsonl").open()]
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps(q) + "\n" for q in queries if q["_id"] in kept_queries)
    )
    return folder


@pytest.fixture
def env(kdbench_cache: Path) -> dict[str, str]:  # noqa: F811 (the fixture imported above)
    return {**os.environ, "OMP_NUM_THREADS": "1", "KDBENCH_CACHE": str(kdbench_cache)}


def torchrun(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2", "-m", "kdbench", *args]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finished(launched: subprocess.Popen[str]) -> tuple[int, str]:
    output, _ = launched.communicate(timeout=600)
    return launched.returncode, output[-4000:]


def launch_ok(args: list[str], env: dict[str, str]) -> None:
    code, output = finished(torchrun(args, env))
    assert code == 0, output


def one_process(args: list[str]) -> None:
    assert main(args) == 0


def rank_pid(launcher: subprocess.Popen[str], rank: int) -> int | None:
    """The worker of `rank` that torchrun's agent (`launcher`) started, once it exists."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = next(line for line in status.splitlines() if line.startswith("PPid:"))
        if int(parent.split()[1]) == launcher.pid and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


def wait_for(condition: Callable[[], Any], launcher: subprocess.Popen[str], what: str) -> Any:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        assert launcher.poll() is None, f"torchrun ended before {what}: {finished(launcher)}"
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def kill_rank_1_while_rank_0_finishes(
    args: list[str], env: dict[str, str], folder: Path, name: str
) -> None:
    """Launch, stop rank 1 in the middle of its part (its scratch file exists), let rank 0
    finish its own, then kill rank 1: torchrun ends the job, the relaunch must finish it."""
    launcher = torchrun(args, env)
    try:
        worker = wait_for(lambda: rank_pid(launcher, 1), launcher, "rank 1 to start")
        scratch = f".{name}.part-00001-of-00002.*.tmp"
        wait_for(lambda: list(folder.glob(scratch)), launcher, "rank 1 to start its part")
        os.kill(worker, signal.SIGSTOP)
        marker = folder / f"{name}.part-00000-of-00002.done"
        wait_for(marker.is_file, launcher, "rank 0 to finish its part")
        os.kill(worker, signal.SIGKILL)
        code, output = finished(launcher)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    assert code != 0, output
    assert not (folder / f"{name}.part-00001-of-00002.done").exists()  # lost: unfinished


TEACHER = ["--arch", "cat", "--max-query-len", "16", "--max-doc-len", "64", "--batch-size", "8"]
TEACHER += ["--triples-per-positive", "4", "--dev-queries", "5", "-q"]


@pytest.fixture(scope="module")
def teacher_reference(
    small_scifact: Path,
    tiny_bert_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    kdbench_cache: Path,  # noqa: F811 (the fixture imported above)
) -> Path:
    output = tmp_path_factory.mktemp("teacher-one") / "scores.tsv"
    args = ["teacher", "score", "--model", str(tiny_bert_dir), "--data", str(small_scifact)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KDBENCH_CACHE", str(kdbench_cache))
        assert main([*args, *TEACHER, "--output", str(output)]) == 0
    return output


def test_teacher_score_on_two_ranks_killed_and_relaunched_is_the_one_process_file(
    teacher_reference: Path,
    small_scifact: Path,
    tiny_bert_dir: Path,
    tmp_path: Path,
    env: dict[str, str],
) -> None:
    output = tmp_path / "scores.tsv"
    args = ["teacher", "score", "--model", str(tiny_bert_dir), "--data", str(small_scifact)]
    args += [*TEACHER, "--output", str(output)]
    parts = Path(f"{output}.parts")
    kill_rank_1_while_rank_0_finishes(args, env, parts, "train")
    assert not output.exists()
    kept = json.loads((parts / "train.part-00000-of-00002.done").read_text())
    launch_ok(args, env)
    assert output.read_bytes() == teacher_reference.read_bytes()
    dev_run = Path(f"{output}.dev.run")
    assert dev_run.read_bytes() == Path(f"{teacher_reference}.dev.run").read_bytes()
    ours, theirs = (json.loads(Path(f"{p}.json").read_text()) for p in (output, teacher_reference))
    assert ours["teacher_report"] == theirs["teacher_report"]
    ranks = ours["distributed"]["ranks"]
    # Rank 0's part is the killed launch's (kept, not rescored: its record, timing included);
    # rank 1's was scored again; together every pair once, each rank whole batches of 8.
    assert ranks[0] == {k: v for k, v in kept.items() if k not in {"key", "sha256"}}
    assert sum(r["pairs"] for r in ranks) == len(scored_pairs(teacher_reference))
    assert [r["rank"] for r in ranks] == [0, 1]
    assert all(r["pairs"] > 0 and r["first"] % 8 == 0 for r in ranks)
    assert not parts.exists()  # merged, then dropped


def scored_pairs(scores: Path) -> set[tuple[str, str]]:
    """The distinct (qid, doc) pairs a teacher-score file scores."""
    pairs = set()
    for line in scores.read_text().splitlines():
        _, _, qid, pos, neg = line.split("\t")
        pairs.update({(qid, pos), (qid, neg)})
    return pairs


DENSE = ["--arch", "dot", "--split", "test", "--max-doc-len", "64", "--encode-chunk", "64"]


def evaluate_args(model: Path, data: Path, out: Path, *more: str) -> list[str]:
    written = ["--run-file", str(out / "run.trec"), "--output", str(out / "result.json")]
    return ["evaluate", "--model", str(model), "--data", str(data), *more, *written]


def same_evaluation(ours: Path, reference: Path) -> dict[str, Any]:
    assert (ours / "run.trec").read_bytes() == (reference / "run.trec").read_bytes()
    mine, theirs = (json.loads((p / "result.json").read_text()) for p in (ours, reference))
    for key in ("metrics", "per_query", "queries", "warnings"):
        assert mine[key] == theirs[key], key
    assert {k: v for k, v in mine["first_stage"].items() if k != "index"} == {
        k: v for k, v in theirs["first_stage"].items() if k != "index"
    }
    return mine


def test_evaluate_rerank_on_two_ranks_is_the_one_process_run(
    small_scifact: Path,
    tiny_bert_dir: Path,
    tmp_path: Path,
    env: dict[str, str],
) -> None:
    more = ["--arch", "cat", "--split", "test", "--max-doc-len", "32", "--depth", "20"]
    more += ["--batch-size", "4"]
    one, two = tmp_path / "one", tmp_path / "two"
    one_process(evaluate_args(tiny_bert_dir, small_scifact, one, *more))
    launch_ok(evaluate_args(tiny_bert_dir, small_scifact, two, *more), env)
    same_evaluation(two, one)


def test_evaluate_dense_on_two_ranks_is_the_one_process_run_and_its_index_is_reused(
    small_scifact: Path,
    tiny_bert_dir: Path,
    tmp_path: Path,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    index = tmp_path / "index"
    one, two, reused = tmp_path / "one", tmp_path / "two", tmp_path / "reused"
    one_process(evaluate_args(tiny_bert_dir, small_scifact, one, *DENSE))
    with_index = [*DENSE, "--index-dir", str(index)]
    launch_ok(evaluate_args(tiny_bert_dir, small_scifact, two, *with_index), env)
    result = same_evaluation(two, one)
    assert result["first_stage"]["index"]["reused"] is False
    ranks = result["distributed"]["ranks"]
    assert sum(r["encoded"] for r in ranks) == SCIFACT_DOCS and all(r["encoded"] for r in ranks)
    assert ranks[0]["passages"] % 64 == 0  # whole chunks
    built = json.loads((index / "index.json").read_text())
    assert [s["rows"] for s in built["shards"]] == [r["passages"] for r in ranks]
    # One process reuses the two ranks' index: the same run, nothing encoded.
    one_process(evaluate_args(tiny_bert_dir, small_scifact, reused, *with_index))
    assert same_evaluation(reused, one)["first_stage"]["index"]["reused"] is True
    # What `profile --scenario query` and the server scenario read: the same vectors and ids,
    # refused for another model's weights.
    import torch

    from kdbench.data import load_collection
    from kdbench.models import load_model
    from kdbench.retrieval.index import saved_vectors

    docs = load_collection(small_scifact, "test").docs
    torch.manual_seed(0)  # as `evaluate` loads a model (a head the folder lacks starts seeded)
    model = load_model(tiny_bert_dir, "dot", max_doc_len=64)
    vectors, ids, spec = saved_vectors(index, model, str(tiny_bert_dir), docs)
    assert vectors.shape == (SCIFACT_DOCS, model.dim) and ids == docs.ids().tolist()
    assert spec["max_doc_len"] == 64
    with pytest.raises(UserError, match="encoded by another model"):
        saved_vectors(index, load_model(tiny_bert_dir, "dot", layers=1), "L1", docs)
    # Another model (one layer of the same weights) is refused in one line, exit 2.
    capsys.readouterr()
    other = evaluate_args(tiny_bert_dir, small_scifact, tmp_path / "other", *with_index)
    code = main([*other, "--layers", "1"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "encoded by another model" in lines[0], lines
