"""Round 4 of bad inputs and faults (new values, the classes of issue #22): each is refused with
one line naming the file, line, key or option, or gives the right answer (with a warning that
counts what was tolerated). The cases that failed before carry a comment saying how."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import onnxruntime
import pytest
from transformers import AutoTokenizer

from kdbench.cli import main
from kdbench.config import load_profile
from kdbench.data.load import DOWNLOAD_FAILED
from kdbench.data.qrels import read_qrels
from kdbench.data.runs import read_run
from kdbench.data.teacher_scores import read_teacher_scores
from kdbench.data.triples import read_id_triples, read_text_triples
from kdbench.errors import InputFileError, UserError
from kdbench.evaluate.metrics import check_computable, chosen_measures, parse_measures
from kdbench.models import load_model, save_checkpoint
from kdbench.quantities import (
    QuantityError,
    parse_duration_s,
    parse_rate_per_s,
    parse_size,
    parse_size_list,
)
from tests.robustness.conftest import one_line_error, write_beir
from tests.robustness.test_cli_fuzz import COMMANDS

# -- numbers in files: what trec_eval's C reader takes as another number is refused ----------


@pytest.mark.parametrize("score", ["1_0", "٣", "５", "1,5", "0x10"])
def test_a_run_score_python_reads_but_trec_eval_does_not_is_refused(
    tmp_path: Path, score: str
) -> None:
    # before: `1_0` was read as 10, `٣` as 3, `５` as 5 (trec_eval: 1, 0, 0), exit 0
    path = tmp_path / "run.txt"
    path.write_text(f"q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 {score} t\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=rf"run.txt:2: score '{score}' in column 5"):
        read_run(path)


@pytest.mark.parametrize("grade", ["1_0", "٢", "1.5", "high"])
def test_a_qrels_grade_that_is_not_a_whole_ascii_number_is_refused(
    tmp_path: Path, grade: str
) -> None:
    # before: `1_0` was read as grade 10 and `٢` as 2, exit 0
    path = tmp_path / "qrels.txt"
    path.write_text(f"q1 0 d1 1\nq1 0 d2 {grade}\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"qrels.txt:2: relevance grade .* whole number"):
        read_qrels(path)


def test_a_grade_beyond_a_c_int_names_the_line(tmp_path: Path) -> None:
    # before: pytrec_eval failed inside and the message blamed --measure
    path = tmp_path / "test.tsv"
    path.write_text("query-id\tcorpus-id\tscore\nq1\td1\t99999999999999999999\n")
    with pytest.raises(InputFileError, match=r"test.tsv:2: relevance grade .* out of range"):
        read_qrels(path)


def test_grades_written_as_whole_decimals_are_read_with_a_count(tmp_path: Path) -> None:
    # before: `1.0` was refused, though trec_eval reads it as 1 (a BEIR first row `q1 d1 1.0`
    # would also have been taken for the header)
    path = tmp_path / "test.tsv"
    path.write_text("q1\td1\t1.0\nq2\td2\t2\nq2\td3\t0.00\n")
    warnings: list[str] = []
    assert read_qrels(path, warnings) == {"q1": {"d1": 1}, "q2": {"d2": 2, "d3": 0}}
    assert warnings == [
        f"{path}: 2 grade(s) are written as decimals (e.g. line 1); each is a whole number "
        "and is read as one, as trec_eval reads it"
    ]


@pytest.mark.parametrize("score", ["1_5", "５"])
def test_a_teacher_score_python_reads_but_a_file_does_not_hold_is_refused(
    tmp_path: Path, score: str
) -> None:
    # before: `1_5` trained on a margin of 15 - 0.5, exit 0
    path = tmp_path / "scores.tsv"
    path.write_text(f"{score}\t0.5\tq1\td1\td2\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"scores.tsv:1: pos_score .* is not a number"):
        read_teacher_scores(path)


def test_run_qrels_with_bom_crlf_and_mixed_whitespace_read_the_same(tmp_path: Path) -> None:
    lines = ["q1 Q0 d1 1 2.0 t", "q1\tQ0\td2\t2\t1.0\tt", "q2  Q0  d2 1 3.0 t"]
    plain, messy = tmp_path / "plain.run", tmp_path / "messy.run"
    plain.write_text("\n".join(" ".join(line.split()) for line in lines) + "\n")
    messy.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    assert read_run(messy) == read_run(plain) == {"q1": {"d1": 2.0, "d2": 1.0}, "q2": {"d2": 3.0}}


# -- measures -----------------------------------------------------------------------------------


def test_a_measure_a_provider_script_refuses_is_one_line_with_nothing_else_on_stderr(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # before: gdeval's perl complaint reached stderr (two lines) and the message named temp files
    chosen = chosen_measures(["ERR@10"])
    with pytest.raises(UserError) as raised:
        check_computable(chosen, {"q1": {"d1": 1}, "q2": {"d2": 1}})
    message = str(raised.value)
    assert message.startswith("--measure 'ERR@10': ir_measures cannot compute it on these qrels")
    assert "perl exited with status" in message and "/tmp" not in message
    assert capfd.readouterr().err == ""
    check_computable(chosen, {"1": {"d1": 1}, "2": {"d2": 1}})  # numeric query ids: computable


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nDCG@0", "cutoff 0 must be a whole number"),
        ("RR@1.5", "cutoff 1.5 must be a whole number"),
        ("R@1e3", "cutoff 1000.0 must be a whole number"),
        ("RR(rel=0)@10", "rel 0 must be a whole number"),
        ("P@５", "not an ir_measures measure"),
        ("ndcg@10", "not an ir_measures measure"),
        ("SetF(beta=2)", "invalid param beta=2"),
        ("NERR10@10", "NERR10 needs a max_rel"),
        ("", "names no measure"),
    ],
)
def test_round4_measures_are_refused_where_typed(text: str, message: str) -> None:
    with pytest.raises(UserError, match="--measure") as raised:
        parse_measures(text)
    assert message in str(raised.value)


def test_round4_measures_that_are_computable_parse() -> None:
    assert parse_measures("nDCG@10,RR@10 Judged@10 Compat(p=0.8) Rprec NumRet infAP") == (
        "nDCG@10",
        "RR@10",
        "Judged@10",
        "Compat(p=0.8)",
        "Rprec",
        "NumRet",
        "infAP",
    )


# -- quantities -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["1,5M", "1 000", "0x10", "1..5", "1-5", "inf", "nan", "1e400", "-5k", "0", "５k", "10kk"],
)
def test_round4_sizes_are_refused(text: str) -> None:
    with pytest.raises(QuantityError, match="write a whole number of items"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "size"), [("1_000", 1000), ("1e3", 1000), ("2.5k", 2500), ("3K", 3000)]
)
def test_round4_sizes_are_read(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_round4_lists_durations_and_rates() -> None:
    assert parse_size_list("2k,1k") == (2000, 1000)
    assert parse_size_list("1k,1k") == (1000,)
    for bad in ("1,000", "1k,,2k", "1k-5k", "1k;2k"):
        with pytest.raises(QuantityError):
            parse_size_list(bad)
    assert parse_duration_s("5 ms") == 0.005
    assert parse_rate_per_s("1e3/min") == pytest.approx(1000 / 60)
    for bad in ("1,5", "0.5h", "-1", "1e400s"):
        with pytest.raises(QuantityError):
            parse_duration_s(bad)
    for bad in ("100/h", "-1/s", "inf/s", "５/s"):
        with pytest.raises(QuantityError):
            parse_rate_per_s(bad)


# -- profiles -------------------------------------------------------------------------------------

PROFILE = """
[experiment]
name = "r4"
output = "{out}"
[data]
source = "{data}"
train_split = "test"
[[students]]
name = "s"
model = "{model}"
arch = "dot"
train = false
"""


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        # before: each device was timed twice, and each split evaluated twice (rows alike)
        (
            lambda t: t + '[profile]\ndevices = ["cpu", "cpu"]\n',
            "profile.devices[1]: 'cpu' is listed twice (also [0]); list each once",
        ),
        (
            lambda t: t.replace('train_split = "test"', 'test_splits = ["test", "test"]'),
            "data.test_splits[1]: 'test' is listed twice (also [0]); list each once",
        ),
        (
            lambda t: t + '[profile]\nscenarios = ["query", "query"]\n',
            "profile.scenarios[1]: 'query' is listed twice",
        ),
        # before: the file was named twice
        (lambda t: t + "[profile]\nseq_lens = [２]\n", "not valid TOML (Invalid value (at line"),
        (lambda t: t + '[report]\nbudget = "p95<=1,5ms"\n', "a comma separates constraints"),
        (lambda t: t + '[profile]\nscenarios = "query, index"\n', "unknown value 'query, index'"),
        (
            lambda t: t + "[profile]\nwarmup = 99999999999999999999\n",
            "profile.warmup: is too large",
        ),
        (lambda t: t + '[profile]\nindex_size = "1,5k"\n', "reads as a number written with a"),
        (lambda t: t + "[profile]\nindex_size = [100, -1]\n", "index_size[1]: '-1': must not be"),
        (lambda t: t + "[profile]\nmin_sample = 3\n", "profile.min_sample: unknown key"),
        (lambda t: t + '[evaluate]\nmeasures = ["nDCG@10", "P@0"]\n', "'P@0': cutoff 0 must be"),
        (lambda t: t + '[report]\nscale_to = "1,5M"\n', "report.scale_to: '1,5M': a comma"),
        # before: the student's stage files were written to ../../escape.json, outside the results
        (
            lambda t: t.replace('name = "s"', 'name = "../../escape"'),
            "students[0]: name '../../escape': write a name without / or",
        ),
        # before: an empty name wrote its evaluation to a hidden file, and no row appeared
        (lambda t: t.replace('name = "s"', 'name = ""'), "students[0]: name '': write a name"),
        (lambda t: t.replace('name = "r4"', 'name = " "'), "experiment: name is empty"),
        # before: "--model is empty" at run time, naming no file or key
        (lambda t: t.replace('model = "{model}"', 'model = " "'), "students[0]: model is empty"),
        # before: ignored (a model used as it is is evaluated with [evaluate]'s lengths), so
        # a value `kdbench evaluate --max-doc-len` refuses passed and changed nothing
        (
            lambda t: t + "max_doc_len = 100000\n",
            "students[0]: max_doc_len: shapes a training, and train = false uses the model as",
        ),
        (lambda t: t + 'loss = "ranknet"\nsteps = 5\n', "students[0]: loss, steps: shape a"),
        # before: ignored, exit 0 (an index run searches nothing; no server cell is asked for)
        (
            lambda t: t + '[profile]\nscenarios = ["index"]\nindex_size = 1000\n',
            "profile.index_size: only the query scenario reads it, and this profile times index",
        ),
        (
            lambda t: t + "[profile]\nmin_queries = 10\n",
            "profile.min_queries: only the server scenario reads it, and this profile times query",
        ),
    ],
)
def test_round4_profile_mistakes_name_the_file_and_key(
    edit: Callable[[str], str],
    expected: str,
    beir_dir: Path,
    tiny_bert_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    profile = tmp_path / "r4.toml"
    text = edit(PROFILE).format(out=tmp_path / "results", data=beir_dir, model=tiny_bert_dir)
    profile.write_text(text, encoding="utf-8")
    line = one_line_error(capsys, ["run", str(profile), "--dry-run"])
    assert line.startswith(f"kdbench: error: {profile}: ") and expected in line, line
    assert line.count(str(profile)) == 1


def test_a_profile_saved_with_a_byte_order_mark_reads_as_without(
    beir_dir: Path, tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: "not valid TOML (Invalid statement (at line 1, column 1))"
    text = PROFILE.format(out=tmp_path / "results", data=beir_dir, model=tiny_bert_dir)
    plain, bom = tmp_path / "plain.toml", tmp_path / "bom.toml"
    plain.write_text(text, encoding="utf-8")
    bom.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert load_profile(bom) == load_profile(plain)


# -- report --compare as a gate -------------------------------------------------------------------


def test_a_regression_gate_with_no_row_in_common_is_refused(
    beir_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: an empty table and exit 0, so a CI gate passed having compared nothing
    run = tmp_path / "given.run"
    run.write_text("q1 Q0 d1 1 2.0 t\nq2 Q0 d2 1 1.0 t\n")
    bm25, given = tmp_path / "bm25.json", tmp_path / "given.json"
    assert main(["evaluate", "--data", str(beir_dir), "--model", "bm25", "-o", str(bm25)]) == 0
    assert main(["evaluate", "--data", str(beir_dir), "--run", str(run), "-o", str(given)]) == 0
    capsys.readouterr()
    argv = ["report", "--compare", str(bm25), str(given)]
    line = one_line_error(capsys, [*argv, "--fail-on-regression"])
    assert "no row in common" in line and "--fail-on-regression has nothing to check" in line
    assert main(argv) == 0  # without the gate, the empty comparison is shown and says why
    assert "no rows in common" in capsys.readouterr().out


# -- model folders a user was handed --------------------------------------------------------------


@pytest.fixture(scope="module")
def handed_checkpoint(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kdbench dot checkpoint of the tiny BERT in the sentence-transformers layout."""
    model = load_model(tiny_bert_dir, "dot", pooling="mean", max_doc_len=32)
    folder = Path(save_checkpoint(model, tmp_path_factory.mktemp("r4") / "handed", {}))
    assert (folder / "modules.json").is_file()
    return folder


