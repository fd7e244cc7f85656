"""ONNX Runtime runner: cached export, graph optimisation, execution provider, IO binding on GPU.

On a CUDA device the session runs on a torch-created stream of its own (`user_compute_stream`,
see kdbench.backends.streams) that waits for the stream the inputs were made on, and the
inputs and output are bound in place (IO binding): no host copy, no race between torch
writing an input and ORT reading it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import torch

from kdbench.backends.base import Backend, BackendOptions, Runner, ShapeRange, default_cache_dir
from kdbench.backends.onnx import export
from kdbench.backends.onnx.config import PROVIDERS, provider_conflict
from kdbench.backends.streams import SideStream
from kdbench.errors import MissingDependencyError, UserError
from kdbench.json_types import JsonObject, JsonValue
from kdbench.models.base import ExportKind, encoder_shape
from kdbench.models.ranker import Ranker

_NUMPY_TYPES: dict[str, type[np.generic]] = {
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
}
# an ONNX Runtime execution provider's options (ids, flags, paths, shapes)
ProviderOptions = dict[str, str | int | bool]
_TORCH_TYPES: dict[type[np.generic], torch.dtype] = {
    np.int64: torch.int64,
    np.int32: torch.int32,
    np.float32: torch.float32,
    np.float16: torch.float16,
}


class OnnxBackend(Backend):
    def __init__(self, options: BackendOptions) -> None:
        super().__init__(options)
        self.graphs: JsonObject = {}  # export kind -> the graph it runs
        self.info: JsonObject = {"onnxruntime": onnxruntime.__version__, "graphs": self.graphs}

    @property
    def device(self) -> torch.device:
        return torch.device(self.options.device)

    def provider(self) -> str:
        return self.options.onnx_provider or ("cuda" if self.device.type == "cuda" else "cpu")

    def model_file(
        self, ranker: Ranker, kind: ExportKind, example: dict[str, torch.Tensor]
    ) -> Path:
        """The ONNX graph to run for `kind`: exported (cached), then fused/quantised/halved."""
        if self.options.onnx_model is not None:
            self.weight_bytes[kind] = export.initializer_bytes(self.options.onnx_model)
            self.graphs[kind] = {
                "source": str(self.options.onnx_model),
                "user_supplied": True,
                "weight_bytes": self.weight_bytes[kind],
            }
            return self.options.onnx_model
        cache_dir = self.options.cache_dir or default_cache_dir()
        module = ranker.export_module(kind)
        path, record = export.ensure_raw(
            module,
            kind,
            example,
            cache_dir,
            self.options.opset,
            names=ranker.export_inputs(kind),
        )
        use_gpu = self.provider() != "cpu"
        fusion = self.options.onnx_fusion if self.options.onnx_fusion is not None else use_gpu
        precision = self.options.precision
        if precision == "int8":
            path = export.quantized_int8(path)
        elif precision == "int8-static":
            calibration = self.options.calibration
            if calibration is None:
                raise UserError(
                    "--backend onnx:int8-static needs a calibration set (--data with a train split)"
                )
            names = ranker.export_inputs(kind)

            def batches() -> list[dict[str, np.ndarray]]:
                return [
                    {name: tensor.numpy() for name, tensor in batch.items()}
                    for batch in calibration.batches(ranker, kind, names)
                ]

            path = export.quantized_int8_static(path, calibration, batches)
            record["calibration"] = calibration.describe()
        elif (
            fusion and self.provider() != "tensorrt"
        ):  # TensorRT's provider has no kernels for ORT's fused ops
            shape = encoder_shape(module)
            heads = _attention_heads(module)
            if shape is None or heads is None:
                record["fusion_skipped"] = "no Hugging Face encoder config found"
            else:
                path = export.fused(path, heads, shape["hidden"], use_gpu=use_gpu)
        if precision == "fp16":
            # TensorRT's provider gets the graph with LayerNorm, softmax and the score head
            # left in fp32 (as the TensorRT backend does); CUDA's fused ops keep their own
            # fp32 accumulation, so the whole graph goes to fp16 there
            path = (
                export.mixed_float16(path)
                if self.provider() == "tensorrt"
                else export.float16(path)
            )
        self.weight_bytes[kind] = export.initializer_bytes(path)
        record.update(
            file=str(path),
            fusion=bool(fusion and not precision.startswith("int8")),
            operators=dict[str, JsonValue](export.operator_counts(path)),
            weight_bytes=self.weight_bytes[kind],
        )
        self.graphs[kind] = record
        return path

    def providers(
        self, path: Path, shapes: ShapeRange, stream: int | None
    ) -> list[str | tuple[str, ProviderOptions]]:
        """ORT's provider list for the chosen provider: options, profile shapes, the stream."""
        wanted = self.provider()
        device_id = self.device.index or 0
        providers: list[str | tuple[str, ProviderOptions]] = ["CPUExecutionProvider"]
        on_stream = {} if stream is None else {"user_compute_stream": str(stream)}
        if wanted in ("cuda", "tensorrt"):
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device_id, **on_stream}))
        if wanted == "tensorrt":
            cache = (self.options.cache_dir or default_cache_dir()) / "ort-tensorrt"
            cache.mkdir(parents=True, exist_ok=True)
            options: ProviderOptions = {
                "device_id": device_id,
                "trt_fp16_enable": self.options.precision == "fp16",
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(cache),
                "trt_timing_cache_enable": True,
                "trt_timing_cache_path": str(cache),
                # one engine for every shape the profile runs (else a rebuild per new shape)
                **tensorrt_profile_shapes(graph_inputs(path), shapes),
                **on_stream,
            }
            providers.insert(0, ("TensorrtExecutionProvider", options))
        return providers

    def session(
        self, path: Path, shapes: ShapeRange, stream: int | None = None
    ) -> onnxruntime.InferenceSession:
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        if self.options.threads is not None:
            options.intra_op_num_threads = self.options.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = (
            3  # ORT's warnings about fallbacks are reported from get_providers()
        )
        wanted = self.provider()
        available = onnxruntime.get_available_providers()
        if PROVIDERS[wanted] not in available:  # before ORT warns and falls back
            raise MissingDependencyError(
                f"--onnx-provider {wanted}: this onnxruntime has no {PROVIDERS[wanted]} (it has "
                f"{', '.join(available)}); install onnxruntime-gpu with the CUDA/cuDNN (and "
                "TensorRT) libraries it needs, or use --onnx-provider cpu"
            )
        providers = self.providers(path, shapes, stream)
        session = onnxruntime.InferenceSession(str(path), options, providers=providers)
        used = session.get_providers()
        if PROVIDERS[wanted] not in used:
            raise MissingDependencyError(
                f"--backend onnx: ONNX Runtime could not start {PROVIDERS[wanted]} (it fell back to {', '.join(used)}); "
                "check that the CUDA/cuDNN (and TensorRT) libraries onnxruntime-gpu needs are installed"
            )
        self.info["providers"] = used
        self.info["provider_options"] = {
            name: {key: value for key, value in opts.items() if key != "user_compute_stream"}
            for name, opts in (p for p in providers if isinstance(p, tuple))
        }
        self.info["stream"] = (
            "a torch-created CUDA stream (user_compute_stream)" if stream else None
        )
        self.info["threads"] = {"intra_op": self.options.threads, "inter_op": 1}
        return session

    def prepare(
        self, ranker: Ranker, kind: ExportKind, shapes: ShapeRange, example: dict[str, torch.Tensor]
    ) -> Runner:
        conflict = provider_conflict(self.options.device, self.provider())
        if conflict is not None:
            raise UserError(conflict)
        path = self.model_file(ranker, kind, example)
        stream = None
        if self.device.type == "cuda":
            stream = SideStream(self.device)
        session = self.session(path, shapes, None if stream is None else stream.handle)
        names = [item.name for item in session.get_inputs()]
        types = {item.name: _NUMPY_TYPES.get(item.type, np.int64) for item in session.get_inputs()}
        output = session.get_outputs()[0]
        if stream is not None:
            return io_binding_runner(session, names, types, output, self.device, stream)

        def run(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
            feeds = {name: inputs[name].numpy().astype(types[name], copy=False) for name in names}
            return torch.from_numpy(session.run([output.name], feeds)[0])

        return run

    def describe(self) -> JsonObject:
        return self.info


def _attention_heads(module: torch.nn.Module) -> int | None:
    for child in module.modules():
        heads = getattr(getattr(child, "config", None), "num_attention_heads", None)
        if heads is not None:
            return int(heads)
    return None


def graph_inputs(path: Path) -> list[tuple[str, list[int]]]:
    """The graph's inputs with their dims, -1 for a dynamic (named or unknown) axis."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {tensor.name for tensor in graph.initializer}
    return [
        (
            item.name,
            [d.dim_value if d.dim_value > 0 else -1 for d in item.type.tensor_type.shape.dim],
        )
        for item in graph.input
        if item.name not in initializers
    ]


def tensorrt_profile_shapes(
    inputs: list[tuple[str, list[int]]], shapes: ShapeRange
) -> dict[str, str]:
    """ORT's TensorRT provider options for one explicit optimisation profile.

    >>> tensorrt_profile_shapes([("input_ids", [-1, -1]), ("passage_states", [-1, -1, 4])],
    ...                         ShapeRange(1, 8, 8, 2, 16, 32, doc_seq=(3, 40, 64)))
    ... # doctest: +NORMALIZE_WHITESPACE
    {'trt_profile_min_shapes': 'input_ids:1x2,passage_states:1x3x4',
     'trt_profile_opt_shapes': 'input_ids:8x16,passage_states:8x40x4',
     'trt_profile_max_shapes': 'input_ids:8x32,passage_states:8x64x4'}
    """
    parts: list[list[str]] = [[], [], []]
    for name, dims in inputs:
        for part, bound in zip(parts, shapes.bounds(name, dims), strict=True):
            part.append(f"{name}:{'x'.join(str(size) for size in bound)}")
    keys = ("trt_profile_min_shapes", "trt_profile_opt_shapes", "trt_profile_max_shapes")
    return {key: ",".join(part) for key, part in zip(keys, parts, strict=True)}


def io_binding_runner(
    session: onnxruntime.InferenceSession,
    names: list[str],
    types: dict[str, type[np.generic]],
    output: onnxruntime.NodeArg,
    device: torch.device,
    stream: SideStream,
) -> Runner:
    """Inputs and the output stay on the device, bound in place: no host copies in the call.

    `stream` is the session's `user_compute_stream` (a `SideStream`): the inputs are cast on
    it after the caller's pending work, ORT computes on it, and the caller's stream waits
    for it before the output is used (`Run` also synchronises it before returning).
    """
    device_id = device.index or 0
    output_type = _NUMPY_TYPES[output.type]

    def output_shape(batch: int, seq: int) -> tuple[int, ...]:
        dims = {"batch": batch, "seq": seq}
        shape = []
        for dim in output.shape:
            if isinstance(dim, int):
                shape.append(dim)
            elif dim in dims:
                shape.append(dims[dim])
            else:
                raise RuntimeError(f"cannot size ONNX output dimension {dim!r} for IO binding")
        return tuple(shape)

    def run(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        with stream.ordered() as caller:
            binding = session.io_binding()
            # kept alive until Run returns: ORT holds raw pointers only
            tensors = {
                name: inputs[name].to(device=device, dtype=_TORCH_TYPES[types[name]]).contiguous()
                for name in names
            }
            for name, tensor in tensors.items():
                binding.bind_input(
                    name,
                    device.type,
                    device_id,
                    types[name],
                    tuple(tensor.shape),
                    tensor.data_ptr(),
                )
            batch, seq = tensors[names[0]].shape
            result = torch.empty(
                output_shape(batch, seq), dtype=_TORCH_TYPES[output_type], device=device
            )
            binding.bind_output(
                output.name,
                device.type,
                device_id,
                output_type,
                tuple(result.shape),
                result.data_ptr(),
            )
            session.run_with_iobinding(binding)
            if caller is not None:
                result.record_stream(caller)
        return result

    return run
