"""Export a ranker's tensor module to ONNX once, check it on a padded batch, cache it.

The graph's inputs are the ranker's own (`Ranker.export_inputs(kind)`, the keys of
`Ranker.tokenize`): BERT pairs carry `token_type_ids`, DistilBERT/DeBERTa/XLM-R pairs do
not, and prettr's pair takes cached `passage_states`/`passage_mask` whose token axis
(`doc_seq`) varies apart from the query's (`seq`).

Exports are keyed by a hash of the module's weights, its export kind and the opset, so a
changed checkpoint never reuses a stale graph. Derived graphs (ORT transformer fusion,
dynamic int8, fp16) sit next to the raw export under the same key. The raw export is
traced with the `eager` attention implementation: ORT's attention fusion recognises only
that pattern, and SDPA's all-ones fast path would let tracing drop the mask.
"""

from __future__ import annotations

import copy
import hashlib
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.onnx import _constants

from kdbench.backends.calibration import CalibrationSet
from kdbench.backends.onnx.config import OPSET_MAX, OPSET_MIN
from kdbench.errors import UserError
from kdbench.io import atomic_path
from kdbench.json_types import JsonObject
from kdbench.models.base import ExportKind, backbone
from kdbench.models.ranker import Ranker
from kdbench.models.registry import archs_where

OUTPUT_NAME = "output"
DYNAMIC_DIMS = {0: "batch", 1: "seq"}
PASSAGE_DIMS = {0: "batch", 1: "doc_seq"}  # prettr's cached passages: their own token axis
PASSAGE_PREFIX = "passage_"
# What an fp16 TensorRT build keeps in fp32 (with the score head, see `kept_in_fp32`): BERT's
# LayerNorm overflows fp16 after self-attention and softmax loses its small probabilities
FP32_OPS = ("LayerNormalization", "Softmax")


def dynamic_axes(names: Sequence[str]) -> dict[str, dict[int, str]]:
    """Named dynamic axes of every input and the output.

    >>> dynamic_axes(["input_ids", "passage_states"])["passage_states"]
    {0: 'batch', 1: 'doc_seq'}
    """
    axes = {
        name: PASSAGE_DIMS if name.startswith(PASSAGE_PREFIX) else DYNAMIC_DIMS for name in names
    }
    return {**axes, OUTPUT_NAME: DYNAMIC_DIMS}


def weights_hash(module: nn.Module) -> str:
    """sha256 over what the module computes (its `identity`, else its class), and its
    parameter/buffer names, dtypes, shapes and bytes."""
    digest = hashlib.sha256(str(getattr(module, "identity", type(module).__qualname__)).encode())
    for name, tensor in sorted(module.state_dict().items()):
        array = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{array.dtype}:{tuple(array.shape)}".encode())
        digest.update(array.view(torch.uint8).numpy().tobytes() if array.numel() else b"")
    return digest.hexdigest()


def export_path(
    cache_dir: Path, model_hash: str, kind: ExportKind, opset: int, variant: str = "raw"
) -> Path:
    return cache_dir / "onnx" / f"{model_hash[:20]}-{kind}-opset{opset}-{variant}.onnx"


def _with_eager_attention(module: nn.Module) -> nn.Module:
    """A CPU fp32 copy whose Hugging Face encoders use the `eager` attention implementation."""
    clone = copy.deepcopy(module).to(device="cpu", dtype=torch.float32).eval()
    for child in clone.modules():
        setter = getattr(child, "set_attn_implementation", None)
        if (
            setter is not None
            and getattr(getattr(child, "config", None), "_attn_implementation", "eager") != "eager"
        ):
            setter("eager")
    return clone


def check_opset(opset: int, option: str = "--opset") -> None:
    """Refuse, before exporting, an opset outside what both kdbench's models and this torch's
    exporter can write (OPSET_MIN..OPSET_MAX, narrowed by an older torch.onnx)."""
    low = max(OPSET_MIN, getattr(_constants, "ONNX_MIN_OPSET", OPSET_MIN))
    high = min(OPSET_MAX, getattr(_constants, "ONNX_MAX_OPSET", OPSET_MAX))
    if not low <= opset <= high:
        raise UserError(
            f"{option} {opset}: torch {torch.__version__}'s ONNX exporter writes these models at "
            f"opsets {low} to {high}; e.g. {option} 17"
        )