def _config(key: str, value: object) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        config[key] = value
        (folder / "config.json").write_text(json.dumps(config))

    return damage


def _write(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(data)


def _no_tokenizer(folder: Path) -> None:
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        # before: a traceback from huggingface_hub's strict dataclass (exit 1)
        (_config("num_hidden_layers", "two"), "config.json: transformers cannot read it ("),
        # before: ZeroDivisionError inside BertSelfAttention (exit 1)
        (_config("num_attention_heads", 0), "config.json: transformers cannot build the model"),
        # before: json.decoder.JSONDecodeError (exit 1)
        (_write("modules.json", b"nope"), "modules.json: cannot read JSON"),
        (_write("modules.json", b'["x"]'), "modules.json: entry 0 is not an object"),
        (_write("modules.json", b'{"a": 1}'), "modules.json: expected a JSON array"),
        # before: exit 0 with a tokenizer that knew only its special tokens (every word [UNK])
        (_no_tokenizer, "no tokenizer files (tokenizer.json, vocab.txt, ...)"),
        # before: "is the model folder complete?"
        (
            lambda f: (f / "config.json").write_bytes(
                b"\xef\xbb\xbf" + (f / "config.json").read_bytes()
            ),
            "config.json: starts with a byte-order mark",
        ),
    ],
)
def test_a_damaged_model_folder_is_one_line_naming_the_file(
    damage: Callable[[Path], None],
    expected: str,
    handed_checkpoint: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = Path(shutil.copytree(handed_checkpoint, tmp_path / "handed"))
    damage(folder)
    capsys.readouterr()
    line = one_line_error(capsys, ["export", "--model", str(folder)])
    assert expected in line, line
    assert not (folder / "onnx").exists()


def test_the_undamaged_folder_loads_with_its_tokenizer(
    handed_checkpoint: Path, tiny_bert_dir: Path
) -> None:
    text = "passage about topic"
    expected = AutoTokenizer.from_pretrained(tiny_bert_dir)(text)["input_ids"]
    assert load_model(handed_checkpoint).tokenizer(text)["input_ids"] == expected


def test_messy_but_accepted_collection_files_warn_with_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    beir = write_beir(tmp_path / "beir", qrels={"q1": {"d1": 1, "dZZ": 1}, "q2": {"d2": -1}})
    (beir / "qrels" / "test.tsv").write_bytes(
        (beir / "qrels" / "test.tsv").read_bytes().replace(b"\n", b"\r\n")
    )
    with caplog.at_level(logging.WARNING, logger="kdbench"):
        code = main(["evaluate", "--data", str(beir), "--model", "bm25", "--measure", "R@100"])
    assert code == 0, capsys.readouterr().err
    said = " ".join(caplog.messages)
    assert "1 judged doc id(s) are not in the corpus" in said
    assert "1 judgement(s) have a negative grade" in said


# -- result files a user edited -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        # before: exit 0, the row read NaN / inf as a quality
        (lambda t: t.replace('"nDCG@10": 0.', '"nDCG@10": NaN, "x": 0.', 1), "the number NaN"),
        (lambda t: t.replace('"nDCG@10": 0.', '"nDCG@10": 1e999, "x": 0.', 1), "the number 1e999"),
        # before: the message did not name the file
        (
            lambda t: t.replace('"nDCG@10": 0.', '"nDCG@10": "high", "x": 0.', 1),
            "metrics['nDCG@10'] is 'high', not a number",
        ),
    ],
)
def test_an_edited_result_is_refused_naming_the_file(
    edit: Callable[[str], str],
    expected: str,
    beir_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = tmp_path / "bm25.json"
    assert main(["evaluate", "--data", str(beir_dir), "--model", "bm25", "-o", str(result)]) == 0
    edited = tmp_path / "edited.json"
    edited.write_text(edit(result.read_text()))
    capsys.readouterr()
    line = one_line_error(capsys, ["report", str(edited)])
    assert line.startswith(f"kdbench: error: {edited}: ") and expected in line, line
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + result.read_bytes())
    assert main(["report", str(bom), "-f", "csv"]) == 0
    assert main(["report", str(result), "-f", "csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[: len(out) // 2] == out[len(out) // 2 :]  # the same table with and without a BOM


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        # before: exit 0 with RR, R and AP all 0.0000 and no word why
        (["--rel", "99"], "RR@10, R@100, R@1000, AP count a doc relevant from grade 99"),
        (["--measure", "P(rel=3)@5 nDCG@10"], "P(rel=3)@5 count a doc relevant from grade 3"),
    ],
)
def test_a_rel_above_every_grade_is_a_warning(
    argv: list[str], expected: str, beir_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--data", str(beir_dir), "--model", "bm25", *argv]) == 0
    captured = capsys.readouterr()
    assert expected in " ".join(captured.err.split())
    assert "(highest grade 2): 0 for every query" in " ".join(captured.err.split())
    assert main(["evaluate", "--data", str(beir_dir), "--model", "bm25", "--rel", "2"]) == 0
    assert "no judgement reaches it" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        # before: "" became Path(".") and the working folder was read as the collection / model
        (["evaluate", "--data", "", "--model", "bm25"], "--data is empty"),
        (["evaluate", "--data", " ", "--model", "bm25"], "--data is empty"),
        (["profile", "--model", "bm25", "--data", ""], "--data is empty"),
        (["evaluate", "--data", "{beir}", "--model", ""], "--model is empty"),
    ],
)
def test_an_empty_path_is_not_the_working_folder(
    argv: list[str], expected: str, beir_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line_error(capsys, [a.format(beir=beir_dir) for a in argv])
    assert expected in line


def _garbage_pickle(folder: Path) -> None:
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04garbage")


def _narrowed_weights(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "model.safetensors"))
    narrow = {k: v[..., :1].contiguous() if v.dim() else v for k, v in state.items()}
    save_file(narrow, str(folder / "model.safetensors"), metadata={"format": "pt"})


