"""TensorRT runner: engine from the ONNX export, one optimisation profile, execute_async_v3.

fp16 keeps LayerNorm, softmax and the score head in fp32 (`export.kept_in_fp32`): BERT's
LayerNorm overflows in fp16 after self-attention. TensorRT 10 takes the fp32 graph, the
FP16 builder flag and those layers pinned to fp32 (`ILayer.precision`, `set_output_type`,
`PREFER_PRECISION_CONSTRAINTS`); TensorRT 11 builds only strongly typed networks (no FP16
or precision-constraint flags), so there the precision comes from the graph: a mixed fp16
ONNX graph with those ops left in fp32 (`export.mixed_float16`).

Each runner executes on a CUDA stream of its own (kdbench.backends.streams), never torch's
legacy default stream. Engines and the timing cache live on disk, keyed by model hash,
shapes, precision, TensorRT version and GPU, so a second run skips the (minutes-long) build.

Never run: no GPU with TensorRT has been lent to this project (see `NEVER_RUN`).
"""

from __future__ import annotations

import re
from pathlib import Path

import tensorrt as trt
import torch

from kdbench.backends.base import Backend, BackendOptions, Runner, ShapeRange, default_cache_dir
from kdbench.backends.onnx import export
from kdbench.backends.streams import SideStream
from kdbench.backends.tensorrt.config import NEVER_RUN
from kdbench.io import atomic_path
from kdbench.json_types import JsonObject
from kdbench.models.base import ExportKind
from kdbench.models.ranker import Ranker


def torch_dtype(dtype: trt.DataType) -> torch.dtype:
    """The torch dtype of a TensorRT tensor type (a function: the stubs have no enum values)."""
    types = {
        trt.DataType.FLOAT: torch.float32,
        trt.DataType.HALF: torch.float16,
        trt.DataType.BF16: torch.bfloat16,
        trt.DataType.INT32: torch.int32,
        trt.DataType.INT64: torch.int64,
    }
    return types[dtype]


def tensorrt_major() -> int:
    match = re.match(r"(\d+)", trt.__version__)
    return int(match.group(1)) if match else 0


def strongly_typed_only() -> bool:
    """True where the builder has no FP16 flag (TensorRT 11 and later)."""
    return tensorrt_major() >= 11 or not hasattr(trt.BuilderFlag, "FP16")


def fp32_layers(network: trt.INetworkDefinition) -> list[trt.ILayer]:
    """The network's layers an fp16 engine keeps in fp32 (`export.kept_in_fp32`) whose
    outputs are all float: index and shape arithmetic keeps the types it has."""
    names = {trt.LayerType.NORMALIZATION: "LayerNormalization", trt.LayerType.SOFTMAX: "Softmax"}
    layers = [network.get_layer(index) for index in range(network.num_layers)]
    kept = export.kept_in_fp32([names.get(layer.type, "") for layer in layers])
    return [
        layers[index]
        for index in kept
        if all(
            layers[index].get_output(i).dtype == trt.DataType.FLOAT
            for i in range(layers[index].num_outputs)
        )
    ]


def pin_fp32(network: trt.INetworkDefinition, config: trt.IBuilderConfig) -> int:
    """TensorRT 10, fp16: pin `fp32_layers` to fp32 and ask the builder to honour that.

    PREFER, not OBEY: a layer without an fp32 kernel falls back with a warning instead of
    failing the build; the parity gate then judges the engine. Returns how many were pinned.
    """
    layers = fp32_layers(network)
    for layer in layers:
        layer.precision = trt.DataType.FLOAT
        for index in range(layer.num_outputs):
            layer.set_output_type(index, trt.DataType.FLOAT)
    config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
    return len(layers)


