"""What can be checked of the TensorRT backend without TensorRT: the version logic, and the
build and run paths against fakes shaped like tensorrt-stubs' API (which flags, which layers
pinned to fp32, which graph parsed, which stream executed, what an out-of-profile shape says).

A real engine needs a GPU (`pytest -m tensorrt` on one); mypy checks the backend against
tensorrt-stubs.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is None, reason="needs tensorrt or tensorrt-stubs"
)


@pytest.mark.parametrize(
    ("version", "has_fp16_flag", "expected"),
    [
        ("10.13.0.35", True, False),
        ("10.3.0", False, True),
        ("11.0.0", False, True),
        ("11.1.0", True, True),
    ],
)
def test_strongly_typed_from_tensorrt_11_or_without_the_fp16_flag(
    monkeypatch: pytest.MonkeyPatch, version: str, has_fp16_flag: bool, expected: bool
) -> None:
    from kdbench.backends.tensorrt import backend

    flags = SimpleNamespace(FP16=object()) if has_fp16_flag else SimpleNamespace()
    monkeypatch.setattr(backend, "trt", SimpleNamespace(__version__=version, BuilderFlag=flags))
    assert backend.strongly_typed_only() is expected


def _tensorrt_missing() -> str | None:
    from kdbench.backends import BACKENDS

    return BACKENDS["tensorrt"].missing("cuda")


@pytest.mark.tensorrt
@pytest.mark.skipif(_tensorrt_missing() is not None, reason="needs TensorRT and a CUDA GPU")
def test_tensorrt_dot_query_matches_eager(
    tiny_bert_dir, scifact_dir, profile_cache, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from kdbench.cli import app
    from tests.profile.conftest import FAST

    out = tmp_path / "P.json"
    result = CliRunner().invoke(
        app,
        [
            "profile",
            "--model",
            str(tiny_bert_dir),
            "--arch",
            "dot",
            "--backend",
            "eager,tensorrt,tensorrt:fp16",
            "--device",
            "cuda",
            "--data",
            str(scifact_dir),
            "--index-size",
            "200",
            "--output",
            str(out),
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    entries = json.loads(out.read_text())["results"]
    assert {e["backend"] for e in entries} == {"eager", "tensorrt"}
    assert next(e for e in entries if e["precision"] == "fp32" and e["backend"] == "tensorrt")[
        "parity"
    ]["passed"]


# -- the build and run paths against fakes shaped like tensorrt-stubs' API ---------------------


class _Enum:
    """Distinct members by name, like the bindings' enums (the stubs carry no values)."""

    def __init__(self, *names: str) -> None:
        for index, name in enumerate(names):
            setattr(self, name, f"{type(self).__name__}.{name}#{index}")


class FakeTensor:
    def __init__(self, name: str = "", shape: tuple[int, ...] = (), dtype: object = None) -> None:
        self.name, self.shape, self.dtype = name, shape, dtype


class FakeLayer:
    def __init__(self, kind: object, *output_types: object) -> None:
        self.type = kind
        self.outputs = [FakeTensor(dtype=dtype) for dtype in output_types]
        self.precision: object = None
        self.output_types: dict[int, object] = {}

    @property
    def num_outputs(self) -> int:
        return len(self.outputs)

    def get_output(self, index: int) -> FakeTensor:
        return self.outputs[index]

    def set_output_type(self, index: int, dtype: object) -> None:
        self.output_types[index] = dtype


def fake_tensorrt(version: str, layers: list[FakeLayer], log: list[Any]) -> SimpleNamespace:
    """A `tensorrt` module: Builder, network, parser, config and profile that log what is set."""
    data_type = _Enum("FLOAT", "HALF", "BF16", "INT32", "INT64")
    flags = ("FP16", "TF32", "PREFER_PRECISION_CONSTRAINTS", "OBEY_PRECISION_CONSTRAINTS")
    builder_flag = _Enum(*(flags if version.startswith("10") else ("TF32",)))
    layer_type = _Enum("NORMALIZATION", "SOFTMAX", "MATRIX_MULTIPLY", "SHAPE", "REDUCE")
    inputs = [FakeTensor("input_ids", (-1, -1)), FakeTensor("attention_mask", (-1, -1))]

    class Network:
        num_inputs = len(inputs)

        @property
        def num_layers(self) -> int:
            return len(layers)

        def get_layer(self, index: int) -> FakeLayer:
            return layers[index]

        def get_input(self, index: int) -> FakeTensor:
            return inputs[index]

    class Parser:
        num_errors = 0

        def __init__(self, network: Network, logger: object) -> None:
            pass

        def parse_from_file(self, path: str) -> bool:
            log.append(("parse", Path(path).name))
            return True

    class Profile:
        def set_shape(self, name: str, low: Any, opt: Any, high: Any) -> None:
            log.append(("profile", name, low, opt, high))

    class TimingCache:
        def serialize(self) -> bytes:
            return b"timing"

    class Config:
        def set_flag(self, flag: object) -> None:
            log.append(("set_flag", flag))

        def clear_flag(self, flag: object) -> None:
            log.append(("clear_flag", flag))

        def add_optimization_profile(self, profile: Profile) -> None:
            log.append("add_optimization_profile")

        def create_timing_cache(self, data: bytes) -> TimingCache:
            return TimingCache()

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> None:
            pass

        def get_timing_cache(self) -> TimingCache:
            return TimingCache()

    class Builder:
        def __init__(self, logger: object) -> None:
            pass

        def create_network(self, flags: int) -> Network:
            log.append(("create_network", flags))
            return Network()

        def create_builder_config(self) -> Config:
            return Config()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: Config) -> bytes:
            return b"engine"

    return SimpleNamespace(
        __version__=version,
        DataType=data_type,
        BuilderFlag=builder_flag,
        LayerType=layer_type,
        NetworkDefinitionCreationFlag=SimpleNamespace(STRONGLY_TYPED=1),
        TensorIOMode=_Enum("INPUT", "OUTPUT"),
        Logger=type("Logger", (), {"WARNING": "warning", "__init__": lambda self, level: None}),
        Builder=Builder,
        OnnxParser=Parser,
        Dims=tuple,
    )


