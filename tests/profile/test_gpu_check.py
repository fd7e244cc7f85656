"""scripts/gpu_prepare.py and scripts/gpu_profile.py, end to end on the CPU (`--dry-run`).

The GPU check runs once on a lent machine under a time limit, so what it must never do is
checked here: lose finished profiles (each JSON is on disk before the next profile starts),
reach for the hub or other data, or start work past its deadline.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.helpers import patch_everywhere

REPO = Path(__file__).resolve().parents[2]


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"kdbench_script_{name}", REPO / "scripts" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gpu_profile() -> ModuleType:
    return _script("gpu_profile")


@pytest.fixture(scope="module")
def staged(
    tiny_bert_dir: Path, scifact_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("gpu")
    code = _script("gpu_prepare").main(
        [
            "--model",
            str(tiny_bert_dir),
            "--data",
            str(scifact_dir),
            "--out",
            str(out),
            "--passages",
            "20",
        ]
    )
    assert code == 0
    return out


def test_prepare_stages_fp16_weights_and_a_scifact_subset(staged: Path, scifact_dir: Path) -> None:
    import torch
    from safetensors import safe_open

    with safe_open(str(staged / "minilm" / "model.safetensors"), "pt") as weights:
        dtypes = {weights.get_tensor(name).dtype for name in weights.keys()}  # noqa: SIM118
    assert torch.float16 in dtypes and torch.float32 not in dtypes
    assert (staged / "minilm" / "tokenizer.json").is_file()
    from kdbench.models import load_model

    # the profiles run fp32 from fp16 storage: the loader upcasts
    ranker = load_model(staged / "minilm", "dot")
    assert {p.dtype for p in ranker.parameters()} == {torch.float32}
    qrels = (scifact_dir / "qrels" / "test.tsv").read_text().splitlines()[1:]
    judged = {line.split("\t")[1] for line in qrels}
    queries = [json.loads(line)["_id"] for line in (staged / "scifact" / "queries.jsonl").open()]
    corpus = [json.loads(line)["_id"] for line in (staged / "scifact" / "corpus.jsonl").open()]
    with (scifact_dir / "corpus.jsonl").open() as handle:
        first = [json.loads(next(handle))["_id"] for _ in range(20)]
    assert len(queries) == 300 and set(queries) == {line.split("\t")[0] for line in qrels}
    assert corpus[:20] == first and judged <= set(corpus)
    assert len(corpus) == len(set(first) | judged)
    assert not (staged / "scifact" / "qrels" / "train.tsv").exists()


def test_dry_run_writes_each_profile_before_the_next_starts(
    gpu_profile: ModuleType, staged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kdbench.profile

    real = kdbench.profile.run_profile
    seen: list[tuple[int, int]] = []

    def watched(config: Any, log: Any = None) -> dict[str, Any]:
        written = sorted(tmp_path.glob("[0-9][0-9]-*.json"))
        index = json.loads((tmp_path / "gpu_check.json").read_text())["runs"] if seen else []
        seen.append((len(written), len(index)))
        return real(config, log)

    patch_everywhere(monkeypatch, kdbench.profile, "run_profile", watched)
    code = gpu_profile.main(
        ["--dry-run", "--passes", "quick", "--model", str(staged / "minilm"),
         "--data", str(staged / "scifact"), "--out", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    # 4 profiles × (eager, onnx): at the start of profile k the k-1 before it are on disk
    assert seen == [(k, k) for k in range(8)]
    files = sorted(tmp_path.glob("[0-9][0-9]-*.json"))
    assert [f.name for f in files][:2] == [
        "01-quick-dot-query-cpu-eager.json",
        "02-quick-dot-query-cpu-onnx.json",
    ]
    from kdbench.results import load_result

    results = [load_result(f) for f in files]
    assert {r["kind"] for r in results} == {"profile"}
    assert [r["config"]["arch"] for r in results[::2]] == ["dot", "dot", "colbert", "cat"]
    timed = [e for r in results for e in r["results"] if e["status"] == "ok"]
    assert timed and all(e["latency_ms"]["n"] >= 3 for e in timed)
    bundle = json.loads((tmp_path / "gpu_check.json").read_text())
    assert bundle["card"] == "cpu (dry run)" and not bundle["failures"] and not bundle["skipped"]
    assert [run["file"] for run in bundle["runs"]] == [f.name for f in files]
    table = (tmp_path / "gpu_check.md").read_text()
    assert table.count("| quick: ") == sum(len(r["results"]) for r in results)


def test_nothing_starts_past_the_deadline(
    gpu_profile: ModuleType, staged: Path, tmp_path: Path
) -> None:
    code = gpu_profile.main(
        ["--dry-run", "--deadline", "-1", "--model", str(staged / "minilm"),
         "--data", str(staged / "scifact"), "--out", str(tmp_path)]
    )  # fmt: skip
    assert code == 1  # nothing ran
    bundle = json.loads((tmp_path / "gpu_check.json").read_text())
    assert not bundle["runs"] and len(bundle["skipped"]) == 16
    assert "--deadline -1 s passed" in bundle["skipped"][0]["reason"]
    assert not list(tmp_path.glob("[0-9][0-9]-*.json"))


def test_missing_inputs_stop_with_exit_2_and_no_hub_fallback(
    gpu_profile: ModuleType, staged: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = gpu_profile.main(
        ["--dry-run", "--model", str(tmp_path / "absent"), "--out", str(tmp_path)]
    )
    assert code == 2 and "scripts/gpu_prepare.py" in capsys.readouterr().out
    code = gpu_profile.main(
        [
            "--dry-run",
            "--model",
            str(staged / "minilm"),
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 2 and "no BEIR folder" in capsys.readouterr().out
    assert not (tmp_path / "gpu_check.json").exists()


def test_gpu_plans_quick_pass_first_then_compile_and_host_onnx(gpu_profile: ModuleType) -> None:
    plans = gpu_profile.plans(
        [gpu_profile.QUICK, gpu_profile.FULL], "cuda", onnx_cuda=False, tensorrt=True, dry_run=False
    )
    quick = [p for p in plans if p.pass_.name == "quick"]
    full = [p for p in plans if p.pass_.name == "full"]
    assert plans == quick + full  # every quick profile before any full one
    assert not any(p.compile for p in quick) and not any(p.device == "cpu" for p in quick)
    assert {p.profile.depths for p in quick if p.profile.arch == "colbert"} == {(100,)}
    assert quick[0].variants == (("eager", "fp32"), ("eager", "fp16"), ("tensorrt", "fp16"))
    assert [p.kind for p in full[:3]] == ["eager", "compiled", "onnx"]
    assert full[2].device == "cpu" and full[2].variants == (("onnx", "fp32"),)
    assert ("tensorrt", "fp32") in full[0].variants
    with_gpu_onnx = gpu_profile.plans([gpu_profile.QUICK], "cuda", True, False, False)
    assert with_gpu_onnx[1].variants == (("onnx", "fp32"), ("onnx", "fp16"))
    assert with_gpu_onnx[1].device == "cuda"
