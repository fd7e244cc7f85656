"""`kdbench profile --model bm25`: the BM25 first stage as a row of the trade-off table.

Each timed call retrieves the top `--depth` passages for one query of the split (the
queries in turn, so short and long ones both count) from the same bm25s index
`kdbench.retrieval.bm25.BM25` builds for `kdbench evaluate` and for re-rankers' candidates:
query analysis (lowercase, stopwords, stemming) plus bm25s's scoring and top-k. One cell per
depth. Memory: BM25 has no weights; the index is the saved bm25s index's bytes (memory-
mapped), activations the cell's peak RSS above its start. Nothing needs a parity gate: BM25
is its own reference.

Light on import: bm25s and numpy load when a profile runs.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kdbench.data.collection import Collection
from kdbench.data.load import load_collection
from kdbench.env import collect_environment
from kdbench.errors import UserError
from kdbench.profile.config import ProfileConfig, check_read
from kdbench.profile.measurements import (
    Cell,
    Latency,
    Memory,
    ProfileResult,
    SampleTiming,
    Throughput,
)
from kdbench.profile.memory import HostMemory, row_memory
from kdbench.profile.serving_cell import UNITS as SERVING_UNITS
from kdbench.profile.stats import sample_warnings
from kdbench.profile.timer import measure, round_budget
from kdbench.results import ResultHeader
from kdbench.retrieval.bm25 import BM25, BM25Params

BM25_MODEL = "bm25"
BACKEND = "bm25s"
PRECISION = "fp32"  # bm25s scores in float32
SCENARIO = "retrieve"

UNITS = {
    "latency_ms": "milliseconds per timed call (one query: analysis + bm25s top-k)",
    "samples_ns": "nanoseconds, raw, in call order",
    "throughput.items_per_s": "queries per second = 1 / mean latency",
    "memory.*_mib": "MiB (2^20 bytes)",
}


def is_bm25(model: str) -> bool:
    return model.strip().lower() == BM25_MODEL


def check_bm25_config(config: ProfileConfig) -> None:
    """What `--model bm25` can time: real text on the CPU, no neural backend or scenario."""
    if config.data is None:
        raise UserError("--model bm25 needs --data: BM25 indexes a real collection")
    if config.backends != (("eager", None),) or config.precisions != ("fp32",):
        raise UserError("--backend/--precision apply to neural rankers; --model bm25 runs on bm25s")
    if (config.scenario is not None and not config.is_load) or config.baseline_arch is not None:
        raise UserError(
            "--scenario (but server and offline)/--baseline-arch apply to neural rankers, not "
            "--model bm25"
        )
    if config.device != "cpu":
        raise UserError(f"--device {config.device}: bm25s runs on the CPU; drop --device")


def run_bm25_profile(
    config: ProfileConfig, log: Callable[[str], None] | None = None, *, allow_unread: bool = False
) -> ProfileResult:
    """Profile BM25 retrieval per `config` (`--depth` cells); returns the `profile` result."""

    say = log or (lambda message: None)
    check_bm25_config(config)
    if not allow_unread:
        check_read(config, (SCENARIO, *([str(config.scenario)] if config.is_load else [])))
    collection = load_collection(config.data, config.split)  # type: ignore[arg-type]
    collection.docs.require_docs()
    if not collection.queries:
        raise UserError(f"--data {config.data} --split {config.split}: has no queries")
    params = BM25Params(k1=config.bm25_k1, b=config.bm25_b)
    say(f"BM25 index of {len(collection.docs)} passages")
    built = time.perf_counter()
    bm25 = BM25(collection.docs, params, cache_dir=config.cache_dir)
    index_s = time.perf_counter() - built
    index_bytes = _folder_bytes(bm25.index_dir)
    cells = []
    for depth in config.depths:
        say(f"bm25 top {depth}")
        if config.is_load:
            cells.append(_served_cell(bm25, collection.queries, depth, config, say))
        else:
            cells.append(_cell(bm25, collection.queries, depth, config, index_bytes))
    result = _bm25_result(config, cells, collection, bm25, index_bytes, index_s)
    if config.is_load:
        result.header.units = {**UNITS, **SERVING_UNITS}
    return result


def _served_cell(
    bm25: BM25, queries: dict[str, str], depth: int, config: ProfileConfig, say: Any
) -> Cell:
    """BM25 retrieval of the top `depth` under `config`'s load (server or offline): a batch
    of queries is one bm25s call."""
    from kdbench.profile.serving_cell import serve_into_cell, server_settings

    def serve(batch: list[tuple[str, str]]) -> Any:
        return bm25.search(dict(batch), k=depth)

    cell = Cell(
        backend=BACKEND,
        precision=PRECISION,
        arch=BM25_MODEL,
        scenario=str(config.scenario),
        batch_size=1,
        depth=depth,
    )
    settings = server_settings(config)
    label = f"bm25 top {depth}"
    serve_into_cell(
        cell, serve, list(queries.items()), config, settings, config.serving_bound(), label, say
    )
    assert cell.serving is not None
    cell.serving["served"] = SCENARIO
    return cell


def _cell(
    bm25: BM25, queries: dict[str, str], depth: int, config: ProfileConfig, index_bytes: int
) -> Cell:

    turns = itertools.cycle(list(queries.items()))

    def search(_: Any) -> Any:
        qid, text = next(turns)
        return bm25.search({qid: text}, k=depth)

    budget = round_budget(config)
    host = HostMemory()
    host.start()
    parts = [measure([search], None, budget) for _ in range(config.rounds)]
    memory = row_memory(host.read(), weight_bytes=0, index_bytes=index_bytes, eager=False)
    total = [t for part in parts for t in part.total]
    latency = Latency.from_samples(total)
    warnings = sample_warnings(latency.n, latency.cv)
    return Cell(
        backend=BACKEND,
        precision=PRECISION,
        arch=BM25_MODEL,
        scenario=SCENARIO,
        batch_size=1,
        depth=depth,
        latency=latency,
        throughput=Throughput(items_per_s=1e3 / latency.mean, item="query"),
        memory=Memory.from_dict(memory),
        stages={"search": latency},
        samples_ns={"total": total, "search": total},
        timing=SampleTiming(
            rounds=len(parts),
            warmup_calls=sum(part.warmup_calls for part in parts),
            duration_s=sum(part.duration_s for part in parts),
            stopped_by=[part.stopped_by for part in parts],
            synchronize=None,
        ),
        warnings=warnings,
    )


def _bm25_result(
    config: ProfileConfig,
    cells: list[Cell],
    collection: Collection,
    bm25: BM25,
    index_bytes: int,
    index_s: float,
) -> ProfileResult:
    import bm25s

    header = ResultHeader.new(
        "profile",
        {**config.to_dict(), "scenario": SCENARIO, "arch": BM25_MODEL},
        environment=collect_environment(),
    )
    header.units = UNITS
    return ProfileResult(
        header=header,
        cells=cells,
        model={
            "source": BM25_MODEL,
            "arch": BM25_MODEL,
            "params": bm25.params.to_dict(),
            "index": {
                "path": str(bm25.index_dir),
                "bytes": index_bytes,
                "passages": len(collection.docs),
                "cached": bm25.cached,
                "build_s": None if bm25.cached else round(index_s, 3),
            },
        },
        inputs={**collection.source, "name": collection.name, "queries": len(collection.queries)},
        scenario={
            "name": SCENARIO,
            "timed": "one query: analysis (lowercase, stopwords, stemming) + bm25s top-k",
            "item": "query",
            "queries": "the split's queries in turn",
            "index": "the bm25s index kdbench evaluate and the first stage use (memory-mapped)",
        },
        backends={f"{BACKEND}:{PRECISION}": {"bm25s": bm25s.__version__, "threads": 1}},
    )


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file())