@pytest.mark.parametrize(
    ("damage", "flags", "expected"),
    [
        # before: torch's UserWarning about the pickle protocol made it three lines on stderr
        (_garbage_pickle, ["--allow-pickle"], "pytorch_model.bin: holds objects other than"),
        # before: RuntimeError (ignore_mismatched_sizes) with transformers' report, exit 1
        (_narrowed_weights, [], "model.safetensors: weights do not fit the config (their shapes"),
    ],
)
def test_weights_a_user_was_handed_are_one_line(
    damage: Callable[[Path], None],
    flags: list[str],
    expected: str,
    handed_checkpoint: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = Path(shutil.copytree(handed_checkpoint, tmp_path / "handed"))
    damage(folder)
    capsys.readouterr()
    line = one_line_error(capsys, ["export", "--model", str(folder), *flags])
    assert expected in line, line


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        # before: refused only after the model loaded and its reference scores were computed
        (["--index-dir", "{tmp}/nope"], "--index-dir {tmp}/nope: needs --data"),
        # before: refused after parity, naming a path inside the file instead of --cache-dir
        (
            ["--cache-dir", "{tmp}/file.json", "--backend", "onnx"],
            "--cache-dir {tmp}/file.json: is a file",
        ),
    ],
)
def test_profile_paths_are_checked_before_the_model_loads(
    flags: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file.json").write_text("{}")
    argv = ["profile", "--model", str(tmp_path / "no-model"), "--scenario", "query"]
    line = one_line_error(capsys, [*argv, *(f.format(tmp=tmp_path) for f in flags)])
    assert expected.format(tmp=tmp_path) in line, line


@pytest.mark.parametrize(
    ("name", "text", "read"),
    [
        ("ids.tsv", "q1\td1\td1\nq1\td1\td2\n", read_id_triples),
        (
            "text.tsv",
            "a query\tsame text\tsame text\na query\tsame text\tother\n",
            read_text_triples,
        ),
        ("scores.tsv", "1.5\t0.5\tq1\td1\td1\n1.5\t0.5\tq1\td1\td2\n", read_teacher_scores),
    ],
)
def test_a_triple_whose_positive_is_its_negative_is_counted_in_a_warning(
    name: str,
    text: str,
    read: Callable[[Path], object],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # before: read without a word, though such a pair carries no training signal
    path = tmp_path / name
    path.write_text(text)
    with caplog.at_level(logging.WARNING, logger="kdbench"):
        read(path)
    assert caplog.messages == [
        f"{path}: 1 triple(s) have the same passage as positive and negative (e.g. line 1); "
        "they carry no training signal"
    ]


def test_ir_datasets_download_failure_is_left_to_kdbench_one_line() -> None:
    # before: ir_datasets' "[WARNING] Download failed: HTTPSConnectionPool(...)" came first
    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("ir_datasets", logging.WARNING, __file__, 1, message, None, None)

    assert not DOWNLOAD_FAILED.filter(record("Download failed: HTTPSConnectionPool(host=...)"))
    assert DOWNLOAD_FAILED.filter(record("Please confirm you agree to the MSMARCO terms"))


@pytest.mark.skipif(
    "TensorrtExecutionProvider" in onnxruntime.get_available_providers(),
    reason="this onnxruntime has TensorRT",
)
def test_an_onnx_provider_this_onnxruntime_lacks_is_one_line(
    beir_dir: Path, handed_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: ORT's UserWarnings and native log lines came before kdbench's error (6 lines)
    argv = ["evaluate", "--data", str(beir_dir), "--model", str(handed_checkpoint)]
    line = one_line_error(capsys, [*argv, "--backend", "onnx", "--onnx-provider", "tensorrt"])
    assert "--onnx-provider tensorrt: this onnxruntime has no TensorrtExecutionProvider" in line


def test_a_path_whose_name_is_not_utf8_is_one_line(
    beir_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: UnicodeEncodeError (surrogates not allowed) from a cache key or the result JSON
    undecodable = os.fsdecode(os.fsencode(str(tmp_path)) + b"/bad\xffname")
    shutil.copytree(beir_dir, undecodable)
    line = one_line_error(capsys, ["evaluate", "--data", undecodable, "--model", "bm25"])
    assert "--data b'" in line and "byte 0xff is not UTF-8" in line
    good = str(tmp_path / "r✓.json")  # non-ASCII UTF-8 is a name like any other
    assert main(["evaluate", "--data", str(beir_dir), "--model", "bm25", "-o", good]) == 0


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        # before: "" became Path(".") and was refused as "--output .: is a folder", naming a
        # folder nobody typed; each path option is now checked in one place (commands/options.py)
        (["evaluate", "--data", "{beir}", "--model", "bm25", "--output", ""], "--output is empty"),
        (["evaluate", "--data", "{beir}", "--model", "bm25", "--run", " "], "--run is empty"),
        (["evaluate", "--data", "{beir}", "--model", "bm25", "--run-file", ""], "--run-file is"),
        (["train", "--model", "m", "--data", "{beir}", "--triples", "", "-o", "x"], "--triples is"),
        (["train", "--model", "m", "--data", "{beir}", "--output", ""], "--output is empty"),
        (["profile", "--model", "bm25", "--data", "{beir}", "--output", ""], "--output is empty"),
        (["profile", "--model", "m", "--onnx-model", ""], "--onnx-model is empty"),
        (["profile", "--model", "m", "--cache-dir", ""], "--cache-dir is empty"),
        (["report", "{beir}", "--output", ""], "--output is empty"),
        (["run", "p.toml", "--output", ""], "--output is empty"),
        (["export", "--model", "m", "--output", ""], "--output is empty"),
        (["teacher", "score", "--model", "bm25", "--data", "{beir}", "-o", ""], "--output is"),
        (
            ["teacher", "ensemble", "--scores", "a", "--scores", "", "--data", "d", "-o", "x"],
            "--scores",
        ),
    ],
)
def test_an_empty_path_option_is_named_as_empty(
    argv: list[str], expected: str, beir_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line_error(capsys, [a.format(beir=beir_dir) for a in argv])
    assert expected in line and "is empty; pass a file or folder name" in line, line


def test_every_output_option_has_the_short_flag() -> None:
    # before: `kdbench profile -o FILE` was "No such option: -o" while evaluate, report, run,
    # export, train and teacher take it
    with_output = {
        name: param.opts
        for name, command in COMMANDS.items()
        for param in command.params
        if "--output" in param.opts
    }
    assert "profile" in with_output
    assert {name for name, opts in with_output.items() if "-o" not in opts} == set()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        # before: each was ignored, exit 0: the index scenario times no search (--index-size,
        # --depth), a re-ranker searches no index (--index-dir), offline has no arrival rate
        (
            ["--arch", "dot", "--scenario", "index", "--index-size", "1000,2000"],
            "--index-size: only the query scenario reads it, and this profile times index; "
            "drop it or pass --scenario query",
        ),
        (
            ["--arch", "dot", "--scenario", "index", "--depth", "10"],
            "--depth: only the query, rerank and",
        ),
        (
            ["--arch", "dot", "--scenario", "index", "--doc-len", "16"],
            "--doc-len: only the query and rerank",
        ),
        (["--arch", "cat", "--index-dir", "{tmp}"], "--index-dir: only the query scenario"),
        (
            ["--arch", "dot", "--scenario", "offline", "--qps", "5"],
            "--qps: only the server scenario reads it, and",
        ),
        (["--scenario", "rerank", "--arch", "cat", "--workers", "2"], "--workers: only the server"),
    ],
)
def test_a_setting_the_scenario_does_not_read_is_refused(
    argv: list[str],
    expected: str,
    beir_dir: Path,
    tiny_bert_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ["profile", "--model", str(tiny_bert_dir), "--data", str(beir_dir)]
    line = one_line_error(capsys, [*base, *(a.format(tmp=tmp_path) for a in argv)])
    assert expected in line, line


def test_bm25_refuses_the_index_settings_it_does_not_read(
    beir_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: --index-size was ignored and BM25 timed its whole index, exit 0
    argv = ["profile", "--model", "bm25", "--data", str(beir_dir), "--index-size", "5"]
    line = one_line_error(capsys, argv)
    assert line.endswith(
        "--index-size: only the query scenario reads it, and this profile times retrieve (BM25); drop it"
    ), line