def _encoder_layers(trt: SimpleNamespace) -> list[FakeLayer]:
    """matmul, norm, softmax, matmul, norm (the last), shape (int64), pooling, scorer."""
    t, f, i = trt.LayerType, trt.DataType.FLOAT, trt.DataType.INT64
    return [
        FakeLayer(t.MATRIX_MULTIPLY, f),
        FakeLayer(t.NORMALIZATION, f),
        FakeLayer(t.SOFTMAX, f),
        FakeLayer(t.MATRIX_MULTIPLY, f),
        FakeLayer(t.NORMALIZATION, f),
        FakeLayer(t.SHAPE, i),
        FakeLayer(t.REDUCE, f),
        FakeLayer(t.MATRIX_MULTIPLY, f),
    ]


SHAPES_ARGS = (1, 32, 32, 1, 128, 128)


def _build(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, version: str, precision: str
) -> tuple[SimpleNamespace, list[FakeLayer], list[Any], Any]:
    from kdbench.backends import BackendOptions, ShapeRange
    from kdbench.backends.tensorrt import backend

    log: list[Any] = []
    layers: list[FakeLayer] = []
    trt = fake_tensorrt(version, layers, log)
    layers.extend(_encoder_layers(trt))  # the fake network reads this list
    monkeypatch.setattr(backend, "trt", trt)
    built = backend.TensorRTBackend(
        BackendOptions(device="cuda", precision=precision, cache_dir=tmp_path)
    )
    engine = tmp_path / "tensorrt" / "model.engine"
    built.build(tmp_path / "model.onnx", ShapeRange(*SHAPES_ARGS), engine)
    assert engine.read_bytes() == b"engine"
    return trt, layers, log, built


