"""Trainer state without pickle: the codec round-trips real optimizer/RNG state, and a planted
pickle payload in a checkpoint is refused by `kdbench train --resume` without running."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from kdbench.cli import main
from kdbench.errors import UserError
from kdbench.train import checkpoint as ckpt
from tests.helpers import cli_options


def test_codec_round_trips_optimizer_scheduler_and_rng_state() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 / (s + 1))
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    scheduler.step()
    state = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": [ckpt.rng_state()],
        "history": {"best": None, "validations": [{"step": 1, "nDCG@10": float("nan")}]},
    }
    expected = (random.random(), np.random.rand(), torch.rand(1))
    tensors: dict[str, torch.Tensor] = {}
    encoded = json.loads(json.dumps(ckpt.encode_state(state, tensors), allow_nan=False))
    decoded = ckpt.decode_state(encoded, tensors)

    assert decoded["scheduler"] == state["scheduler"]
    assert decoded["optimizer"]["param_groups"] == state["optimizer"]["param_groups"]
    for index, slots in state["optimizer"]["state"].items():  # int keys survive
        for name, value in slots.items():
            assert torch.equal(decoded["optimizer"]["state"][index][name], value)
    fresh = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=1e-3)
    fresh.load_state_dict(decoded["optimizer"])  # what --resume does
    assert np.isnan(decoded["history"]["validations"][0]["nDCG@10"])

    ckpt.set_rng_state(decoded["rng"][0])
    assert random.random() == expected[0] and np.random.rand() == expected[1]
    assert torch.equal(torch.rand(1), expected[2])


def test_legacy_pickled_state_loads_when_it_holds_only_data(tmp_path: Path) -> None:
    state = {"rng": [ckpt.rng_state()], "module": {"w": torch.ones(2)}, "history": {}}
    torch.save(state, tmp_path / ckpt.LEGACY_TRAINER_STATE)
    (tmp_path / ckpt.TRAINER_META).write_text(json.dumps({"step": 1}))
    loaded, meta = ckpt.load_trainer_state(tmp_path)
    assert meta == {"step": 1} and torch.equal(loaded["module"]["w"], torch.ones(2))
    assert np.array_equal(loaded["rng"][0]["numpy"][1], state["rng"][0]["numpy"][1])


class _Payload:
    """Unpickling this would run code: it writes the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_resume_refuses_a_planted_pickle_without_running_it(
    tiny_bert_dir: Path, scifact_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output, marker = tmp_path / "run", tmp_path / "PAYLOAD-RAN"
    options = ["train", *cli_options(
        data=scifact_dir, model=tiny_bert_dir, arch="dot", loss="ranknet", steps=3,
        checkpoint_every=1, batch_size=4, max_query_len=12, max_doc_len=24,
        triples_per_positive=1, dev_queries=5, output=output, quiet=True,
    )]  # fmt: skip
    assert main(options) == 0
    (output / "training.json").unlink()  # as if the run had stopped after its last checkpoint
    latest = ckpt.latest_checkpoint(output)
    assert latest is not None and not (latest / ckpt.LEGACY_TRAINER_STATE).exists()

    # A checkpoint from someone else, in the pickled format of earlier kdbench versions.
    meta = json.loads((latest / ckpt.TRAINER_META).read_text())
    meta = {k: v for k, v in meta.items() if k not in ("state", "state_format")}
    (latest / ckpt.TRAINER_META).write_text(json.dumps(meta))
    (latest / ckpt.TRAINER_TENSORS).unlink()
    torch.save({"history": _Payload(marker)}, latest / ckpt.LEGACY_TRAINER_STATE)
    capsys.readouterr()

    assert main([*options, "--resume"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "refused to load" in errors[0] and "system" in errors[0]
    assert not marker.exists()

    with pytest.raises(UserError, match="refused"):
        ckpt.load_trainer_state(latest)
    # A checkpoint in today's format never reads a trainer_state.pt planted beside it.
    earlier = ckpt.step_checkpoints(output)[0][1]
    torch.save({"history": _Payload(marker)}, earlier / ckpt.LEGACY_TRAINER_STATE)
    state, meta = ckpt.load_trainer_state(earlier)
    assert meta["step"] == 1 and "optimizer" in state and not marker.exists()
