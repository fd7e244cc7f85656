"""The typed evaluate result reads back every evaluate result kdbench has written, unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdbench.errors import UserError
from kdbench.evaluate.result import EvaluateResult, FirstStage
from kdbench.json_types import JsonObject
from kdbench.results import ResultHeader
from tests.conftest import REPO, committed_results


def _evaluations() -> list[tuple[str, JsonObject]]:
    """(where, evaluate result) of every committed evaluate result, and of every one a
    committed run result holds (its models' `evaluate` and `backend_evaluations`)."""
    found: list[tuple[str, JsonObject]] = []
    for path in committed_results("results"):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            continue
        where = str(path.relative_to(REPO))
        if data.get("kind") == "evaluate":
            found.append((where, data))
        elif data.get("kind") == "run":
            for model in data.get("models", []):
                for index, evaluation in enumerate(
                    [model.get("evaluate"), *model.get("backend_evaluations", [])]
                ):
                    if evaluation:
                        found.append((f"{where}:{model['label']}:{index}", evaluation))
    return found


EVALUATIONS = _evaluations()


def test_there_are_committed_evaluations() -> None:
    assert len(EVALUATIONS) >= 38
    assert any(":" in where for where, _ in EVALUATIONS)  # some inside run results


@pytest.mark.parametrize(("where", "data"), EVALUATIONS, ids=[w for w, _ in EVALUATIONS])
def test_round_trip(where: str, data: JsonObject) -> None:
    written = EvaluateResult.from_dict(data).to_dict()
    assert written == data
    assert list(written) == list(data)  # the same keys in the same order: the same bytes
    assert json.dumps(written, indent=2) == json.dumps(data, indent=2)


def test_the_committed_files_are_byte_identical(tmp_path: Path) -> None:
    from kdbench.results import save_result

    path = next(p for p in committed_results("results") if "foundation/scifact-bm25" in str(p))
    written = save_result(
        tmp_path / "r.json", EvaluateResult.from_dict(json.loads(path.read_text())).to_dict()
    )
    assert written.read_bytes() == path.read_bytes()


def test_attributes_read_what_the_json_holds() -> None:
    data = next(d for w, d in EVALUATIONS if "cat-rerank-bm25" in w)
    result = EvaluateResult.from_dict(data)
    assert result.metrics == data["metrics"]
    assert result.first_stage is not None and result.first_stage.method == "bm25"
    assert result.first_stage.to_dict() == data["first_stage"] and result.first_stage.depth
    assert result.settings.reranked and result.settings.arch == "cat"
    assert result.settings.artifact == ("eager", "fp32")
    assert result.queries == len(next(iter((result.per_query or {}).values())))


def test_a_new_result_writes_provenance_and_distributed_only_when_held() -> None:
    header = ResultHeader(kind="evaluate", config={"model": "bm25"}, environment={}, created="t",
                          command="kdbench evaluate")  # fmt: skip
    stage = FirstStage({"method": "bm25", "k": 10})
    bare = EvaluateResult(header, {"nDCG@10": 0.5}, {"nDCG@10": {"q": 0.5}}, stage, 1, {}, [])
    assert "distributed" not in bare.to_dict() and "provenance" not in bare.to_dict()
    sharded = EvaluateResult.from_dict({**bare.to_dict(), "distributed": {"world_size": 2}})
    assert sharded.distributed == {"world_size": 2}
    assert list(sharded.to_dict())[-1] == "distributed"


def test_a_malformed_result_is_named() -> None:
    with pytest.raises(UserError, match="not an evaluate result"):
        EvaluateResult.from_dict({"kind": "profile"})
    with pytest.raises(UserError, match=r"per_query\['nDCG@10'\]\['q'\] is 'high', not a number"):
        EvaluateResult.from_dict({"kind": "evaluate", "per_query": {"nDCG@10": {"q": "high"}}})
