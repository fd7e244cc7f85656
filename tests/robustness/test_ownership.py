"""Output folders and files are kdbench's own: nothing a user keeps there is written over.

A folder output (`train --output`, `run`'s results folder) must be new, empty, claimed by
the same command (`.kdbench-folder.json`) or written by an earlier kdbench; a file output
replaces only a file of its kind. Every refusal is one line, before any work, and leaves
the folder as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdbench.cli import main
from kdbench.io import OWNER_FILE
from tests.robustness.conftest import one_line_error, write_beir
from tests.robustness.test_interrupt import RUN_PROFILE

TINY = ["--max-query-len", "8", "--max-doc-len", "16", "--batch-size", "2", "-q"]


def _train(data: Path, model: Path, output: Path, *extra: str) -> list[str]:
    args = ["train", "--data", str(data), "--model", str(model), "--arch", "dot"]
    args += ["--loss", "ranknet", "--steps", "2", "--dev-queries", "0", *TINY]
    return [*args, "--output", str(output), *extra]


def _foreign(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("my notes")
    return {p.name: p.read_text() for p in folder.iterdir()}


def _contents(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.iterdir()}


@pytest.mark.parametrize("resume", [False, True], ids=["new", "resume"])
def test_train_refuses_a_folder_it_did_not_write(
    resume: bool, tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_beir(tmp_path / "beir", split="train")
    before = _foreign(tmp_path / "mine")
    argv = _train(data, tiny_bert_dir, tmp_path / "mine", *(["--resume"] if resume else []))
    line = one_line_error(capsys, argv)
    if resume:
        assert (
            f"--resume: {tmp_path / 'mine'} holds no kdbench training (it holds notes.txt)" in line
        )
        assert "drop --resume and train into a new or empty folder" in line
    else:
        assert (
            f"--output {tmp_path / 'mine'}: holds files kdbench did not write (notes.txt)" in line
        )
    assert _contents(tmp_path / "mine") == before  # no lock, no marker, nothing else


def test_train_resume_into_a_fresh_folder_starts_a_training(
    tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # How study scripts rerun a stage: --resume continues a run or, in a new folder, starts one.
    data = write_beir(tmp_path / "beir", split="train")
    (tmp_path / "empty").mkdir()
    for output in (tmp_path / "new", tmp_path / "empty"):
        assert main(_train(data, tiny_bert_dir, output, "--resume")) == 0
        assert json.loads((output / "training.json").read_text())["steps_done"] == 2
        assert json.loads((output / OWNER_FILE).read_text())["command"] == "train"
    capsys.readouterr()


def test_a_folder_from_an_earlier_kdbench_is_still_its_own(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    # Written before folders carried the marker: a finished training, resumed, is done.
    data = write_beir(tmp_path / "beir", split="train")
    output = tmp_path / "model"
    assert main(_train(data, tiny_bert_dir, output)) == 0
    (output / OWNER_FILE).unlink()
    assert main(_train(data, tiny_bert_dir, output, "--resume")) == 0
    assert (output / OWNER_FILE).is_file()


def test_run_refuses_a_folder_it_did_not_write_or_another_command_claimed(
    tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_beir(tmp_path / "beir")
    before = _foreign(tmp_path / "mine")
    profile = tmp_path / "p.toml"
    settings = {"out": tmp_path / "mine", "data": data, "model": tiny_bert_dir, "seconds": 1}
    profile.write_text(RUN_PROFILE.format(**settings))  # refused before its first stage
    line = one_line_error(capsys, ["run", str(profile)])
    assert f"{tmp_path / 'mine'}: holds files kdbench did not write (notes.txt)" in line
    assert _contents(tmp_path / "mine") == before

    trained = tmp_path / "trained"
    assert main(_train(write_beir(tmp_path / "t", split="train"), tiny_bert_dir, trained)) == 0
    capsys.readouterr()
    line = one_line_error(capsys, ["run", str(profile), "--output", str(trained)])
    assert f"holds files kdbench did not write ({OWNER_FILE} of `kdbench train`)" in line


def _notes(path: Path) -> Path:
    path.write_text('{"my": "notes"}\n')
    return path


def test_file_outputs_replace_only_their_own_kind(
    tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_beir(tmp_path / "beir")
    evaluate = ["evaluate", "--data", str(data), "--model", "bm25"]
    notes = _notes(tmp_path / "notes.json")
    line = one_line_error(capsys, [*evaluate, "--output", str(notes)])
    assert f"--output {notes}: exists and is not a kdbench result" in line
    line = one_line_error(capsys, [*evaluate, "--run-file", str(notes)])
    assert f"--run-file {notes}: exists and is not a TREC run file" in line
    profile = ["profile", "--model", str(tiny_bert_dir), "--arch", "dot"]
    line = one_line_error(capsys, [*profile, "--output", str(notes)])
    assert "exists and is not a kdbench result" in line
    teacher = ["teacher", "score", "--model", "bm25", "--data", str(data)]
    line = one_line_error(capsys, [*teacher, "--output", str(notes)])
    assert f"--output {notes}: exists and is not a teacher-score file" in line
    assert notes.read_text() == '{"my": "notes"}\n'

    # kdbench's own files are replaced: a rerun writes over the result and the run.
    result, run = tmp_path / "result.json", tmp_path / "run.trec"
    for _ in range(2):
        assert main([*evaluate, "--output", str(result), "--run-file", str(run)]) == 0
    assert json.loads(result.read_text())["kind"] == "evaluate"
