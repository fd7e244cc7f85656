"""`evaluate(config) -> result`: first stage, optional re-ranking, metrics, one JSON result.

What runs, by `model`:
- "bm25": BM25 retrieval of the top `k` docs.
- None: the given `--run` file as it is (no corpus needed: topics + qrels are enough).
- a ranker (hub id, folder or kdbench checkpoint):
  dot without `rerank`/`run`: exact dense retrieval of the top `k` over the whole corpus;
  otherwise the top `depth` of the first stage (`--run FILE`, or BM25, the default for
  cat and colbert) re-scored by the ranker.
`kdbench run` calls `evaluate` directly; the CLI only parses options and renders.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from kdbench.backends import BACKENDS, BackendOptions
from kdbench.data import irds
from kdbench.data.collection import Collection, only_queries
from kdbench.data.load import load_collection
from kdbench.data.runs import RUN_FILE, Run, read_run, truncate, write_run
from kdbench.data.triples import dev_slice
from kdbench.errors import InputFileError, UserError
from kdbench.evaluate.config import EvaluateConfig
from kdbench.evaluate.metrics import (
    check_computable,
    chosen_measures,
    compute_metrics,
    unreachable_rel,
)
from kdbench.evaluate.rerank import candidates, count_work, rerank
from kdbench.evaluate.result import UNITS, EvaluateResult, FirstStage
from kdbench.io import RESULT, check_writable
from kdbench.json_types import JsonObject
from kdbench.results import ResultHeader, save_result
from kdbench.retrieval.bm25 import BM25, BM25Params
from kdbench.shards import item_range, share, units_of

if TYPE_CHECKING:
    from rich.progress import TaskID

    from kdbench.distributed import DistContext
    from kdbench.models.ranker import Ranker
    from kdbench.retrieval.index import IndexKey

Advance = Callable[[int], None]


class ProgressBars(Protocol):
    """Where an evaluation draws its progress bars (a rich.progress.Progress)."""

    def add_task(self, description: str, *, total: int) -> TaskID: ...

    def advance(self, task: TaskID, advance: int, /) -> None: ...


class RankShare(TypedDict):
    """What one rank of a sharded dense retrieval encoded, and how fast (in the result)."""

    rank: int
    passages: int
    encoded: int
    encode_docs_s: float
    passages_per_s: float | None
    search_s: float


@contextlib.contextmanager
def _task(progress: ProgressBars | None, description: str, total: int) -> Iterator[Advance]:
    """A progress bar on `progress` (a rich Progress) or nothing when it is None."""
    if progress is None:
        yield lambda n: None
        return
    task = progress.add_task(description, total=total)
    yield lambda n: progress.advance(task, n)


class _Clock:
    """Wall-clock seconds per phase; a phase can be entered many times and accumulates."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start


def _given_run(path: str, collection: Collection, warnings: list[str], *, need_docs: bool) -> Run:

    if irds.names_dataset_part(path):
        if path != irds.SCOREDDOCS:
            raise UserError(f"--run {path}: the one dataset part is {irds.SCOREDDOCS}")
        dataset = irds.open_dataset(collection, path)
        run = irds.scoreddocs_run(dataset, collection.name)
    else:
        run = read_run(path)
    unknown = [qid for qid in run if qid not in collection.queries]
    if unknown and len(unknown) == len(run):
        raise InputFileError(
            path,
            f"none of its query ids are judged queries of {collection.name} "
            f"(split {collection.split}); e.g. {unknown[0]!r}: wrong --split?",
        )
    if unknown and collection.source.get("queries_used") is None:
        warnings.append(
            f"{path}: {len(unknown)} query id(s) are not judged queries of {collection.name} and are ignored "
            f"(e.g. {unknown[0]!r})"
        )
    run = {qid: run[qid] for qid in collection.queries if qid in run}
    if collection.docs.has_docs:
        doc_ids = list(dict.fromkeys(doc_id for docs in run.values() for doc_id in docs))
        absent = collection.docs.missing(doc_ids)
        if absent and need_docs:
            raise InputFileError(
                path,
                f"doc id {absent[0]!r} is not in the corpus {collection.docs.name} "
                f"({len(absent)} such ids); was this run made on another collection?",
            )
        if absent:
            warnings.append(
                f"{path}: {len(absent)} doc id(s) are not in the corpus {collection.docs.name} "
                f"(e.g. {absent[0]!r}); they count as non-relevant"
            )
    return run