def set_input(
    engine: trt.ICudaEngine, context: trt.IExecutionContext, name: str, tensor: torch.Tensor
) -> None:
    """Bind one input (shape and address), or one line saying what the profile accepts."""
    shape = tuple(tensor.shape)
    if not context.set_input_shape(name, shape):
        low, _, high = (tuple(dims) for dims in engine.get_tensor_profile_shape(name, 0))
        raise RuntimeError(
            f"TensorRT: input {name!r} of shape {shape} is outside the engine's optimisation "
            f"profile (from {low} to {high}); the engine was built for other cells: delete it "
            "or profile within that range"
        )
    if not context.set_tensor_address(name, tensor.data_ptr()):
        raise RuntimeError(f"TensorRT: cannot bind the address of input {name!r}")


def tensorrt_runner(
    engine: trt.ICudaEngine,
    context: trt.IExecutionContext,
    device: torch.device,
    stream: SideStream,
) -> Runner:
    """A runner over `engine` that executes on `stream` (a `SideStream`), never the default."""
    names = [engine.get_tensor_name(index) for index in range(engine.num_io_tensors)]
    inputs = [name for name in names if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT]
    (output,) = [name for name in names if engine.get_tensor_mode(name) == trt.TensorIOMode.OUTPUT]
    input_types = {name: torch_dtype(engine.get_tensor_dtype(name)) for name in inputs}
    output_type = torch_dtype(engine.get_tensor_dtype(output))

    def run(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with stream.ordered() as caller:
            # kept alive until the stream has run: TensorRT holds raw pointers only
            tensors = {
                name: batch[name].to(device=device, dtype=input_types[name]).contiguous()
                for name in inputs
            }
            for name, tensor in tensors.items():
                set_input(engine, context, name, tensor)
            result = torch.empty(
                tuple(context.get_tensor_shape(output)), dtype=output_type, device=device
            )
            context.set_tensor_address(output, result.data_ptr())
            if not context.execute_async_v3(stream.handle):
                raise RuntimeError(
                    f"TensorRT execute_async_v3 failed for inputs of shape {tuple(tensors[inputs[0]].shape)}"
                )
            if caller is not None:
                result.record_stream(caller)
        return result

    return run


def _device_memory(engine: trt.ICudaEngine) -> int | None:
    """Bytes of scratch memory an execution context of `engine` needs (TensorRT 10+)."""
    for name in ("device_memory_size_v2", "device_memory_size"):
        size = getattr(engine, name, None)
        if isinstance(size, int):
            return size
    return None


class TensorRTBackend(Backend):
    def __init__(self, options: BackendOptions) -> None:
        super().__init__(options)
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.engines: JsonObject = {}  # export kind -> the engine it runs
        self.info: JsonObject = {
            "tensorrt": trt.__version__,
            "strongly_typed": strongly_typed_only(),
            "never_run": NEVER_RUN,
            "engines": self.engines,
        }

    def engine_path(self, model_hash: str, kind: ExportKind, shapes: ShapeRange) -> Path:
        gpu = re.sub(
            r"[^A-Za-z0-9]+", "_", torch.cuda.get_device_name(torch.device(self.options.device))
        )
        # "fp16mixed": engines from before LayerNorm/softmax/head were kept in fp32 don't match
        precision = "fp16mixed" if self.options.precision == "fp16" else self.options.precision
        key = (
            f"{model_hash[:20]}-{kind}-{precision}"
            f"-b{shapes.min_batch}_{shapes.opt_batch}_{shapes.max_batch}"
            f"-s{shapes.min_seq}_{shapes.opt_seq}_{shapes.max_seq}"
            + ("-d{}_{}_{}".format(*shapes.doc_seq) if shapes.doc_seq else "")
            + f"-trt{trt.__version__}-{gpu}"
        )
        return (self.options.cache_dir or default_cache_dir()) / "tensorrt" / f"{key}.engine"

    def network(
        self, builder: trt.Builder, onnx_path: Path
    ) -> tuple[trt.INetworkDefinition, trt.OnnxParser]:
        """The parsed network (strongly typed where TensorRT has no other kind); the parser is
        returned too: the network's weights live only as long as it does."""
        flags = (
            1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
            if strongly_typed_only()
            else 0
        )
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse_from_file(str(onnx_path)):
            errors = "; ".join(str(parser.get_error(index)) for index in range(parser.num_errors))
            raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
        return network, parser

    def builder_config(
        self, builder: trt.Builder, network: trt.INetworkDefinition, shapes: ShapeRange
    ) -> trt.IBuilderConfig:
        """Precision flags (TensorRT 10 only) and the one optimisation profile."""
        config = builder.create_builder_config()
        if self.options.precision == "fp16" and not strongly_typed_only():
            config.set_flag(trt.BuilderFlag.FP16)
            self.info["fp32_layers"] = pin_fp32(network, config)
        tf32 = getattr(trt.BuilderFlag, "TF32", None)
        if self.options.precision == "fp32" and tf32 is not None:
            # eager fp32 matmuls do not use TF32 either: parity would suffer
            config.clear_flag(tf32)
        profile = builder.create_optimization_profile()
        for index in range(network.num_inputs):
            tensor = network.get_input(index)
            # prettr's cached passage states are 3-D with their own token axis
            low, opt, high = shapes.bounds(tensor.name, list(tensor.shape))
            profile.set_shape(
                tensor.name, trt.Dims(list(low)), trt.Dims(list(opt)), trt.Dims(list(high))
            )
        config.add_optimization_profile(profile)
        return config

    def build(self, onnx_path: Path, shapes: ShapeRange, engine_path: Path) -> None:
        builder = trt.Builder(self.logger)
        network, _parser = self.network(builder, onnx_path)
        config = self.builder_config(builder, network, shapes)
        timing_path = (
            engine_path.parent
            / f"timing-trt{trt.__version__}-{engine_path.stem.rsplit('-', 1)[-1]}.cache"
        )
        timing_cache = config.create_timing_cache(
            timing_path.read_bytes() if timing_path.exists() else b""
        )
        config.set_timing_cache(timing_cache, ignore_mismatch=False)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise RuntimeError(
                f"TensorRT failed to build an engine from {onnx_path} (see its log above)"
            )
        with atomic_path(engine_path) as tmp:
            tmp.write_bytes(bytes(serialized))
        with atomic_path(timing_path) as tmp:
            tmp.write_bytes(bytes(config.get_timing_cache().serialize()))

    def onnx_graph(
        self, ranker: Ranker, kind: ExportKind, example: dict[str, torch.Tensor]
    ) -> tuple[Path, JsonObject]:
        """The graph TensorRT parses: the raw export, or its mixed fp16 form (TensorRT 11)."""
        cache_dir = self.options.cache_dir or default_cache_dir()
        onnx_path, record = export.ensure_raw(
            ranker.export_module(kind),
            kind,
            example,
            cache_dir,
            self.options.opset,
            names=ranker.export_inputs(kind),
        )
        if self.options.precision == "fp16" and strongly_typed_only():
            onnx_path = export.mixed_float16(onnx_path)
        return onnx_path, record

    def prepare(
        self, ranker: Ranker, kind: ExportKind, shapes: ShapeRange, example: dict[str, torch.Tensor]
    ) -> Runner:

        onnx_path, record = self.onnx_graph(ranker, kind, example)
        engine_path = self.engine_path(str(record["model_hash"]), kind, shapes)
        record.update(
            onnx=str(onnx_path), engine=str(engine_path), engine_cached=engine_path.exists()
        )
        if not engine_path.exists():
            self.build(onnx_path, shapes, engine_path)
        runtime = trt.Runtime(self.logger)
        engine = runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if engine is None:
            raise RuntimeError(f"TensorRT cannot load {engine_path}; delete it to rebuild")
        context = engine.create_execution_context()
        device = torch.device(self.options.device)
        # the serialized engine holds the weights; its activations are the context's memory
        self.weight_bytes[kind] = engine_path.stat().st_size
        record.update(weight_bytes=self.weight_bytes[kind], workspace_bytes=_device_memory(engine))
        record["profile"] = vars(shapes)
        record["kept_in_fp32"] = (
            "LayerNorm, softmax and the score head" if self.options.precision == "fp16" else None
        )
        self.engines[kind] = record
        return tensorrt_runner(engine, context, device, SideStream(device))

    def describe(self) -> JsonObject:
        return self.info
