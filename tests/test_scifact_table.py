"""scripts/scifact_table.py: the study's table pools seeds per query before the paired test."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "scifact_table.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scifact_table", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _result(scores: list[float]) -> dict[str, Any]:
    per_query = {f"q{i}": s for i, s in enumerate(scores)}
    mean = sum(scores) / len(scores)
    return {
        "metrics": {"nDCG@10": mean, "RR@10": mean},
        "per_query": {"nDCG@10": per_query, "RR@10": per_query},
    }


def _write(path: Path, value: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


CHOICE = {
    "seed": 42,
    "students": {
        "dot2": {"dev_nDCG@10": {"kl": 0.6}, "no_teacher_dev_nDCG@10": 0.5, "chosen": "kl"}
    },
}


def _seed(root: Path, seed: str, base: list[float], distilled: list[float]) -> None:
    """One seed's test evaluations and training summaries (dev nDCG@10 of the best step)."""
    for name, scores in (("dot2-ranknet", base), ("dot2-kl", distilled)):
        _write(root / f"seed{seed}" / f"{name}.json", _result(scores))
        _write(root / f"seed{seed}" / "train" / f"{name}.json", {"best": {"nDCG@10": 0.5}})


# Per seed: (no teacher, distilled) per query, four queries.
RUNS = {
    "42": ([0.2, 0.5, 0.1, 0.9], [0.4, 0.5, 0.3, 0.8]),
    "43": ([0.3, 0.4, 0.2, 0.7], [0.3, 0.6, 0.5, 0.9]),
}


def test_pooled_comparison_averages_each_query_over_the_seeds(tmp_path: Path) -> None:
    from scipy import stats

    _write(tmp_path / "choices.json", CHOICE)
    for seed, (base, distilled) in RUNS.items():
        _seed(tmp_path, seed, base, distilled)
    _script().table(tmp_path, list(RUNS), ["dot2"])
    summary = json.loads((tmp_path / "summary.json").read_text())

    (pooled,) = summary["pooled"]
    assert (pooled["student"], pooled["seeds"], pooled["recipe"]) == ("dot2", [42, 43], "kl")
    base = [(a + b) / 2 for a, b in zip(RUNS["42"][0], RUNS["43"][0], strict=True)]
    distilled = [(a + b) / 2 for a, b in zip(RUNS["42"][1], RUNS["43"][1], strict=True)]
    m = pooled["nDCG@10"]
    assert m["no_teacher"] == pytest.approx(sum(base) / 4)
    assert m["distilled"] == pytest.approx(sum(distilled) / 4)
    per_seed = [p["nDCG@10"]["delta"] for p in summary["pairs"]]
    assert m["delta"] == pytest.approx(sum(per_seed) / 2)  # the same queries on both seeds
    expected = stats.ttest_rel(distilled, base)
    assert m["p"] == pytest.approx(expected.pvalue)
    assert m["ci95_t"] == pytest.approx(list(expected.confidence_interval(0.95)))
    assert m["p_holm"] == pytest.approx(m["p"])  # one student: Holm leaves it
    # The per-seed rows form their own Holm family (two rows).
    ps = sorted(p["nDCG@10"]["p"] for p in summary["pairs"])
    assert min(p["nDCG@10"]["p_holm"] for p in summary["pairs"]) == pytest.approx(2 * ps[0])
    assert "seeds pooled" in (tmp_path / "table.md").read_text()


def test_one_seed_has_no_pooled_row(tmp_path: Path) -> None:
    _write(tmp_path / "choices.json", CHOICE)
    _seed(tmp_path, "42", *RUNS["42"])
    _script().table(tmp_path, ["42", "43"], ["dot2"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["pooled"] == []
    assert len(summary["pairs"]) == 1
