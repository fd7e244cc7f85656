"""Training checkpoints: the model in Hugging Face layout plus the state that makes --resume exact.

    OUTPUT/                       final model (loads in `evaluate` and `profile`), training.json, train_log.jsonl
    OUTPUT/checkpoints/step-0000050/   model + trainer_state.pt (optimizer, scheduler, scaler, RNGs) + trainer_state.json
    OUTPUT/checkpoints/best/           the best model on the dev slice so far (when validating)

A checkpoint folder is written under a temporary name and renamed into place, and
`trainer_state.json` marks it complete, so a crash mid-save never leaves a checkpoint that
--resume would pick.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

TRAINER_STATE = "trainer_state.pt"
TRAINER_META = "trainer_state.json"
CHECKPOINTS = "checkpoints"


def step_dir(output: Path, step: int) -> Path:
    return output / CHECKPOINTS / f"step-{step:07d}"


def step_checkpoints(output: Path) -> list[tuple[int, Path]]:
    """Complete step checkpoints under `output`, oldest first."""
    found = []
    for folder in (output / CHECKPOINTS).glob("step-*"):
        if folder.is_dir() and (folder / TRAINER_META).is_file():
            try:
                found.append((int(folder.name.split("-", 1)[1]), folder))
            except ValueError:
                continue
    return sorted(found)


def latest_checkpoint(output: Path) -> Path | None:
    found = step_checkpoints(output)
    return found[-1][1] if found else None


def write_folder_atomically(folder: Path, fill: Callable[[Path], None]) -> Path:
    """Let `fill` write into a fresh temporary folder, then rename it onto `folder`."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        fill(scratch)
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
            os.replace(folder, old / folder.name)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(scratch, folder)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return folder


def install_folder(source: Path, target: Path, last: str = "kdbench.json") -> None:
    """Move every file of `source` into `target` (replacing), the file named `last` at the end.

    Used for the final model in OUTPUT, which also holds checkpoints/ and the log and so cannot be
    renamed as a whole: the marker file `last` is what makes the folder load as a checkpoint.
    """
    target.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in source.iterdir() if p.is_file())
    for path in sorted(files, key=lambda p: p.name == last):
        os.replace(path, target / path.name)


def prune_checkpoints(output: Path, keep: int) -> None:
    """Delete all but the newest `keep` step checkpoints (0 keeps all)."""
    if keep <= 0:
        return
    for _, folder in step_checkpoints(output)[:-keep]:
        shutil.rmtree(folder, ignore_errors=True)


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_trainer_state(folder: Path, state: dict[str, Any], meta: dict[str, Any]) -> None:
    torch.save(state, folder / TRAINER_STATE)
    (folder / TRAINER_META).write_text(
        json.dumps(meta, indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )


def load_trainer_state(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    meta = json.loads((folder / TRAINER_META).read_text(encoding="utf-8"))
    # Our own file: optimizer state and numpy RNG tuples need full unpickling.
    state = torch.load(folder / TRAINER_STATE, map_location="cpu", weights_only=False)
    return state, meta
