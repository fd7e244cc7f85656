"""ONNX Runtime runner: cached export, graph optimisation, execution provider, IO binding on GPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import torch

from kdbench.backends.base import Backend, Runner, ShapeRange, default_cache_dir
from kdbench.backends.onnx import export
from kdbench.backends.onnx.config import PROVIDERS
from kdbench.errors import MissingDependencyError
from kdbench.models.base import ExportKind, Ranker, encoder_shape

_NUMPY_TYPES = {
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
}
_TORCH_TYPES = {
    np.int64: torch.int64,
    np.int32: torch.int32,
    np.float32: torch.float32,
    np.float16: torch.float16,
}


class OnnxBackend(Backend):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.info: dict[str, Any] = {"onnxruntime": onnxruntime.__version__, "graphs": {}}

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
            self.info["graphs"][kind] = {
                "source": str(self.options.onnx_model),
                "user_supplied": True,
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
            path = export.float16(path)
        record.update(
            file=str(path),
            fusion=bool(fusion and precision != "int8"),
            operators=export.operator_counts(path),
        )
        self.info["graphs"][kind] = record
        return path

    def session(self, path: Path) -> onnxruntime.InferenceSession:
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
        device_id = self.device.index or 0
        providers: list[Any] = ["CPUExecutionProvider"]
        if wanted in ("cuda", "tensorrt"):
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device_id}))
        if wanted == "tensorrt":
            cache = (self.options.cache_dir or default_cache_dir()) / "ort-tensorrt"
            cache.mkdir(parents=True, exist_ok=True)
            providers.insert(
                0,
                (
                    "TensorrtExecutionProvider",
                    {
                        "device_id": device_id,
                        "trt_fp16_enable": self.options.precision == "fp16",
                        "trt_engine_cache_enable": True,
                        "trt_engine_cache_path": str(cache),
                        "trt_timing_cache_enable": True,
                        "trt_timing_cache_path": str(cache),
                    },
                ),
            )
        session = onnxruntime.InferenceSession(str(path), options, providers=providers)
        used = session.get_providers()
        if PROVIDERS[wanted] not in used:
            raise MissingDependencyError(
                f"--backend onnx: ONNX Runtime could not start {PROVIDERS[wanted]} (it fell back to {', '.join(used)}); "
                "check that the CUDA/cuDNN (and TensorRT) libraries onnxruntime-gpu needs are installed"
            )
        self.info["providers"] = used
        self.info["threads"] = {"intra_op": self.options.threads, "inter_op": 1}
        return session

    def prepare(
        self, ranker: Ranker, kind: ExportKind, shapes: ShapeRange, example: dict[str, torch.Tensor]
    ) -> Runner:
        session = self.session(self.model_file(ranker, kind, example))
        names = [item.name for item in session.get_inputs()]
        types = {item.name: _NUMPY_TYPES.get(item.type, np.int64) for item in session.get_inputs()}
        output = session.get_outputs()[0]
        if self.device.type == "cuda":
            return _io_binding_runner(session, names, types, output, self.device)

        def run(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
            feeds = {name: inputs[name].numpy().astype(types[name], copy=False) for name in names}
            return torch.from_numpy(session.run([output.name], feeds)[0])

        return run

    def describe(self) -> dict[str, Any]:
        return self.info


def _attention_heads(module: torch.nn.Module) -> int | None:
    for child in module.modules():
        heads = getattr(getattr(child, "config", None), "num_attention_heads", None)
        if heads is not None:
            return int(heads)
    return None


def _io_binding_runner(
    session: onnxruntime.InferenceSession,
    names: list[str],
    types: dict[str, Any],
    output: Any,
    device: torch.device,
) -> Runner:
    """Inputs and the output stay on the GPU: no host copies inside the timed call."""
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
        binding = session.io_binding()
        tensors = {
            name: inputs[name].to(device=device, dtype=_TORCH_TYPES[types[name]]).contiguous()
            for name in names
        }
        for name, tensor in tensors.items():
            binding.bind_input(
                name, "cuda", device_id, types[name], tuple(tensor.shape), tensor.data_ptr()
            )
        batch, seq = tensors[names[0]].shape
        result = torch.empty(
            output_shape(batch, seq), dtype=_TORCH_TYPES[output_type], device=device
        )
        binding.bind_output(
            output.name, "cuda", device_id, output_type, tuple(result.shape), result.data_ptr()
        )
        session.run_with_iobinding(binding)
        return result

    return run
