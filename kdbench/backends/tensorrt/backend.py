"""TensorRT runner: engine from the ONNX export, one optimisation profile, execute_async_v3.

TensorRT 10 takes an fp32 graph and the FP16 builder flag; TensorRT 11 builds only strongly
typed networks (no FP16 flag), so the precision comes from the graph: fp16 there means an
fp16 ONNX graph. Engines and the timing cache live on disk, keyed by model hash, shapes,
precision, TensorRT version and GPU, so a second run skips the (minutes-long) build.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import tensorrt as trt
import torch

from kdbench.backends.base import Backend, Runner, ShapeRange, default_cache_dir
from kdbench.backends.onnx import export
from kdbench.io import atomic_path
from kdbench.models.base import ExportKind, Ranker


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


class TensorRTBackend(Backend):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.info: dict[str, Any] = {
            "tensorrt": trt.__version__,
            "strongly_typed": strongly_typed_only(),
            "engines": {},
        }

    def engine_path(self, model_hash: str, kind: ExportKind, shapes: ShapeRange) -> Path:
        gpu = re.sub(
            r"[^A-Za-z0-9]+", "_", torch.cuda.get_device_name(torch.device(self.options.device))
        )
        key = (
            f"{model_hash[:20]}-{kind}-{self.options.precision}"
            f"-b{shapes.min_batch}_{shapes.opt_batch}_{shapes.max_batch}"
            f"-s{shapes.min_seq}_{shapes.opt_seq}_{shapes.max_seq}"
            + ("-d{}_{}_{}".format(*shapes.doc_seq) if shapes.doc_seq else "")
            + f"-trt{trt.__version__}-{gpu}"
        )
        return (self.options.cache_dir or default_cache_dir()) / "tensorrt" / f"{key}.engine"

    def build(self, onnx_path: Path, shapes: ShapeRange, engine_path: Path) -> None:
        builder = trt.Builder(self.logger)
        strongly_typed = strongly_typed_only()
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strongly_typed else 0
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse_from_file(str(onnx_path)):
            errors = "; ".join(str(parser.get_error(index)) for index in range(parser.num_errors))
            raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
        config = builder.create_builder_config()
        if self.options.precision == "fp16" and not strongly_typed:
            config.set_flag(trt.BuilderFlag.FP16)
        tf32 = getattr(trt.BuilderFlag, "TF32", None)
        if self.options.precision == "fp32" and tf32 is not None:
            config.clear_flag(
                tf32
            )  # eager fp32 matmuls do not use TF32 either: parity would suffer
        profile = builder.create_optimization_profile()
        for index in range(network.num_inputs):
            tensor = network.get_input(index)
            # prettr's cached passage states are 3-D with their own token axis
            low, opt, high = shapes.bounds(tensor.name, list(tensor.shape))
            profile.set_shape(
                tensor.name, trt.Dims(list(low)), trt.Dims(list(opt)), trt.Dims(list(high))
            )
        config.add_optimization_profile(profile)
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

    def prepare(
        self, ranker: Ranker, kind: ExportKind, shapes: ShapeRange, example: dict[str, torch.Tensor]
    ) -> Runner:
        cache_dir = self.options.cache_dir or default_cache_dir()
        module = ranker.export_module(kind)
        onnx_path, record = export.ensure_raw(
            module,
            kind,
            example,
            cache_dir,
            self.options.opset,
            names=ranker.export_inputs(kind),
        )
        if self.options.precision == "fp16" and strongly_typed_only():
            onnx_path = export.float16(onnx_path)
        engine_path = self.engine_path(record["model_hash"], kind, shapes)
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
        names = [engine.get_tensor_name(index) for index in range(engine.num_io_tensors)]
        inputs = [name for name in names if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT]
        (output,) = [
            name for name in names if engine.get_tensor_mode(name) == trt.TensorIOMode.OUTPUT
        ]
        input_types = {name: torch_dtype(engine.get_tensor_dtype(name)) for name in inputs}
        output_type = torch_dtype(engine.get_tensor_dtype(output))
        device = torch.device(self.options.device)
        record["profile"] = vars(shapes)
        self.info["engines"][kind] = record

        def run(batch: dict[str, torch.Tensor]) -> torch.Tensor:
            # kept alive until the stream has run: TensorRT holds raw pointers only
            tensors = {
                name: batch[name].to(device=device, dtype=input_types[name]).contiguous()
                for name in inputs
            }
            for name, tensor in tensors.items():
                context.set_input_shape(name, tuple(tensor.shape))
                context.set_tensor_address(name, tensor.data_ptr())
            result = torch.empty(
                tuple(context.get_tensor_shape(output)), dtype=output_type, device=device
            )
            context.set_tensor_address(output, result.data_ptr())
            if not context.execute_async_v3(torch.cuda.current_stream(device).cuda_stream):
                raise RuntimeError(
                    f"TensorRT execute_async_v3 failed for inputs of shape {tuple(tensors[inputs[0]].shape)}"
                )
            return result

        return run

    def describe(self) -> dict[str, Any]:
        return self.info
