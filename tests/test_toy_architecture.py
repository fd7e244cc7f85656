"""Adding an architecture is one module plus one registration: this module is that module.

`ToyRanker` is a bi-encoder scored by negative squared Euclidean distance; registering it
(the `toy` fixture, the one registration) is all it takes for the architecture registry,
`load_model`, the profiler's scenario dispatch, the backends, the re-ranking path and the
help texts derived from the registries to know it. Nothing else in kdbench is edited.
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
