"""Two writers at once: a second `kdbench run` on a folder in use is refused; shared outputs stay whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kdbench.io import atomic_write_json, folder_lock
from kdbench.results import load_result
from tests.robustness.conftest import one_line_error, write_beir
from tests.robustness.test_interrupt import RUN_PROFILE, Kdbench


def test_second_run_on_the_same_folder_is_refused(
    tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, out, profile = write_beir(tmp_path / "beir"), tmp_path / "results", tmp_path / "p.toml"
    profile.write_text(RUN_PROFILE.format(out=out, data=data, model=tiny_bert_dir, seconds=60))
    first = Kdbench(["run", str(profile)], tmp_path)
    try:
        first.wait_until(lambda: (out / "stages" / "evaluate__bm25.json").exists(), "a stage")
        line = one_line_error(capsys, ["run", str(profile)])
        assert f"{out}: another kdbench run is writing this folder" in line
    finally:
        first.stop(15)
    # Once the first is gone the lock is free again: a lock never outlives its process.
    with folder_lock(out, "test"):
        pass


def test_a_held_lock_refuses_in_process_too(tmp_path: Path) -> None:
    from kdbench.errors import UserError

    with (
        folder_lock(tmp_path, "kdbench run"),
        pytest.raises(UserError, match="another kdbench run"),
        folder_lock(tmp_path, "kdbench run"),
    ):
        pass


def test_concurrent_atomic_writes_never_show_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    payloads = [{"writer": w, "rows": list(range(w * 5_000, w * 5_000 + 5_000))} for w in range(4)]
    atomic_write_json(target, payloads[0])
    stop = threading.Event()
    seen: set[int] = set()
    errors: list[str] = []

    def read() -> None:
        while not stop.is_set():
            try:
                data = json.loads(target.read_text())
            except (json.JSONDecodeError, FileNotFoundError) as exc:  # pragma: no cover - the bug
                errors.append(repr(exc))
                return
            assert data in payloads
            seen.add(data["writer"])

    def write(payload: dict[str, object]) -> None:
        for _ in range(30):
            atomic_write_json(target, payload)

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    reader.join()
    assert errors == []
    assert len(seen) >= 2  # the reader really saw the writers take turns
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temporary file left


def test_two_processes_writing_the_same_output(tiny_bert_dir: Path, tmp_path: Path) -> None:
    data = write_beir(tmp_path / "beir")
    evaluate_out, profile_out = tmp_path / "evaluate.json", tmp_path / "profile.json"
    evaluate = [sys.executable, "-m", "kdbench", "evaluate", "--data", str(data)]
    evaluate += ["--model", "bm25", "--output", str(evaluate_out)]
    profile = [sys.executable, "-m", "kdbench", "profile", "--model", str(tiny_bert_dir)]
    profile += ["--arch", "dot", "--scenario", "index", "--batch-size", "2", "--seq-len", "16"]
    profile += ["--parity-queries", "2", "--parity-depth", "4", "--min-samples", "5"]
    profile += ["--min-duration", "0.2", "--warmup", "1", "--warmup-time", "0"]
    profile += ["--output", str(profile_out), "--cache-dir", str(tmp_path / "cache")]
    env = {**os.environ, "KDBENCH_DEBUG": ""}
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for command in (evaluate, evaluate, profile, profile)
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
    assert load_result(evaluate_out)["kind"] == "evaluate"
    assert load_result(profile_out)["kind"] == "profile"
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["evaluate.json", "profile.json"]
    assert not list(tmp_path.glob(".*.tmp"))
