"""Run and qrels files: round trips, formats, the tie-breaking order."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kdbench.data import ranked, read_qrels, read_run, write_run
from kdbench.data.runs import truncate


def test_run_round_trip_is_exact(tmp_path: Path) -> None:
    run = {"q2": {"d1": 0.1 + 0.2, "d2": -3.5e-12, "d3": 1e300}, "q1": {"d9": 7.0, "d10": 7.0}}
    path = write_run(tmp_path / "run.trec", run, tag="mine")
    assert read_run(path) == run
    lines = path.read_text().splitlines()
    assert lines[0] == "q2 Q0 d3 1 1e+300 mine"
    assert lines[3:] == ["q1 Q0 d9 1 7.0 mine", "q1 Q0 d10 2 7.0 mine"]  # tie: doc id descending


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(
        st.text("abc123", min_size=1, max_size=4),
        st.dictionaries(
            st.text("xyz789", min_size=1, max_size=5),
            st.floats(allow_nan=False, allow_infinity=False),
            min_size=1,
        ),
        min_size=1,
    )
)
def test_run_round_trip_property(tmp_path_factory, run: dict[str, dict[str, float]]) -> None:  # type: ignore[no-untyped-def]
    path = write_run(tmp_path_factory.mktemp("runs") / "run.trec", run)
    assert read_run(path) == run


def test_ranked_breaks_ties_like_trec_eval() -> None:
    assert ranked({"a": 1.0, "c": 1.0, "b": 2.0, "d": 0.5}) == [
        ("b", 2.0),
        ("c", 1.0),
        ("a", 1.0),
        ("d", 0.5),
    ]
    assert truncate({"q": {"a": 1.0, "c": 1.0, "b": 2.0}}, 2) == {"q": {"b": 2.0, "c": 1.0}}


def test_trec_and_beir_qrels_read_the_same(tmp_path: Path) -> None:
    trec = tmp_path / "qrels.trec"
    trec.write_text("1 0 d1 1\n1 0 d2 0\n2 Q0 d1 3\n", encoding="utf-8")
    beir = tmp_path / "test.tsv"
    beir.write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\t0\n2\td1\t3\n", encoding="utf-8")
    headerless = tmp_path / "plain.tsv"
    headerless.write_text("1\td1\t1\n1\td2\t0\n2\td1\t3\n", encoding="utf-8")
    expected = {"1": {"d1": 1, "d2": 0}, "2": {"d1": 3}}
    assert read_qrels(trec) == read_qrels(beir) == read_qrels(headerless) == expected


def test_shared_qrels_files_load(scifact_dir: Path, msmarco_eval_dir: Path) -> None:
    assert sum(len(j) for j in read_qrels(scifact_dir / "qrels" / "test.tsv").values()) == 339
    assert (
        sum(len(j) for j in read_qrels(msmarco_eval_dir / "qrels" / "dev-small.tsv").values())
        == 7437
    )
