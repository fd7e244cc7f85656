"""Loading never runs foreign code unless asked: safetensors weights, no remote code, no pickles, TOML profiles."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

from kdbench.cli import main
from tests.robustness.conftest import one_line_error, write_beir

TINY = ["--max-query-len", "8", "--max-doc-len", "16", "--batch-size", "4"]


class _Marker:
    """Unpickling this creates a folder: proof that a pickle ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.path),))


def _evaluate(folder: Path, data: Path, out: Path, *extra: str) -> list[str]:
    argv = ["evaluate", "--data", str(data), "--model", str(folder), "--arch", "dot", *TINY]
    return [*argv, "--output", str(out), *extra]


def test_weights_load_through_safetensors_only(
    beir_dir: Path, tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    def no_unpickling(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load (pickle) was called for a safetensors model")

    monkeypatch.setattr(torch, "load", no_unpickling)
    out = tmp_path / "r.json"
    assert main(_evaluate(tiny_bert_dir, beir_dir, out)) == 0
    assert json.loads(out.read_text())["metrics"]["nDCG@10"] >= 0


@pytest.fixture
def pickled(tiny_bert_dir: Path, tmp_path: Path) -> Path:
    """The tiny model with its weights pickled (pytorch_model.bin) instead of safetensors."""
    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_bert_dir, folder)
    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    return folder


def test_pickled_checkpoint_needs_allow_pickle(
    pickled: Path,
    beir_dir: Path,
    tiny_bert_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    refused = tmp_path / "refused.json"
    line = one_line_error(capsys, _evaluate(pickled, beir_dir, refused))
    assert "only pickled weights (pytorch_model.bin)" in line and "--allow-pickle" in line
    assert not refused.exists()

    # Asked for, the same weights give exactly the safetensors model's numbers.
    from_pickle, from_safetensors = tmp_path / "pickle.json", tmp_path / "safetensors.json"
    assert main(_evaluate(pickled, beir_dir, from_pickle, "--allow-pickle")) == 0
    assert main(_evaluate(tiny_bert_dir, beir_dir, from_safetensors)) == 0
    assert (
        json.loads(from_pickle.read_text())["per_query"]
        == json.loads(from_safetensors.read_text())["per_query"]
    )


def test_a_malicious_pickle_is_never_opened(
    beir_dir: Path, tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil, marker = tmp_path / "evil", tmp_path / "pickle-ran"
    shutil.copytree(tiny_bert_dir, evil)
    (evil / "model.safetensors").unlink()
    (evil / "pytorch_model.bin").write_bytes(pickle.dumps(_Marker(marker)))
    line = one_line_error(capsys, _evaluate(evil, beir_dir, tmp_path / "r.json"))
    assert "--allow-pickle" in line
    assert not marker.exists()


def _remote_code_model(tiny_bert_dir: Path, folder: Path, marker: Path) -> Path:
    """A model folder whose config asks for its own Python module, which leaves a marker."""
    shutil.copytree(tiny_bert_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(
        model_type="kdbench-remote",
        auto_map={"AutoConfig": "remote.RemoteConfig", "AutoModel": "remote.RemoteModel"},
    )
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "remote.py").write_text(
        "import os\n"
        f"os.mkdir({str(marker)!r})\n"
        "from transformers import BertConfig, BertModel\n"
        "class RemoteConfig(BertConfig):\n    model_type = 'kdbench-remote'\n"
        "class RemoteModel(BertModel):\n    config_class = RemoteConfig\n"
    )
    return folder


def test_remote_code_runs_only_when_asked(
    beir_dir: Path, tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "remote-code-ran"
    folder = _remote_code_model(tiny_bert_dir, tmp_path / "remote", marker)
    line = one_line_error(capsys, _evaluate(folder, beir_dir, tmp_path / "r.json"))
    assert "needs its own model code; pass --trust-remote-code if you trust it" in line
    assert not marker.exists()

    # The flag reaches transformers: the module is imported (whatever it then builds).
    from kdbench.models.load import load_encoder

    with contextlib.suppress(Exception):  # what the foreign code then does is not the point
        load_encoder(folder, allow_pickle=False, trust_remote_code=True)
    assert marker.exists()


@pytest.mark.parametrize(
    "command", [["evaluate"], ["train"], ["teacher", "score"], ["profile"]], ids=" ".join
)
def test_every_model_loading_command_has_the_safety_switches(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "--allow-pickle" in text and "--trust-remote-code" in text


def test_profile_and_train_take_a_pickled_checkpoint_only_when_allowed(
    pickled: Path, beir_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fast = ["--min-samples", "2", "--min-duration", "0", "--warmup", "1", "--warmup-time", "0"]
    profile = ["profile", "--model", str(pickled), "--arch", "dot", "--seq-len", "16", *fast]
    profile += ["--parity-queries", "2", "--parity-depth", "4"]
    out = tmp_path / "p.json"
    assert "--allow-pickle" in one_line_error(capsys, [*profile, "--output", str(out)])
    assert not out.exists()
    assert main([*profile, "--output", str(out), "--allow-pickle"]) == 0
    assert json.loads(out.read_text())["kind"] == "profile"
    capsys.readouterr()

    write_beir(beir_dir, split="train")
    train = ["train", "--data", str(beir_dir), "--model", str(pickled), "--arch", "dot"]
    train += ["--loss", "ranknet", "--steps", "1", "--batch-size", "2", "--dev-queries", "0"]
    train += ["--max-query-len", "8", "--max-doc-len", "16", "-q"]
    assert "--allow-pickle" in one_line_error(capsys, [*train, "--output", str(tmp_path / "a")])
    assert main([*train, "--output", str(tmp_path / "b"), "--allow-pickle"]) == 0
    assert (tmp_path / "b" / "model.safetensors").exists()  # what it writes is safetensors


def test_a_profile_is_data_never_code(
    beir_dir: Path, tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "profile-code-ran"
    payload = f"__import__('os').mkdir({str(marker)!r})"
    profile = tmp_path / "p.toml"
    profile.write_text(
        f'[experiment]\nname = "{payload}"\noutput = "{tmp_path / "out"}"\n'
        f'description = "{{{{ {payload} }}}} ${{{payload}}} `{payload}`"\n'
        f'[data]\nsource = "{beir_dir}"\n'
        f'[[students]]\nname = "s"\nmodel = "{tiny_bert_dir}"\narch = "dot"\ntrain = false\n'
    )
    assert main(["run", str(profile), "--dry-run"]) == 0
    assert not marker.exists()
    from kdbench.config import load_profile

    assert load_profile(profile).experiment.name == payload  # kept as the literal text

    code = tmp_path / "profile.py"
    code.write_text(f"{payload}\n")
    line = one_line_error(capsys, ["run", str(code)])
    assert "not valid TOML" in line
    assert not marker.exists()
