"""Faults on real processes: SIGKILL at a random moment, and a full disk.

SIGKILL gives no chance to clean up: whatever the moment, running the same command again
must finish with the result of an uninterrupted run (model weights and metrics equal,
scores byte for byte). The moments are seeded draws within the uninterrupted run's
duration, a few per command.

A full disk is a small tmpfs mounted as the output folder (the tests run as root); where
mounting is not allowed, a file-size limit (RLIMIT_FSIZE, the same "no room" errors) on the
commands stands in for it. Either way: one line, exit 2, and the earlier results intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.robustness.conftest import write_beir
from tests.robustness.test_interrupt import kdbench_command

KILL_POINTS = [0, 1]  # seeds of the kill moments, one test each


def kdbench(args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*kdbench_command(), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


OUTPUT = "{output}"  # in a command: where its output goes


@dataclass
class Reference:
    """An uninterrupted run: its command, output, and when it wrote: from the moment
    `watched` appeared (the start, when nothing is watched) to its end."""

    command: list[str]
    output: Path
    writing: tuple[float, float]

    def args(self, output: Path) -> list[str]:
        return [str(output) if arg == OUTPUT else arg for arg in self.command]


def reference(
    command: list[str], output: Path, env: dict[str, str], watched: str = ""
) -> Reference:
    """Run `kdbench command` into `output` to the end (exit 0), timing when it wrote."""
    started = time.monotonic()
    found = Reference(command, output, (0.0, 0.0))
    process = kdbench(found.args(output), env)
    first = 0.0
    while process.poll() is None:
        if watched and not first and (output / watched).exists():
            first = time.monotonic() - started
        time.sleep(0.02)
    assert process.returncode == 0, process.communicate()[1]
    found.writing = (first, time.monotonic() - started)
    return found


def kill_then_rerun(run: Reference, output: Path, env: dict[str, str], seed: int) -> float:
    """SIGKILL `kdbench run.args(output)` at a seeded moment of the reference's writing,
    then run the same command again to the end; the moment (seconds after the start)."""
    args = run.args(output)
    moment = random.Random(seed).uniform(*run.writing)
    process = kdbench(args, env)
    try:
        process.wait(timeout=moment)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
    rerun = kdbench(args, env)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, f"killed at {moment:.2f} s; the rerun failed: {err}"
    return moment


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cache = tmp_path_factory.mktemp("kdbench-cache")
    # One thread: the same sums in the same order in every process.
    return {**os.environ, "KDBENCH_DEBUG": "", "KDBENCH_CACHE": str(cache), "OMP_NUM_THREADS": "1"}


def weights(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


def assert_same_weights(got: Path, expected: Path) -> None:
    import torch

    a, b = weights(got), weights(expected)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


# -- train -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(
    tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]
) -> Reference:
    data = write_beir(tmp_path_factory.mktemp("train-data") / "beir", split="train")
    command = ["train", "--data", str(data), "--model", str(tiny_bert_dir), "--arch", "dot"]
    command += ["--loss", "ranknet", "--steps", "60", "--batch-size", "2", "--dev-queries", "0"]
    command += ["--max-query-len", "8", "--max-doc-len", "16", "--checkpoint-every", "4"]
    command += ["--output", OUTPUT, "--resume", "-q"]
    # Killed while it trains: from its first step (the log's first line) to its end.
    output = tmp_path_factory.mktemp("train-reference") / "model"
    return reference(command, output, env, watched="train_log.jsonl")


@pytest.mark.parametrize("seed", KILL_POINTS)
def test_train_killed_then_rerun(
    seed: int, trained: Reference, tmp_path: Path, env: dict[str, str]
) -> None:
    output = tmp_path / "model"
    kill_then_rerun(trained, output, env, seed)
    assert_same_weights(output, trained.output)
    done, expected = (
        json.loads((o / "training.json").read_text()) for o in (output, trained.output)
    )
    assert done["steps_done"] == expected["steps_done"] == 60
    assert done["final_loss"] == expected["final_loss"]
    assert list((output / "checkpoints").glob(".*")) == []  # no scratch left from the kill


# -- teacher score -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scored(
    tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]
) -> Reference:
    data = write_beir(tmp_path_factory.mktemp("teacher-data") / "beir", split="train")
    command = ["teacher", "score", "--data", str(data), "--model", str(tiny_bert_dir)]
    command += ["--arch", "cat", "--max-query-len", "8", "--max-doc-len", "16"]
    command += ["--dev-queries", "0", "--output", OUTPUT, "-q"]
    # Killed at any moment: the files appear only at the end (atomic writes).
    return reference(command, tmp_path_factory.mktemp("teacher-reference") / "scores.tsv", env)


@pytest.mark.parametrize("seed", KILL_POINTS)
def test_teacher_score_killed_then_rerun(
    seed: int, scored: Reference, tmp_path: Path, env: dict[str, str]
) -> None:
    output = tmp_path / "scores.tsv"
    kill_then_rerun(scored, output, env, seed)
    assert output.read_bytes() == scored.output.read_bytes()
    report = json.loads(Path(f"{output}.json").read_text())["teacher_report"]
    assert report == json.loads(Path(f"{scored.output}.json").read_text())["teacher_report"]


# -- kdbench run -------------------------------------------------------------------------------

PROFILE = """
[experiment]
name = "killed"
threads = 1

