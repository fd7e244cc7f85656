"""SIGINT and SIGTERM on the real CLI (a subprocess): exit 130/143, no partial result, `run` resumes.

Training has its own signal tests (tests/train/test_loop.py); these cover evaluate, profile and run.
Each test waits until the process is working (a cache file or a log line appears), then signals.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kdbench.cli import main
from tests.robustness.conftest import write_beir

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
MESSAGES = {
    signal.SIGINT: "kdbench: interrupted;",
    signal.SIGTERM: "kdbench: terminated (SIGTERM);",
}
SIGNALS = pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])


def kdbench_command() -> list[str]:
    """The installed `kdbench` script, as users run it.

    Not `python -m kdbench`: when a signal lands while a module is being imported, CPython
    ends a `-m` process by SIGINT itself after the handled Ctrl-C (exit -2; shells show 130).
    """
    script = Path(sys.executable).with_name("kdbench")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from kdbench.cli import entry; entry()"]


class Kdbench:
    """`kdbench ARGS` in the background, its stdout and stderr in files."""

    def __init__(self, args: list[str], folder: Path) -> None:
        self.stdout, self.stderr = folder / "stdout.txt", folder / "stderr.txt"
        env = {**os.environ, "KDBENCH_DEBUG": "", "COLUMNS": "200"}
        with self.stdout.open("w") as out, self.stderr.open("w") as err:
            self.process = subprocess.Popen(
                [*kdbench_command(), *args], stdout=out, stderr=err, env=env
            )

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                pytest.fail(
                    f"kdbench exited ({self.process.returncode}) before {what}: {self.err()}"
                )
            if time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"no {what} within {timeout} s: {self.err()}")
            time.sleep(0.1)

    def stop(self, signum: int, timeout: float = 60) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)

    def err(self) -> str:
        return self.stderr.read_text()


def leftovers(folder: Path) -> list[Path]:
    """Temporary files of atomic writes: none may survive an interruption."""
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".bm25-")]


@SIGNALS
def test_evaluate(signum: int, scifact_dir: Path, tiny_bert_dir: Path, tmp_path: Path) -> None:
    cache, out = tmp_path / "kdbench-cache", tmp_path / "out"  # KDBENCH_CACHE (conftest)
    out.mkdir()
    # All 300 SciFact test queries re-ranked by cat at depth 100: minutes of work, stopped early.
    args = [
        "evaluate",
        "--data",
        str(scifact_dir),
        "--split",
        "test",
        "--model",
        str(tiny_bert_dir),
    ]
    args += ["--arch", "cat", "--max-query-len", "16", "--max-doc-len", "64", "--batch-size", "8"]
    args += ["--output", str(out / "result.json"), "--run-file", str(out / "run.trec")]
    kdbench = Kdbench(args, tmp_path)
    kdbench.wait_until(
        lambda: any((cache / "bm25").glob("*/params.index.json")), "BM25 index (re-ranking next)"
    )
    assert kdbench.stop(signum) == EXIT_CODES[signum], kdbench.err()
    assert MESSAGES[signum] in kdbench.err() and "Traceback" not in kdbench.err()
    assert list(out.iterdir()) == []  # no result, no run file, no temporary file
    assert leftovers(cache) == []


@SIGNALS
def test_profile(signum: int, tiny_bert_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    args = ["profile", "--model", str(tiny_bert_dir), "--arch", "dot", "--scenario", "index"]
    args += ["--batch-size", "2", "--seq-len", "16", "--parity-queries", "2", "--parity-depth", "4"]
    args += ["--min-duration", "120", "--max-duration", "120", "--warmup", "1"]
    args += ["--cache-dir", str(tmp_path / "cache"), "--output", str(out / "profile.json")]
    kdbench = Kdbench(args, tmp_path)
    # "eager:fp32 batch 2 seq 16" opens the timed cell (after the parity check): two minutes of it.
    kdbench.wait_until(lambda: " batch 2 seq 16" in kdbench.err(), "timed cell")
    assert kdbench.stop(signum) == EXIT_CODES[signum], kdbench.err()
    assert MESSAGES[signum] in kdbench.err() and "Traceback" not in kdbench.err()
    assert list(out.iterdir()) == []


@SIGNALS
def test_train(signum: int, tiny_bert_dir: Path, tmp_path: Path) -> None:
    data, out = write_beir(tmp_path / "beir", split="train"), tmp_path / "model"
    args = ["train", "--data", str(data), "--model", str(tiny_bert_dir), "--arch", "dot"]
    args += ["--loss", "ranknet", "--steps", "100000", "--batch-size", "2", "--dev-queries", "0"]
    args += ["--max-query-len", "8", "--max-doc-len", "16", "--output", str(out), "-q"]
    kdbench = Kdbench(args, tmp_path)
    kdbench.wait_until(lambda: (out / "train_log.jsonl").exists(), "first training step")
    assert kdbench.stop(signum) == EXIT_CODES[signum], kdbench.err()
    assert "rerun with --resume to continue" in kdbench.err() and "Traceback" not in kdbench.err()
    checkpoints = list((out / "checkpoints").glob("step-*/trainer_state.safetensors"))
    assert len(checkpoints) == 1 and not (out / "training.json").exists()  # resumable, not final
    assert leftovers(out) == []


RUN_PROFILE = """
[experiment]
name = "interrupted"
output = "{out}"
threads = 1

[data]
source = "{data}"

[first_stage]
depth = 10

[[students]]
name = "zero-shot"
model = "{model}"
arch = "dot"
train = false

[evaluate]
max_query_len = 8
max_doc_len = 16

