"""Messy but valid collections load, as trec_eval, BEIR and ir_datasets accept them.

Empty documents are kept (BM25 never retrieves them), empty queries skipped with a count,
repeated qrels lines counted once, negative grades kept; each with a warning that counts
them. The metrics are checked against trec_eval (pytrec_eval) on the run file kdbench wrote.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import pytrec_eval

from kdbench.cli import main
from tests.robustness.conftest import DOCS, QRELS, QUERIES, write_beir


def _qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for line in path.read_text().splitlines()[1:]:  # BEIR's header first
        qid, doc_id, grade = line.split("\t")
        qrels.setdefault(qid, {})[doc_id] = int(grade)
    return qrels


def _run(path: Path) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    for line in path.read_text().splitlines():
        qid, _, doc_id, _, score, _ = line.split()
        run.setdefault(qid, {})[doc_id] = float(score)
    return run


def trec_eval_means(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> dict:
    """kdbench's five measures by trec_eval, averaged as `trec_eval -c` (a judged query
    missing from the run scores 0). trec_eval has no RR cut-off: RR@10 is recip_rank on each
    query's top 10, in trec_eval's order (score descending, doc id descending)."""
    full = pytrec_eval.RelevanceEvaluator(
        qrels, {"ndcg_cut.10", "recall.100,1000", "map"}
    ).evaluate(run)
    top10 = {
        qid: dict(sorted(docs.items(), key=lambda d: (d[1], d[0]), reverse=True)[:10])
        for qid, docs in run.items()
    }
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    names = {
        "nDCG@10": (full, "ndcg_cut_10"),
        "RR@10": (rr, "recip_rank"),
        "R@100": (full, "recall_100"),
        "R@1000": (full, "recall_1000"),
        "AP": (full, "map"),
    }
    return {
        key: sum(scores.get(qid, {}).get(name, 0.0) for qid in qrels) / len(qrels)
        for key, (scores, name) in names.items()
    }


def _evaluate(data: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict, str]:
    argv = ["evaluate", "--data", str(data), "--split", "test", "--model", "bm25"]
    argv += ["--output", str(out / "result.json"), "--run-file", str(out / "run.trec")]
    assert main(argv) == 0
    err = " ".join(capsys.readouterr().err.split())  # rich wraps lines at the width
    return json.loads((out / "result.json").read_text()), err


def test_empty_documents_evaluate_and_match_trec_eval(
    scifact_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # SciFact with two judged documents emptied (no title, no text), as in the classic
    # collection that kdbench once refused whole.
    data = tmp_path / "scifact"
    shutil.copytree(scifact_dir, data)
    qrels = _qrels(data / "qrels" / "test.tsv")
    emptied = sorted({doc_id for judged in qrels.values() for doc_id in judged})[:2]
    lines = []
    for line in (data / "corpus.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["_id"] in emptied:
            record = {"_id": record["_id"], "title": "", "text": ""}
        lines.append(json.dumps(record))
    (data / "corpus.jsonl").chmod(0o644)
    (data / "corpus.jsonl").write_text("\n".join(lines) + "\n")

    result, err = _evaluate(data, tmp_path, capsys)
    assert "2 document(s) have no text (nor title) and are kept" in err
    assert any("2 document(s) have no text" in w for w in result["warnings"])
    run = _run(tmp_path / "run.trec")
    assert not {doc_id for docs in run.values() for doc_id in docs} & set(emptied)
    expected = trec_eval_means(qrels, run)
    assert result["queries"] == len(qrels) == 300
    assert result["metrics"] == pytest.approx(expected, abs=1e-12)


def test_an_empty_query_is_skipped_with_a_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    messy = write_beir(
        tmp_path / "messy",
        queries={**QUERIES, "q9": "  "},
        qrels={**QRELS, "q9": {"d4": 1}},
    )
    clean = write_beir(tmp_path / "clean")
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    result, err = _evaluate(messy, tmp_path / "a", capsys)
    assert "1 query(ies) have empty text and are skipped with their judgements (e.g. 'q9')" in err
    assert "no query text" not in err  # counted once, as an empty query
    reference, _ = _evaluate(clean, tmp_path / "b", capsys)
    assert result["queries"] == 3 and result["metrics"] == reference["metrics"]


def test_repeated_qrels_lines_and_negative_grades_are_kept_with_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    qrels = {**QRELS, "q1": {"d1": 1, "d7": -2}}
    data = write_beir(tmp_path / "beir", qrels=qrels)
    with (data / "qrels" / "test.tsv").open("a") as handle:
        handle.write("q1\td1\t1\n")  # line 7 repeats line 2
    (tmp_path / "out").mkdir()
    result, err = _evaluate(data, tmp_path / "out", capsys)
    assert "1 line(s) repeat an earlier judgement and are counted once (e.g. line 7)" in err
    assert "1 judgement(s) have a negative grade (e.g. query 'q1', doc 'd7')" in err
    expected = trec_eval_means(qrels, _run(tmp_path / "out" / "run.trec"))
    assert result["metrics"] == pytest.approx(expected, abs=1e-12)


def test_an_empty_passage_in_a_tsv_collection_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_beir(tmp_path / "beir")
    (data / "corpus.jsonl").unlink()
    rows = [f"{doc_id}\t{text}" for doc_id, text in DOCS.items()] + ["d99\t"]
    (data / "collection.tsv").write_text("\r\n".join(rows) + "\r\n")
    (tmp_path / "out").mkdir()
    result, _ = _evaluate(data, tmp_path / "out", capsys)
    (warning,) = result["warnings"]
    assert warning == (
        f"{data / 'collection.tsv'}: 1 document(s) have no text (nor title) and are kept "
        "(e.g. 'd99'); BM25 never retrieves them, dense models encode them as empty text"
    )
    assert result["config"]["collection"]["documents"] == len(DOCS) + 1


def test_a_corpus_without_any_indexable_term_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_beir(tmp_path / "beir", docs={"d1": "", "d2": "the a", "d3": " "})
    argv = ["evaluate", "--data", str(data), "--model", "bm25"]
    assert main(argv) == 2
    assert "none of its 3 documents has a term BM25 can index" in capsys.readouterr().err


@pytest.mark.parametrize("arch", ["dot", "colbert", "cat"])
def test_neural_rankers_take_empty_documents(
    arch: str, tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # dot retrieves from the whole corpus (it encodes the empty documents); colbert and cat
    # re-rank a given run that holds them: each scores what it is given.
    data = write_beir(tmp_path / "beir", docs={**DOCS, "e1": "", "e2": "  "})
    run = tmp_path / "given.trec"
    run.write_text(
        "".join(
            f"{qid} Q0 {doc_id} {rank} {10 - rank} given\n"
            for qid in QUERIES
            for rank, doc_id in enumerate(["e1", "d1", "e2", "d2", "d3"], start=1)
        )
    )
    argv = ["evaluate", "--data", str(data), "--model", str(tiny_bert_dir), "--arch", arch]
    argv += ["--max-query-len", "8", "--max-doc-len", "16", "--output", str(tmp_path / "r.json")]
    argv += [] if arch == "dot" else ["--run", str(run)]
    assert main(argv) == 0, capsys.readouterr().err
    result = json.loads((tmp_path / "r.json").read_text())
    assert any("2 document(s) have no text" in w for w in result["warnings"])
    assert all(0 <= value <= 1 for value in result["metrics"].values())
