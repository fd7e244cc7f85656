"""Adding an architecture is one module plus one registration: this module is that module.

`ToyRanker` is a bi-encoder scored by negative squared Euclidean distance; registering it
(the `toy` fixture, the one registration) is all it takes for the architecture registry,
`load_model`, training (on the batched path: each query encoded once), dense retrieval
(`kdbench evaluate` searches the collection with the toy's own scores), the profiler's
scenario dispatch, the ONNX export, the re-ranking path and the help texts derived from the
registries to know it. Nothing else in kdbench is edited.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from typer.testing import CliRunner

from kdbench.models.dot import DotRanker
from kdbench.models.registry import ARCHITECTURES, Architecture
from kdbench.profile.registry import (
    resolve_scenario,
    scenario_archs,
    scenario_class,
    scenarios_help,
)
from tests.evaluate.conftest import small_scifact_dir  # noqa: F401 (a fixture)
from tests.profile.conftest import QUICK


class ToyRanker(DotRanker):
    """One vector per text, like dot; relevance is -||q - d||^2."""

    arch: ClassVar[str] = "toy"

    def scores(self, q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        return -((q - d) ** 2).sum(-1) * self.spec.score_scale


@pytest.fixture
def toy() -> Iterator[Architecture]:
    entry = ARCHITECTURES.register(
        "toy",
        Architecture(
            "toy",
            f"{__name__}:ToyRanker",
            "bi-encoder scored by negative squared L2 distance",
            scenarios={"index": "kdbench.profile.scenarios:IndexScenario"},
            default_scenario="index",
            encodes_texts=True,
            dense_retrieval=True,
            options=frozenset({"pooling"}),
        ),
        aliases=("l2-encoder",),
    )
    yield entry
    ARCHITECTURES.unregister("toy")


def test_the_registry_lists_and_resolves_it(toy: Architecture) -> None:
    assert ARCHITECTURES.canonical("L2_Encoder") == "toy" and "toy" in ARCHITECTURES.names()
    assert ARCHITECTURES["toy"].resolve() is ToyRanker
    assert "toy (l2-encoder)" in ARCHITECTURES.describe()  # every unknown-name error lists it
    assert "toy: bi-encoder scored by negative squared L2 distance" in ARCHITECTURES.help_text()


def test_train_help_and_the_profile_validator_know_it(
    toy: Architecture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Choice lists come from the registry when asked, not from a copy taken at import."""
    from kdbench.cli import main
    from kdbench.config import load_profile

    assert main(["train", "--help"]) == 0
    assert "prettr | toy" in capsys.readouterr().out
    profile = tmp_path / "p.toml"
    profile.write_text(
        '[experiment]\nname = "t"\n[data]\nsource = "beir/scifact"\n[teacher]\n'
        'scores = ["teacher.tsv"]\n[[students]]\nname = "s"\nmodel = "m"\narch = "l2-encoder"\n'
    )
    assert load_profile(profile).students[0].arch == "toy"


def test_the_profiler_dispatches_its_scenario(toy: Architecture) -> None:
    from kdbench.profile.scenarios import IndexScenario

    assert scenario_archs("index") == ("dot", "colbert", "toy")
    assert resolve_scenario(None, "toy") == "index"
    assert scenario_class("index", "toy") is IndexScenario
    assert "index (dot, colbert, toy)" in scenarios_help() and "index for toy" in scenarios_help()
    with pytest.raises(Exception, match="--scenario rerank does not apply to toy models"):
        resolve_scenario("rerank", "toy")