def _load_ranker(
    model: str, config: EvaluateConfig, collection: Collection
) -> tuple[Ranker, JsonObject]:
    """The ranker, computing through `--backend` (and what that backend ran)."""
    import torch

    from kdbench.evaluate.backend import through_backend

    # A head the checkpoint lacks (zero-shot cat, colbert compression) starts random: the
    # same random every run, so zero-shot numbers repeat.
    torch.manual_seed(0)
    ranker = config.load(model)
    ranker.eval()
    backend, precision = config.artifact()
    calibration = None
    if precision in BACKENDS[backend].calibrated:
        from kdbench.backends import calibration as calibrate

        calibration = calibrate.load(
            config.data,
            config.calibration_split,
            config.calibration_size,
            seed=0,  # the profiler's default --seed: the same set, the same graph
            evaluated_split=collection.split,
        )
    options = BackendOptions(
        device=config.device,
        precision=precision,
        threads=torch.get_num_threads(),
        cache_dir=None if config.cache_dir is None else Path(config.cache_dir),
        opset=config.opset,
        onnx_provider=config.onnx_provider,
        calibration=calibration,
    )
    query = next(iter(collection.queries.values()))
    (passage,) = collection.docs.get_many([str(collection.docs.ids()[0])])
    return through_backend(ranker, backend, precision, options, (query, passage), config.batch_size)


def encode_chunk(config: EvaluateConfig) -> int:
    """Passages encoded per chunk: by default thousands, so length-sorted batches pad little
    and the search matmul is big. A chunk is the unit ranks share (see `_dense_retrieval`)."""
    return config.encode_chunk or max(4096, config.batch_size * 64)


