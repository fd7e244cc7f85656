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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kdbench.data.collection import Collection
from kdbench.data.runs import Run
from kdbench.errors import InputFileError, UserError

Advance = Callable[[int], None]


@dataclass
class EvaluateConfig:
    """Every `kdbench evaluate` option; `None` means "the default for this model"."""

    data: str
    split: str | None = None
    model: str | None = None  # "bm25", a ranker, or None to evaluate `run` as it is
    arch: str | None = None  # dot | cat | colbert | prettr (a checkpoint carries its own)
    split_layer: int | None = None  # prettr: query and passage meet after layer l
    rerank: str | None = None  # first stage to re-rank: "bm25"
    run: str | None = None  # a TREC run to re-rank (or to evaluate when model is None)
    depth: int = 100  # candidates re-ranked per query
    k: int = 1000  # docs retrieved per query by a retrieving stage
    rel: int = 1  # grade >= rel counts as relevant for RR, R, AP
    batch_size: int = 32
    max_query_len: int | None = None
    max_doc_len: int | None = None
    layers: int | None = None
    device: str = "cpu"
    queries: int | None = None  # evaluate only the first N judged queries
    # Evaluate only the dev slice `kdbench train --dev-queries N --seed S` holds out of this split.
    dev_queries: int | None = None
    seed: int = 42
    bm25_k1: float = 0.9
    bm25_b: float = 0.4
    run_file: str | None = None  # write the final run here (TREC)
    run_tag: str = "kdbench"
    cache_dir: str | None = None
    allow_pickle: bool = False  # load pytorch_model.bin (unpickling can run code)
    trust_remote_code: bool = False  # run a hub model's own Python code
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        for name in ("depth", "k", "rel", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(
                    f"--{name.replace('_', '-')} must be at least 1 (got {getattr(self, name)})"
                )
        if self.queries is not None and self.queries < 1:
            raise UserError(f"--queries must be at least 1 (got {self.queries})")
        if self.dev_queries is not None and self.dev_queries < 1:
            raise UserError(f"--dev-queries must be at least 1 (got {self.dev_queries})")
        if self.dev_queries is not None and self.queries is not None:
            raise UserError("--queries and --dev-queries both choose the queries; pass one")
        from kdbench.retrieval.bm25 import BM25Params

        BM25Params(k1=self.bm25_k1, b=self.bm25_b)  # its range checks, before any loading
        if self.model is None and self.run is None:
            raise UserError("nothing to evaluate: pass --model (bm25 or a ranker) or --run FILE")
        if self.rerank is not None and self.run is not None:
            raise UserError("--rerank and --run both name a first stage; pass one of them")
        if self.rerank is not None and self.rerank.lower() != "bm25":
            raise UserError(
                f"--rerank {self.rerank}: the only built-in first stage is bm25 (or pass --run FILE)"
            )
        if self.model is not None and self.model.lower() == "bm25":
            if self.rerank is not None or self.run is not None:
                raise UserError("--model bm25 is itself a first stage; drop --rerank/--run")
            if self.arch is not None:
                raise UserError("--arch applies to neural rankers, not --model bm25")
            if self.split_layer is not None:
                raise UserError("--split-layer applies to prettr rankers, not --model bm25")
        if self.model is None and (
            self.rerank is not None or self.arch is not None or self.split_layer is not None
        ):
            raise UserError(
                "--rerank/--arch/--split-layer need --model: the ranker that re-scores the candidates"
            )


@contextlib.contextmanager
def _task(progress: Any, description: str, total: int) -> Iterator[Advance]:
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
    from kdbench.data import irds
    from kdbench.data.runs import read_run

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


def _load_ranker(model: str, config: EvaluateConfig) -> Any:
    import torch

    from kdbench.models import load_model

    # A head the checkpoint lacks (zero-shot cat, colbert compression) starts random: the
    # same random every run, so zero-shot numbers repeat.
    torch.manual_seed(0)

    options: dict[str, Any] = {
        "layers": config.layers,
        "device": config.device,
        "split_layer": config.split_layer,
        "allow_pickle": config.allow_pickle,
        "trust_remote_code": config.trust_remote_code,
    }
    if config.max_query_len is not None:
        options["max_query_len"] = config.max_query_len
    if config.max_doc_len is not None:
        options["max_doc_len"] = config.max_doc_len
    ranker = load_model(model, config.arch, **options)
    ranker.eval()
    return ranker


def _dense_retrieval(
    ranker: Any, collection: Collection, config: EvaluateConfig, clock: _Clock, progress: Any
) -> Run:
    """Exact top-k over the whole corpus, encoded chunk by chunk and merged as it goes."""
    import torch

    from kdbench.models.encode import encode_texts
    from kdbench.retrieval.dense import TopK, as_run

    qids = list(collection.queries)
    docs = collection.docs
    k = min(config.k, len(docs))
    with clock("encode_s"), _task(progress, "Encoding queries", len(qids)) as advance:
        query_vectors = encode_texts(
            ranker,
            [collection.queries[q] for q in qids],
            "query",
            config.batch_size,
            progress=advance,
        )
    assert isinstance(query_vectors, torch.Tensor)  # dot rankers encode to one vector per text
    top = TopK(len(qids), k)
    first_row = 0
    with _task(progress, "Encoding + searching docs", len(docs)) as advance:
        # Chunks of thousands of docs: length-sorted batches pad little, and the matmul is big.
        for _, texts in docs.iter_batches(max(4096, config.batch_size * 64)):
            with clock("encode_s"):
                doc_vectors = encode_texts(
                    ranker, texts, "doc", config.batch_size, progress=advance
                )
            assert isinstance(doc_vectors, torch.Tensor)
            with clock("search_s"), torch.inference_mode():
                top.add_docs(query_vectors, doc_vectors, first_row, ranker.spec.score_scale)
            first_row += len(texts)
    return as_run(qids, docs.ids(), *top.result())


def evaluate(
    config: EvaluateConfig, *, progress: Any = None, output: str | Path | None = None
) -> dict[str, Any]:
    """Run the configured evaluation and return its result (saved to `output` when given).

    `progress`: a rich.progress.Progress to draw bars on (None: silent).
    """
    from kdbench.data.load import load_collection
    from kdbench.data.runs import write_run
    from kdbench.evaluate.metrics import compute_metrics
    from kdbench.io import check_writable
    from kdbench.results import new_result, save_result

    config.check()
    # Checked before the work: an unwritable path must not cost a whole evaluation.
    if output is not None:
        check_writable(output, "--output")
    if config.run_file:
        check_writable(config.run_file, "--run-file")
    clock = _Clock()
    started = time.perf_counter()
    with clock("load_s"):
        collection = load_collection(config.data, config.split, cache_dir=config.cache_dir)
        if config.queries is not None:
            collection = collection.first_queries(config.queries)
        if config.dev_queries is not None:
            from kdbench.data.collection import only_queries
            from kdbench.data.triples import dev_slice

            collection = only_queries(
                collection,
                dev_slice(collection.qrels, config.dev_queries, config.seed),
                f"dev slice: {config.dev_queries} queries, seed {config.seed}",
            )
    warnings = list(collection.warnings)
    model_name = config.model
    is_bm25 = model_name is not None and model_name.lower() == "bm25"
    if model_name is not None:
        collection.docs.require_docs()  # BM25 and rankers read passages; a given run alone does not
    ranker = None
    if model_name is not None and not is_bm25:
        with clock("load_model_s"):
            ranker = _load_ranker(model_name, config)

    run, first_stage = _first_stage(ranker, is_bm25, collection, config, clock, progress, warnings)
    reranked = ranker is not None and first_stage["method"] != "exact-dense"
    if ranker is not None and reranked:
        first_stage["depth"] = config.depth
        with clock("rerank_s"):
            run = _rerank(ranker, run, collection, config, progress)

    with clock("metrics_s"):
        metrics, per_query = compute_metrics(run, collection.qrels, rel=config.rel)
    if config.run_file:
        write_run(config.run_file, run, tag=config.run_tag)

    resolved = _resolved(config, collection, ranker, first_stage, reranked)
    result = new_result("evaluate", resolved)
    timings = {key: round(value, 4) for key, value in clock.seconds.items()}
    timings["total_s"] = round(time.perf_counter() - started, 4)
    result.update(
        {
            "metrics": metrics,
            "per_query": per_query,
            "first_stage": first_stage,
            "queries": len(collection.queries),
            "timings": timings,
            "warnings": warnings,
        }
    )
    result["units"] = {
        "metrics": "fraction in [0, 1], mean over judged queries",
        "per_query": "fraction in [0, 1]",
        "timings": "s (wall clock)",
        "parameters": "count",
    }
    if output is not None:
        save_result(output, result)
    return result


def _first_stage(
    ranker: Any,
    is_bm25: bool,
    collection: Any,
    config: EvaluateConfig,
    clock: _Clock,
    progress: Any,
    warnings: list[str],
) -> tuple[Run, dict[str, Any]]:
    """The candidates (or, for BM25 alone and dense retrieval, the final run) and how they
    were found."""
    from kdbench.retrieval.bm25 import BM25, BM25Params

    bm25_params = BM25Params(k1=config.bm25_k1, b=config.bm25_b)

    def bm25_run(k: int) -> Run:
        with clock("index_s"), _task(progress, "BM25 index", len(collection.docs)) as advance:
            bm25 = BM25(collection.docs, bm25_params, cache_dir=config.cache_dir, progress=advance)
        with clock("search_s"), _task(progress, "BM25 search", len(collection.queries)) as advance:
            return bm25.search(collection.queries, k, progress=advance)

    if is_bm25:
        return bm25_run(config.k), {**bm25_params.to_dict(), "k": config.k}
    if config.run is not None:
        run = _given_run(config.run, collection, warnings, need_docs=ranker is not None)
        return run, {"method": "run", "path": str(Path(config.run).resolve())}
    if ranker is not None and ranker.architecture.dense_retrieval and config.rerank is None:
        run = _dense_retrieval(ranker, collection, config, clock, progress)
        return run, {
            "method": "exact-dense",
            "k": min(config.k, len(collection.docs)),
            "backend": "torch",
            "similarity": ranker.spec.similarity,
        }
    # --rerank bm25, or a ranker that cannot search alone without a given run: BM25 finds
    # the candidates
    return bm25_run(config.depth), {**bm25_params.to_dict(), "k": config.depth}


def _rerank(ranker: Any, run: Run, collection: Any, config: EvaluateConfig, progress: Any) -> Run:
    """The first stage's top `config.depth` candidates re-scored by `ranker`."""
    from kdbench.evaluate.rerank import candidates, count_work, rerank

    candidate_lists = candidates(run, config.depth)
    work = count_work(ranker, candidate_lists)
    with _task(progress, f"Re-ranking ({ranker.arch})", work) as advance:
        return rerank(
            ranker,
            collection.queries,
            candidate_lists,
            collection.docs,
            batch_size=config.batch_size,
            progress=advance,
        )


def _resolved(
    config: EvaluateConfig,
    collection: Any,
    ranker: Any,
    first_stage: dict[str, Any],
    reranked: bool,
) -> dict[str, Any]:
    """The settings as they ran: the result's `config`."""
    resolved = {
        key: value for key, value in asdict(config).items() if key not in {"extra", "cache_dir"}
    }
    resolved.update(config.extra)
    resolved["collection"] = collection.source
    resolved["first_stage"] = first_stage
    resolved["reranked"] = reranked
    if ranker is not None:
        resolved["arch"] = ranker.arch
        resolved["model_spec"] = ranker.spec.to_dict()
        resolved["parameters"] = ranker.num_parameters()
    return resolved
