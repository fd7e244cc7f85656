"""OpenVINO (fp32 pinned, bf16, static int8) and ONNX Runtime static int8: parity against eager
on real SciFact text, what ran recorded, bf16 refused where the CPU has no bf16, calibration
drawn from the train split only, and "of peak" against the cell's own dtype."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdbench.backends import BACKENDS, arithmetic
from kdbench.backends.openvino import config as openvino_config
from kdbench.errors import UserError
from tests.profile.conftest import ProfileScifact

pytest.importorskip("openvino")
pytest.importorskip("nncf")

HAS_BF16 = openvino_config.bf16_missing() is None


def test_bf16_is_refused_on_a_cpu_without_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openvino_config, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    reason = BACKENDS["openvino"].supports("dot", "cpu", "bf16")
    assert reason is not None and "AVX512_BF16" in reason and "\n" not in reason
    assert BACKENDS["openvino"].supports("dot", "cpu", "fp32") is None
    assert BACKENDS["openvino"].supports("dot", "cpu", "int8") is None
    monkeypatch.setattr(openvino_config, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    assert BACKENDS["openvino"].supports("dot", "cpu", "bf16") is None


def test_bf16_refusal_is_a_one_line_cli_error(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tiny_bert_dir: Path,
    scifact_dir: Path,
    tmp_path: Path,
) -> None:
    from kdbench.cli import main
    from tests.helpers import cli_options

    monkeypatch.setattr(openvino_config, "cpu_flags", lambda: frozenset({"avx2"}))
    out = tmp_path / "P.json"
    code = main(["profile", *cli_options(
        model=tiny_bert_dir, data=scifact_dir, backend="openvino:bf16", output=out
    )])  # fmt: skip
    message = capsys.readouterr().err
    assert code == 2 and "AVX512_BF16" in message and "Traceback" not in message
    assert not out.exists()


def test_cpu_flags_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx512_bf16 amx_int8\n")
    assert openvino_config.cpu_flags(cpuinfo) == {"fpu", "avx512_bf16", "amx_int8"}
    assert openvino_config.cpu_flags(tmp_path / "absent") == frozenset()


def test_calibration_comes_from_train_only(scifact_dir: Path) -> None:
    from kdbench.backends import calibration
    from kdbench.data.load import load_collection

    found = calibration.load(str(scifact_dir), "train", 40, evaluated_split="test")
    train = load_collection(scifact_dir, "train")
    test = load_collection(scifact_dir, "test")
    assert len(found.queries) == 40 and 0 < len(found.passages) <= 40
    assert set(found.qids) <= set(train.queries) and not set(found.qids) & set(test.queries)
    test_docs = {doc for judged in test.qrels.values() for doc in judged}
    assert not set(found.doc_ids) & test_docs  # nothing judged for the scored split
    train_docs = {doc for judged in train.qrels.values() for doc in judged}
    assert set(found.doc_ids) <= train_docs
    assert list(found.queries) == [train.queries[q] for q in found.qids]
    again = calibration.load(str(scifact_dir), "train", 40, evaluated_split="test")
    assert again.sha256 == found.sha256  # the same set, the same graph
    assert calibration.load(str(scifact_dir), "train", 41).sha256 != found.sha256
    with pytest.raises(UserError, match="--calibration-split test: is the split being evaluated"):
        calibration.load(str(scifact_dir), "test", 40, evaluated_split="test")
    with pytest.raises(UserError, match="pass --data"):
        calibration.load(None, "train", 40)


def test_arithmetic_of_static_int8_is_int8() -> None:
    assert arithmetic("int8-static") == "int8" and arithmetic("fp32") == "fp32"


@pytest.fixture(scope="module")
def profiled(
    minilm_path: Path, scifact_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict:
    """MiniLM (2 layers) on SciFact through every reduced-precision CPU variant, one profile."""
    from typer.testing import CliRunner

    from kdbench.cli import app
    from tests.helpers import cli_options
    from tests.profile.conftest import QUICK

    variants = ["eager", "openvino:fp32", "openvino:int8", "onnx:int8-static"]
    if HAS_BF16:
        variants.append("openvino:bf16")
    out = tmp_path_factory.mktemp("ov") / "P.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KDBENCH_CACHE", str(tmp_path_factory.mktemp("ov-cache")))
        result = CliRunner().invoke(app, ["profile", *QUICK, *cli_options(
            model=minilm_path, arch="dot", layers=2, data=scifact_dir, scenario="index",
            backend=",".join(variants), batch_size=4, seq_len=32, parity_queries=10,
            parity_depth=20, calibration_size=48, output=out,
        )])  # fmt: skip
    assert result.exit_code == 0, result.output
    return dict(json.loads(out.read_text()))


def _cells(result: dict) -> dict[str, dict]:
    return {f"{c['backend']}:{c['precision']}": c for c in result["results"]}


def test_every_variant_passes_parity_and_is_timed(profiled: dict) -> None:
    cells = _cells(profiled)
    for label, cell in cells.items():
        assert cell["parity"]["passed"], (label, cell["parity"]["failures"])
        assert cell["latency_ms"]["p50"] > 0
    fp32 = cells["openvino:fp32"]["parity"]
    assert fp32["max_abs_diff"] < 1e-4  # fp32 is fp32: pinned, not OpenVINO's bf16 default
    for label in ("openvino:int8", "onnx:int8-static", "openvino:bf16"):
        if label in cells:
            parity = cells[label]["parity"]
            assert parity["thresholds"]["max_abs_diff_rtol"] is None  # judged on rankings
            assert parity["thresholds"]["max_delta_ndcg"] is not None
            assert parity["delta_ndcg_at_10"] is not None


def test_what_ran_is_recorded(profiled: dict) -> None:
    backends = profiled["backends"]
    ov = {key: value for key, value in backends.items() if key.startswith("openvino")}
    fp32 = ov["openvino:fp32"]["compiled"]
    assert fp32["inference_precision"] == "<Type: 'float32'>"
    assert fp32["performance_hint"] == "THROUGHPUT"  # index encoding
    assert fp32["streams"] >= 1 and fp32["threads"] == 1
    int8 = ov["openvino:int8"]
    assert int8["compiled"]["kernel_precisions"].get("FullyConnected:u8", 0) > 0  # int8 kernels
    rest = "<Type: 'bfloat16'>" if HAS_BF16 else "<Type: 'float32'>"
    assert int8["compiled"]["inference_precision"] == rest  # the unquantised ops
    calibration = int8["graphs"]["doc"]["calibration"]
    assert calibration["split"] == "train" and calibration["queries"] == 48
    ort = backends["onnx:int8-static"]["graphs"]["doc"]
    assert ort["calibration"]["sha256"] == calibration["sha256"]
    assert ort["operators"].get("QuantizeLinear", 0) > 0  # QDQ
    if "openvino:bf16" in ov:
        bf16 = ov["openvino:bf16"]["compiled"]
        assert bf16["inference_precision"] == "<Type: 'bfloat16'>"
        assert bf16["kernel_precisions"].get("FullyConnected:bf16", 0) > 0


def test_of_peak_is_against_the_cells_own_dtype(profiled: dict) -> None:
    cells = _cells(profiled)
    assert cells["onnx:int8-static"]["flops"]["peak_from"].endswith("cpu:int8")
    assert cells["openvino:fp32"]["flops"]["peak_from"].endswith("cpu:fp32")
    measured = profiled["environment"]["peak_flops_measured"]
    assert "openvino" in measured["cpu:fp32"]["candidates"]
    assert "openvino" in measured["cpu:int8"]["candidates"]


def test_the_query_scenario_compiles_for_latency(profile_scifact: ProfileScifact) -> None:
    """The query scenario compiles for LATENCY: one text at a time."""
    out = profile_scifact(
        backend="openvino:fp32", arch="dot", scenario="query", batch_size=1, seq_len=16
    )
    backends = json.loads(out.read_text())["backends"]
    assert backends["openvino:fp32"]["compiled"]["performance_hint"] == "LATENCY"
    assert backends["openvino:fp32"]["compiled"]["streams"] == 1