def test_kdbench_profile_times_it_behind_the_parity_gate(
    toy: Architecture, tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kdbench.cli import app

    monkeypatch.setenv("KDBENCH_CACHE", str(tmp_path / "cache"))  # the ONNX export
    out = tmp_path / "toy.json"
    argv = ["profile", *QUICK, "--model", str(tiny_bert_dir), "--arch", "l2-encoder"]
    argv += ["--backend", "eager,onnx", "--batch-size", "2", "--seq-len", "16"]
    result = CliRunner().invoke(app, [*argv, "--output", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert written["config"]["arch"] == written["model"]["arch"] == "toy"
    assert written["scenario"]["name"] == "index"
    cells = {cell["backend"]: cell for cell in written["results"]}
    assert set(cells) == {"eager", "onnx"}
    for cell in cells.values():
        assert cell["arch"] == "toy" and cell["status"] == "ok" and cell["parity"]["passed"]
        assert cell["throughput"]["item"] == "passage"


def test_re_ranking_encodes_each_passage_once(toy: Architecture, tiny_bert_dir: Path) -> None:
    from kdbench.data import InMemoryDocStore
    from kdbench.evaluate.rerank import count_work, rerank
    from kdbench.models import load_model

    ranker: Any = load_model(tiny_bert_dir, "toy")
    assert isinstance(ranker, ToyRanker) and ranker.architecture is toy
    docs = InMemoryDocStore(["a", "b", "c"], ["cats purr", "dogs bark", "fish swim"])
    lists = {"q1": ["a", "b"], "q2": ["b", "c"]}
    assert count_work(ranker, lists) == 3  # unique passages, not pairs: it encodes texts apart
    run = rerank(ranker, {"q1": "cats", "q2": "dogs"}, lists, docs)
    with torch.inference_mode():
        expected = ranker.score_pairs(["cats", "cats"], ["cats purr", "dogs bark"])
    assert [run["q1"][d] for d in ("a", "b")] == pytest.approx(expected.tolist(), rel=1e-5)
    assert all(score <= 0 for scores in run.values() for score in scores.values())


def test_it_trains_on_the_batched_path(
    toy: Architecture, tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Encodes texts apart, so training encodes each query once and scores it against its
    passages (`score_encoded`), never pair by pair; the checkpoint loads back as a toy."""
    from kdbench.models import load_model
    from kdbench.train import train
    from kdbench.train.config import TrainConfig

    def per_pair(*args: object, **kwargs: object) -> torch.Tensor:
        raise AssertionError("a ranker that encodes texts apart trained pair by pair")

    encoded: list[int] = []
    batched = ToyRanker.score_encoded

    def counted(self: ToyRanker, queries: Any, docs: Any) -> torch.Tensor:
        encoded.append(len(docs))
        return batched(self, queries, docs)

    monkeypatch.setattr(ToyRanker, "score_pairs", per_pair)
    monkeypatch.setattr(ToyRanker, "score_encoded", counted)
    triples = tmp_path / "triples.tsv"
    rows = [(f"query {i}", f"passage about {i}", f"unrelated text {i}") for i in range(8)]
    triples.write_text("".join("\t".join(row) + "\n" for row in rows))
    output = tmp_path / "student"
    config = TrainConfig(
        model=str(tiny_bert_dir), output=str(output), arch="l2-encoder", loss="ranknet",
        triples=str(triples), steps=2, batch_size=4, max_query_len=12, max_doc_len=16,
        learning_rate=1e-3, quiet=True, dev_queries=0,
    )  # fmt: skip
    train(config)
    # Two steps of 4 queries x (positive, negative); the 16s are the margins measured on all
    # 8 training triples before and after training, on the same path.
    assert encoded == [16, 8, 8, 16]
    assert isinstance(load_model(output), ToyRanker)


def test_kdbench_evaluate_retrieves_with_its_own_scores(
    toy: Architecture,
    small_scifact_dir: Path,  # noqa: F811 (the fixture imported above)
    tiny_bert_dir: Path,
    tmp_path: Path,
) -> None:
    """Dense retrieval searches the whole collection with the toy's distance, not a dot product."""
    from kdbench.cli import main
    from kdbench.data import load_collection, read_run
    from kdbench.models import encode_texts, load_model

    out, run_file = tmp_path / "toy.json", tmp_path / "toy.trec"
    argv = ["evaluate", "--data", str(small_scifact_dir), "--split", "test", "--queries", "2"]
    argv += ["--model", str(tiny_bert_dir), "--arch", "toy", "--k", "5", "--batch-size", "16"]
    argv += ["--max-query-len", "16", "--max-doc-len", "32"]
    assert main([*argv, "--output", str(out), "--run-file", str(run_file)]) == 0
    result = json.loads(out.read_text())
    assert result["first_stage"]["method"] == "exact-dense" and result["config"]["arch"] == "toy"
    collection = load_collection(small_scifact_dir, "test").first_queries(2)
    model = load_model(tiny_bert_dir, "toy", max_query_len=16, max_doc_len=32)
    docs = encode_texts(model, collection.docs.get_many(list(collection.docs.ids())), "doc", 16)
    queries = encode_texts(model, list(collection.queries.values()), "query", 16)
    assert isinstance(docs, torch.Tensor) and isinstance(queries, torch.Tensor)
    expected = torch.topk(-(torch.cdist(queries, docs) ** 2), 5, dim=1)
    run = read_run(run_file)
    ids = collection.docs.ids()
    for row, qid in enumerate(collection.queries):
        assert set(run[qid]) == set(ids[expected.indices[row].numpy()].tolist())


def test_kdbench_export_reads_that_it_has_no_sentence_transformers_form(
    toy: Architecture, tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its scores are no dot product or cosine, so no SentenceTransformer folder reproduces
    them: `kdbench export` says so in one line (its ONNX export for timing is the profile's)."""
    import shutil

    from kdbench.cli import main
    from kdbench.models import load_model
    from kdbench.models.checkpoint import save_checkpoint

    folder = tmp_path / "toy-model"
    save_checkpoint(load_model(tiny_bert_dir, "toy"), folder, {})
    assert main(["export", "--model", str(folder)]) == 2
    assert "toy (kdbench layout) has no sentence-transformers form" in capsys.readouterr().err
    shutil.rmtree(folder)