def _dense_retrieval(
    ranker: Ranker,
    collection: Collection,
    config: EvaluateConfig,
    clock: _Clock,
    progress: ProgressBars | None,
    context: DistContext,
) -> tuple[Run, dict[str, Any]]:
    """Exact top-k over the whole corpus, encoded chunk by chunk and merged as it goes; and
    how the work went (throughput per rank, the saved index).

    Under torchrun each rank encodes and searches a contiguous share of whole chunks (the
    chunks one process encodes: the same batches, the same bits) and keeps every doc tied
    with its k-th; rank 0 merges the shares' candidates and cuts each query at k by the one
    tie rule (`kdbench.data.runs.ranked`), as one process cuts its own. With `--index-dir`
    the chunks are written there (memory-mapped shards) or, when an index of this model and
    collection is there, read from it instead of encoded.
    """
    import numpy as np
    import torch

    from kdbench import distributed
    from kdbench.models.encode import encode_texts
    from kdbench.retrieval.dense import TopK, as_run
    from kdbench.retrieval.index import SavedIndex, ShardWriter, finish

    qids = list(collection.queries)
    docs = collection.docs
    k = min(config.k, len(docs))
    chunk = encode_chunk(config)
    key = _index_key(ranker, config, collection, chunk) if config.index_dir else None
    saved = SavedIndex.open(config.index_dir) if config.index_dir else None
    if saved is not None:
        assert key is not None
        saved.check(key)  # before any work: another model's index is refused, not searched
    with clock("encode_s"), _task(progress, "Encoding queries", len(qids)) as advance:
        query_vectors = encode_texts(
            ranker,
            [collection.queries[q] for q in qids],
            "query",
            config.batch_size,
            progress=advance,
        )
    assert isinstance(query_vectors, torch.Tensor)  # dot rankers encode to one vector per text
    mine = share(units_of(len(docs), chunk), context.rank, context.world_size)
    rows = item_range(len(docs), chunk, context.rank, context.world_size)
    writer = None
    if key is not None and saved is None:
        writer = ShardWriter(
            Path(str(config.index_dir)),
            context.rank,
            context.world_size,
            key,
            len(rows),
            int(query_vectors.shape[1]),
        )
    stored = writer.stored() if writer is not None and writer.done() else None
    top = TopK(len(qids), k, ties=True)
    encoded, encode_docs_s = 0, 0.0
    with contextlib.ExitStack() as stack:
        if writer is not None and stored is None:
            stack.enter_context(writer)
        with _task(progress, "Encoding + searching docs", len(rows)) as advance:
            for index, (ids, texts) in enumerate(docs.iter_batches(chunk)):
                if index not in mine:
                    continue
                first_row = index * chunk
                if saved is not None:
                    doc_vectors = torch.from_numpy(saved.rows(first_row, first_row + len(ids)))
                    advance(len(ids))
                elif stored is not None:
                    local = first_row - rows.start
                    doc_vectors = torch.from_numpy(np.array(stored[local : local + len(ids)]))
                    advance(len(ids))
                else:
                    started = time.perf_counter()
                    with clock("encode_s"):
                        encoded_docs = encode_texts(
                            ranker, texts, "doc", config.batch_size, progress=advance
                        )
                    encode_docs_s += time.perf_counter() - started
                    assert isinstance(encoded_docs, torch.Tensor)
                    encoded += len(texts)
                    doc_vectors = encoded_docs
                    if writer is not None:
                        doc_vectors = torch.from_numpy(
                            writer.add(ids, encoded_docs.float().numpy())
                        )
                with clock("search_s"), torch.inference_mode():
                    top.add(ranker.score_all(query_vectors, doc_vectors.float()), first_row)
    run = as_run(qids, docs.ids(), *top.result())
    mine_info: RankShare = {
        "rank": context.rank,
        "passages": len(rows),
        "encoded": encoded,
        "encode_docs_s": round(encode_docs_s, 4),
        "passages_per_s": round(encoded / encode_docs_s, 2) if encode_docs_s > 0 else None,
        "search_s": round(clock.seconds.get("search_s", 0.0), 4),
    }
    parts = distributed.gather_objects((run, mine_info), context)
    merged: Run = {qid: {} for qid in qids}
    for part, _ in parts:
        for qid, scores in part.items():
            merged[qid].update(scores)
    how: dict[str, Any] = {}
    if context.enabled:
        ranks = [info for _, info in parts]
        how["distributed"] = {
            "world_size": context.world_size,
            "unit": f"{chunk} passages (one encoding chunk)",
            "ranks": ranks,
            # All ranks encode at once: the total rate is the corpus over the slowest rank.
            "passages_per_s": round(
                sum(r["encoded"] for r in ranks) / max(r["encode_docs_s"] for r in ranks), 2
            )
            if all(r["encode_docs_s"] > 0 for r in ranks)
            else None,
            "units": {"encode_docs_s": "s (wall clock)", "passages_per_s": "passages/s"},
        }
    if config.index_dir is not None:
        if writer is not None:
            assert key is not None
            distributed.barrier(context)
            if context.is_main:
                finish(
                    Path(config.index_dir),
                    context.world_size,
                    key,
                    len(docs),
                    int(query_vectors.shape[1]),
                )
        how["index"] = {
            "dir": str(Path(config.index_dir).resolve()),
            "precision": config.index_precision,
            "reused": saved is not None,
        }
    return truncate(merged, k), how


def _index_key(
    ranker: Ranker, config: EvaluateConfig, collection: Collection, chunk: int
) -> IndexKey:
    from kdbench.retrieval.index import IndexKey, collection_identity, model_identity

    model_hash, model = model_identity(ranker, str(config.model), config.artifact())
    return IndexKey(
        model_hash, model, collection_identity(collection.docs), config.index_precision, chunk
    )


