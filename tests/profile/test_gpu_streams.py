"""The GPU runners' stream and binding order, checked on the CPU: fakes for torch.cuda's
streams, a real ONNX Runtime CPU session behind the IO-binding runner, and the provider
options ORT would get on a GPU (built without creating a session)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
import torch

from kdbench.backends import BackendOptions, ShapeRange
from kdbench.backends.onnx import export
from kdbench.backends.onnx.backend import (
    OnnxBackend,
    graph_inputs,
    io_binding_runner,
    tensorrt_profile_shapes,
)
from kdbench.errors import UserError
from kdbench.profile.scenarios import fixed_batch

TEXTS = ["protein folding", "how microglia respond to amyloid plaques in mice"]


class FakeCudaStream:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log, self.cuda_stream = name, log, 4242

    def wait_stream(self, other: FakeCudaStream) -> None:
        self.log.append(f"{self.name} waits for {other.name}")


def test_side_stream_waits_for_the_caller_and_the_caller_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kdbench.backends import streams

    log: list[str] = []
    caller = FakeCudaStream("caller", log)
    current = [caller]

    @contextlib.contextmanager
    def stream(chosen: FakeCudaStream) -> Iterator[None]:
        log.append(f"enter {chosen.name}")
        current.append(chosen)
        yield
        current.pop()
        log.append(f"leave {chosen.name}")

    monkeypatch.setattr(torch.cuda, "Stream", lambda device: FakeCudaStream("side", log))
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: current[-1])
    monkeypatch.setattr(torch.cuda, "stream", stream)

    side = streams.SideStream(torch.device("cuda:0"))
    assert side.handle == 4242  # a created stream's handle, never the default's 0
    with side.ordered() as yielded:
        log.append(f"work on {current[-1].name}")
    assert yielded is caller
    assert log == [
        "side waits for caller",
        "enter side",
        "work on side",
        "leave side",
        "caller waits for side",
    ]


class LoggingStream:
    """Stands in for a SideStream on the CPU: logs entering and leaving `ordered()`."""

    handle = 77

    def __init__(self, log: list[Any]) -> None:
        self.log = log

    @contextlib.contextmanager
    def ordered(self) -> Iterator[None]:
        self.log.append("stream waits for caller")
        yield None
        self.log.append("caller waits for stream")


class LoggingSession:
    """A real ORT session whose IO binding calls are logged."""

    def __init__(self, session: onnxruntime.InferenceSession, log: list[Any]) -> None:
        self.session, self.log = session, log

    def io_binding(self) -> Any:
        real, log = self.session.io_binding(), self.log

        class Binding:
            def bind_input(self, name: str, *args: Any) -> None:
                log.append(("bind_input", name, args[0]))
                real.bind_input(name, *args)

            def bind_output(self, name: str, *args: Any) -> None:
                log.append(("bind_output", name, args[0]))
                real.bind_output(name, *args)

        binding = Binding()
        binding.real = real  # type: ignore[attr-defined]
        return binding

    def run_with_iobinding(self, binding: Any) -> None:
        self.log.append("run")
        self.session.run_with_iobinding(binding.real)


@pytest.fixture(scope="module")
def dot_export(tiny_dot: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    example = fixed_batch(tiny_dot, "doc", TEXTS, 24)
    path, _ = export.ensure_raw(
        tiny_dot.export_module("doc"),
        "doc",
        example,
        tmp_path_factory.mktemp("onnx"),
        17,
        names=tiny_dot.export_inputs("doc"),
    )
    return path


def test_io_binding_runner_binds_in_place_on_its_stream(tiny_dot: Any, dot_export: Path) -> None:
    session = onnxruntime.InferenceSession(str(dot_export), providers=["CPUExecutionProvider"])
    log: list[Any] = []
    names = [item.name for item in session.get_inputs()]
    types = dict.fromkeys(names, np.int64)
    runner = io_binding_runner(
        LoggingSession(session, log),  # type: ignore[arg-type]
        names,
        types,
        session.get_outputs()[0],
        torch.device("cpu"),  # ORT binds host memory the same way: the logic is the GPU's
        LoggingStream(log),
    )
    batch = fixed_batch(tiny_dot, "doc", [*TEXTS, "amyloid"], 32)
    output = runner(dict(batch))
    expected = session.run(None, {name: batch[name].numpy() for name in names})[0]
    np.testing.assert_allclose(output.numpy(), expected, rtol=0, atol=0)
    assert log == [
        "stream waits for caller",
        *(("bind_input", name, "cpu") for name in names),
        ("bind_output", "output", "cpu"),
        "run",
        "caller waits for stream",
    ]


def test_tensorrt_provider_gets_profile_shapes_cache_and_the_stream(
    dot_export: Path, tmp_path: Path
) -> None:
    backend = OnnxBackend(
        BackendOptions(
            device="cuda", precision="fp16", onnx_provider="tensorrt", cache_dir=tmp_path
        )
    )
    shapes = ShapeRange(1, 32, 32, 1, 128, 128)
    providers = backend.providers(dot_export, shapes, stream=1234)
    assert [p[0] for p in providers[:2]] == ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
    assert providers[-1] == "CPUExecutionProvider"
    trt_options, cuda_options = providers[0][1], providers[1][1]  # type: ignore[index]
    assert trt_options["trt_profile_min_shapes"] == "input_ids:1x1,attention_mask:1x1"
    assert trt_options["trt_profile_opt_shapes"] == "input_ids:32x128,attention_mask:32x128"
    assert trt_options["trt_profile_max_shapes"] == "input_ids:32x128,attention_mask:32x128"
    assert trt_options["trt_engine_cache_enable"] is True
    assert Path(trt_options["trt_engine_cache_path"]) == tmp_path / "ort-tensorrt"
    assert trt_options["trt_fp16_enable"] is True
    assert trt_options["user_compute_stream"] == cuda_options["user_compute_stream"] == "1234"


def test_cuda_provider_without_a_stream_gets_none(dot_export: Path) -> None:
    backend = OnnxBackend(BackendOptions(device="cuda:1"))
    providers = backend.providers(dot_export, ShapeRange(1, 1, 1, 1, 8, 8), stream=None)
    assert providers == [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]


def test_profile_shapes_follow_the_graph_inputs(dot_export: Path) -> None:
    inputs = graph_inputs(dot_export)
    assert inputs == [("input_ids", [-1, -1]), ("attention_mask", [-1, -1])]
    assert tensorrt_profile_shapes(inputs, ShapeRange(2, 4, 8, 3, 5, 7)) == {
        "trt_profile_min_shapes": "input_ids:2x3,attention_mask:2x3",
        "trt_profile_opt_shapes": "input_ids:4x5,attention_mask:4x5",
        "trt_profile_max_shapes": "input_ids:8x7,attention_mask:8x7",
    }


def test_cuda_device_with_the_cpu_provider_is_refused_up_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kdbench.cli import main
    from kdbench.profile import ProfileConfig
    from kdbench.profile.runner import check_available

    config = ProfileConfig(
        model=str(tmp_path / "no-such-model"),
        backends=(("ort", None),),
        device="cuda",
        onnx_provider="cpu",
    )
    with pytest.raises(UserError, match=r"^--device cuda --onnx-provider cpu: ") as caught:
        check_available(config)  # before any hardware check or model load
    assert "\n" not in str(caught.value) and "--onnx-provider cuda or tensorrt" in str(caught.value)
    # eager alone does not care which provider ONNX would use
    check_available(
        ProfileConfig(model="m", backends=(("eager", None),), device="cpu", onnx_provider="cpu")
    )

    code = main(
        [
            "profile",
            "--model",
            str(tmp_path / "no-such-model"),
            "--backend",
            "onnx",
            "--device",
            "cuda",
            "--onnx-provider",
            "cpu",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("kdbench: error: --device cuda --onnx-provider cpu: ")


def test_the_backend_itself_refuses_cuda_with_the_cpu_provider(tiny_dot: Any) -> None:
    backend = OnnxBackend(BackendOptions(device="cuda", onnx_provider="cpu"))
    example = fixed_batch(tiny_dot, "doc", TEXTS, 24)
    with pytest.raises(UserError, match="CPUExecutionProvider reads host memory"):
        backend.prepare(tiny_dot, "doc", ShapeRange(1, 2, 2, 1, 24, 24), example)
