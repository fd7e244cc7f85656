"""What a model folder holds on disk: file names, reading JSON, and which weights format is safe.

Shared by `load.py` (reading any source), `released.py` (the paper's layouts) and
`checkpoint.py` (writing kdbench checkpoints), so none of them imports another for a name.
"""

from __future__ import annotations

import json
import pickle
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from kdbench.errors import UserError

CHECKPOINT_FILE = "kdbench.json"
HEAD_FILE = "head.safetensors"
SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; UserError naming the file when it is unreadable or not an object."""
    data = _json_file(path)
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object")
    return data


def read_json_list(path: Path) -> list[object]:
    """A JSON array from `path` (sentence-transformers' modules.json); UserError as read_json."""
    data = _json_file(path)
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON array ([...])")
    return data


def _json_file(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        if exc.msg.startswith("Unexpected UTF-8 BOM"):  # transformers reads it as plain UTF-8 too
            raise UserError(
                f"{path}: starts with a byte-order mark, which transformers cannot read; "
                "re-save it as UTF-8 without one"
            ) from exc
        raise UserError(f"{path}: cannot read JSON ({exc}); is the model folder complete?") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read JSON ({exc}); is the model folder complete?") from exc


def weights_format(folder: Path, *, allow_pickle: bool) -> str:
    """ "safetensors" or "pickle"; UserError when only pickled weights exist and they are not allowed."""
    if any((folder / f).exists() for f in SAFETENSORS_FILES):
        return "safetensors"
    if any((folder / f).exists() for f in PICKLE_FILES):
        if not allow_pickle:
            raise UserError(
                f"{folder}: has only pickled weights (pytorch_model.bin), which can run code when loaded; "
                "pass --allow-pickle if you trust the source"
            )
        return "pickle"
    raise UserError(f"{folder}: no model weights (model.safetensors or pytorch_model.bin)")


def weights_file(folder: Path) -> Path:
    """The weights file a folder's model is read from (for messages): the first that exists."""
    for name in (*SAFETENSORS_FILES, *PICKLE_FILES):
        if (folder / name).exists():
            return folder / name
    return folder / SAFETENSORS_FILES[0]


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    # torch's weights_only refusal names the offending global on its own line
    named = [line for line in lines if line.startswith("WeightsUnpickler error:")]
    text = (named or lines or [type(error).__name__])[0].removeprefix("WeightsUnpickler error: ")
    return text if len(text) <= 160 else text[:157] + "..."


@contextmanager
def reading_weights(path: Path) -> Iterator[None]:
    """Turn a weights file that cannot be read into one line naming it and what to do.

    Truncated or corrupt safetensors and pickles, and a pickle that holds more than tensors
    (torch's `weights_only` refuses to build its objects even under --allow-pickle).
    """
    from safetensors import SafetensorError

    try:
        with warnings.catch_warnings():
            # torch warns about a pickle's protocol before refusing it: the refusal says it all
            warnings.filterwarnings("ignore", message=".*pickle protocol", category=UserWarning)
            yield
    except pickle.UnpicklingError as exc:
        if "weights only" not in str(exc).lower() and "weights_only" not in str(exc):
            raise UserError(
                f"{path}: not a readable pickle ({_first_line(exc)}); the file is truncated or "
                "corrupt: copy or download it again"
            ) from exc
        raise UserError(
            f"{path}: holds objects other than tensors, or is damaged ({_first_line(exc)}); "
            "kdbench builds only "
            "tensors from a pickle, even with --allow-pickle: save the weights as "
            "model.safetensors from a copy you trust"
        ) from exc
    except (SafetensorError, EOFError, zipfile.BadZipFile) as exc:
        raise UserError(
            f"{path}: cannot read the weights ({_first_line(exc)}); the file is truncated or "
            "corrupt: copy or download it again"
        ) from exc
    except RuntimeError as exc:
        # torch.load on a damaged zip archive ("PytorchStreamReader failed ...")
        if "PytorchStreamReader" not in str(exc) and "zip archive" not in str(exc):
            raise
        raise UserError(
            f"{path}: cannot read the weights ({_first_line(exc)}); the file is truncated or "
            "corrupt: copy or download it again"
        ) from exc


def read_state_dict(folder: Path, *, allow_pickle: bool) -> dict[str, torch.Tensor]:
    """All tensors of a single-file checkpoint (safetensors, or pickled with allow_pickle)."""
    if weights_format(folder, allow_pickle=allow_pickle) == "safetensors":
        from safetensors.torch import load_file

        path = folder / "model.safetensors"
        if not path.exists():
            raise UserError(
                f"{folder}: sharded weights are not supported for {folder.name}; save them as one file"
            )
        with reading_weights(path):
            return load_file(str(path))
    path = folder / "pytorch_model.bin"
    if not path.exists():
        raise UserError(
            f"{folder}: sharded pickled weights are not supported; convert them to one model.safetensors"
        )
    # weights_only refuses arbitrary objects even though the user allowed pickles.
    with reading_weights(path):
        state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise UserError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state