def test_tensorrt_10_fp16_pins_layernorm_softmax_and_the_head_to_fp32(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    trt, layers, log, built = _build(monkeypatch, tmp_path, "10.13.0", "fp16")
    f = trt.DataType.FLOAT
    pinned = [index for index, layer in enumerate(layers) if layer.precision is not None]
    # the norms and the softmax, and from the last norm on: not the int64 shape layer
    assert pinned == [1, 2, 4, 6, 7]
    assert all(layers[i].precision == f and layers[i].output_types == {0: f} for i in pinned)
    assert ("create_network", 0) in log  # weakly typed: precision from the flags
    flags = [entry[1] for entry in log if entry[0] == "set_flag"]
    assert flags == [trt.BuilderFlag.FP16, trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS]
    assert built.info["fp32_layers"] == 5
    # one profile point per input from the shape range, then added to the config
    profile = [entry for entry in log if entry[0] == "profile"]
    assert profile == [
        ("profile", name, (1, 1), (32, 128), (32, 128)) for name in ("input_ids", "attention_mask")
    ]
    assert log[-1] == "add_optimization_profile"


def test_tensorrt_10_fp32_clears_tf32_and_pins_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    trt, layers, log, _ = _build(monkeypatch, tmp_path, "10.13.0", "fp32")
    assert all(layer.precision is None and not layer.output_types for layer in layers)
    assert [e for e in log if e[0] in ("set_flag", "clear_flag")] == [
        ("clear_flag", trt.BuilderFlag.TF32)
    ]


def test_tensorrt_11_is_strongly_typed_and_sets_no_precision(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, layers, log, built = _build(monkeypatch, tmp_path, "11.0.0", "fp16")
    assert ("create_network", 1 << 1) in log
    assert all(layer.precision is None and not layer.output_types for layer in layers)
    assert not [e for e in log if e[0] == "set_flag"]
    assert "fp32_layers" not in built.info


def test_tensorrt_11_fp16_parses_the_mixed_graph(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_dot: Any
) -> None:
    from kdbench.backends import BackendOptions
    from kdbench.backends.tensorrt import backend
    from kdbench.profile.scenarios import fixed_batch

    example = fixed_batch(tiny_dot, "doc", ["amyloid", "microglia in mice"], 24)
    paths = {}
    for version in ("10.13.0", "11.0.0"):
        monkeypatch.setattr(backend, "trt", fake_tensorrt(version, [], []))
        options = BackendOptions(device="cuda", precision="fp16", cache_dir=tmp_path)
        paths[version], _ = backend.TensorRTBackend(options).onnx_graph(tiny_dot, "doc", example)
    assert paths["10.13.0"].name.endswith("-raw.onnx")  # fp32 graph + FP16 flag + pinned layers
    assert paths["11.0.0"].name.endswith("-raw-mixed16.onnx")


class FakeEngine:
    """An engine with inputs [batch, seq] (int64) and a [batch] float output."""

    names = ("input_ids", "attention_mask", "output")

    def __init__(self, trt: SimpleNamespace) -> None:
        self.trt = trt
        self.num_io_tensors = len(self.names)

    def get_tensor_name(self, index: int) -> str:
        return self.names[index]

    def get_tensor_mode(self, name: str) -> object:
        mode = self.trt.TensorIOMode
        return mode.OUTPUT if name == "output" else mode.INPUT

    def get_tensor_dtype(self, name: str) -> object:
        return self.trt.DataType.FLOAT if name == "output" else self.trt.DataType.INT64

    def get_tensor_profile_shape(self, name: str, profile: int) -> list[tuple[int, int]]:
        return [(1, 2), (4, 16), (8, 32)]


class FakeContext:
    def __init__(self, log: list[Any]) -> None:
        self.log, self.batch = log, 0

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        self.log.append(("set_input_shape", name, shape))
        self.batch = shape[0]
        return 1 <= shape[0] <= 8 and 2 <= shape[1] <= 32

    def set_tensor_address(self, name: str, address: int) -> bool:
        self.log.append(("set_tensor_address", name))
        return address != 0

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return (self.batch,)

    def execute_async_v3(self, stream_handle: int) -> bool:
        self.log.append(("execute_async_v3", stream_handle))
        return True


class LoggingStream:
    handle = 77

    def __init__(self, log: list[Any]) -> None:
        self.log = log

    @contextlib.contextmanager
    def ordered(self) -> Iterator[None]:
        self.log.append("stream waits for caller")
        yield None
        self.log.append("caller waits for stream")


def test_tensorrt_runner_binds_then_executes_on_its_own_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from kdbench.backends.tensorrt import backend

    trt = fake_tensorrt("10.13.0", [], [])
    monkeypatch.setattr(backend, "trt", trt)
    log: list[Any] = []
    run = backend.tensorrt_runner(
        FakeEngine(trt), FakeContext(log), torch.device("cpu"), LoggingStream(log)
    )
    batch = {"input_ids": torch.ones(3, 16, dtype=torch.int32), "attention_mask": torch.ones(3, 16)}
    result = run(batch)
    assert result.shape == (3,) and result.dtype == torch.float32
    assert log == [
        "stream waits for caller",
        ("set_input_shape", "input_ids", (3, 16)),
        ("set_tensor_address", "input_ids"),
        ("set_input_shape", "attention_mask", (3, 16)),
        ("set_tensor_address", "attention_mask"),
        ("set_tensor_address", "output"),
        ("execute_async_v3", 77),  # the runner's stream, not torch's default (0)
        "caller waits for stream",
    ]


def test_an_input_outside_the_profile_names_the_range(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from kdbench.backends.tensorrt import backend

    trt = fake_tensorrt("10.13.0", [], [])
    monkeypatch.setattr(backend, "trt", trt)
    log: list[Any] = []
    run = backend.tensorrt_runner(
        FakeEngine(trt), FakeContext(log), torch.device("cpu"), LoggingStream(log)
    )
    too_long = torch.ones(2, 64, dtype=torch.int64)
    with pytest.raises(RuntimeError) as caught:
        run({"input_ids": too_long, "attention_mask": too_long})
    message = str(caught.value)
    assert "\n" not in message
    assert "'input_ids' of shape (2, 64) is outside the engine's optimisation profile" in message
    assert "(from (1, 2) to (8, 32))" in message
    assert not any(entry[0] == "execute_async_v3" for entry in log if isinstance(entry, tuple))


def test_results_say_tensorrt_never_ran(monkeypatch: pytest.MonkeyPatch) -> None:
    from kdbench.backends import BackendOptions
    from kdbench.backends.tensorrt import backend
    from kdbench.backends.tensorrt.config import NEVER_RUN

    monkeypatch.setattr(backend, "trt", fake_tensorrt("10.13.0", [], []))
    info = backend.TensorRTBackend(BackendOptions(device="cuda")).describe()
    assert info["never_run"] == NEVER_RUN and NEVER_RUN.startswith("never run")
