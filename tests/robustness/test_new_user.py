"""Mistakes a new user makes (docs/robustness.md lists them): each is exit 2 and one line, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdbench.cli import main
from kdbench.results import new_result, save_result
from tests.robustness.conftest import one_line_error, write_beir

# One row per mistake, kept on one line so the table reads as a table: (what the user did,
# argv with {beir} {tiny} {tmp} placeholders, a fragment of the one line)
# fmt: off
MISTAKES: list[tuple[str, str, str]] = [
    ("option typo", "evaluate --data {beir} --split test --modle bm25", "No such option: --modle"),
    ("command typo", "evalute --data {beir}", "No such command 'evalute'"),
    ("subcommand typo", "teacher scroe --model bm25 -o {tmp}/s.tsv", "Did you mean 'score'?"),
    ("required option left out", "evaluate --model bm25", "Missing option '--data'"),
    ("option without its value", "evaluate --model bm25 --data", "requires an argument"),
    ("words for a number", "evaluate --data {beir} --split test --model bm25 --depth ten", "'--depth'"),
    ("stray argument", "evaluate --data {beir} --split test --model bm25 bm25", "unexpected extra argument"),
    ("folder as --run", "evaluate --data {beir} --split test --run {beir}", "is a folder, expected a run file"),
    ("file as --data", "evaluate --data {beir}/corpus.jsonl --model bm25", "is a file; pass the folder"),
    ("empty folder as --data", "evaluate --data {tmp}/empty --model bm25", "no qrels/SPLIT.tsv"),
    ("split typo", "evaluate --data {beir} --split tset --model bm25", "available splits: test"),
    ("ir_datasets id typo", "evaluate --data beir/scifactt --model bm25", "not a registered ir_datasets id"),
    ("file as --model", "evaluate --data {beir} --split test --model {tiny}/config.json --arch dot", "is a file"),
    ("BM25 b out of range", "evaluate --data {beir} --split test --model bm25 --bm25-b 7", "--bm25-b must be between 0 and 1"),
    ("zero queries", "evaluate --data {beir} --split test --model bm25 --queries 0", "--queries: must be at least 1, got 0"),
    ("folder as --output", "evaluate --data {beir} --split test --model bm25 --output {tmp}", "is a folder; pass a file name"),
    ("TREC run with 5 columns", "evaluate --data {beir} --split test --run {tmp}/five.trec", "five.trec:1: expected 6 columns"),
    ("data folder as results", "report {beir}", "no result JSON here"),
    ("model folder as results", "report {tiny}", "not a kdbench result"),
    ("truncated result", "report {tmp}/truncated.json", "truncated.json: not valid JSON"),
    ("result from a newer kdbench", "report {tmp}/newer.json", "upgrade kdbench"),
    ("unknown report format", "report {tmp}/ok.json --format xml", "--format: unknown format 'xml'"),
    ("--compare with one file", "report --compare {tmp}/ok.json", "requires 2 arguments"),
    ("folder as profile", "run {tmp}", "is a folder; pass a profile file"),
    ("Python as profile", "run {tmp}/profile.py", "not valid TOML"),
    ("missing profile", "run {tmp}/nope.toml", "no such profile"),
    ("student without name", "run {tmp}/nameless.toml", "students[0].name: required key is missing"),
    ("file as train --output", "train --data {beir} --model {tiny} --arch dot --loss ranknet -o {tmp}/ok.json", "is a file, not a folder"),
    ("5-column --negatives-run", "train --data {beir} --model {tiny} --arch dot --loss ranknet --negatives-run {tmp}/five.trec --dev-queries 0 -o {tmp}/m", "five.trec:1"),
    ("run file as --triples", "teacher score --model bm25 --data {beir} --triples {tmp}/five.trec --dev-queries 0 -o {tmp}/s.tsv", "tab-separated fields"),
]
# fmt: on


@pytest.fixture
def workspace(beir_dir: Path, tmp_path: Path) -> Path:
    """The files the mistakes point at."""
    write_beir(beir_dir, split="train")
    (tmp_path / "empty").mkdir()
    (tmp_path / "five.trec").write_text("q1 Q0 d1 1 2.0\n")
    save_result(tmp_path / "ok.json", {**new_result("evaluate", {}, environment={}), "metrics": {}})
    (tmp_path / "truncated.json").write_text((tmp_path / "ok.json").read_text()[:60])
    newer = json.loads((tmp_path / "ok.json").read_text())
    (tmp_path / "newer.json").write_text(json.dumps({**newer, "schema_version": 99}))
    (tmp_path / "profile.py").write_text("students = [dict(name='s')]\n")
    (tmp_path / "nameless.toml").write_text(
        '[experiment]\nname = "x"\n[data]\nsource = "x"\n[[students]]\nmodel = "m"\narch = "dot"\n'
    )
    return tmp_path


@pytest.mark.parametrize(("what", "command", "expected"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_mistake(
    what: str,
    command: str,
    expected: str,
    workspace: Path,
    beir_dir: Path,
    tiny_bert_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = command.format(beir=beir_dir, tiny=tiny_bert_dir, tmp=workspace).split()
    line = one_line_error(capsys, argv)
    assert expected in line, line


def test_windows_files_just_work(beir_dir: Path, tmp_path: Path) -> None:
    """UTF-8 with a byte-order mark and CRLF line ends (Notepad's defaults) read like plain files."""
    plain = tmp_path / "plain.json"
    assert (
        main(["evaluate", "--data", str(beir_dir), "--model", "bm25", "--output", str(plain)]) == 0
    )
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        path = beir_dir / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    windows = tmp_path / "windows.json"
    assert (
        main(["evaluate", "--data", str(beir_dir), "--model", "bm25", "--output", str(windows)])
        == 0
    )
    assert (
        json.loads(windows.read_text())["per_query"] == json.loads(plain.read_text())["per_query"]
    )
