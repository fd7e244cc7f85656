"""Scenarios that mirror query-time cost per architecture, on real text.

- `index` (dot, colbert): encode a batch of passages; items are passages.
- `query` (dot): encode the query batch, then search a pre-encoded index (exact; faiss if
  installed); `encode` and `search` are timed apart and together.
- `rerank` (cat): score a query's k candidates in forward batches of `batch_size` pairs;
  (colbert): encode the query, then MaxSim over the k candidates' cached term vectors;
  (prettr): score the k candidates in forward batches of `batch_size` pairs, each pair the
  query's tokens plus the passage's cached states after layer l (`encode_passage_states`).

Every timed input is padded to exactly `seq_len` tokens (a prettr pair: its query and
passage parts together, split as for cat), so a cell is one shape (one warm-up, one
TensorRT profile point) and backends see identical inputs. Only the timed
module runs on the backend under test; what a system computes offline (the index, cached
term vectors, the query side of `index`) is computed once with eager fp32, and the parity
gate compares the scenario's scores with the backend's part swapped in.

Which class times which scenario for an architecture is that architecture's registry
entry (`Architecture.scenarios`); `build_scenario` looks it up, so a new architecture
picks (or subclasses) one of these without an edit here.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from kdbench.backends.base import Runner, ShapeRange
from kdbench.errors import UserError
from kdbench.models.base import ExportKind, encoder_shape
from kdbench.models.batches import (
    fixed_batch,
    pad_split_pairs,
    pair_lengths,
    truncation_lengths,
)
from kdbench.models.colbert import TermVectors
from kdbench.models.prettr import cache_bytes_per_passage
from kdbench.models.ranker import Ranker
from kdbench.profile.config import APPROXIMATE_SEARCHES, ProfileConfig
from kdbench.profile.flops import encoder_flops
from kdbench.profile.inputs import Pool, ProfileInputs
from kdbench.profile.measurements import PassageCache
from kdbench.profile.registry import scenario_class
from kdbench.profile.timer import StageCall
from kdbench.retrieval.approximate import HnswIndex, recall
from kdbench.retrieval.dense import exact_search


@dataclass(frozen=True)
class CellShape:
    """What one cell times: a batch size, a sequence length, (rerank, query) a depth and
    (query) the passages searched."""

    batch_size: int
    seq_len: int
    depth: int | None = None
    index_size: int | None = None


@dataclass
class Workload:
    """One cell's timed call, as a chain of named stages."""

    stages: list[tuple[str, StageCall]]
    first_input: Any
    items: int  # queries or passages per call
    model_stage: str  # the stage whose time the model's FLOPs are divided by
    model_calls: list[tuple[int, int]]  # (batch, seq) of each model call per sample
    tokenize: Callable[[], Any]  # the cell's tokenisation, timed separately
    flops_per_call: int | None = None  # None: a full encoder forward per model call
    cache: PassageCache | None = None  # prettr: the cached passage states the call reads
    index_bytes: int | None = None  # the pre-encoded index or cache the call searches or reads
    search: dict[str, Any] | None = None  # query: an approximate search, its settings and recall