[data]
source = "{data}"
dev_queries = 0

[first_stage]
depth = 10

[[students]]
name = "dot-ranknet"
model = "{model}"
arch = "dot"
loss = "ranknet"
steps = 40
batch_size = 2
max_query_len = 8
max_doc_len = 16

[evaluate]
max_query_len = 8
max_doc_len = 16

[profile]
enabled = false
"""


@pytest.fixture(scope="module")
def experiment(
    tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]
) -> Reference:
    folder = tmp_path_factory.mktemp("run-data")
    data = write_beir(folder / "beir", split="train")
    write_beir(data, split="test")
    profile = folder / "profile.toml"
    profile.write_text(PROFILE.format(data=data, model=tiny_bert_dir))
    # Killed from its first finished stage on (evaluations, the training, the report).
    output = tmp_path_factory.mktemp("run-reference") / "results"
    return reference(["run", str(profile), "--output", OUTPUT], output, env, watched="stages")


def _metrics(results: Path) -> dict[str, Any]:
    summary = json.loads((results / "results.json").read_text())
    return {model["label"]: model["evaluate"]["metrics"] for model in summary["models"]}


@pytest.mark.parametrize("seed", KILL_POINTS)
def test_run_killed_then_rerun(
    seed: int, experiment: Reference, tmp_path: Path, env: dict[str, str]
) -> None:
    output = tmp_path / "results"
    kill_then_rerun(experiment, output, env, seed)
    assert _metrics(output) == _metrics(experiment.output)
    trained = Path("models") / "dot-ranknet"
    assert_same_weights(output / trained, experiment.output / trained)


# -- a full disk -------------------------------------------------------------------------------


class SmallDisk:
    """A folder that runs out of room: a tmpfs mounted on it ("tmpfs"), or a file-size limit
    on the commands run ("limit": RLIMIT_FSIZE, whose EFBIG is a no-room error too)."""

    def __init__(self, folder: Path, how: str) -> None:
        self.folder, self.how = folder, how
        self.limit: int | None = None
        folder.mkdir()
        if how == "tmpfs":
            mount = ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(folder)]
            if subprocess.run(mount, capture_output=True, check=False).returncode != 0:
                pytest.skip("mounting a tmpfs needs root (the file-size limit case still runs)")

    def leave(self, room: int) -> None:
        """From now on, `room` more bytes fit (in all on the tmpfs, per file under the limit)."""
        if self.how == "limit":
            self.limit = room
            return
        with (self.folder / "filler").open("wb") as handle:  # emptied, then filled anew
            stats = os.statvfs(self.folder)
            free = stats.f_bavail * stats.f_frsize
            if free > room:
                os.posix_fallocate(handle.fileno(), 0, free - room)

    def run(self, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        limit = self.limit

        def limited() -> None:
            if limit is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a kill
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        return subprocess.run(
            [*kdbench_command(), *args],
            capture_output=True,
            text=True,
            env=env,
            preexec_fn=limited,
            timeout=300,
            check=False,
        )

    def close(self) -> None:
        if self.how == "tmpfs":
            subprocess.run(["umount", str(self.folder)], check=True)


@pytest.fixture(params=["tmpfs", "limit"])
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SmallDisk]:
    small = SmallDisk(tmp_path / "disk", request.param)
    yield small
    small.close()


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "filler"
    }


def one_line_no_room(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert lines[-1].startswith("kdbench: error: "), done.stderr
    assert "could not be written" in lines[-1] and "earlier results are intact" in lines[-1]
    return lines[-1]


def test_a_full_disk_is_one_line_and_keeps_earlier_results(
    disk: SmallDisk, tiny_bert_dir: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    data = write_beir(tmp_path / "beir")
    write_beir(data, split="train")
    out = disk.folder
    evaluate = ["evaluate", "--data", str(data), "--split", "test", "--model", "bm25"]
    evaluate += ["--output", str(out / "r.json")]
    teacher = ["teacher", "score", "--data", str(data), "--model", "bm25", "--dev-queries", "0"]
    teacher += ["--output", str(out / "scores.tsv"), "-q"]
    train = ["train", "--data", str(data), "--model", str(tiny_bert_dir), "--arch", "dot"]
    train += ["--loss", "ranknet", "--steps", "2", "--batch-size", "2", "--dev-queries", "0"]
    train += ["--max-query-len", "8", "--max-doc-len", "16", "-q", "--output"]
    for args in (evaluate, teacher, [*train, str(out / "earlier")]):
        done = disk.run(args, env)
        assert done.returncode == 0, done.stderr
    earlier = digests(out)

    disk.leave(0)
    for args in (evaluate, teacher):
        assert str(out) in one_line_no_room(disk.run(args, env))
    disk.leave(1 << 20)  # room for the log and the markers, not for the model's weights
    line = one_line_no_room(disk.run([*train, str(out / "later")], env))
    assert f"{out / 'later'}" in line
    assert {k: v for k, v in digests(out).items() if not k.startswith("later/")} == earlier
    assert sorted(p.name for p in (out / "later").rglob("*")) == [
        ".kdbench-folder.json",
        ".kdbench.lock",
        "train_log.jsonl",  # and no half-written model: its scratch folder is gone
    ]
