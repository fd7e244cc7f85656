"""`report --compare` compares like with like: results of another collection, split, query set
or measures are refused, naming what differs; `--allow-different-queries` warns instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kdbench.cli import main
from kdbench.report.like import differences, scope_of
from kdbench.results import new_result, save_result

ENV: dict[str, Any] = {"cpu": "test cpu"}
QUERIES = {"q1": 0.5, "q2": 0.7, "q3": 0.9}


def evaluation(
    per_query: dict[str, float] = QUERIES,
    *,
    collection: str = "/data/scifact",
    split: str = "test",
    measures: tuple[str, ...] = ("nDCG@10", "RR@10"),
    rel: int = 1,
) -> dict[str, Any]:
    config = {"model": "m", "label": "dot", "arch": "dot", "data": collection, "split": split,
              "rel": rel, "collection": {"path": collection, "split": split}}  # fmt: skip
    result = new_result("evaluate", config, environment=ENV)
    result["per_query"] = {m: dict(per_query) for m in measures}
    result["metrics"] = {m: sum(per_query.values()) / len(per_query) for m in measures}
    result["queries"] = len(per_query)
    return result


def compare(tmp_path: Path, old: dict[str, Any], new: dict[str, Any], *extra: str) -> int:
    save_result(tmp_path / "old.json", old)
    save_result(tmp_path / "new.json", new)
    return main(
        ["report", "--compare", str(tmp_path / "old.json"), str(tmp_path / "new.json"), *extra]
    )


@pytest.mark.parametrize(
    ("new", "named"),
    [
        (evaluation(collection="/data/nfcorpus"), "collection: scifact vs nfcorpus"),
        (evaluation(split="dev"), "split: test vs dev"),
        (
            evaluation({"q1": 0.5, "q2": 0.7, "q4": 0.1}),
            "queries: 3 vs 3 (1 only in the first, 1 only in the second)",
        ),
        (evaluation(measures=("nDCG@10",)), "measures: RR@10, nDCG@10 vs nDCG@10"),
        (evaluation(rel=2), "relevance grade (rel): 1 vs 2"),
    ],
)
def test_compare_refuses_results_not_measured_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], new: dict[str, Any], named: str
) -> None:
    assert compare(tmp_path, evaluation(), new) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert "not measured alike" in line and named in line and "--allow-different-queries" in line
    assert captured.out == ""  # no table of deltas between different things


def test_allowed_differences_are_printed_above_the_one_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = evaluation({"q1": 0.1, "q2": 0.2, "q4": 0.3}, collection="/elsewhere/scifact")
    assert compare(tmp_path, evaluation(), new, "--allow-different-queries") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == (
        "warning: OLD and NEW differ in queries: 3 vs 3 (1 only in the first, 1 only in the second)"
    )
    assert out.count("kdbench: comparison") == 1 and out.index("warning") < out.index("kdbench")


def test_results_measured_alike_compare_without_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    moved = evaluation({"q1": 0.4, "q2": 0.7, "q3": 0.9}, collection="/mnt/copy/scifact/")
    assert compare(tmp_path, evaluation(), moved) == 0  # the same collection kept elsewhere
    out = capsys.readouterr().out
    assert "warning" not in out and out.count("kdbench: comparison") == 1


def test_a_run_result_is_read_through_its_evaluations_and_profiles() -> None:
    run = new_result("run", {}, environment=ENV)
    profile = new_result("profile", {"model": "m"}, environment=ENV)
    profile["inputs"] = {"type": "folder", "name": "scifact", "split": "test", "documents": 5183}
    run["models"] = [{"label": "dot", "evaluate": evaluation(), "profile": profile}]
    scope = scope_of([run])
    assert scope.collections == {"scifact"} and scope.documents == {5183}
    assert scope.query_ids == set(QUERIES) and scope.measures == {"nDCG@10", "RR@10"}


def test_query_counts_stand_in_for_ids_an_older_result_lacks() -> None:
    older = evaluation()
    del older["per_query"]
    assert differences(scope_of([older]), scope_of([evaluation()])) == []
    fewer = evaluation({"q1": 0.5})
    del fewer["per_query"]
    assert differences(scope_of([evaluation()]), scope_of([fewer])) == ["queries: 3 vs 1"]
