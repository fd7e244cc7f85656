"""`kdbench evaluate --backend`: scores through the runner the profiler times."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kdbench.cli import main
from kdbench.data import read_run
from tests.evaluate.test_cli import TINY, invoke
from tests.profile.conftest import QUICK


def _scores(path: Path) -> dict[tuple[str, str], float]:
    return {(q, d): s for q, docs in read_run(path).items() for d, s in docs.items()}


@pytest.fixture(scope="module")
def runs(
    small_scifact_dir: Path,
    minilm_path: Path,
    kdbench_cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[dict, Path]]]:
    """MiniLM (a random tiny model's scores hardly move under int8) on the small SciFact,
    exports in the session's cache (module fixtures start before the autouse one sets it)."""
    folder = tmp_path_factory.mktemp("backends")
    found = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KDBENCH_CACHE", str(kdbench_cache))
        for backend in ("eager", "onnx", "onnx:int8"):
            name = backend.replace(":", "-")
            out, run_file = folder / f"{name}.json", folder / f"{name}.trec"
            result = invoke(
                data=small_scifact_dir,
                model=minilm_path,
                arch="dot",
                layers=2,
                backend=backend,
                output=out,
                run_file=run_file,
                k=50,
                **TINY,
            )
            found[backend] = (result, run_file)
        yield found


def test_onnx_fp32_scores_equal_eager_and_int8_differ(runs: dict[str, tuple[dict, Path]]) -> None:
    eager, onnx, int8 = (_scores(runs[b][1]) for b in ("eager", "onnx", "onnx:int8"))
    common = set(eager) & set(onnx)
    assert len(common) > 0.9 * len(eager)
    assert max(abs(eager[k] - onnx[k]) for k in common) < 1e-4
    shared = set(eager) & set(int8)
    assert max(abs(eager[k] - int8[k]) for k in shared) > 1e-4  # a quantised graph scored
    configs = {b: runs[b][0]["config"] for b in runs}
    assert [(c["backend"], c["precision"]) for c in configs.values()] == [
        ("eager", "fp32"),
        ("onnx", "fp32"),
        ("onnx", "int8"),
    ]
    assert "backend_info" not in configs["eager"]
    graph = configs["onnx:int8"]["backend_info"]["graphs"]["query"]
    assert graph["file"].endswith("-int8.onnx") and graph["weight_bytes"] > 0


def test_the_graph_evaluated_is_the_graph_profiled(
    runs: dict[str, tuple[dict, Path]], small_scifact_dir: Path, minilm_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "p.json"
    code = main(
        [
            "profile",
            *QUICK,
            "--model",
            str(minilm_path),
            "--arch",
            "dot",
            "--layers",
            "2",
            "--data",
            str(small_scifact_dir),
            "--backend",
            "onnx:int8",
            "--index-size",
            "50",
            "--output",
            str(out),
        ]
    )
    assert code == 0
    profiled = json.loads(out.read_text())["backends"]["onnx:int8"]["graphs"]["query"]
    evaluated = runs["onnx:int8"][0]["config"]["backend_info"]["graphs"]["query"]
    # the evaluation truncates at other lengths (TINY) and still runs the profiled file
    assert (evaluated["file"], evaluated["model_hash"]) == (
        profiled["file"],
        profiled["model_hash"],
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--model", "bm25", "--backend", "onnx"], "score a neural --model"),
        (["--backend", "onnx:int8", "--precision", "fp16"], "two precisions"),
        (["--backend", "nope"], "unknown value 'nope'"),
        (["--backend", "onnx:fp64"], "unknown value 'onnx:fp64'"),
    ],
)
def test_backend_mistakes_are_one_line(
    options: list[str], message: str, small_scifact_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = [] if "--model" in options else ["--model", "x"]
    assert main(["evaluate", "--data", str(small_scifact_dir), *model, *options]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_an_engine_profile_covers_every_kind_its_method_serves(tiny_bert_dir: Path) -> None:
    from kdbench.evaluate.backend import _shapes, export_kinds
    from kdbench.models import load_model

    dot = load_model(tiny_bert_dir, "dot", max_query_len=16, max_doc_len=48)
    assert export_kinds(dot) == {"forward_encode": "query"}
    # the "query" export also encodes passages: the shapes reach the passage length
    shapes = _shapes(dot, ["query", "doc"], batch_size=8)
    assert (shapes.max_batch, shapes.max_seq, shapes.doc_seq) == (8, 48, None)