def export_raw(
    module: nn.Module,
    names: Sequence[str],
    example: dict[str, torch.Tensor],
    path: Path,
    opset: int,
) -> None:
    """Trace `module` (forward arguments `names`) on a *padded* `example` batch with dynamic
    batch and sequence axes."""
    missing = [name for name in names if name not in example]
    if missing:
        raise ValueError(f"the export example lacks the module's input(s) {missing}")
    if not bool((example["attention_mask"] == 0).any()):
        raise ValueError(
            "export needs a padded example batch (some attention_mask zeros): an all-ones mask can be baked in"
        )
    check_opset(opset)
    eager_module = _with_eager_attention(module)
    args = tuple(example[name].to("cpu") for name in names)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        # the TorchScript exporter warns about its own deprecation and trace-time constants
        warnings.simplefilter("ignore")
        torch.onnx.export(
            eager_module,
            args,
            str(tmp),
            dynamo=False,
            opset_version=opset,
            input_names=list(names),
            output_names=[OUTPUT_NAME],
            dynamic_axes=dynamic_axes(names),
            do_constant_folding=True,
        )


def check_export(
    path: Path, module: nn.Module, names: Sequence[str], batches: list[dict[str, torch.Tensor]]
) -> float:
    """Max abs diff between ORT on `path` and eager `module` over padded `batches`; raises if off."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    reference_module = copy.deepcopy(module).to(device="cpu", dtype=torch.float32).eval()
    worst = 0.0
    for batch in batches:
        feeds = {name: batch[name].to("cpu").numpy() for name in names}
        (output,) = session.run([OUTPUT_NAME], feeds)
        with torch.inference_mode():
            reference = (
                reference_module(**{name: batch[name].to("cpu") for name in names}).float().numpy()
            )
        if output.shape != reference.shape:
            raise RuntimeError(
                f"{path}: ONNX output shape {output.shape} != eager {reference.shape}"
            )
        diff = float(np.abs(output - reference).max())
        scale = max(1.0, float(np.abs(reference).max()))
        if not diff <= 1e-3 * scale:
            raise RuntimeError(
                f"{path}: the ONNX export differs from eager by {diff:.3g} on a padded batch of shape "
                f"{tuple(batch['input_ids'].shape)}; delete the file and report this as a kdbench bug"
            )
        worst = max(worst, diff)
    return worst


def ensure_raw(
    module: nn.Module,
    kind: ExportKind,
    example: dict[str, torch.Tensor],
    cache_dir: Path,
    opset: int,
    *,
    names: Sequence[str] | None = None,
) -> tuple[Path, JsonObject]:
    """The cached raw export for `module`, exporting and checking it first if absent.

    `names`: the module's forward arguments in order, `ranker.export_inputs(kind)`; None:
    the example's keys (`Ranker.tokenize` returns exactly those, in that order).
    """
    names = tuple(example) if names is None else tuple(names)
    model_hash = weights_hash(module)
    path = export_path(cache_dir, model_hash, kind, opset)
    info: JsonObject = {
        "model_hash": model_hash,
        "raw_export": str(path),
        "opset": opset,
        "cached": path.exists(),
        "inputs": list(names),
    }
    if not path.exists():
        export_raw(module, names, example, path, opset)
        # a second shape (fewer rows, each token axis shorter) proves every axis is dynamic
        rows = max(1, example["input_ids"].shape[0] - 1)
        shorter = {
            name: tensor[-rows:, : max(2, tensor.shape[1] // 2 + 1)]
            for name, tensor in example.items()
        }
        try:
            info["export_check_max_abs_diff"] = check_export(
                path, module, names, [example, shorter]
            )
        except RuntimeError:
            path.unlink(missing_ok=True)
            raise
    return path, info


def fused(raw: Path, num_heads: int, hidden_size: int, *, use_gpu: bool) -> Path:
    """ORT's transformer fusions (Attention, SkipLayerNorm, BiasGelu) applied offline to `raw`."""
    from onnxruntime.transformers.optimizer import optimize_model

    target = raw.with_name(raw.name.replace("-raw.onnx", f"-fused{'-gpu' if use_gpu else ''}.onnx"))
    if not target.exists():
        optimized = optimize_model(
            str(raw),
            model_type="bert",
            num_heads=num_heads,
            hidden_size=hidden_size,
            opt_level=0,
            use_gpu=use_gpu,
        )
        with atomic_path(target) as tmp:
            optimized.save_model_to_file(str(tmp))
    return target