def evaluate(
    config: EvaluateConfig,
    *,
    progress: ProgressBars | None = None,
    output: str | Path | None = None,
) -> EvaluateResult | None:
    """Run the configured evaluation and return its result (saved to `output` when given);
    None on the ranks other than 0 under torchrun (rank 0 merges their work and writes it).

    `progress`: a rich.progress.Progress to draw bars on (None: silent).
    """
    from kdbench import distributed

    config.check()
    # Checked before the work: an unwritable path must not cost a whole evaluation.
    if output is not None:
        check_writable(output, "--output", RESULT)
    if config.run_file:
        check_writable(config.run_file, "--run-file", RUN_FILE)
    # One process needs no context of its own (its device is --device, resolved by the model).
    context = (
        distributed.setup(config.device, timeout=distributed.SHARDED_WAIT)
        if distributed.launched()
        else distributed.SINGLE
    )
    if context.enabled and context.device.type == "cuda":
        config = replace(config, device=str(context.device))  # each rank its own GPU
    try:
        return _evaluate(config, context, progress if context.is_main else None, output)
    finally:
        distributed.teardown(context)


def _evaluate(
    config: EvaluateConfig,
    context: DistContext,
    progress: ProgressBars | None,
    output: str | Path | None,
) -> EvaluateResult | None:
    clock = _Clock()
    started = time.perf_counter()
    with clock("load_s"):
        collection = _queries(config)
    # Before any ranking: a measure these qrels cannot give must not cost the whole evaluation.
    chosen = chosen_measures(config.measures, config.rel)
    check_computable(chosen, collection.qrels)
    warnings = list(collection.warnings)
    if (unreachable := unreachable_rel(chosen, collection.qrels)) is not None:
        warnings.append(unreachable)
    is_bm25 = config.model is not None and config.model.lower() == "bm25"
    if config.model is not None:
        collection.docs.require_docs()  # BM25 and rankers read passages; a given run alone does not
    ranker: Ranker | None = None
    backend_info: JsonObject = {}
    if config.model is not None and not is_bm25:
        with clock("load_model_s"):
            ranker, backend_info = _load_ranker(config.model, config, collection)
    stage = _Stage(config, collection, clock, progress, context)
    run, first_stage = stage.first(ranker, warnings, is_bm25=is_bm25)
    reranked = ranker is not None and first_stage.method != "exact-dense"
    if ranker is not None and reranked:
        first_stage.depth = config.depth
        run = stage.rerank(ranker, run)
    if not context.is_main:  # rank 0 holds the merged run and writes what one process writes
        return None
    with clock("metrics_s"):
        metrics, per_query = compute_metrics(
            run, collection.qrels, rel=config.rel, names=config.measures
        )
    if config.run_file:
        write_run(config.run_file, run, tag=config.run_tag)
    header = _header(config, collection, ranker, first_stage, reranked)
    if backend_info:
        header.config["backend_info"] = backend_info
    header.units = dict(UNITS)
    timings = {key: round(value, 4) for key, value in clock.seconds.items()}
    timings["total_s"] = round(time.perf_counter() - started, 4)
    result = EvaluateResult(
        header=header,
        metrics=metrics,
        per_query=per_query,
        first_stage=first_stage,
        queries=len(collection.queries),
        timings=timings,
        warnings=warnings,
        distributed=stage.distributed,
    )
    if output is not None:
        save_result(output, result.to_dict())
    return result


def _queries(config: EvaluateConfig) -> Collection:
    """The collection with the queries to evaluate: all, the first N, or the training's dev slice."""

    collection = load_collection(config.data, config.split, cache_dir=config.cache_dir)
    if config.queries is not None:
        collection = collection.first_queries(config.queries)
    if config.dev_queries is not None:
        collection = only_queries(
            collection,
            dev_slice(collection.qrels, config.dev_queries, config.seed),
            f"dev slice: {config.dev_queries} queries, seed {config.seed}",
        )
    return collection


