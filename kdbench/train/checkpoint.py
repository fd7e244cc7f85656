"""Training checkpoints: the model in Hugging Face layout plus the state that makes --resume exact.

    OUTPUT/                       final model (loads in `evaluate` and `profile`), training.json, train_log.jsonl
    OUTPUT/checkpoints/step-0000050/   model + trainer_state.safetensors + trainer_state.json
    OUTPUT/checkpoints/best/           the best model on the dev slice so far (when validating)

A checkpoint folder is written under a temporary name and renamed into place, and
`trainer_state.json` marks it complete, so a crash mid-save never leaves a checkpoint that
--resume would pick.

No code runs from a checkpoint: the trainer state (module, optimizer, scheduler, scaler,
RNG streams, history) is stored without pickle, its tensors in `trainer_state.safetensors`
and everything else as JSON under "state" in `trainer_state.json` (`encode_state`). A
checkpoint from before that format (`trainer_state.pt`) is read with `weights_only=True`
and an allow-list of the numpy types an RNG state holds; anything else in it is refused.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NotRequired, TypedDict, TypeGuard

import numpy as np
import numpy.typing as npt
import torch

from kdbench.errors import UserError
from kdbench.json_types import JsonObject, JsonValue, is_json_object

TRAINER_TENSORS = "trainer_state.safetensors"
TRAINER_META = "trainer_state.json"
LEGACY_TRAINER_STATE = "trainer_state.pt"  # pickled, before format 2
STATE_FORMAT = 2
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
    """Move every file and subfolder of `source` into `target` (replacing), `last` at the end.

    Used for the final model in OUTPUT, which also holds checkpoints/ and the log and so cannot be
    renamed as a whole: the marker file `last` is what makes the folder load as a checkpoint.
    Subfolders are a sentence-transformers layout's modules (1_Pooling/, 2_Normalize/).
    """
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir(), key=lambda p: (p.name == last, p.name)):
        destination = target / path.name
        if path.is_dir() and destination.is_dir():
            shutil.rmtree(destination)
        os.replace(path, destination)


def prune_checkpoints(output: Path, keep: int) -> None:
    """Delete all but the newest `keep` step checkpoints (0 keeps all)."""
    if keep <= 0:
        return
    for _, folder in step_checkpoints(output)[:-keep]:
        shutil.rmtree(folder, ignore_errors=True)


class RngState(TypedDict):
    """Every random stream a training step draws from, as each library hands it out."""

    python: tuple[object, ...]  # random.getstate()
    numpy: dict[str, object] | tuple[str, npt.NDArray[np.uint32], int, int, float]
    torch: torch.Tensor
    cuda: NotRequired[list[torch.Tensor]]  # one per device, where CUDA is available


class TrainerState(TypedDict, total=False):
    """What --resume restores (`kdbench.train.loop.Trainer.state`): the module's, optimizer's,
    scheduler's and scaler's state dicts as torch gives them, each rank's random streams, and
    the history (`kdbench.train.history.History.to_dict`). A state from an older version may
    lack a part."""

    module: dict[str, torch.Tensor]
    optimizer: dict[str, object]
    scheduler: dict[str, object]
    scaler: dict[str, object]
    rng: list[RngState]
    history: JsonObject


def rng_state() -> RngState:
    state: RngState = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: RngState) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def encode_state(value: object, tensors: dict[str, torch.Tensor]) -> JsonValue:
    """`value` as JSON-safe data; its tensors and numpy arrays move into `tensors` by key.

    Tagged objects keep what JSON cannot say: {"__tensor__": key}, {"__ndarray__": key},
    {"__tuple__": [...]}, {"__items__": [[key, value], ...]} (a dict with non-string keys,
    such as an optimizer's parameter indices) and {"__float__": "nan" | "inf" | "-inf"}.

    >>> tensors = {}
    >>> encode_state({"step": (1, 2.5), 0: float("inf")}, tensors)
    {'__items__': [['step', {'__tuple__': [1, 2.5]}], [0, {'__float__': 'inf'}]]}
    """
    if isinstance(value, torch.Tensor):
        key = str(len(tensors))
        tensors[key] = value.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(value, np.ndarray):
        key = str(len(tensors))
        tensors[key] = torch.from_numpy(np.ascontiguousarray(value))
        return {"__ndarray__": key}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {str(k): encode_state(v, tensors) for k, v in value.items()}
        return {"__items__": [[_key(k), encode_state(v, tensors)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [encode_state(v, tensors) for v in value]}
    if isinstance(value, list):
        return [encode_state(v, tensors) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": str(value)}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"trainer state holds a {type(value).__name__}, which has no safe encoding")


def _key(key: object) -> JsonValue:
    """A dict key as JSON (an optimizer's parameter index, or a string)."""
    if key is None or isinstance(key, (bool, int, float, str)):
        return key
    raise TypeError(f"trainer state has a {type(key).__name__} key, which has no safe encoding")


def decode_state(value: JsonValue, tensors: Mapping[str, torch.Tensor]) -> object:
    """The inverse of `encode_state` (plain data in, plain data and tensors out)."""
    if isinstance(value, list):
        return [decode_state(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        return tensors[str(value["__tensor__"])]
    if "__ndarray__" in value:
        return tensors[str(value["__ndarray__"])].numpy()
    if "__tuple__" in value:
        return tuple(decode_state(v, tensors) for v in _entries(value["__tuple__"]))
    if "__items__" in value:
        pairs = (_key_and_value(item) for item in _entries(value["__items__"]))
        return {key: decode_state(v, tensors) for key, v in pairs}
    if "__float__" in value:
        return float(str(value["__float__"]))
    return {k: decode_state(v, tensors) for k, v in value.items()}


def _entries(value: JsonValue) -> list[JsonValue]:
    if not isinstance(value, list):
        raise ValueError(f"trainer state: {value!r} is not a list")
    return value


def _key_and_value(item: JsonValue) -> tuple[JsonValue, JsonValue]:
    """A [key, value] entry of an "__items__" list."""
    if not isinstance(item, list) or len(item) != 2:
        raise ValueError(f"trainer state: {item!r} is not a [key, value] pair")
    return item[0], item[1]


def is_trainer_state(value: object) -> TypeGuard[TrainerState]:
    """True for a dict with string keys: the shape a trainer state has (its parts are torch's)."""
    return isinstance(value, dict) and all(isinstance(key, str) for key in value)


def save_trainer_state(folder: Path, state: TrainerState, meta: Mapping[str, JsonValue]) -> None:
    """`state` as safetensors + JSON (no pickle), `meta` beside it; the JSON file goes last."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    encoded = encode_state(state, tensors)
    # safetensors refuses tensors that share memory; the state's copies must stand alone.
    save_file({k: v.clone() for k, v in tensors.items()}, str(folder / TRAINER_TENSORS))
    record = {**meta, "state_format": STATE_FORMAT, "state": encoded}
    (folder / TRAINER_META).write_text(
        json.dumps(record, indent=1, allow_nan=False) + "\n", encoding="utf-8"
    )


def read_trainer_meta(folder: Path) -> JsonObject:
    """What `save_trainer_state` recorded besides the state: step, config, config_hash, time."""
    path = folder / TRAINER_META
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(
            f"{path}: unreadable ({exc}); delete {folder} to resume from an earlier checkpoint"
        ) from exc
    if not is_json_object(record):
        raise UserError(
            f"{path}: not a trainer state; delete {folder} to resume from an earlier one"
        )
    return {k: v for k, v in record.items() if k != "state"}


def load_trainer_state(folder: Path) -> tuple[TrainerState, JsonObject]:
    """(state, meta) of a step checkpoint, without running any code stored in it."""
    meta = read_trainer_meta(folder)
    if meta.get("state_format") == STATE_FORMAT:
        from safetensors.torch import load_file

        record = json.loads((folder / TRAINER_META).read_text(encoding="utf-8"))
        state = decode_state(record["state"], load_file(str(folder / TRAINER_TENSORS)))
        if not is_trainer_state(state):
            raise UserError(
                f"{folder / TRAINER_META}: its state is not a trainer state; delete {folder} "
                "to resume from an earlier checkpoint"
            )
        return state, meta
    return _load_legacy_state(folder / LEGACY_TRAINER_STATE), meta


# What a pickled trainer state from before format 2 may hold besides tensors and plain data:
# numpy's RNG state (an ndarray of uint32).
_LEGACY_ALLOWED = (
    np.ndarray,
    np.dtype,
    np.dtypes.UInt32DType,
    np._core.multiarray._reconstruct,  # type: ignore[attr-defined]
)


def _load_legacy_state(path: Path) -> TrainerState:
    import pickle

    try:
        with torch.serialization.safe_globals(list(_LEGACY_ALLOWED)):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, AttributeError) as exc:
        raise UserError(
            f"{path}: refused to load ({_unpickling_reason(exc)}); a trainer state may hold only tensors and plain "
            f"data, since unpickling anything else can run code: delete {path.parent} to resume from an "
            "earlier checkpoint, or train afresh without --resume"
        ) from exc
    if not is_trainer_state(state):
        raise UserError(f"{path}: not a trainer state; delete {path.parent} or train afresh")
    return state


def _unpickling_reason(exc: BaseException) -> str:
    """The line of torch's long weights-only message that names what was refused."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "unsupported" in line.lower() or "WeightsUnpickler error" in line:
            return line.removeprefix("WeightsUnpickler error: ")[:160]
    return (lines[0] if lines else type(exc).__name__)[:160]