[profile]
seq_lens = [16]
min_samples = 2
min_duration_s = {seconds}
warmup = 1
parity_queries = 2
"""


@SIGNALS
def test_run_stops_then_continues(
    signum: int,
    tiny_bert_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, out, profile = write_beir(tmp_path / "beir"), tmp_path / "results", tmp_path / "p.toml"
    settings = {"out": out, "data": data, "model": tiny_bert_dir}
    # The profiling stage times for a minute: the signal lands in it, after both evaluations.
    profile.write_text(RUN_PROFILE.format(**settings, seconds=60))
    kdbench = Kdbench(["run", str(profile)], tmp_path)
    kdbench.wait_until(
        lambda: (out / "stages" / "evaluate__zero-shot.json").exists(), "evaluations"
    )
    assert kdbench.stop(signum) == EXIT_CODES[signum], kdbench.err()
    assert MESSAGES[signum] in kdbench.err() and "Traceback" not in kdbench.err()
    assert sorted(p.name for p in (out / "stages").iterdir()) == [
        "evaluate__bm25.json",
        "evaluate__zero-shot.json",
    ]
    assert not (out / "profile").exists() and not (out / "results.json").exists()
    assert leftovers(out) == []

    # The rerun (quicker timing: only [profile] changed) skips both evaluations and finishes.
    evaluated = {p: p.stat().st_mtime_ns for p in (out / "evaluate").iterdir()}
    profile.write_text(RUN_PROFILE.format(**settings, seconds=0.05))
    assert main(["run", str(profile)]) == 0
    printed = capsys.readouterr().out
    assert "skip evaluate/bm25" in printed and "skip evaluate/zero-shot" in printed
    assert {p: p.stat().st_mtime_ns for p in (out / "evaluate").iterdir()} == evaluated
    result = json.loads((out / "results.json").read_text())
    assert [m["label"] for m in result["models"]] == ["bm25", "zero-shot"]
    assert (out / "profile" / "zero-shot.json").exists()


SPIN = """
import sys, weakref
from kdbench.cli import app, main

@app.command("spin")
def spin() -> None:
    class Big:
        pass

    print("spinning", flush=True)
    while True:  # most of the time goes to the weakref callback, where Python drops exceptions
        big = Big()
        ref = weakref.ref(big, lambda r: sum(range(20000)))
        del big

sys.argv = ["kdbench", "spin"]
sys.exit(main())
"""


@SIGNALS
def test_a_stop_swallowed_by_a_callback_is_delivered_again(signum: int, tmp_path: Path) -> None:
    script = tmp_path / "spin.py"
    script.write_text(SPIN)
    with (tmp_path / "err.txt").open("w") as err:
        process = subprocess.Popen(
            [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=err, text=True
        )
        assert process.stdout is not None and process.stdout.readline() == "spinning\n"
        time.sleep(0.2)
        process.send_signal(signum)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("the stop was lost in a weakref callback; the command kept running")
    text = (tmp_path / "err.txt").read_text()
    assert code == EXIT_CODES[signum] and MESSAGES[signum] in text
    assert "Exception ignored" not in text


@SIGNALS
def test_a_signal_after_openvino_cells_ends_the_process_cleanly(
    signum: int, minilm_path: Path, scifact_dir: Path, tmp_path: Path
) -> None:
    """OpenVINO's CPU plugin swaps the alternate stack Python's signal handlers run on (see
    kdbench/backends/openvino/core.py): after OpenVINO cells (fp32, and NNCF's int8) a signal
    once segfaulted the process (exit 139) or hung it. Here a process profiles through both,
    then waits for the signal with a handler as kdbench's (Python code, on that stack)."""
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    # MiniLM cut to 2 layers, not the tiny BERT: with it the plugins happened to go in order.
    args = ["profile", "--model", str(minilm_path), "--layers", "2", "--arch", "dot"]
    args += ["--scenario", "index", "--data", str(scifact_dir)]
    args += ["--backend", "openvino:fp32,openvino:int8"]
    args += ["--batch-size", "2", "--seq-len", "16", "--parity-queries", "2", "--parity-depth"]
    args += ["4", "--calibration-size", "8", "--warmup", "1", "--min-samples", "2"]
    args += ["--min-duration", "0.05", "--cache-dir", str(tmp_path / "cache")]
    args += ["--output", str(tmp_path / "profile.json")]
    # main() without arguments reads sys.argv and installs its handlers, as `kdbench` does; after
    # it Ctrl-C is Python's own KeyboardInterrupt, SIGTERM a handler as the train loop's.
    # Python leaves SIGINT ignored in a process started so (a background job of a shell without
    # job control, as CI may run pytest); main() rightly restores that after its work, so the
    # script first takes the disposition of a foreground process, where Ctrl-C is meant.
    script = f"""
import signal, sys, time
from kdbench.cli import main
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.argv = ["kdbench", *{args!r}]
assert main() == 0
def terminated(signum, frame):
    raise SystemExit(143)
signal.signal(signal.SIGTERM, terminated)
print("profiled", flush=True)
try:
    time.sleep(120)
except KeyboardInterrupt:
    sys.exit(130)
"""
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-c", script], stdout=stdout, stderr=stderr)
    try:
        deadline = time.monotonic() + 240
        while "profiled" not in out.read_text():  # after the profile's table
            assert process.poll() is None, f"exited ({process.returncode}): {err.read_text()}"
            assert time.monotonic() < deadline, f"no profile in 240 s: {err.read_text()}"
            time.sleep(0.1)
        process.send_signal(signum)
        code = process.wait(timeout=60)  # a hang fails here
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == EXIT_CODES[signum], err.read_text()  # not -11: SIGSEGV
    assert "Traceback" not in err.read_text()