def _to(inputs: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {name: tensor.to(device) for name, tensor in inputs.items()}


class Scenario:
    name: ClassVar[str]
    item: ClassVar[str] = "query"  # what throughput counts
    timed_kind: ClassVar[ExportKind]
    default_batch: ClassVar[int]
    default_seq: ClassVar[int]
    uses_depth: ClassVar[bool] = True  # cells also vary --depth (candidates, or hits searched)
    # True: eager fp32's parity scores are the reference; False: `reference_scores` computes
    # it another way (prettr: uncached scoring), and eager fp32 faces the gate too
    reference_is_timed: ClassVar[bool] = True
    # serving workers tokenise one at a time: `fixed_batch` swaps the ranker's lengths
    tokenizing: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, ranker: Ranker, inputs: ProfileInputs, config: ProfileConfig) -> None:
        # Any: scenarios call the architecture's own methods (encode_docs, scores, dim)
        self.ranker: Any = ranker
        self.inputs = inputs
        self.config = config
        self.device = torch.device(config.device)
        self.doc_len = config.doc_len or ranker.spec.max_doc_len
        batches = config.batch_sizes or (self.default_batch,)
        seqs = config.seq_lens or (self.default_seq,)
        depths: tuple[int | None, ...] = config.depths if self.uses_depth else (None,)
        self.cells = [
            CellShape(b, s, d, n)
            for n in self.index_sizes()
            for d in depths
            for s in seqs
            for b in batches
        ]
        self.parity_seq = max(seqs)
        self.parity_batch = max(batches)

    def index_sizes(self) -> tuple[int | None, ...]:
        """The index sizes cells are timed at (None: the scenario searches no index)."""
        return (None,)

    # -- shapes ------------------------------------------------------------------------------
    def shapes(self) -> ShapeRange:
        """Every (batch, seq) the timed module sees: cells, parity batches (any size up to the max)."""
        points = [(min(c.batch_size, c.depth or c.batch_size), c.seq_len) for c in self.cells]
        points.append((1, 1))  # the padding check runs single texts at their own length
        largest = max(self.cells, key=lambda c: (c.batch_size, c.seq_len))
        return ShapeRange.covering(
            [*points, (self.parity_batch, self.parity_seq)], (largest.batch_size, largest.seq_len)
        )

    def example(self) -> dict[str, torch.Tensor]:
        """A padded batch of real text (one short, one long): ONNX export and the padding check."""
        query = self.inputs.queries[0]
        short = " ".join(query.split()[:3])
        passage = self.inputs.passages[0]
        if self.timed_kind == "pair":
            # A one-word query with a one-word passage: padded at any pair length above the
            # few tokens they take, so the export cannot bake in an all-ones mask.
            word, passage_word = (query.split() or ["a"])[0], (passage.split() or ["a"])[0]
            return fixed_batch(
                self.ranker, "pair", [word, query], self.parity_seq, [passage_word, passage]
            )
        texts = [short, query] if self.timed_kind == "query" else [short, passage]
        return fixed_batch(self.ranker, self.timed_kind, texts, self.parity_seq)

    def describe(self) -> dict[str, Any]:
        """What the scenario timed, for the result."""
        return {
            "name": self.name,
            "timed_module": self.timed_kind,
            "item": self.item,
            "offline_doc_len": self.doc_len,
            "padding": "every timed input padded to exactly seq_len",
        }

    def unpadded_rows(self, example: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """Each row of `example` alone, cut to its own tokens (`passage_*` inputs to the
        passage's, from `passage_mask`): the padding check runs these against the batch."""
        query_lengths = example["attention_mask"].sum(dim=1).tolist()
        passage_mask = example.get("passage_mask")
        passage_lengths = (
            passage_mask.sum(dim=1).tolist() if passage_mask is not None else query_lengths
        )
        return [
            {
                name: tensor[
                    row : row + 1, : int(passage if name.startswith("passage_") else query)
                ]
                for name, tensor in example.items()
            }
            for row, (query, passage) in enumerate(zip(query_lengths, passage_lengths, strict=True))
        ]

    # -- the architecture's part --------------------------------------------------------------
    def parity_scores(self, runner: Runner) -> list[np.ndarray]:
        """Each parity pool's candidate scores with `runner` computing the timed part."""
        raise NotImplementedError

    def reference_scores(self, runner: Runner) -> list[np.ndarray]:
        """What the parity gate compares against: by default eager fp32 (`runner`) in the scenario."""
        return self.parity_scores(runner)

    def workload(self, cell: CellShape, runner: Runner) -> Workload:
        raise NotImplementedError

    def serving(self, cell: CellShape, runner: Runner) -> Callable[[list[str]], object]:
        """Serve a batch of query texts end to end as a deployment would (server/offline
        loads, kdbench.profile.serving): tokenise them, run `runner`, finish the scenario's
        work (search, ordering). Inputs are padded to the cell's `seq_len`, as timed cells are."""
        raise UserError(
            f"--scenario server: {self.ranker.arch} {self.name} does not serve queries; "
            "profile it with --scenario index"
        )

    # -- helpers -----------------------------------------------------------------------------
    def run_batched(
        self, runner: Runner, kind: ExportKind, texts: list[str], pair_docs: list[str] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(outputs as fp32, attention masks) over `texts` in parity batches at the parity length."""
        outputs, masks = [], []
        for start in range(0, len(texts), self.parity_batch):
            stop = start + self.parity_batch
            batch = fixed_batch(
                self.ranker,
                kind,
                texts[start:stop],
                self.parity_seq,
                pair_docs[start:stop] if pair_docs is not None else None,
            )
            outputs.append(runner(_to(batch, self.device)).float().to(self.device))
            masks.append(batch["attention_mask"].to(self.device))
        return torch.cat(outputs), torch.cat(masks)

    def encoding_workload(
        self, cell: CellShape, runner: Runner, kind: ExportKind, texts: list[str]
    ) -> Workload:
        """A timed call that encodes one batch of `texts` with `runner` (stage "encode");
        a scenario appends what it does with the vectors (search, MaxSim)."""
        batch = _to(fixed_batch(self.ranker, kind, texts, cell.seq_len), self.device)
        return Workload(
            stages=[("encode", runner)],
            first_input=batch,
            items=cell.batch_size,
            model_stage="encode",
            model_calls=[(cell.batch_size, cell.seq_len)],
            tokenize=lambda: fixed_batch(self.ranker, kind, texts, cell.seq_len),
        )

    @torch.inference_mode()
    def eager_docs(self, texts: list[str]) -> Any:
        """Passages encoded offline (eager fp32) at --doc-len, in input order."""
        with truncation_lengths(self.ranker, doc_len=self.doc_len):
            return self.ranker.encode_docs(texts, batch_size=32)


class IndexScenario(Scenario):
    """Encode a batch of passages (one vector each); parity scores each pool's candidates
    against the query's vector."""

    name = "index"
    item = "passage"
    timed_kind = "doc"
    default_batch = 32
    default_seq = 128
    uses_depth = False

    @torch.inference_mode()
    def parity_scores(self, runner: Runner) -> list[np.ndarray]:
        pools = self.inputs.pools
        texts = sorted({text for pool in pools for text in pool.docs})
        row = {text: index for index, text in enumerate(texts)}
        vectors, masks = self.run_batched(runner, "doc", texts)
        queries = self.ranker.encode_queries([pool.query for pool in pools])
        scores = []
        for index, pool in enumerate(pools):
            rows = torch.tensor([row[text] for text in pool.docs], device=self.device)
            values = self.candidate_scores(queries, index, vectors[rows], masks[rows])
            scores.append(values.float().cpu().numpy())
        return scores

    def candidate_scores(
        self, queries: Any, index: int, docs: torch.Tensor, masks: torch.Tensor
    ) -> torch.Tensor:
        """Query `index` of the eager-encoded `queries` against its candidates' encodings."""
        return self.ranker.scores(queries[index].expand_as(docs), docs)

    def workload(self, cell: CellShape, runner: Runner) -> Workload:
        return self.encoding_workload(cell, runner, "doc", self.inputs.passages[: cell.batch_size])


class ColbertIndexScenario(IndexScenario):
    """Encode a batch of passages into term vectors; parity scores them with MaxSim."""

    def candidate_scores(
        self, queries: Any, index: int, docs: torch.Tensor, masks: torch.Tensor
    ) -> torch.Tensor:
        q_vecs, q_mask = queries
        return self.ranker.scores(q_vecs[index], q_mask[index], docs, masks)


class QueryScenario(Scenario):
    """Encode the query batch, then search the first `index_size` rows of a pre-encoded
    index (one cell per `--index-size`). An index larger than the collection repeats its
    vectors (exact search costs the same whatever they hold), and the result says so."""

    name = "query"
    timed_kind = "query"
    default_batch = 1
    default_seq = 32

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._index: torch.Tensor | None = None
        self._index_rows: dict[str, int] = {}
        self._pool_docs: list[torch.Tensor] | None = None
        self._searched: tuple[int, torch.Tensor] | None = None
        self._graph: tuple[int, Any] | None = None  # --search hnsw: one size's graph at a time
        self._recall_queries: torch.Tensor | None = None
        self.index_encode: dict[str, Any] | None = None  # how long building the index took
        self.search_backend = "faiss" if importlib.util.find_spec("faiss") is not None else "torch"

    def index_sizes(self) -> tuple[int | None, ...]:
        return self.config.index_size or (self.inputs.index_size,)

    def describe(self) -> dict[str, Any]:
        index = (
            "random vectors" if self.inputs.index_passages is None else "eager fp32 passage vectors"
        )
        if self.config.index_dir is not None:
            index = f"passage vectors of --index-dir {self.config.index_dir}"
        largest = max(cell.index_size or 0 for cell in self.cells)
        if largest > self.inputs.index_size:
            index += f" ({self.inputs.index_size} distinct, repeated)"
        search = (
            "faiss IndexFlatIP" if self.search_backend == "faiss" else "exact torch matmul + top-k"
        )
        if self.config.search in APPROXIMATE_SEARCHES:
            search = "approximate: faiss HNSW graph per index size (recall vs exact per cell)"
        sizes = sorted({cell.index_size or 0 for cell in self.cells})
        described = {
            **super().describe(),
            "index": f"{', '.join(map(str, sizes))} {index}",
            "search": search,
        }
        if self.index_encode is not None:
            described["index_encode"] = self.index_encode
        return described

    @torch.inference_mode()
    def index(self) -> torch.Tensor:
        """The pre-encoded passages [N, d] on the device (eager fp32, read from --index-dir, or
        random without --data)."""
        if self._index is None:
            if self.config.index_dir is not None:
                self._index = self._saved_index(self.config.index_dir)
            elif self.inputs.index_passages is None:
                generator = torch.Generator().manual_seed(self.config.seed)
                vectors = torch.randn(self.inputs.index_size, self.ranker.dim, generator=generator)
                self._index = vectors.to(self.device)
            else:
                self._index = self._encode_index()
        return self._index

    def _encode_index(self) -> torch.Tensor:
        """The collection's passages encoded once (eager fp32), timed: a build time to scale."""
        started = time.perf_counter()
        parts = []
        for ids, texts in self.inputs.index_passages(256):
            self._index_rows.update((doc_id, len(self._index_rows)) for doc_id in ids)
            parts.append(self.eager_docs(texts).float())
        index = torch.cat(parts).to(self.device)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - started
        self.index_encode = {
            "passages": index.shape[0],
            "seconds": seconds,
            "passages_per_s": index.shape[0] / seconds,
            "how": "eager fp32, tokenisation included, batches of 32 at doc_len, once before "
            "timing (not interleaved)",
        }
        return index

    def _saved_index(self, folder: str) -> torch.Tensor:
        from kdbench.retrieval.index import saved_vectors

        if self.inputs.docs is None:
            raise UserError(
                f"--index-dir {folder}: needs --data, the collection the index was built from"
            )
        started = time.perf_counter()
        vectors, ids, spec = saved_vectors(folder, self.ranker, self.config.model, self.inputs.docs)
        size = self.inputs.index_size
        self._index_rows.update((doc_id, row) for row, doc_id in enumerate(ids[:size]))
        index = torch.from_numpy(vectors[:size]).to(self.device)
        self.index_encode = {
            "passages": index.shape[0],
            "seconds": time.perf_counter() - started,
            "how": f"read from --index-dir {folder}, not encoded here: vectors `kdbench "
            f"evaluate` encoded at {spec.get('max_doc_len')} passage tokens",
        }
        return index

    def searched_index(self, size: int) -> torch.Tensor:
        """The first `size` rows of the index, its rows repeated past its end.

        Timing several sizes, each cell searches a copy of its own and one copy is alive at
        a time, so a cell's peak memory grows with the index it searches.
        """
        index = self.index()
        if size == index.shape[0] and len({cell.index_size for cell in self.cells}) == 1:
            return index  # one size: the index itself, as before sizes could be swept
        if self._searched is None or self._searched[0] != size:
            self._searched = None  # free the previous copy before making the next
            repeats = -(-size // index.shape[0])
            self._searched = (size, index.repeat(repeats, 1)[:size].clone())
        return self._searched[1]

    def pool_docs(self, pool: Pool) -> torch.Tensor:
        """A parity pool's passage vectors: rows of the index (same encoding), else encoded."""
        index, rows = self.index(), self._index_rows
        if all(doc_id in rows for doc_id in pool.doc_ids):
            return index[
                torch.tensor([rows[doc_id] for doc_id in pool.doc_ids], device=self.device)
            ]
        return self.eager_docs(pool.docs).float().to(self.device)

    def parity_scores(self, runner: Runner) -> list[np.ndarray]:
        pools = self.inputs.pools
        if self._pool_docs is None:
            self._pool_docs = [self.pool_docs(pool) for pool in pools]
        with torch.inference_mode():
            queries, _ = self.run_batched(runner, "query", [pool.query for pool in pools])
            return [
                self.ranker.scores(queries[index].expand_as(docs), docs).float().cpu().numpy()
                for index, docs in enumerate(self._pool_docs)
            ]

    def workload(self, cell: CellShape, runner: Runner) -> Workload:

        size = cell.index_size or self.inputs.index_size
        searched = self.searched_index(size)
        depth = min(cell.depth or 100, size)
        backend = self.search_backend

        def search(queries: torch.Tensor) -> Any:
            # looked up per call: the copy a cell searches is freed when the next cell's is made
            return exact_search(queries.float(), self.searched_index(size), depth, backend=backend)

        def approximate(queries: torch.Tensor) -> Any:
            return self.graph(size).search(queries.float().cpu().numpy(), depth)

        workload = self.encoding_workload(
            cell, runner, "query", self.inputs.queries[: cell.batch_size]
        )
        hnsw = self.config.search in APPROXIMATE_SEARCHES
        workload.stages.append(("search", approximate if hnsw else search))
        workload.index_bytes = searched.nelement() * searched.element_size()
        if hnsw:
            graph = self.graph(size)
            workload.search = {
                **graph.describe(),
                f"recall@{depth}": self.recall(graph, size, depth),
            }
        return workload

    def serving(self, cell: CellShape, runner: Runner) -> Callable[[list[str]], object]:
        from kdbench.retrieval.dense import exact_search

        size = cell.index_size or self.inputs.index_size
        depth = min(cell.depth or 100, size)
        self.searched_index(size)  # built before the first query arrives
        hnsw = self.config.search == "hnsw"

        @torch.inference_mode()
        def serve(texts: list[str]) -> Any:
            with self.tokenizing:
                batch = fixed_batch(self.ranker, "query", texts, cell.seq_len)
            vectors = runner(_to(batch, self.device)).float()
            if hnsw:
                return self.graph(size).search(vectors.cpu().numpy(), depth)
            found = exact_search(
                vectors, self.searched_index(size), depth, backend=self.search_backend
            )
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            return found

        return serve

    def graph(self, size: int) -> HnswIndex:
        """--search hnsw: the HNSW graph over the index's first `size` rows (one at a time)."""

        if self._graph is None or self._graph[0] != size:
            self._graph = None  # free the previous graph before building the next
            ef_search = max(128, 2 * max(self.config.depths))
            vectors = self.searched_index(size).cpu().numpy()
            self._graph = (size, HnswIndex.build(vectors, ef_search))
        return self._graph[1]

    @torch.inference_mode()
    def recall(self, graph: HnswIndex, size: int, depth: int) -> float:
        """The graph's recall@depth against exact search, over up to 64 eager-encoded queries."""

        if self._recall_queries is None:
            texts = self.inputs.queries[:64]
            self._recall_queries = self.ranker.encode_queries(texts).float().to(self.device)
        queries = self._recall_queries
        _, exact = exact_search(queries, self.searched_index(size), depth)
        _, found = graph.search(queries.cpu().numpy(), depth)
        return recall(exact.cpu().numpy(), found)


def _chunked_rerank(
    runner: Runner, pairs: dict[str, torch.Tensor], depth: int, batch_size: int
) -> tuple[list[dict[str, torch.Tensor]], Callable[[Any], torch.Tensor]]:
    """One query's `depth` prepared pairs cut into forward passes of `batch_size`, and the
    timed call: score every chunk, then order the candidates."""
    chunks = [
        {name: tensor[start : start + batch_size] for name, tensor in pairs.items()}
        for start in range(0, depth, batch_size)
    ]

    def rerank(_: Any) -> torch.Tensor:
        scores = torch.cat([runner(chunk) for chunk in chunks])
        return torch.argsort(scores, descending=True)

    return chunks, rerank


class CatRerankScenario(Scenario):
    name = "rerank"
    timed_kind = "pair"
    default_batch = 100
    default_seq = 256

    def parity_scores(self, runner: Runner) -> list[np.ndarray]:
        scores = []
        with torch.inference_mode():
            for pool in self.inputs.pools:
                values, _ = self.run_batched(
                    runner, "pair", [pool.query] * len(pool.docs), pool.docs
                )
                scores.append(values.cpu().numpy())
        return scores

    def workload(self, cell: CellShape, runner: Runner) -> Workload:
        depth = cell.depth or 100
        query, docs = self.inputs.queries[0], self.inputs.passages[:depth]
        pairs = _to(
            fixed_batch(self.ranker, "pair", [query] * depth, cell.seq_len, docs), self.device
        )
        chunks, rerank = _chunked_rerank(runner, pairs, depth, cell.batch_size)

        return Workload(
            stages=[("score", rerank)],
            first_input=None,
            items=1,
            model_stage="score",
            model_calls=[(chunk["input_ids"].shape[0], cell.seq_len) for chunk in chunks],
            tokenize=lambda: fixed_batch(self.ranker, "pair", [query] * depth, cell.seq_len, docs),
        )

    def serving(self, cell: CellShape, runner: Runner) -> Callable[[list[str]], object]:
        depth = cell.depth or 100
        docs = self.inputs.passages[:depth]  # every query's k candidates: the same k passages

        def prepare(texts: list[str]) -> dict[str, torch.Tensor]:
            queries = [text for text in texts for _ in range(depth)]
            pairs = fixed_batch(self.ranker, "pair", queries, cell.seq_len, docs * len(texts))
            return _to(pairs, self.device)

        return _serve_pairs(self, cell, runner, prepare)


def _serve_pairs(
    scenario: Scenario,
    cell: CellShape,
    runner: Runner,
    prepare: Callable[[list[str]], dict[str, torch.Tensor]],
) -> Callable[[list[str]], object]:
    """Serve a batch of queries by scoring each one's `depth` candidates in forwards of
    `cell.batch_size` pairs (the batch's pairs together), then ordering each query's."""
    depth = cell.depth or 100

    @torch.inference_mode()
    def serve(texts: list[str]) -> Any:
        with scenario.tokenizing:
            pairs = prepare(texts)
        total = len(texts) * depth
        scores = torch.cat(
            [
                runner({name: t[start : start + cell.batch_size] for name, t in pairs.items()})
                .float()
                .reshape(-1)
                for start in range(0, total, cell.batch_size)
            ]
        )
        order = torch.argsort(scores.reshape(len(texts), depth), dim=1, descending=True)
        if scenario.device.type == "cuda":
            torch.cuda.synchronize(scenario.device)
        return order

    return serve


class ColbertRerankScenario(Scenario):
    name = "rerank"
    timed_kind = "query"
    default_batch = 1
    default_seq = 32

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool_docs: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self._cached: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def parity_scores(self, runner: Runner) -> list[np.ndarray]:
        pools = self.inputs.pools
        if self._pool_docs is None:
            self._pool_docs = [self.eager_docs(pool.docs) for pool in pools]
        with torch.inference_mode():
            vectors, masks = self.run_batched(runner, "query", [pool.query for pool in pools])
            return [
                self.ranker.scores(vectors[index], masks[index], d_vecs.float(), d_mask)
                .float()
                .cpu()
                .numpy()
                for index, (d_vecs, d_mask) in enumerate(self._pool_docs)
            ]

    def workload(self, cell: CellShape, runner: Runner) -> Workload:
        depth = cell.depth or 100
        if depth not in self._cached:
            d_vecs, d_mask = self.eager_docs(self.inputs.passages[:depth])
            self._cached[depth] = (d_vecs.float(), d_mask)
        d_vecs, d_mask = self._cached[depth]
        workload = self.encoding_workload(
            cell, runner, "query", self.inputs.queries[: cell.batch_size]
        )
        q_mask = workload.first_input["attention_mask"]
        ranker = self.ranker

        def maxsim(q_vecs: torch.Tensor) -> list[torch.Tensor]:
            q_vecs = q_vecs.to(d_vecs.dtype)
            return [
                torch.argsort(ranker.scores(q_vecs[i], q_mask[i], d_vecs, d_mask), descending=True)
                for i in range(q_vecs.shape[0])
            ]

        workload.stages.append(("maxsim", maxsim))
        workload.index_bytes = d_vecs.numel() * d_vecs.element_size()
        return workload

    def serving(self, cell: CellShape, runner: Runner) -> Callable[[list[str]], object]:
        depth = cell.depth or 100
        self.workload(cell, runner)  # caches the k candidates' term vectors (offline work)
        d_vecs, d_mask = self._cached[depth]
        ranker = self.ranker

        @torch.inference_mode()
        def serve(texts: list[str]) -> Any:
            with self.tokenizing:
                batch = _to(fixed_batch(ranker, "query", texts, cell.seq_len), self.device)
            q_vecs = runner(batch).to(d_vecs.dtype)
            q_mask = batch["attention_mask"]
            return [
                torch.argsort(ranker.scores(q_vecs[i], q_mask[i], d_vecs, d_mask), descending=True)
                for i in range(q_vecs.shape[0])
            ]

        return serve


class PrettrRerankScenario(Scenario):
    """PreTTR re-ranking as deployed: every passage's states after layer l are computed once
    offline (eager fp32 `encode_passage_states`, the cache); the timed call scores
    `batch_size` pairs per forward, each the query's tokens (layers 1..l, then joint) with a
    candidate's cached states (joint layers l+1..L only). The parity reference is uncached
    eager scoring (`score_pairs`), so eager fp32 is gated too: the cache must not change scores.
    """

    name = "rerank"
    timed_kind = "pair"
    default_batch = 100
    default_seq = 256
    reference_is_timed = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The cache is computed before any query: passages at the fixed query slot (the
        # released PreTTR's own positions follow each query; docs/models.md has the difference).
        self.own_positions = self.ranker.passage_positions
        self.ranker.use_fixed_positions()
        self._pool_caches: list[Any] | None = None
        self._caches: dict[tuple[int, int], Any] = {}
        stack = self.ranker.stack()
        for seq_len in {cell.seq_len for cell in self.cells}:
            _, doc_len = pair_lengths(self.ranker, seq_len)
            if self.ranker.passage_offset + doc_len > stack.max_positions:
                raise UserError(
                    f"--seq-len {seq_len}: passages of {doc_len} tokens after the {self.ranker.passage_offset}-token "
                    f"query slot exceed the encoder's {stack.max_positions} positions; lower --seq-len"
                )

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        described.pop("offline_doc_len")  # the cache follows seq_len, not --doc-len
        return {
            **described,
            "split_layer": self.ranker.split_layer,
            "passage_positions": f"fixed at {self.ranker.passage_offset} (the model's own: {self.own_positions})",
            "passage_cache": "states after layer l of each candidate, eager fp32, computed once offline",
            "pair_tokens": "seq_len = query part (min(max_query_len, seq_len/2)) + cached passage part",
            "query_layers": "the exported pair module runs the query's layers 1..l once per pair",
            "tokenize": "query tokens + gathering and padding the candidates' cached states",
            "parity_reference": "uncached eager fp32 scoring (score_pairs) at the same lengths",
        }

    def shapes(self) -> ShapeRange:
        """Query and passage token axes apart: the cells', the parity batches', one row alone."""
        points = [
            (min(c.batch_size, c.depth or c.batch_size), *pair_lengths(self.ranker, c.seq_len))
            for c in self.cells
        ]
        points += [(1, 1, 1), (self.parity_batch, *pair_lengths(self.ranker, self.parity_seq))]
        largest = max(self.cells, key=lambda c: (c.batch_size, c.seq_len))
        opt_query, opt_doc = pair_lengths(self.ranker, largest.seq_len)
        return ShapeRange.covering(
            [(b, q) for b, q, _ in points],
            (largest.batch_size, opt_query),
            [d for _, _, d in points],
            opt_doc,
        )

    def example(self) -> dict[str, torch.Tensor]:
        """Two pairs of real text, one short query with a short passage (padding in both
        parts, so no mask can be baked into an export), one full query with a long passage."""
        query = self.inputs.queries[0]
        short = " ".join(query.split()[:3])
        return fixed_batch(
            self.ranker, "pair", [short, query], self.parity_seq, [short, self.inputs.passages[0]]
        )

    @torch.inference_mode()
    def encode_cache(self, docs: list[str], doc_len: int) -> TermVectors:
        """The passages' states after layer l (the cache), eager fp32, truncated to `doc_len`."""
        with truncation_lengths(self.ranker, doc_len=doc_len):
            return self.ranker.encode_passage_states(docs, batch_size=32, out_device=self.device)

    def cached_pairs(
        self, query: str, cache: TermVectors, rows: list[int], query_len: int, doc_len: int
    ) -> dict[str, torch.Tensor]:
        """`query` with each cached passage in `rows`: the pair module's inputs, padded."""
        with truncation_lengths(self.ranker, query_len=query_len):
            inputs = self.ranker.collate(
                self.ranker.token_ids([query] * len(rows), "query"), "query"
            )
        states, mask = cache.padded(rows)
        inputs = {**_to(inputs, self.device), "passage_states": states, "passage_mask": mask.long()}
        return pad_split_pairs(inputs, query_len, doc_len, self.ranker.tokenizer.pad_token_id)

    def parity_scores(self, runner: Runner) -> list[np.ndarray]:
        query_len, doc_len = pair_lengths(self.ranker, self.parity_seq)
        pools = self.inputs.pools
        if self._pool_caches is None:
            self._pool_caches = [self.encode_cache(pool.docs, doc_len) for pool in pools]
        scores = []
        with torch.inference_mode():
            for pool, cache in zip(pools, self._pool_caches, strict=True):
                parts = []
                for start in range(0, len(pool.docs), self.parity_batch):
                    rows = list(range(start, min(start + self.parity_batch, len(pool.docs))))
                    batch = self.cached_pairs(pool.query, cache, rows, query_len, doc_len)
                    parts.append(runner(batch).float().to(self.device))
                scores.append(torch.cat(parts).cpu().numpy())
        return scores

    def reference_scores(self, runner: Runner) -> list[np.ndarray]:
        query_len, doc_len = pair_lengths(self.ranker, self.parity_seq)
        with torch.inference_mode(), truncation_lengths(self.ranker, query_len, doc_len):
            return [
                self.ranker.score_pairs(
                    [pool.query] * len(pool.docs), pool.docs, batch_size=self.parity_batch
                )
                .float()
                .cpu()
                .numpy()
                for pool in self.inputs.pools
            ]

    def workload(self, cell: CellShape, runner: Runner) -> Workload:

        depth = cell.depth or 100
        query_len, doc_len = pair_lengths(self.ranker, cell.seq_len)
        if (depth, doc_len) not in self._caches:
            self._caches[(depth, doc_len)] = self.encode_cache(
                self.inputs.passages[:depth], doc_len
            )
        cache = self._caches[(depth, doc_len)]
        query, rows = self.inputs.queries[0], list(range(depth))
        pairs = self.cached_pairs(query, cache, rows, query_len, doc_len)
        chunks, rerank = _chunked_rerank(runner, pairs, depth, cell.batch_size)

        sizes = [chunk["input_ids"].shape[0] for chunk in chunks]
        shape = encoder_shape(self.ranker)
        flops = None
        if shape is not None:
            # per pair: the query alone through layers 1..l, query + passage through l+1..L
            split, layers = self.ranker.split_layer, shape["layers"]
            width = {"hidden": shape["hidden"], "intermediate": shape["intermediate"]}
            flops = sum(
                encoder_flops(b, query_len, layers=split, **width)
                + encoder_flops(b, cell.seq_len, layers=layers - split, **width)
                for b in sizes
            )
        return Workload(
            stages=[("score", rerank)],
            first_input=None,
            items=1,
            model_stage="score",
            model_calls=[(b, cell.seq_len) for b in sizes],
            tokenize=lambda: self.cached_pairs(query, cache, rows, query_len, doc_len),
            flops_per_call=flops,
            index_bytes=round(cache_bytes_per_passage(cache) * depth),
            cache=PassageCache(
                bytes_per_passage=cache_bytes_per_passage(cache),
                tokens_per_passage=float(cache.lengths.float().mean()),
                dtype=str(cache.vecs.dtype).removeprefix("torch."),
            ),
        )

    def serving(self, cell: CellShape, runner: Runner) -> Callable[[list[str]], object]:
        depth = cell.depth or 100
        query_len, doc_len = pair_lengths(self.ranker, cell.seq_len)
        self.workload(cell, runner)  # caches the k candidates' states (offline work)
        cache, rows = self._caches[(depth, doc_len)], list(range(depth))

        def prepare(texts: list[str]) -> dict[str, torch.Tensor]:
            parts = [self.cached_pairs(text, cache, rows, query_len, doc_len) for text in texts]
            return {name: torch.cat([part[name] for part in parts]) for name in parts[0]}

        return _serve_pairs(self, cell, runner, prepare)


def build_scenario(
    name: str, ranker: Ranker, inputs: ProfileInputs, config: ProfileConfig
) -> Scenario:
    """The scenario `name` as `ranker`'s architecture declares it (see profile/registry.py)."""
    cls: type[Scenario] = scenario_class(name, ranker.arch)
    return cls(ranker, inputs, config)
