"""Bad input through the real CLI: exit 2, one line that names the file:line / option / key, no traceback."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kdbench.cli import main
from kdbench.errors import UserError
from tests.helpers import patch_everywhere
from tests.robustness.conftest import DOCS, QRELS, one_line_error, write_beir

# Corrupt a fresh BEIR folder, then `kdbench evaluate --model bm25` on it must fail at that spot.
Corrupt = Callable[[Path], None]


def _append(name: str, data: bytes) -> Corrupt:
    def corrupt(folder: Path) -> None:
        with (folder / name).open("ab") as handle:
            handle.write(data)

    return corrupt


def _replace(name: str, data: bytes) -> Corrupt:
    def corrupt(folder: Path) -> None:
        (folder / name).write_bytes(data)

    return corrupt


def _tsv_collection(folder: Path) -> None:
    (folder / "corpus.jsonl").unlink()
    (folder / "collection.tsv").write_bytes(b"d1\tfine text\nd2\ttab\tinside\n")


DATA_CASES: list[tuple[str, Corrupt, list[str]]] = [
    ("tsv wrong column count", _tsv_collection, ["collection.tsv:2:", "expected 2 tab-separated"]),
    (
        "jsonl not json",
        _append("corpus.jsonl", b'{"_id": "d99", "text": \n'),
        ["corpus.jsonl:13:", "not valid JSON"],
    ),
    (
        "bad utf-8",
        _append("queries.jsonl", b'{"_id": "q9", "text": "caf\xe9"}\n'),
        ["queries.jsonl:4:", "not valid UTF-8 (byte 0xe9", "re-save the file as UTF-8"],
    ),
    ("empty corpus", _replace("corpus.jsonl", b""), ["corpus.jsonl:", "is empty"]),
    ("empty queries", _replace("queries.jsonl", b"\n"), ["queries.jsonl:", "is empty"]),
    (
        "qrels header only",
        _replace("qrels/test.tsv", b"query-id\tcorpus-id\tscore\n"),
        ["test.tsv:", "has a header but no judgements"],
    ),
    (
        "qrels wrong column count",
        _append("qrels/test.tsv", b"q1\td4\t1\textra\n"),
        ["test.tsv:6:", "expected 3 columns like the first row, found 4"],
    ),
    (
        "qrels of other queries",
        _replace("qrels/test.tsv", b"x1\td1\t1\nx2\td2\t1\n"),
        ["test.tsv:", "none of its 2 judged query ids has a query (e.g. 'x1')"],
    ),
    (
        "qrels of other docs",
        _replace("qrels/test.tsv", b"q1\tmsmarco-1\t1\n"),
        ["test.tsv:", "none of its 1 judged doc ids is in the corpus", "'msmarco-1'"],
    ),
    (
        "duplicate doc id",
        _append("corpus.jsonl", b'{"_id": "d3", "text": "again"}\n'),
        ["corpus.jsonl:13:", "duplicate doc id 'd3' (first on line 4)"],
    ),
    (
        "duplicate query id",
        _append("queries.jsonl", b'{"_id": "q1", "text": "again"}\n'),
        ["queries.jsonl:4:", "duplicate query id 'q1' (first on line 1)"],
    ),
    (
        "duplicate judgement, another grade",
        _append("qrels/test.tsv", b"q1\td1\t0\n"),
        [
            "test.tsv:6:",
            "duplicate judgement for query 'q1', doc 'd1'",
            "another grade (1, then 0)",
        ],
    ),
]


@pytest.mark.parametrize(
    ("name", "corrupt", "expected"), DATA_CASES, ids=[c[0] for c in DATA_CASES]
)
def test_malformed_collection_files(
    name: str,
    corrupt: Corrupt,
    expected: list[str],
    beir_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    corrupt(beir_dir)
    out = tmp_path / "result.json"
    line = one_line_error(
        capsys, ["evaluate", "--data", str(beir_dir), "--model", "bm25", "--output", str(out)]
    )
    for fragment in expected:
        assert fragment in line, line
    assert not out.exists()


def test_some_unknown_judged_ids_are_a_warning_not_an_error(
    beir_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Real collections have a few such ids (documented in kdbench.data): kept going, reported.
    _append("qrels/test.tsv", b"x1\td1\t1\nq1\tgone\t1\n")(beir_dir)
    out = tmp_path / "result.json"
    assert main(["evaluate", "--data", str(beir_dir), "--model", "bm25", "--output", str(out)]) == 0
    warnings = json.loads(out.read_text())["warnings"]
    assert any("1 judged query id(s) have no query text" in w for w in warnings)
    assert any("1 judged doc id(s) are not in the corpus" in w for w in warnings)


RUN_CASES = [
    ("five columns", b"q1 Q0 d1 1 2.5\n", ["run.trec:1:", "expected 6 columns", "found 5"]),
    ("score", b"q1 Q0 d1 1 high tag\n", ["run.trec:1:", "score 'high'"]),
    ("empty", b"", ["run.trec:", "is empty"]),
    ("other collection", b"x1 Q0 d1 1 2.5 t\n", ["run.trec:", "none of its query ids"]),
]


@pytest.mark.parametrize(("name", "content", "expected"), RUN_CASES, ids=[c[0] for c in RUN_CASES])
def test_malformed_run_files(
    name: str,
    content: bytes,
    expected: list[str],
    beir_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = tmp_path / "run.trec"
    run.write_bytes(content)
    line = one_line_error(capsys, ["evaluate", "--data", str(beir_dir), "--run", str(run)])
    for fragment in expected:
        assert fragment in line, line


TINY = ["--max-query-len", "8", "--max-doc-len", "16", "--batch-size", "4"]

# (argv after `evaluate --data BEIR`, fragments of the one line)
OPTION_CASES: list[tuple[str, list[str], list[str]]] = [
    (
        "batch size 0",
        ["--model", "bm25", "--batch-size", "0"],
        ["--batch-size: must be at least 1, got 0"],
    ),
    ("depth 0", ["--model", "bm25", "--depth", "0"], ["--depth: must be at least 1, got 0"]),
    ("negative k", ["--model", "bm25", "--k", "-5"], ["--k: must be at least 1, got -5"]),
    ("k not a number", ["--model", "bm25", "--k", "ten"], ["'--k'", "valid integer"]),
    ("typo in an option", ["--model", "bm25", "--depht", "5"], ["--depht", "--depth"]),
    ("unknown metric option", ["--model", "bm25", "--metric", "P@5"], ["--metric"]),
    (
        "unknown architecture",
        ["--model", "{tiny}", "--arch", "bert"],
        ["--arch 'bert': unknown architecture"],
    ),
    (
        "sequence beyond the model's positions",
        ["--model", "{tiny}", "--arch", "dot", "--max-doc-len", "9999"],
        ["--max-doc-len = 9999 tokens exceeds the encoder's 512 positions"],
    ),
    ("too many layers", ["--model", "{tiny}", "--arch", "dot", "--layers", "7"], ["--layers"]),
    (
        "missing model folder",
        ["--model", "{tmp}/no-model", "--arch", "dot"],
        ["no such model folder"],
    ),
    ("model file not folder", ["--model", "{tiny}/config.json", "--arch", "dot"], ["is a file"]),
    (
        "plain model without arch",
        ["--model", "{tiny}"],
        ["a plain Hugging Face model; say which ranker to build with --arch"],
    ),
    ("device typo", ["--model", "{tiny}", "--arch", "dot", "--device", "gpu"], ["--device 'gpu'"]),
    ("first stage typo", ["--model", "{tiny}", "--rerank", "bm52"], ["--rerank bm52"]),
    (
        "split typo",
        ["--model", "bm25", "--split", "tset"],
        ["--split tset", "available splits: test"],
    ),
    ("no model and no run", [], ["pass --model (bm25 or a ranker) or --run FILE"]),
]


@pytest.mark.parametrize(
    ("name", "args", "expected"), OPTION_CASES, ids=[c[0] for c in OPTION_CASES]
)
def test_impossible_or_unknown_options(
    name: str,
    args: list[str],
    expected: list[str],
    beir_dir: Path,
    tiny_bert_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [a.format(tiny=tiny_bert_dir, tmp=tmp_path) for a in args]
    line = one_line_error(capsys, ["evaluate", "--data", str(beir_dir), *TINY, *argv])
    for fragment in expected:
        assert fragment in line, line


def test_hub_id_while_offline_names_the_id(
    beir_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))  # empty, whatever this machine holds
    line = one_line_error(
        capsys,
        ["evaluate", "--data", str(beir_dir), "--model", "someone/no-such-model", "--arch", "dot"],
    )
    assert "someone/no-such-model: not a local folder" in line and "HF_HUB_OFFLINE=1" in line


def test_k_beyond_the_corpus_is_clipped(
    beir_dir: Path, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    dense_out, dense_run, bm25_run = tmp_path / "dense.json", tmp_path / "dense", tmp_path / "bm25"
    argv = ["evaluate", "--data", str(beir_dir), "--k", "1000"]
    assert main([*argv, "--model", "bm25", "--run-file", str(bm25_run)]) == 0
    dense_argv = [*argv, "--model", str(tiny_bert_dir), "--arch", "dot", *TINY]
    assert main([*dense_argv, "--output", str(dense_out), "--run-file", str(dense_run)]) == 0
    assert json.loads(dense_out.read_text())["first_stage"]["k"] == len(DOCS)
    dense = [line.split()[0] for line in dense_run.read_text().splitlines()]
    assert {q: dense.count(q) for q in set(dense)} == dict.fromkeys(QRELS, len(DOCS))
    # BM25 returns the passages that share a term with the query: some, never more than the corpus.
    bm25 = [line.split()[0] for line in bm25_run.read_text().splitlines()]
    assert all(1 <= bm25.count(q) <= len(DOCS) for q in QRELS)


# -- outputs that cannot be written: refused before any work --------------------------------------
def _unwritable(tmp_path: Path) -> list[str]:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    paths = [str(blocker / "result.json")]  # below a file: fails for root too
    if sys.platform == "linux":
        paths.append("/proc/kdbench-robustness/result.json")  # a filesystem that refuses files
    return paths


def test_unwritable_output_is_refused_before_the_evaluation(
    beir_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import kdbench.data.load

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("the collection was loaded before the output was checked")

    patch_everywhere(monkeypatch, kdbench.data.load, "load_collection", no_work)
    for path in _unwritable(tmp_path):
        for option in ("--output", "--run-file"):
            line = one_line_error(
                capsys, ["evaluate", "--data", str(beir_dir), "--model", "bm25", option, path]
            )
            assert line.startswith(f"kdbench: error: {option} {path}:"), line
    line = one_line_error(
        capsys, ["evaluate", "--data", str(beir_dir), "--model", "bm25", "--output", str(tmp_path)]
    )
    assert "is a folder; pass a file name" in line


def test_unwritable_report_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = tmp_path / "r.json"
    from kdbench.results import new_result, save_result

    save_result(result, {**new_result("evaluate", {}, environment={}), "metrics": {}})
    for path in _unwritable(tmp_path):
        line = one_line_error(capsys, ["report", str(result), "--output", path])
        assert f"--output {path}:" in line


PROFILE = """
[experiment]
name = "bad"
output = "{out}"
[data]
source = "{data}"
[[students]]
name = "s"
model = "{model}"
arch = "dot"
loss = "ranknet"
steps = 1
"""


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t + "bogus = 1\n", "students[0].bogus: unknown key; valid keys here are"),
        (
            lambda t: t.replace("steps = 1", 'steps = "ten"'),
            "students[0].steps: expected an integer",
        ),
        (
            lambda t: t.replace("steps = 1", "steps = -1"),
            "students[0].steps: must be at least 1, got -1",
        ),
        (
            lambda t: t.replace('arch = "dot"', 'arch = "dense-ish"'),
            "students[0].arch: unknown value",
        ),
        (
            lambda t: t.replace('loss = "ranknet"', 'loss = "hinge"'),
            "students[0].loss: unknown value",
        ),
        (lambda t: t.replace('name = "s"\n', ""), "students[0].name: required key is missing"),
        (
            lambda t: t + "[profile]\nbackends = ['tensorflow']\n",
            "profile.backends: unknown value 'tensorflow'",
        ),
        # one value stands for a list of one (as `--batch-size 4`); a non-size does not
        (
            lambda t: t + "[profile]\nbatch_sizes = [4, true]\n",
            "profile.batch_sizes[1]: expected a string or a number",
        ),
        (
            lambda t: t + '[profile]\nbatch_sizes = "1,024"\n',
            "profile.batch_sizes: '1,024': reads as one number written with thousands commas",
        ),
        (lambda t: t.replace("[data]", "[dataset]"), "dataset: unknown key"),
        (lambda t: t + "[evaluate\n", "not valid TOML"),
        (lambda t: t.replace("{model}", "{missing}"), "students[0].model: no such model folder"),
        (lambda t: t.replace("{data}", "{missing}"), "data.source: no such folder"),
        (
            lambda t: t.replace("{data}", "beir/scifactt"),
            "data.source: beir/scifactt: not a folder",
        ),
        (
            lambda t: t.replace("[[students]]", '[teacher]\nscores = ["{missing}"]\n[[students]]'),
            "teacher.scores[0]: no such file",
        ),
        (
            lambda t: t.replace("[data]", '[data]\ntrain_split = "training"'),
            "data.train_split: ",
        ),
    ],
)
def test_profile_mistakes_name_the_key(
    edit: Callable[[str], str],
    expected: str,
    beir_dir: Path,
    tiny_bert_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_beir(beir_dir, split="train")
    profile = tmp_path / "bad.toml"
    text = edit(PROFILE).format(
        out=tmp_path / "results", data=beir_dir, model=tiny_bert_dir, missing=tmp_path / "missing"
    )
    profile.write_text(text)
    line = one_line_error(capsys, ["run", str(profile)])
    assert line.startswith(f"kdbench: error: {profile}: ") and expected in line, line
    assert not (tmp_path / "results").exists()  # nothing ran, nothing was written


def test_run_output_that_cannot_be_a_folder(
    beir_dir: Path, tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_beir(beir_dir, split="train")
    profile = tmp_path / "p.toml"
    profile.write_text(PROFILE.format(out=tmp_path / "results", data=beir_dir, model=tiny_bert_dir))
    for path in _unwritable(tmp_path):
        line = one_line_error(capsys, ["run", str(profile), "--output", path])
        assert "cannot write this folder" in line
    blocker = tmp_path / "a-file"
    line = one_line_error(capsys, ["run", str(profile), "--output", str(blocker)])
    assert "is a file, not a folder" in line


# -- training, teacher scoring and profiling (their own engineers own the code) -----------------
def test_train_option_mistakes(
    beir_dir: Path, tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_beir(beir_dir, split="train")
    base = ["train", "--data", str(beir_dir), "--model", str(tiny_bert_dir), "--arch", "dot"]
    base += ["--loss", "ranknet", "--steps", "1", "--dev-queries", "0", "-q"]
    cases = [
        (["--steps", "-1"], "--steps: must be at least 1, got -1"),
        (["--batch-size", "0"], "--batch-size: must be at least 1, got 0"),
        (["--loss", "hinge"], "--loss 'hinge': unknown loss"),
        (["--arch", "bert"], "--arch 'bert': unknown architecture"),
        (["--max-doc-len", "9999"], "--max-doc-len = 9999 tokens exceeds the encoder's 512"),
        (["--loss", "margin-mse"], "--loss margin-mse needs a teacher"),
        (["--teacher-scores", str(tmp_path / "none.tsv"), "--loss", "margin-mse"], "none.tsv"),
    ]
    for i, (extra, expected) in enumerate(cases):
        line = one_line_error(capsys, [*base, "--output", str(tmp_path / f"m{i}"), *extra])
        assert expected in line, line
        assert not (tmp_path / f"m{i}").exists()  # a refused run leaves no empty output folder


def test_teacher_score_output_is_checked_before_scoring(
    beir_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import kdbench.train.teacher as teacher

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("scored before checking --output")

    monkeypatch.setattr(teacher, "score_teacher", never)
    write_beir(beir_dir, split="train")
    argv = ["teacher", "score", "--model", "bm25", "--data", str(beir_dir), "--dev-queries", "0"]
    line = one_line_error(capsys, [*argv, "--output", "/proc/kdbench-scores.tsv"])
    assert "--output /proc/kdbench-scores.tsv: cannot write in /proc" in line


def test_teacher_scores_of_another_collection(
    beir_dir: Path, tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_beir(beir_dir, split="train")
    scores = tmp_path / "scores.tsv"
    scores.write_text("1.5\t0.5\tq1\td1\td2\n2.0\t1.0\tq1\tmsmarco-7\td3\n")
    argv = ["train", "--data", str(beir_dir), "--model", str(tiny_bert_dir), "--arch", "dot"]
    argv += ["--teacher-scores", str(scores), "--steps", "1", "--dev-queries", "0", "-q"]
    line = one_line_error(capsys, [*argv, "--output", str(tmp_path / "m")])
    assert "scores.tsv:2" in line and "'msmarco-7'" in line, line


PROFILE_FAST = ["--min-samples", "2", "--min-duration", "0", "--warmup", "1", "--warmup-time", "0"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--backend", "tensorflow"], "--backend 'tensorflow': unknown backend"),
        (["--precision", "fp8"], "precision 'fp8'"),
        (["--batch-size", "0"], "--batch-size"),
        (["--depth", "-1"], "--depth"),
        (["--threads", "0"], "--threads"),
        (["--scenario", "serach"], "--scenario"),
        (["--arch", "bert"], "--arch 'bert': unknown architecture"),
        (["--seq-len", "9999"], "--seq-len 9999 exceeds the encoder's 512 positions"),
        (
            ["--output", "/proc/kdbench-x.json"],
            "--output /proc/kdbench-x.json: cannot write in /proc",
        ),
        (["--output", "/tmp"], "--output /tmp: is a folder; pass a file name"),
        (["--data", "/no/such/collection"], "/no/such/collection"),
        (["--model", "/no/such/model"], "/no/such/model"),
    ],
)
def test_profile_option_mistakes(
    args: list[str], expected: str, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["profile", "--model", str(tiny_bert_dir), "--arch", "dot", *args, *PROFILE_FAST]
    assert expected in one_line_error(capsys, argv)


# -- --debug keeps the traceback ------------------------------------------------------------------
def test_debug_shows_the_traceback(beir_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # --debug exports KDBENCH_DEBUG=1 (for child processes); monkeypatch restores it afterwards.
    monkeypatch.setenv("KDBENCH_DEBUG", "")
    argv = ["evaluate", "--data", str(beir_dir), "--model", "bm25", "--batch-size", "0"]
    with pytest.raises(UserError, match="--batch-size: must be at least 1, got 0"):
        main(["--debug", *argv])
    monkeypatch.setenv("KDBENCH_DEBUG", "1")
    with pytest.raises(UserError):
        main(argv)


def test_debug_traceback_in_a_real_process(beir_dir: Path) -> None:
    import subprocess

    command = [sys.executable, "-m", "kdbench", "evaluate", "--data", str(beir_dir)]
    command += ["--model", "bm25", "--depth", "0"]
    env = {**os.environ, "KDBENCH_DEBUG": ""}
    quiet = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    loud = subprocess.run(
        [*command[:3], "--debug", *command[3:]],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert quiet.returncode == 2 and quiet.stderr.strip() == (
        "kdbench: error: --depth: must be at least 1, got 0"
    )
    assert loud.returncode == 1
    assert (
        "Traceback" in loud.stderr
        and "UserError: --depth: must be at least 1, got 0" in loud.stderr
    )
