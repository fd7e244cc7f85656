"""kdbench checkpoints: a Hugging Face folder plus `kdbench.json`, written atomically.

Layout:
    config.json, model.safetensors   the encoder (`save_pretrained`; loadable by AutoModel), or a
                                      cat/prettr with the sequence-classification head: the whole
                                      *ForSequenceClassification (AutoModelForSequenceClassification)
    tokenizer files                   `tokenizer.save_pretrained`
    head.safetensors                  non-encoder weights (cls-linear head, colbert compressor), if any
    kdbench.json                      {"format", "format_version", "spec": ModelSpec, "metadata",
                                       "config_hash" when metadata has a "config"}

A dot checkpoint is also a sentence-transformers folder: modules.json (Transformer at the
root, Pooling as trained, Normalize for cosine), sentence_bert_config.json (max_seq_length,
the passage length, and nothing sentence-transformers 5.x refuses: its Transformer takes no
query_length/document_length, and OpenVINO users, whose optimum-intel pins transformers,
run 5.x), so `SentenceTransformer(folder).encode_query/encode_document` give kdbench's
vectors in 5.x and 6.x (a query longer than kdbench's max_query_len is cut at
max_seq_length there, at max_query_len here); kdbench's score is `score_scale`
(kdbench.json) x their dot product.

A cat with the sequence-classification head and longest-first pairs is also a folder that
sentence-transformers' `CrossEncoder(folder)` loads with kdbench's scores: config.json names
the identity as its activation (`predict` returns the raw logit, kdbench's score) and the
tokenizer's model_max_length is the pair budget, max_query_len + max_doc_len.

The folder is built under a temporary name next to the target and renamed into place, so
a crash never leaves a half-written checkpoint that looks complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from kdbench.errors import UserError
from kdbench.hashing import config_hash  # the one hash of settings (kdbench/hashing.py)
from kdbench.io import atomic_write_json
from kdbench.json_types import JsonObject
from kdbench.models.base import RankerModule
from kdbench.models.files import CHECKPOINT_FILE, HEAD_FILE

FORMAT = "kdbench.checkpoint"
FORMAT_VERSION = 1
# sentence-transformers' name for "no activation": CrossEncoder.predict then returns the logit.
IDENTITY = "torch.nn.modules.linear.Identity"


def save_checkpoint(
    model: RankerModule, folder: str | os.PathLike[str], metadata: JsonObject | None = None
) -> Path:
    """Save `model` to `folder` (replacing an earlier kdbench checkpoint there) and return the path."""
    target = Path(folder)
    if target.exists() and not _replaceable(target):
        raise UserError(
            f"{target}: exists and is not a kdbench checkpoint; choose an empty or new folder"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(
            tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        )
    except OSError as exc:
        raise UserError(
            f"{target}: cannot write here ({exc.strerror}); choose a writable folder"
        ) from exc
    try:
        _write(model, staging, metadata or {})
        _swap_into_place(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _replaceable(target: Path) -> bool:
    return target.is_dir() and ((target / CHECKPOINT_FILE).exists() or not any(target.iterdir()))


def _write(model: RankerModule, staging: Path, metadata: JsonObject) -> None:
    from safetensors.torch import save_file

    tokenizer_max = model.tokenizer.model_max_length
    if _is_cross_encoder(model):
        config: Any = model.encoder.config
        config.sentence_transformers = {"activation_fn": IDENTITY}
        model.tokenizer.model_max_length = model.spec.max_query_len + model.spec.max_doc_len
    try:
        model.encoder.save_pretrained(staging)  # type: ignore[operator]
        model.tokenizer.save_pretrained(staging)
    finally:
        model.tokenizer.model_max_length = tokenizer_max
    head = {
        k: v.detach().cpu().contiguous()
        for k, v in model.state_dict().items()
        if not k.startswith("encoder.")
    }
    if head:
        save_file(head, str(staging / HEAD_FILE))
    if model.spec.arch == "dot":
        write_sentence_transformers_layout(model, staging)
    info: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spec": model.spec.to_dict(),
        "metadata": metadata,
    }
    if "config" in metadata:
        info["config_hash"] = config_hash(metadata["config"])
    atomic_write_json(staging / CHECKPOINT_FILE, info)


def write_sentence_transformers_layout(model: RankerModule, folder: Path) -> None:
    """The files that make `folder` (a saved dot encoder) a SentenceTransformer folder."""
    spec = model.spec
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    if spec.similarity == "cosine":
        modules.append(
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            }
        )
        (folder / "2_Normalize").mkdir()
    (folder / "1_Pooling").mkdir()
    atomic_write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": model.hidden_size,
            "pooling_mode_cls_token": spec.pooling == "cls",
            "pooling_mode_mean_tokens": spec.pooling == "mean",
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    atomic_write_json(
        folder / "sentence_bert_config.json",
        {
            "max_seq_length": spec.max_doc_len,
            "do_lower_case": False,
        },
    )
    atomic_write_json(
        folder / "config_sentence_transformers.json",
        {"similarity_fn_name": "cosine" if spec.similarity == "cosine" else "dot"},
    )
    atomic_write_json(folder / "modules.json", modules)


def _is_cross_encoder(model: RankerModule) -> bool:
    """A folder CrossEncoder reproduces: the family's head, pairs cut as its tokenizer cuts them."""
    spec = model.spec
    return (
        spec.arch == "cat"
        and spec.head == "sequence-classification"
        and spec.pair_truncation == "longest_first"
    )


def _swap_into_place(staging: Path, target: Path) -> None:
    if not target.exists():
        os.rename(staging, target)
        return
    # Two renames: between them the old checkpoint is complete under its temporary name.
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    retired.rmdir()
    os.rename(target, retired)
    os.rename(staging, target)
    shutil.rmtree(retired, ignore_errors=True)
