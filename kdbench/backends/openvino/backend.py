"""OpenVINO runner: kdbench's checked ONNX export, read by OpenVINO and compiled for its CPU plugin.

Precision is set, never left to the plugin: on a CPU with bf16 OpenVINO's default inference
precision is bf16, so fp32 pins `INFERENCE_PRECISION_HINT` to f32 (and `EXECUTION_MODE_HINT`
to ACCURACY); bf16 asks for bf16; int8 is NNCF's static post-training quantisation of the
fp32 model (FakeQuantize on activations and weights, scales from the calibration set): its
MatMuls run int8 kernels, the ops left unquantised run in bf16 where the CPU has it (else
f32); `compiled.inference_precision` and `kernel_precisions` record what ran.

The performance hint follows the scenario's batch (its `ShapeRange.opt_batch`): one text at
a time (the `query` scenario) compiles for LATENCY, one stream; batches (index encoding,
re-ranking a candidate list, an evaluation) compile for THROUGHPUT, where the plugin picks
its streams and the runner splits each batch across that many asynchronous infer requests,
one per stream.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import openvino as ov
import torch

from kdbench.backends.base import Backend, BackendOptions, Runner, ShapeRange, default_cache_dir
from kdbench.backends.calibration import CalibrationSet
from kdbench.backends.onnx import export
from kdbench.backends.openvino import config as openvino_config
from kdbench.backends.openvino.core import shared_core
from kdbench.errors import UserError
from kdbench.io import atomic_path
from kdbench.json_types import JsonObject, JsonValue
from kdbench.models.base import ExportKind
from kdbench.models.ranker import Ranker

_TYPES = {"fp32": ov.Type.f32, "bf16": ov.Type.bf16, "int8": ov.Type.f32}


def performance_hint(shapes: ShapeRange) -> str:
    """LATENCY where the scenario runs one text at a time (the `query` scenario), THROUGHPUT
    where it runs batches (index encoding, re-ranking candidates, an evaluation's batches).

    >>> performance_hint(ShapeRange(1, 1, 1, 1, 32, 32)), performance_hint(ShapeRange(1, 32, 32, 1, 128, 128))
    ('LATENCY', 'THROUGHPUT')
    """
    return "LATENCY" if shapes.opt_batch <= 1 else "THROUGHPUT"


def inference_type(precision: str, has_bf16: bool) -> ov.Type:
    """OpenVINO's inference precision for a cell: fp32 pinned to f32, bf16 to bf16; int8's
    quantised MatMuls run in int8 whatever this says, and the ops NNCF leaves unquantised
    (softmax, LayerNorm, GELU, the residual adds) run in bf16 on a CPU with bf16 (OpenVINO's
    own default for int8 there, and what sentence-transformers' int8 runs), else f32."""
    if precision == "int8":
        return ov.Type.bf16 if has_bf16 else ov.Type.f32
    return _TYPES[precision]


def compile_config(
    precision: str, hint: str, threads: int | None, *, has_bf16: bool = False
) -> dict[object, object]:
    """The CPU plugin's properties for `precision` and `hint` (`threads`: all of them), keyed
    by OpenVINO's property objects, as `Core.compile_model` takes them."""
    props = ov.properties
    config: dict[object, object] = {
        props.hint.inference_precision: inference_type(precision, has_bf16),
        props.hint.performance_mode: getattr(props.hint.PerformanceMode, hint),
        # ACCURACY for fp32: no silent precision lowering
        props.hint.execution_mode: (
            props.hint.ExecutionMode.ACCURACY
            if precision == "fp32"
            else props.hint.ExecutionMode.PERFORMANCE
        ),
    }
    if threads is not None:
        config[props.inference_num_threads] = threads
    if hint == "LATENCY":
        config[props.num_streams] = 1
    return config


class OpenVinoBackend(Backend):
    def __init__(self, options: BackendOptions) -> None:
        super().__init__(options)
        self.core = shared_core()
        self.graphs: JsonObject = {}  # export kind -> the IR it runs
        self.info: JsonObject = {"openvino": ov.get_version(), "graphs": self.graphs}

    def model_file(
        self, ranker: Ranker, kind: ExportKind, example: dict[str, torch.Tensor]
    ) -> tuple[Path, JsonObject]:
        """The OpenVINO IR to compile for `kind`: converted from the cached ONNX export, and
        quantised by NNCF for int8 (cached by the calibration set's hash)."""
        cache_dir = self.options.cache_dir or default_cache_dir()
        names = ranker.export_inputs(kind)
        source = self.options.onnx_model
        record: JsonObject = {}
        if source is None:
            source, record = export.ensure_raw(
                ranker.export_module(kind),
                kind,
                example,
                cache_dir,
                self.options.opset,
                names=names,
            )
        base = source.with_suffix("")
        ir = base.with_name(f"{base.name}-openvino.xml")
        if not ir.exists():
            _save(ov.convert_model(str(source)), ir)
        if self.options.precision == "int8":
            calibration = self.options.calibration
            if calibration is None:
                raise UserError(
                    "--backend openvino:int8 is static int8: it needs a calibration set "
                    "(--data with a train split)"
                )
            ir = quantized(ir, calibration, ranker, kind, names)
            record["calibration"] = calibration.describe()
            record["quantization"] = "static int8 (NNCF post-training, transformer preset)"
        record["ir"] = str(ir)
        return ir, record

    def compile(self, ir: Path, shapes: ShapeRange) -> ov.CompiledModel:
        hint = performance_hint(shapes)
        has_bf16 = openvino_config.bf16_missing() is None
        config = compile_config(
            self.options.precision, hint, self.options.threads, has_bf16=has_bf16
        )
        compiled = self.core.compile_model(self.core.read_model(str(ir)), "CPU", config)
        ran = compiled.get_property("INFERENCE_PRECISION_HINT")
        wanted = inference_type(self.options.precision, has_bf16)
        if ran != wanted:
            raise RuntimeError(
                f"OpenVINO compiled at inference precision {ran}, not the {wanted} asked for"
            )
        self.info["compiled"] = {
            "performance_hint": hint,
            "chosen_for": f"batches of {shapes.opt_batch} ({'one text at a time' if hint == 'LATENCY' else 'batched'})",
            "inference_precision": str(ran),
            "execution_mode": str(compiled.get_property("EXECUTION_MODE_HINT")),
            "streams": int(compiled.get_property("NUM_STREAMS")),
            "threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
            "optimal_requests": int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")),
            "kernel_precisions": dict[str, JsonValue](runtime_precisions(compiled)),
        }
        self.info["threads"] = {"inference_num_threads": self.options.threads}
        return compiled

    def prepare(
        self, ranker: Ranker, kind: ExportKind, shapes: ShapeRange, example: dict[str, torch.Tensor]
    ) -> Runner:
        ir, record = self.model_file(ranker, kind, example)
        compiled = self.compile(ir, shapes)
        self.weight_bytes[kind] = ir_weight_bytes(ir)
        record["weight_bytes"] = self.weight_bytes[kind]
        self.graphs[kind] = record
        names = list(ranker.export_inputs(kind))
        requests = int(compiled.get_property("NUM_STREAMS"))  # as `compile` recorded
        if requests <= 1:
            request = compiled.create_infer_request()

            def run(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
                feeds = {name: inputs[name].numpy() for name in names}
                output = request.infer(feeds, share_inputs=True)[0]
                return torch.from_numpy(np.array(output, copy=True))

            return run
        return streamed_runner(compiled, names, requests)

    def describe(self) -> JsonObject:
        return self.info


def streamed_runner(compiled: ov.CompiledModel, names: list[str], requests: int) -> Runner:
    """Each batch split into `requests` row slices run at once, one per stream."""
    queue = ov.AsyncInferQueue(compiled, requests)
    parts: dict[int, np.ndarray] = {}

    def done(request: ov.InferRequest, index: int) -> None:
        parts[index] = np.array(request.get_output_tensor(0).data, copy=True)

    queue.set_callback(done)

    def run(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        rows = inputs[names[0]].shape[0]
        step = -(-rows // requests)
        parts.clear()
        for index, start in enumerate(range(0, rows, step)):
            queue.start_async(
                {name: inputs[name][start : start + step].numpy() for name in names}, index
            )
        queue.wait_all()
        return torch.from_numpy(np.concatenate([parts[i] for i in sorted(parts)]))

    return run


def runtime_precisions(compiled: ov.CompiledModel) -> dict[str, int]:
    """How many MatMul/FullyConnected kernels ran at each precision (the runtime graph's
    `runtimePrecision`): shows that bf16 and int8 really ran in bf16 and int8."""
    counts: dict[str, int] = {}
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        keys = set(info.keys())
        layer = info["layerType"].astype(str) if "layerType" in keys else op.get_type_name()
        if layer not in ("FullyConnected", "MatMul", "Convolution"):
            continue
        precision = info["runtimePrecision"].astype(str) if "runtimePrecision" in keys else "?"
        key = f"{layer}:{precision}"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def ir_weight_bytes(ir: Path) -> int:
    """Bytes of the IR's weights file (constants at the type they are stored in)."""
    weights = ir.with_suffix(".bin")
    return weights.stat().st_size if weights.exists() else 0


def quantized(
    ir: Path, calibration: CalibrationSet, ranker: Ranker, kind: ExportKind, names: tuple[str, ...]
) -> Path:
    """NNCF's static int8 of the IR at `ir`, calibrated on `calibration` (a CalibrationSet),
    cached next to it under the set's hash."""
    import nncf

    target = ir.with_name(ir.name.replace(".xml", f"-int8-{calibration.sha256[:12]}.xml"))
    if target.exists():
        return target
    logging.getLogger("nncf").setLevel(logging.ERROR)
    batches = [
        {name: tensor.numpy() for name, tensor in batch.items()}
        for batch in calibration.batches(ranker, kind, names)
    ]
    model = shared_core().read_model(str(ir))
    quantized_model = nncf.quantize(
        model,
        nncf.Dataset(batches),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(batches),
    )
    _save(quantized_model, target)
    return target


def _save(model: ov.Model, target: Path) -> None:
    """Write an IR pair (.xml + .bin) atomically: the .bin first, the .xml that names it last."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.tmp.xml")
    ov.save_model(model, str(tmp), compress_to_fp16=False)
    tmp.with_suffix(".bin").replace(target.with_suffix(".bin"))
    with atomic_path(target) as final:
        tmp.replace(final)
