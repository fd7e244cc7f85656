"""`kdbench profile --model bm25`: the first stage timed per query on its own bm25s index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdbench.cli import main
from kdbench.profile.measurements import ProfileResult
from kdbench.report.rows import rows_from_results
from tests.profile.conftest import FAST


def test_bm25_profile_times_one_query_per_call(
    scifact_dir: Path, profile_cache: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bm25.json"
    code = main(
        [
            "profile",
            "--model",
            "bm25",
            "--data",
            str(scifact_dir),
            "--depth",
            "10, 100",
            *FAST,
            "--output",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads(out.read_text())
    profile = ProfileResult.from_dict(result)
    assert profile.to_dict() == result
    assert [(c.backend, c.depth, c.scenario) for c in profile.cells] == [
        ("bm25s", 10, "retrieve"),
        ("bm25s", 100, "retrieve"),
    ]
    index = result["model"]["index"]
    # the index kdbench evaluate and the first stage read, in the shared cache
    assert Path(index["path"]).is_relative_to(profile_cache) and index["passages"] == 5183
    for cell in profile.cells:
        assert cell.latency is not None and cell.memory is not None and cell.throughput
        assert cell.latency.n == len(cell.samples_ns["total"]) >= 3  # type: ignore[index]
        assert cell.memory.weights_mib == 0.0
        assert cell.memory.index_mib == index["bytes"] / 2**20 > 0
        assert cell.throughput.items_per_s == pytest.approx(1e3 / cell.latency.mean)
    (top10, _) = rows_from_results([result])
    assert (top10.arch, top10.p50_ms, top10.end_to_end_p50_ms) == (
        "bm25",
        profile.cells[0].latency.p50,  # type: ignore[union-attr]
        profile.cells[0].latency.p50,  # type: ignore[union-attr]
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([], "--model bm25 needs --data"),
        (["--data", "x", "--backend", "onnx"], "--model bm25 runs on bm25s"),
        (["--data", "x", "--scenario", "rerank"], "not --model bm25"),
    ],
)
def test_bm25_profile_refuses_what_does_not_apply(
    options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["profile", "--model", "bm25", *options]) == 2
    assert message in capsys.readouterr().err