class _Stage:
    """The first stage and the re-ranking of one evaluation, timed on its clock."""

    def __init__(
        self,
        config: EvaluateConfig,
        collection: Collection,
        clock: _Clock,
        progress: ProgressBars | None,
        context: DistContext,
    ) -> None:

        self.config, self.collection, self.clock, self.progress = (
            config,
            collection,
            clock,
            progress,
        )
        self.context = context
        self.distributed: dict[str, Any] | None = None  # how torchrun's ranks shared the work
        self.bm25_params = BM25Params(k1=config.bm25_k1, b=config.bm25_b)

    def bm25(self, k: int) -> Run:

        docs, queries = self.collection.docs, self.collection.queries
        with self.clock("index_s"), _task(self.progress, "BM25 index", len(docs)) as advance:
            bm25 = BM25(docs, self.bm25_params, cache_dir=self.config.cache_dir, progress=advance)
        with self.clock("search_s"), _task(self.progress, "BM25 search", len(queries)) as advance:
            return bm25.search(queries, k, progress=advance)

    def first(
        self, ranker: Ranker | None, warnings: list[str], *, is_bm25: bool
    ) -> tuple[Run, FirstStage]:
        """The run to evaluate or re-rank, and how it was made."""
        config, collection = self.config, self.collection
        dense = ranker is not None and ranker.architecture.dense_retrieval
        if config.index_dir is not None and not (
            dense and config.rerank is None and not config.run
        ):
            raise UserError(
                "--index-dir keeps a dense retrieval index: it applies to a dot --model "
                "searching the corpus (no --rerank, no --run)"
            )
        if is_bm25:
            return self.bm25(config.k), FirstStage({**self.bm25_params.to_dict(), "k": config.k})
        if config.run is not None:
            run = _given_run(config.run, collection, warnings, need_docs=ranker is not None)
            return run, FirstStage({"method": "run", "path": str(Path(config.run).resolve())})
        if ranker is not None and ranker.architecture.dense_retrieval and config.rerank is None:
            run, how = _dense_retrieval(
                ranker, collection, config, self.clock, self.progress, self.context
            )
            self.distributed = how.get("distributed")
            first: JsonObject = {
                "method": "exact-dense",
                "k": min(config.k, len(collection.docs)),
                "backend": "torch",
                "similarity": ranker.spec.similarity,
            }
            if "index" in how:
                first["index"] = how["index"]
            return run, FirstStage(first)
        # --rerank bm25, or a ranker that cannot search alone without a given run: BM25 finds the candidates
        return self.bm25(config.depth), FirstStage(
            {**self.bm25_params.to_dict(), "k": config.depth}
        )

    def rerank(self, ranker: Ranker, run: Run) -> Run:

        candidate_lists = candidates(run, self.config.depth)
        work = count_work(ranker, candidate_lists)
        with (
            self.clock("rerank_s"),
            _task(self.progress, f"Re-ranking ({ranker.arch})", work) as advance,
        ):
            part = rerank(
                ranker,
                self.collection.queries,
                candidate_lists,
                self.collection.docs,
                batch_size=self.config.batch_size,
                progress=advance,
                share=(self.context.rank, self.context.world_size),
            )
        if not self.context.enabled:
            return part
        from kdbench import distributed

        # Each rank scored whole chunks of the one process's work: their union is its run.
        merged: Run = {qid: {} for qid in candidate_lists}
        for scores_of_rank in distributed.gather_objects(part, self.context):
            for qid, scores in scores_of_rank.items():
                merged[qid].update(scores)
        self.distributed = {"world_size": self.context.world_size, "unit": "re-ranking chunks"}
        return merged


def _header(
    config: EvaluateConfig,
    collection: Collection,
    ranker: Ranker | None,
    first_stage: FirstStage,
    reranked: bool,
) -> ResultHeader:
    """A new evaluate result's header, whose config records what was evaluated, and how."""

    resolved = {
        key: value for key, value in asdict(config).items() if key not in {"extra", "cache_dir"}
    }
    resolved.update(config.extra)
    resolved["backend"], resolved["precision"] = config.artifact()
    resolved["collection"] = collection.source
    resolved["first_stage"] = first_stage.record  # the same object: written twice, alike
    resolved["reranked"] = reranked
    if ranker is not None:
        resolved["arch"] = ranker.arch
        resolved["model_spec"] = ranker.spec.to_dict()
        resolved["parameters"] = ranker.num_parameters()
    return ResultHeader.new("evaluate", resolved)