def quantized_int8(raw: Path) -> Path:
    """Dynamic int8 quantisation of the *raw* export (weights int8, activations at run time).

    The raw graph, not a fused one: quantising ORT's fused ops turns them into their
    quantised variants, which the CPU provider runs slower than quantised MatMuls.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = raw.with_name(raw.name.replace("-raw.onnx", "-int8.onnx"))
    if not target.exists():
        with atomic_path(target) as tmp:
            quantize_dynamic(str(raw), str(tmp), weight_type=QuantType.QInt8)
    return target


def quantized_int8_static(
    raw: Path, calibration: CalibrationSet, batches: Callable[[], Iterable[dict[str, np.ndarray]]]
) -> Path:
    """Static int8 of the *raw* export: QDQ, weights int8 per channel, activations uint8
    with scales fixed from `batches()` (the calibration set's tokenised texts; MinMax).
    Cached under the calibration set's hash, so another set is another graph."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.feeds = iter(batches())

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds, None)

        def rewind(self) -> None:
            self.feeds = iter(batches())

    target = raw.with_name(
        raw.name.replace("-raw.onnx", f"-int8-static-{calibration.sha256[:12]}.onnx")
    )
    if not target.exists():
        with atomic_path(target) as tmp:
            quantize_static(
                str(raw),
                str(tmp),
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul", "Gemm"],
            )
    return target


def float16(source: Path) -> Path:
    """`source` with float weights and ops in fp16; int64 inputs and fp32 output kept."""
    import onnx
    from onnxruntime.transformers.onnx_model import OnnxModel

    target = source.with_name(source.name.replace(".onnx", "-fp16.onnx"))
    if not target.exists():
        model = OnnxModel(onnx.load(str(source)))
        model.convert_float_to_float16(keep_io_types=True)
        with atomic_path(target) as tmp:
            model.save_model_to_file(str(tmp))
    return target


def kept_in_fp32(op_types: Sequence[str]) -> list[int]:
    """Positions (in graph order) of the ops a mixed fp16 graph or engine keeps in fp32: every
    LayerNorm and softmax, and the score head, i.e. every op from the last LayerNorm on
    (pooling, normalisation, the linear scorer). Graph order is topological in ONNX and in
    a TensorRT network parsed from it, so "from the last LayerNorm on" is the head.

    >>> kept_in_fp32(["MatMul", "LayerNormalization", "MatMul", "Softmax", "MatMul",
    ...               "LayerNormalization", "ReduceMean", "Gemm"])
    [1, 3, 5, 6, 7]
    >>> kept_in_fp32(["MatMul", "Softmax", "MatMul"])  # no LayerNorm op: no head found
    [1]
    """
    norms = [index for index, op in enumerate(op_types) if op == FP32_OPS[0]]
    head = norms[-1] if norms else len(op_types)
    return [index for index, op in enumerate(op_types) if op in FP32_OPS or index >= head]


def mixed_float16(source: Path) -> Path:
    """`source` in fp16 except LayerNorm, softmax and the score head (`kept_in_fp32`), which
    stay fp32 with casts around them; int64 inputs and the fp32 output kept. For builders
    that take precision from the graph (TensorRT 11's strongly typed networks)."""
    import onnx
    from onnxruntime.transformers.onnx_model import OnnxModel

    target = source.with_name(source.name.replace(".onnx", "-mixed16.onnx"))
    if not target.exists():
        model = onnx.load(str(source))
        nodes = model.graph.node
        for index, node in enumerate(nodes):  # the converter keeps nodes by name
            node.name = node.name or f"kdbench_{node.op_type}_{index}"
        kept = [nodes[index].name for index in kept_in_fp32([node.op_type for node in nodes])]
        wrapped = OnnxModel(model)
        wrapped.convert_float_to_float16(keep_io_types=True, node_block_list=kept)
        with atomic_path(target) as tmp:
            wrapped.save_model_to_file(str(tmp))
    return target


def initializer_bytes(path: Path) -> int:
    """Bytes of the graph's initializers (its weights, int8 ones and their scales included),
    from their shapes and types: nothing is loaded."""
    import onnx

    total = 0
    for tensor in onnx.load(str(path), load_external_data=False).graph.initializer:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        total += int(np.prod(tensor.dims, dtype=np.int64)) * itemsize
    return total


