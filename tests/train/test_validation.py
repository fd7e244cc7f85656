"""Validation under DDP: every rank scores a disjoint share and all get the one-process metrics.

Two real gloo processes (torch.multiprocessing, a file rendezvous) validate a deterministic
scorer; each records the pairs it scored, so the test sees the shards as well as the result.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from kdbench import distributed
from kdbench.train.validation import dev_pairs, shard, validate


class HashScorer:
    """score_pairs from a hash of the texts: the same on every rank, no weights involved."""

    training = False

    def __init__(self) -> None:
        self.scored: list[tuple[str, str]] = []

    def eval(self) -> None:
        pass

    def train(self, mode: bool = True) -> None:
        pass

    def score_pairs(self, queries: list[str], docs: list[str], batch_size: int) -> torch.Tensor:
        self.scored.extend(zip(queries, docs, strict=True))
        return torch.tensor(
            [
                zlib.crc32(f"{q}|{d}".encode()) % 1000 / 1000
                for q, d in zip(queries, docs, strict=True)
            ]
        )


def dev_slice() -> Any:
    qids = [f"q{i}" for i in range(7)]
    docs = {f"d{j}": f"passage {j}" for j in range(12)}
    return SimpleNamespace(
        dev_qids=qids,
        dev_run={q: {f"d{(i * 5 + k) % 12}": 0.0 for k in range(5)} for i, q in enumerate(qids)},
        dev_qrels={q: {f"d{(i * 5 + 2) % 12}": 1} for i, q in enumerate(qids)},
        queries={q: f"query {q}" for q in qids},
        docs=SimpleNamespace(get_many=lambda ids: [docs[i] for i in ids]),
    )


def _rank(rank: int, world: int, rendezvous: str, out: str) -> None:
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world
    )
    try:
        context = distributed.DistContext(rank, world, rank, torch.device("cpu"))
        scorer = HashScorer()
        metrics = validate(scorer, dev_slice(), batch_size=4, context=context)
        Path(out, f"rank{rank}.json").write_text(
            json.dumps({"metrics": metrics, "scored": scorer.scored})
        )
    finally:
        torch.distributed.destroy_process_group()


def test_shard_splits_every_pair_once() -> None:
    pairs = dev_pairs(dev_slice())
    shares = [shard(pairs, distributed.DistContext(r, 3, r, torch.device("cpu"))) for r in range(3)]
    assert sorted(p for share in shares for p in share) == sorted(pairs)
    assert [len(share) for share in shares] == [12, 12, 11]  # 35 pairs


def test_two_ranks_validate_half_each_and_agree_with_one_process(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    single = HashScorer()
    expected = validate(single, dev_slice(), batch_size=4)
    assert 0 < expected["nDCG@10"] < 1  # the hash scorer ranks some positives low

    mp.spawn(_rank, args=(2, str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for rank in ranks:
        assert rank["metrics"] == pytest.approx(expected, abs=1e-12)
    scored = [[tuple(pair) for pair in rank["scored"]] for rank in ranks]
    assert len(scored[0]) == 18 and len(scored[1]) == 17  # each its half of the 35 pairs
    assert not set(scored[0]) & set(scored[1])
    assert sorted(scored[0] + scored[1]) == sorted(single.scored)
