"""Triples and teacher-score files: the paper's formats, malformed rows, ensembles, mining, the dev slice."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdbench.data.teacher_scores import (
    ScoredTriple,
    ensemble_teacher_scores,
    normalize_scores,
    read_teacher_scores,
    write_teacher_scores,
)
from kdbench.data.triples import (
    Triple,
    detect_triples_format,
    mine_triples,
    read_id_triples,
    read_text_triples,
    split_dev_queries,
    text_id,
    write_id_triples,
)
from kdbench.errors import InputFileError


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_teacher_scores_round_trip_exactly(tmp_path: Path) -> None:
    rows = [
        ScoredTriple("1", "d1", "d2", 0.1 + 0.2, -3.5e-7),
        ScoredTriple("q 2", "a", "b", 12.0, 11.0),
    ]
    path = write_teacher_scores(tmp_path / "scores.tsv", rows)
    assert path.read_text().splitlines()[0] == "0.30000000000000004\t-3.5e-07\t1\td1\td2"
    assert read_teacher_scores(path) == rows


def test_reads_the_published_layout(tmp_path: Path) -> None:
    # Zenodo 4068216: pos_score neg_score qid pid_pos pid_neg, scores with 6 decimals, CRLF tolerated.
    path = _write(tmp_path / "t.tsv", "9.123456\t-1.5\t1000\t7\t8\r\n\n3\t4\t1001\t9\t10\n")
    rows = read_teacher_scores(path)
    assert rows[0] == ScoredTriple("1000", "7", "8", 9.123456, -1.5)
    assert rows[1].margin == -1.0


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "1\t2\tq\tp\n1\t2\tq\tp\n",
            1,
            "4 tab-separated fields; expected 5: pos_score<TAB>neg_score",
        ),
        ("1\t2\tq\tp\tn\nhigh\t2\tq\tp\tn\n", 2, "pos_score 'high' is not a number"),
        ("1\tnan\tq\tp\tn\n", 1, "neg_score is nan; teacher scores must be finite"),
        ("1\t2\tq\t\tn\n", 1, "empty qid, pid_pos or pid_neg"),
    ],
)
def test_malformed_teacher_scores_name_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = _write(tmp_path / "bad.tsv", text)
    with pytest.raises(InputFileError, match=message) as info:
        read_teacher_scores(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_missing_and_empty_teacher_files(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such teacher-score file"):
        read_teacher_scores(tmp_path / "absent.tsv")
    with pytest.raises(InputFileError, match="is empty"):
        read_teacher_scores(_write(tmp_path / "empty.tsv", "\n"))
    with pytest.raises(InputFileError, match="not valid UTF-8") as info:
        (tmp_path / "latin.tsv").write_bytes(b"1\t2\tq\tp\tn\n1\t2\tq\xe9\tp\tn\n")
        read_teacher_scores(tmp_path / "latin.tsv")
    assert info.value.line == 2


def test_ensemble_is_the_mean_per_triple_in_the_first_files_order() -> None:
    a = [ScoredTriple("q", "p", "n1", 4.0, 0.0), ScoredTriple("q", "p", "n2", 2.0, 2.0)]
    b = [
        ScoredTriple("q", "p", "n2", 0.0, 1.0),
        ScoredTriple("q", "p", "n1", 6.0, 1.0),
    ]  # other order
    mean = ensemble_teacher_scores([a, b])
    assert mean == [ScoredTriple("q", "p", "n1", 5.0, 0.5), ScoredTriple("q", "p", "n2", 1.0, 1.5)]


def test_ensemble_normalises_each_teacher_first() -> None:
    a = [ScoredTriple("q", "p", "n", 10.0, 0.0)]  # z-scores: +1, -1
    b = [ScoredTriple("q", "p", "n", 0.2, 0.1)]  # z-scores: +1, -1
    (mean,) = ensemble_teacher_scores([a, b], "zscore")
    assert (mean.pos_score, mean.neg_score) == (pytest.approx(1.0), pytest.approx(-1.0))
    # minmax over one teacher's pos and neg scores together
    rows = [ScoredTriple("q", "p", "n", 3.0, 1.0), ScoredTriple("q", "p", "m", 5.0, 1.0)]
    assert [(r.pos_score, r.neg_score) for r in normalize_scores(rows, "minmax")] == [
        (0.5, 0.0),
        (1.0, 0.0),
    ]


def test_ensemble_of_different_triples_is_an_error() -> None:
    a = [ScoredTriple("q", "p", "n1", 1.0, 0.0)]
    b = [ScoredTriple("q", "p", "n9", 1.0, 0.0)]
    with pytest.raises(
        InputFileError, match=r"b.tsv: does not score the same triples as a.tsv \(e.g. q\tp\tn1\)"
    ):
        ensemble_teacher_scores([a, b], names=["a.tsv", "b.tsv"])


def test_triples_formats_are_detected_and_read(tmp_path: Path) -> None:
    ids = _write(tmp_path / "ids.tsv", "1\t10\t20\n2\t11\t21\n")
    texts = _write(tmp_path / "text.tsv", "what is a cat\ta small feline\ta large truck\n")
    scores = _write(tmp_path / "scores.tsv", "1.5\t0.5\t1\t10\t20\n")
    assert [detect_triples_format(p) for p in (ids, texts, scores)] == ["ids", "text", "scores"]
    assert read_id_triples(ids) == [Triple("1", "10", ("20",)), Triple("2", "11", ("21",))]
    read = read_text_triples(texts)
    (triple,) = read.triples
    assert read.queries[triple.qid] == "what is a cat"
    assert (
        read.docs[triple.pos_id] == "a small feline"
        and read.docs[triple.neg_ids[0]] == "a large truck"
    )
    assert triple.qid == text_id("what is a cat")


def test_malformed_triples_name_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "ids.tsv", "1\t10\t20\n2\t11\n")
    with pytest.raises(InputFileError, match="expected qid<TAB>pid_pos<TAB>pid_neg") as info:
        read_id_triples(path)
    assert info.value.line == 2
    path = _write(tmp_path / "text.tsv", "q\tpos\tneg\nq\tpos\n")
    with pytest.raises(
        InputFileError, match="expected query<TAB>positive_text<TAB>negative_text"
    ) as info:
        read_text_triples(path)
    assert info.value.line == 2
    with pytest.raises(InputFileError, match="4 tab-separated fields; expected a triples file"):
        detect_triples_format(_write(tmp_path / "four.tsv", "a\tb\tc\td\n"))


def test_write_id_triples_one_line_per_negative(tmp_path: Path) -> None:
    path = write_id_triples(tmp_path / "t.tsv", [Triple("q", "p", ("n1", "n2"))])
    assert path.read_text() == "q\tp\tn1\nq\tp\tn2\n"


def test_mining_uses_the_top_k_minus_positives_without_repeats() -> None:
    qrels = {"q1": {"p": 1, "x": 0}, "q2": {"p2": 1}, "q3": {"p3": 1}}
    run = {
        "q1": {"p": 10.0, "a": 9.0, "x": 8.5, "b": 8.0, "c": 7.0, "deep": 1.0},
        "q2": {"p2": 3.0},  # no negative candidate: skipped
        "q3": {"e": 2.0, "f": 1.0},
    }
    triples = mine_triples(qrels, run, ["q1", "q2", "q3"], depth=5, triples_per_positive=4, seed=0)
    by_query: dict[str, list[str]] = {}
    for t in triples:
        by_query.setdefault(t.qid, []).append(t.neg_ids[0])
    # q1's candidates in the top 5 are a, x (grade 0 is not a positive) and b, c; each used once.
    assert sorted(by_query["q1"]) == ["a", "b", "c", "x"]
    assert sorted(by_query["q3"]) == ["e", "e", "f", "f"]  # two candidates, walked twice
    assert "q2" not in by_query
    # Seeded: the same triples again.
    assert (
        mine_triples(qrels, run, ["q1", "q2", "q3"], depth=5, triples_per_positive=4, seed=0)
        == triples
    )
    several = mine_triples(
        qrels, run, ["q1"], depth=5, triples_per_positive=2, negatives_per_triple=2, seed=1
    )
    assert all(len(set(t.neg_ids)) == 2 for t in several)
    assert sorted(n for t in several for n in t.neg_ids) == ["a", "b", "c", "x"]


def test_dev_slice_is_seeded_and_disjoint() -> None:
    qids = [str(i) for i in range(100)]
    train, dev = split_dev_queries(qids, 10, seed=7)
    assert len(dev) == 10 and not set(train) & set(dev) and sorted(train + dev) == sorted(qids)
    assert split_dev_queries(list(reversed(qids)), 10, seed=7) == (train, dev)
    assert split_dev_queries(qids, 10, seed=8)[1] != dev
