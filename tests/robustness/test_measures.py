"""A `--measure` is checked where it is typed: parsed, computable here, on these qrels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kdbench.config import load_profile
from kdbench.errors import UserError
from kdbench.evaluate.metrics import (
    LARGEST,
    check_computable,
    chosen_measures,
    parse_measures,
    split_measures,
)
from tests.robustness.conftest import one_line_error

# Each aborts the interpreter inside pytrec_eval (a C assertion) when computed.
KILLERS = ["P@0", "nDCG@0", "R@0", "AP@0", "Success@0"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        *(
            (killer, f"--measure '{killer}': cutoff 0 must be a whole number from 1")
            for killer in KILLERS
        ),
        ("RR@0", "cutoff 0 must be a whole number"),  # msmarco's RR@0 would be 0 for every query
        ("Judged@0", "cutoff 0 must be a whole number"),
        (f"P@{LARGEST + 1}", f"cutoff {LARGEST + 1} must be a whole number from 1 to {LARGEST}"),
        ("P@99999999999999999999", "write e.g. P@10"),
        ("nDCG@1.5", "cutoff 1.5 must be a whole number"),
        ("P@True", "cutoff True must be a whole number"),
        ("AP(rel=0)", "rel 0 must be a whole number from 1"),
        ("RR(rel=0)", "write e.g. RR(rel=2)"),
        ("P", "P needs a cutoff: write e.g. P@10"),
        ("RBP", "no installed ir_measures provider computes RBP"),
        ("NumRel(rel=2)", "no installed ir_measures provider computes NumRel(rel=2)"),
        ("Compat(p=2)", "invalid param p=2"),
        ("IPrec@2", "invalid param recall=2"),
        ("P@-1", "not an ir_measures measure"),
        ("Foo@10", "not an ir_measures measure; write e.g."),
        ("(" * 300, "not an ir_measures measure"),
        (" , ", "names no measure"),
    ],
)
def test_a_measure_that_cannot_be_computed_is_refused_at_parse(text: str, message: str) -> None:
    with pytest.raises(UserError) as raised:
        parse_measures(text)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 300


def test_the_measures_that_kill_pytrec_eval_do_kill_it() -> None:
    """Why cutoff 0 is refused rather than left to ir_measures: the process dies."""
    code = (
        "import ir_measures\n"
        "list(ir_measures.iter_calc([ir_measures.parse_measure('P@0')],"
        " {'1': {'a': 1}}, {'1': {'a': 1.0}}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert done.returncode < 0 or done.returncode == 134, done.stderr.decode()[-500:]


def test_commas_inside_parameters_stay_with_their_measure() -> None:
    assert split_measures("nDCG@10,Compat(p=0.5,normalize=False)  SetF(beta=0.5)") == [
        "nDCG@10",
        "Compat(p=0.5,normalize=False)",
        "SetF(beta=0.5)",
    ]
    assert parse_measures("Compat(p=0.5,normalize=False), RR(rel=2)@10") == (
        "Compat(p=0.5,normalize=False)",
        "RR(rel=2)@10",
    )


def test_measures_the_qrels_cannot_give_are_refused_before_any_work() -> None:
    named = {"q1": {"d1": 1, "d2": 0}, "q2": {"d3": 2}}
    numbered = {"1": {"d1": 1, "d2": 0}, "2": {"d3": 2}}
    # gdeval (ERR, nDCG(dcg="exp-log2")) reads numeric query ids only
    for text in ("ERR@10", 'nDCG(dcg="exp-log2")@10'):
        chosen = chosen_measures(parse_measures(text))
        check_computable(chosen, numbered)
        with pytest.raises(UserError, match="ir_measures cannot compute it on these qrels"):
            check_computable(chosen, named)
    # pytrec_eval takes integer gains only
    with pytest.raises(UserError, match=r"'nDCG\(gains=\{1:0.5\}\)@10'"):
        check_computable(chosen_measures(["nDCG(gains={1:0.5})@10"]), numbered)
    check_computable(chosen_measures(None), named)  # the defaults compute on any qrels


@pytest.mark.parametrize("measure", ["P@0", "RBP", "P(rel=0)@5"])
def test_evaluate_refuses_before_it_starts(
    beir_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], measure: str
) -> None:
    out = tmp_path / "eval.json"
    argv = ["evaluate", "--data", str(beir_dir), "--model", "bm25", "--measure", measure]
    error = one_line_error(capsys, [*argv, "--output", str(out)])
    assert f"--measure '{measure}'" in error
    assert not out.exists()


def test_evaluate_refuses_a_measure_these_qrels_cannot_give(
    beir_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval.json"
    argv = ["evaluate", "--data", str(beir_dir), "--model", "bm25", "--measure", "nDCG@10 ERR@10"]
    error = one_line_error(capsys, [*argv, "--output", str(out)])
    assert "--measure 'ERR@10': ir_measures cannot compute it on these qrels" in error
    assert not out.exists() and not (tmp_path / "kdbench-cache" / "bm25").exists()


def test_report_and_profile_measures_are_checked_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = one_line_error(capsys, ["report", str(tmp_path), "--measure", "nDCG@0"])
    assert "--measure 'nDCG@0': cutoff 0" in error
    profile = tmp_path / "p.toml"
    profile.write_text('[evaluate]\nmeasures = ["nDCG@10", "AP@0"]\n')
    with pytest.raises(UserError, match="measures: 'AP@0': cutoff 0 must be a whole number"):
        load_profile(profile)


def test_run_refuses_a_measure_the_test_qrels_cannot_give_before_any_stage(
    beir_dir: Path, tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    profile = tmp_path / "p.toml"
    profile.write_text(
        f'[experiment]\nname = "m"\noutput = "{out}"\n[data]\nsource = "{beir_dir}"\ntrain_split = "test"\n'
        f'[evaluate]\nmeasures = ["nDCG@10", "ERR@10"]\n'
        f'[[students]]\nname = "s"\nmodel = "{tiny_bert_dir}"\narch = "dot"\nloss = "ranknet"\n'
        "steps = 1\n"
    )
    error = one_line_error(capsys, ["run", str(profile)])
    assert "evaluate.measures: --measure 'ERR@10': ir_measures cannot compute it" in error
    assert "(split test)" in error and not out.exists()
