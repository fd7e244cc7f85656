"""Golden tests: the paper's four released checkpoints reproduce their authors' notebook outputs
(sebastian-hofstaetter/neural-ranking-kd, minimal_*_usage_example.ipynb) on the notebooks' own
inputs, to 1e-3 relative. Opt-in: they run only when the real weights are in the local Hugging
Face cache (nothing is downloaded: HF_HUB_OFFLINE=1), and skip cleanly otherwise."""

from __future__ import annotations

import pytest
import torch

from kdbench.models import load_model

QUERY = "what is the transformers library"
PASSAGES = [
    "We are very happy to show you the 🤗 Transformers library for pre-trained language models. "
    "We are helping the community work together towards the goal of advancing NLP 🔥.",
    "Hmm I don't like this new movie about transformers that i got from my local library. "
    "Those transformers are robots?",
]
ORG = "sebastian-hofstaetter"
NOTEBOOK_SCORES = {
    f"{ORG}/distilbert-dot-margin_mse-T2-msmarco": ("dot", (108.8286, 99.5865)),
    f"{ORG}/distilbert-cat-margin_mse-T2-msmarco": (None, (5.8997, 2.2803)),
    f"{ORG}/colbert-distilbert-margin_mse-T2-msmarco": (None, (106.4638, 99.9970)),
    f"{ORG}/prettr-distilbert-split_at_3-margin_mse-T2-msmarco": (None, (5.6730, 1.3766)),
}


def cached_snapshot(repo_id: str) -> bool:
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(repo_id, local_files_only=True)
    except Exception:  # not in the cache (LocalEntryNotFoundError and friends)
        return False
    return True


@pytest.mark.parametrize("repo_id", sorted(NOTEBOOK_SCORES))
def test_released_checkpoint_reproduces_the_authors_notebook(
    repo_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if not cached_snapshot(repo_id):
        pytest.skip(f"{repo_id} is not in the local Hugging Face cache (golden tests are opt-in)")
    arch, expected = NOTEBOOK_SCORES[repo_id]
    model = load_model(repo_id, arch, allow_pickle=True)  # the hub files are pickled
    with torch.no_grad():
        scores = model.score_pairs([QUERY, QUERY], PASSAGES).tolist()
    assert scores == pytest.approx(list(expected), rel=1e-3)
