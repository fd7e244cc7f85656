"""`kdbench evaluate` end to end on real data with the tiny model and a handful of queries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kdbench.cli import app, main
from kdbench.data import load_collection, read_run, write_run
from kdbench.data.runs import ranked
from kdbench.evaluate.metrics import MEASURE_NAMES, compute_metrics
from tests.helpers import cli_options

TINY = {"max_query_len": 16, "max_doc_len": 32, "batch_size": 16}


def invoke(**options: object) -> dict[str, Any]:
    """`kdbench evaluate` with these options (`output` among them); asserts exit code 0 and the
    result's common shape, and returns the result."""
    result = CliRunner().invoke(app, ["evaluate", *cli_options(**options)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    output = Path(str(options["output"]))
    data: dict[str, Any] = json.loads(output.read_text())
    assert data["schema"] == "kdbench.result" and data["kind"] == "evaluate"
    assert tuple(data["metrics"]) == MEASURE_NAMES
    assert set(data["per_query"]) == set(MEASURE_NAMES)
    assert data["units"]["timings"].startswith("s")
    assert "nDCG@10" in result.stdout  # the metrics table
    return data


def test_bm25_writes_result_and_run(scifact_dir: Path, tmp_path: Path) -> None:
    out, run_file = tmp_path / "bm25.json", tmp_path / "bm25.trec"
    result = invoke(
        data=scifact_dir, split="test", model="bm25", output=out, run_file=run_file, queries=5
    )
    collection = load_collection(scifact_dir, "test").first_queries(5)
    run = read_run(run_file)
    assert list(run) == list(collection.queries)
    assert result["metrics"] == compute_metrics(run, collection.qrels)[0]
    assert set(result["per_query"]["nDCG@10"]) == set(collection.queries)
    assert result["first_stage"]["k1"] == 0.9 and result["first_stage"]["b"] == 0.4
    assert result["first_stage"]["stemmer"] == "english" and result["first_stage"]["k"] == 1000
    assert result["config"]["collection"]["documents"] == 5183
    assert result["queries"] == 5
    assert {"load_s", "index_s", "search_s", "metrics_s", "total_s"} <= set(result["timings"])


def test_dot_full_retrieval_matches_a_full_sort(
    small_scifact_dir: Path, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    import torch

    from kdbench.models import encode_texts, load_model

    out, run_file = tmp_path / "dot.json", tmp_path / "dot.trec"
    result = invoke(
        data=small_scifact_dir, split="test", model=tiny_bert_dir, arch="dot", queries=3, k=20,
        output=out, run_file=run_file, **TINY,
    )  # fmt: skip
    assert result["first_stage"]["method"] == "exact-dense"
    assert result["config"]["arch"] == "dot" and result["config"]["model_spec"]["max_doc_len"] == 32
    assert {"encode_s", "search_s"} <= set(result["timings"])
    collection = load_collection(small_scifact_dir, "test").first_queries(3)
    assert 300 < len(collection.docs) < 320
    model = load_model(tiny_bert_dir, "dot", max_query_len=16, max_doc_len=32)
    doc_vectors = torch.cat(
        # the chunks `evaluate` encodes in (one here), so the scores are its bits
        [encode_texts(model, texts, "doc", 16) for _, texts in collection.docs.iter_batches(4096)]
    )
    query_vectors = encode_texts(model, list(collection.queries.values()), "query", 16)
    all_scores = query_vectors @ doc_vectors.T
    expected = torch.topk(all_scores, 20, dim=1)
    run = read_run(run_file)
    doc_ids = collection.docs.ids()
    for row, qid in enumerate(collection.queries):
        # Docs tied at the 20th place are chosen by the one tie rule (`ranked`), not topk's.
        scores = dict(zip(doc_ids.tolist(), all_scores[row].tolist(), strict=True))
        assert set(run[qid]) == {doc for doc, _ in ranked(scores)[:20]}
        retrieved = sorted(run[qid].values(), reverse=True)
        torch.testing.assert_close(
            torch.tensor(retrieved), expected.values[row], rtol=1e-4, atol=1e-4
        )


def test_cat_reranks_bm25(scifact_dir: Path, tiny_bert_dir: Path, tmp_path: Path) -> None:
    out, run_file = tmp_path / "cat.json", tmp_path / "cat.trec"
    result = invoke(
        data=scifact_dir, split="test", model=tiny_bert_dir, arch="cat", rerank="bm25", depth=20,
        queries=5, output=out, run_file=run_file, **TINY,
    )  # fmt: skip
    assert result["config"]["reranked"] is True
    assert result["first_stage"]["method"] == "bm25" and result["first_stage"]["depth"] == 20
    assert "rerank_s" in result["timings"]
    assert all(len(docs) <= 20 for docs in read_run(run_file).values())


def test_checkpoint_carries_its_arch_and_reranks_a_given_run(
    scifact_dir: Path, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    from kdbench.models import load_model, save_checkpoint

    checkpoint = save_checkpoint(
        load_model(tiny_bert_dir, "colbert", max_query_len=16, max_doc_len=32), tmp_path / "student"
    )
    first_stage = {"1": {"4983": 2.0, "5836": 1.0, "7912": 0.5}, "3": {"4983": 1.0}}
    write_run(tmp_path / "first.trec", first_stage)
    scifact = {"data": scifact_dir, "split": "test", "model": checkpoint, "queries": 2}
    result = invoke(**scifact, run=tmp_path / "first.trec", output=tmp_path / "student.json")
    assert result["config"]["arch"] == "colbert"
    assert result["first_stage"]["method"] == "run"
    default = invoke(**scifact, depth=5, output=tmp_path / "default.json")
    assert default["first_stage"]["method"] == "bm25" and default["first_stage"]["depth"] == 5


def test_evaluate_a_run_on_topics_without_passages(msmarco_eval_dir: Path, tmp_path: Path) -> None:
    collection = load_collection(msmarco_eval_dir, "dl19")
    run = {
        qid: {doc_id: float(grade) + 0.01 * i for i, (doc_id, grade) in enumerate(judged.items())}
        for qid, judged in list(collection.qrels.items())[:40]
    }
    run["not-a-dl19-query"] = {"1": 1.0}
    write_run(tmp_path / "run.trec", run)
    result = invoke(
        data=msmarco_eval_dir,
        split="dl19",
        run=tmp_path / "run.trec",
        rel=2,
        output=tmp_path / "dl19.json",
    )
    del run["not-a-dl19-query"]
    assert result["metrics"] == compute_metrics(run, collection.qrels, rel=2)[0]
    assert len(result["per_query"]["AP"]) == 43  # the 3 queries the run lacks score 0
    assert any("not-a-dl19-query" in warning for warning in result["warnings"])


def test_ir_datasets_id_gives_the_folder_numbers(
    irds_home: Path, scifact_dir: Path, tmp_path: Path
) -> None:
    by_id = invoke(data="beir/scifact/test", model="bm25", queries=5, output=tmp_path / "a.json")
    by_folder = invoke(
        data=scifact_dir, split="test", model="bm25", queries=5, output=tmp_path / "b.json"
    )
    assert by_id["metrics"] == by_folder["metrics"]
    assert by_id["config"]["collection"]["id"] == "beir/scifact/test"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "bm25", "--rerank", "bm25"], "--model bm25 is itself a first stage"),
        (
            ["--model", "x", "--rerank", "bm25", "--run", "r.trec"],
            "--rerank and --run both name a first stage",
        ),
        (["--model", "bm25", "--arch", "dot"], "--arch applies to neural rankers"),
        ([], "nothing to evaluate"),
        (["--model", "bm25", "--depth", "0"], "--depth: must be at least 1, got 0"),
        (
            ["--model", "bm25", "--rerank", "dense"],
            "--rerank dense: the only built-in first stage is bm25",
        ),
    ],
)
def test_option_mistakes_exit_2(
    scifact_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["evaluate", "--data", str(scifact_dir), "--split", "test", *args]) == 2
    assert message in capsys.readouterr().err


def test_unknown_data_and_foreign_run_exit_2(
    scifact_dir: Path, tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--data", str(tmp_path / "nowhere"), "--model", "bm25"]) == 2
    assert "no such folder, and not an ir_datasets id" in capsys.readouterr().err
    write_run(tmp_path / "foreign.trec", {"1": {"msmarco-123": 1.0}})
    options = cli_options(
        data=scifact_dir, split="test", model=tiny_bert_dir, arch="dot",
        run=tmp_path / "foreign.trec", **TINY,
    )  # fmt: skip
    code = main(["evaluate", *options])
    assert code == 2
    assert "doc id 'msmarco-123' is not in the corpus corpus.jsonl" in capsys.readouterr().err


def test_ranking_a_topics_only_folder_says_to_pass_a_run(
    msmarco_eval_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["evaluate", "--data", str(msmarco_eval_dir), "--split", "dl19", "--model", "bm25"])
        == 2
    )
    assert (
        "has no passages (corpus.jsonl or collection.tsv): evaluate a given run with --run FILE"
        in capsys.readouterr().err
    )
