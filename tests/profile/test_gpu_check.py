"""scripts/gpu_prepare.py and scripts/gpu_profile.py, end to end on the CPU (`--dry-run`).

The GPU check runs once on a lent machine under a time limit, so what it must never do is
checked here: lose finished plans (each JSON is on disk when its process ends), run past its
deadline (a plan still running then is killed and recorded as such), reach for the hub or
other data, or carry more than the machine takes.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

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
    commit = json.loads((staged / "COMMIT.json").read_text())
    assert len(commit["commit"]) == 40 and isinstance(commit["dirty"], bool)


def test_dry_run_kills_the_plan_running_at_the_deadline_and_keeps_the_finished(
    gpu_profile: ModuleType,
    staged: Path,
    tmp_path: Path,
    profile_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Preflight, then A and C for dot query finish; D overruns (a stand-in that waits) and
    is killed at the deadline: the finished plans' JSON is intact, the kill recorded."""
    from kdbench.results import load_result

    monkeypatch.setenv(gpu_profile.STALL, "D-dot-server")
    began = time.monotonic()
    code = gpu_profile.main(
        ["--dry-run", "--plans", "A,C,D", "--only", "dot:query", "--deadline", "75",
         "--model", str(staged / "minilm"), "--data", str(staged / "scifact"),
         "--out", str(tmp_path)]
    )  # fmt: skip
    took = time.monotonic() - began
    assert code == 0, (tmp_path / "gpu_check.md").read_text()
    assert took < 75 + 15  # the deadline holds, give or take a process start and the writes
    preflight = json.loads((tmp_path / "preflight.json").read_text())
    assert preflight["finished"] and preflight["card"]["name"] == "cpu (dry run)"
    assert (
        preflight["commit"]["commit"] == json.loads((staged / "COMMIT.json").read_text())["commit"]
    )
    assert preflight["compile"] == {"ok": None, "reason": "plan B not asked"}
    bundle = json.loads((tmp_path / "gpu_check.json").read_text())
    assert [run["plan"] for run in bundle["runs"]] == ["A-dot-query", "C-dot-query"]
    assert [kill["plan"] for kill in bundle["killed"]] == ["D-dot-server"]
    assert "killed at the --deadline (75 s)" in bundle["killed"][0]["reason"]
    assert not bundle["failures"] and not bundle["skipped"]
    assert sorted(p.name for p in tmp_path.glob("[0-9][0-9]-*.json")) == [
        "01-A-dot-query.json",
        "02-C-dot-query.json",
    ]  # nothing of the killed plan
    eager = load_result(tmp_path / "01-A-dot-query.json")
    assert eager["kind"] == "profile" and eager["gpu_check"]["plan"] == "A-dot-query"
    timed = {(e["backend"], e["precision"]): e for e in eager["results"]}
    assert set(timed) == {("eager", "fp32"), ("eager", "fp16"), ("eager", "bf16")}
    assert all(e["status"] == "ok" and e["latency_ms"]["n"] >= 3 for e in timed.values())
    parity = json.loads((tmp_path / "02-C-dot-query.json").read_text())
    assert parity["passed"] and parity["reference"] == "eager fp32 on cpu"
    assert parity["max_abs_diff"] < 1e-3 * parity["score_scale"]
    table = (tmp_path / "gpu_check.md").read_text()
    assert "device span p50 ms" in table and "GPU p50" not in table
    assert "KILLED D: dot server" in table


def test_plans_have_bf16_and_compile_only_where_asked(gpu_profile: ModuleType) -> None:
    plans = gpu_profile.plans(["A", "B", "C", "D"], "cuda", dry_run=False)
    kinds = [p.kind for p in plans]
    assert kinds == sorted(kinds)  # every A before any B, B before C, C before D
    eager = [p for p in plans if p.kind == "A"]
    assert len(eager) == len(gpu_profile.PROFILES)
    assert all(("eager", "bf16") in p.variants and ("eager", "fp16") in p.variants for p in eager)
    compiled = [p for p in plans if p.kind == "B"]
    assert {(p.profile.arch, p.profile.scenario) for p in compiled} == {
        ("dot", "query"),
        ("cat", "rerank"),
    }
    assert all(p.compile and p.variants == (("eager", "fp32"),) for p in compiled)
    assert [p.id for p in plans if p.kind == "D"] == ["D-dot-server"]
    assert gpu_profile.BUDGET["min_samples"] >= 662  # samples enough for p99
    assert not [p for p in gpu_profile.plans(["A", "C"], "cuda", False) if p.kind in "BD"]


def test_a_preflight_past_the_deadline_runs_no_plan(
    gpu_profile: ModuleType, staged: Path, tmp_path: Path
) -> None:
    code = gpu_profile.main(
        ["--dry-run", "--deadline", "0", "--model", str(staged / "minilm"),
         "--data", str(staged / "scifact"), "--out", str(tmp_path)]
    )  # fmt: skip
    assert code == 2  # the preflight was killed at once: nothing else starts
    bundle = json.loads((tmp_path / "gpu_check.json").read_text())
    assert bundle["preflight"]["killed"] and not bundle["runs"]
    assert not list(tmp_path.glob("[0-9][0-9]-*.json"))


def test_missing_inputs_stop_with_exit_2_and_no_hub_fallback(
    gpu_profile: ModuleType, staged: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = gpu_profile.main(
        ["--dry-run", "--model", str(tmp_path / "absent"), "--out", str(tmp_path)]
    )
    assert code == 2 and "scripts/gpu_prepare.py" in capsys.readouterr().out
    code = gpu_profile.main(
        ["--dry-run", "--model", str(staged / "minilm"), "--data", str(tmp_path),
         "--out", str(tmp_path)]
    )  # fmt: skip
    assert code == 2 and "no BEIR folder" in capsys.readouterr().out
    code = gpu_profile.main(
        ["--dry-run", "--plans", "A,E", "--model", str(staged / "minilm"),
         "--data", str(staged / "scifact"), "--out", str(tmp_path)]
    )  # fmt: skip
    assert code == 2 and "unknown plan 'E'" in capsys.readouterr().out
    assert not (tmp_path / "gpu_check.json").exists()


def test_the_carry_check_counts_the_tree_that_travels(
    tiny_bert_dir: Path,
    scifact_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prepare = _script("gpu_prepare")
    tree = prepare.tree_bytes()
    tracked = sum((REPO / name).stat().st_size for name in ("pyproject.toml", "README.md"))
    assert tree is not None and tree > tracked
    out = tmp_path / "gpu"
    argv = ["--model", str(tiny_bert_dir), "--data", str(scifact_dir), "--out", str(out),
            "--passages", "20"]  # fmt: skip
    # a limit the folder alone fits under but the folder with the tree does not
    monkeypatch.setattr(prepare, "LIMIT_MIB", 0.0)
    assert prepare.main(argv) == 1
    staged_mib = prepare.folder_bytes(out) / 2**20
    monkeypatch.setattr(prepare, "LIMIT_MIB", staged_mib + tree / 2**20 / 2)
    assert prepare.main(argv) == 1
    assert "the working tree" in capsys.readouterr().err
    monkeypatch.setattr(prepare, "LIMIT_MIB", 64.0)
    assert prepare.main(argv) == 0