def operator_counts(path: Path) -> dict[str, int]:
    """How many nodes of each op type the graph holds (shows which fusions took)."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


# -- sentence-transformers' layout ---------------------------------------------------------------
ST_ONNX_DIR = "onnx"
ST_QUANTIZED = "model_qint8_avx512.onnx"  # sentence-transformers' name for dynamic int8 weights


def export_to_model_folder(
    ranker: Ranker, folder: Path, *, opset: int = 17, quantize: bool = True
) -> dict[str, Path]:
    """Write the model's ONNX graph into `folder` as sentence-transformers' ONNX backend reads it:
    `onnx/model.onnx` (and `onnx/model_qint8_avx512.onnx`), the tokenizer's tensors in and
    `last_hidden_state` (a dot's encoder; Pooling/Normalize stay sentence-transformers' modules)
    or `logits` (a cross-encoder) out. Checked against eager on a padded batch first."""

    check_opset(opset)
    spec = ranker.spec
    form = ranker.architecture.sentence_transformers
    if form == "SentenceTransformer":
        module, output, dims = backbone(ranker.encoder), "last_hidden_state", DYNAMIC_DIMS
        example = ranker.tokenizer(
            ["a short text", "a longer text to pad the first one"],
            padding=True,
            return_tensors="pt",
        )
    elif form == "CrossEncoder" and spec.head == "sequence-classification":
        module, output, dims = ranker.encoder, "logits", {0: "batch"}
        example = ranker.tokenizer(
            ["a query", "another query"],
            ["a passage", "a longer passage to pad the first"],
            padding=True,
            return_tensors="pt",
        )
    else:
        forms = archs_where(lambda a: bool(a.sentence_transformers))
        raise UserError(
            f"{spec.arch} ({spec.head if form == 'CrossEncoder' else 'kdbench layout'}) has no "
            f"sentence-transformers form; only {' and '.join(forms)} models do (a cross-encoder "
            "with its sequence-classification head)"
        )
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in example]
    if "token_type_ids" in names and not ranker.token_type_input:
        names.remove("token_type_ids")
    graph = _HiddenOrLogits(module, names, output)
    target = folder / ST_ONNX_DIR / "model.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    eager = _with_eager_attention(graph)
    args = tuple(example[n] for n in names)
    with atomic_path(target) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            eager, args, str(tmp), dynamo=False, opset_version=opset, input_names=names,
            output_names=[output], dynamic_axes={**{n: DYNAMIC_DIMS for n in names}, output: dims},
            do_constant_folding=True,
        )  # fmt: skip
    _check_layout_export(target, graph, names, output, {n: example[n] for n in names})
    written = {"model": target}
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantized = target.with_name(ST_QUANTIZED)
        with atomic_path(quantized) as tmp:
            quantize_dynamic(str(target), str(tmp), weight_type=QuantType.QInt8)
        written["quantized"] = quantized
    return written


class _HiddenOrLogits(nn.Module):
    """A Hugging Face model as a positional-tensors-in, one-tensor-out module."""

    def __init__(self, model: nn.Module, names: Sequence[str], output: str) -> None:
        super().__init__()
        self.model, self.names, self.output = model, list(names), output

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = getattr(
            self.model(**dict(zip(self.names, tensors, strict=True))), self.output
        )
        return result


def _check_layout_export(
    path: Path,
    module: nn.Module,
    names: Sequence[str],
    output: str,
    example: dict[str, torch.Tensor],
) -> None:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (ours,) = session.run([output], {n: example[n].numpy() for n in names})
    reference = copy.deepcopy(module).eval()
    with torch.inference_mode():
        expected = reference(*(example[n] for n in names)).numpy()
    mask = example["attention_mask"].numpy().astype(bool)
    if output == "last_hidden_state":  # padding rows are free to differ; only real tokens count
        ours, expected = ours[mask], expected[mask]
    diff = float(np.abs(ours - expected).max())
    if not diff <= 1e-3 * max(1.0, float(np.abs(expected).max())):
        path.unlink(missing_ok=True)
        raise RuntimeError(
            f"{path}: the ONNX export differs from eager by {diff:.3g}; report this as a kdbench bug"
        )
