"""Evaluate through a backend: the ranker's tensor-level methods run on the runners
`kdbench profile` times, so `kdbench evaluate --backend onnx:int8` scores with the same
export, quantised graph, execution provider or engine the profiler timed.

The ranker's text-level code (tokenising, length-sorted batching, pooling done by the
module, scoring functions, search) is unchanged; only each method in
`Ranker.export_methods` (`forward_encode`, `forward_score`, ...) is replaced, on a shallow
copy of the ranker that shares its weights, by a call to the backend's runner for that
method's export kind. The export kind is the method's first (dot and colbert encode
queries and passages with one method: its "query" export, the one the `query` scenario
times), and every module of the model runs on the backend: queries and passages alike.
Eager fp32 is the ranker itself. Heavy: import when evaluating.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from kdbench.backends import BACKENDS, BackendOptions, Runner, ShapeRange
from kdbench.errors import UserError
from kdbench.json_types import JsonObject, JsonValue
from kdbench.models.base import ExportKind
from kdbench.models.batches import fixed_batch
from kdbench.models.ranker import Ranker


def export_kinds(ranker: Ranker) -> dict[str, ExportKind]:
    """Each tensor-level method of `ranker` and the export kind its runner is built for
    (dot: {"forward_encode": "query"}; prettr: passage states "doc", scores "pair")."""
    kinds: dict[str, ExportKind] = {}
    for kind, method in ranker.export_methods.items():
        kinds.setdefault(method, kind)
    return kinds


def through_backend(
    ranker: Ranker,
    backend: str,
    precision: str,
    options: BackendOptions,
    texts: tuple[str, str],
    batch_size: int,
) -> tuple[Ranker, JsonObject]:
    """`ranker` computing through `backend` at `precision`, and what ran (the backend's
    `describe()`, with `weight_bytes` per export kind). `texts` (a query, a passage) make
    the padded example batch an export is traced and checked on."""
    if (backend, precision) == ("eager", "fp32") and not options.compile:
        return ranker, {}
    info = BACKENDS[backend]
    info.require(options.device)
    reason = info.supports(ranker.arch, options.device, precision)
    if reason is not None:
        raise UserError(f"--backend {backend} --precision {precision}: {reason}")
    implementation = info.resolve()(options)
    view = copy.copy(ranker)  # shares the weights; the original stays the plain module
    for method, kind in export_kinds(ranker).items():
        # one runner serves every kind of the method (dot encodes passages with it too)
        served = [k for k, m in ranker.export_methods.items() if m == method]
        shapes = _shapes(ranker, served, batch_size)
        runner = implementation.prepare(ranker, kind, shapes, _example(ranker, kind, texts))
        object.__setattr__(view, method, _calling(runner, ranker.export_inputs(kind)))
    described = dict(implementation.describe())
    described["weight_bytes"] = dict[str, JsonValue](implementation.weight_bytes)
    return view, described


def _calling(runner: Runner, names: tuple[str, ...]) -> Callable[..., torch.Tensor]:
    """A stand-in for a tensor-level method: its arguments by name, on to the runner."""

    def method(*args: torch.Tensor, **named: torch.Tensor | None) -> torch.Tensor:
        inputs = {**dict(zip(names, args, strict=False)), **named}
        return runner({name: tensor for name, tensor in inputs.items() if tensor is not None})

    return method


def _lengths(ranker: Ranker, kind: ExportKind) -> tuple[int, int]:
    """(tokens, passage tokens) an evaluation feeds the `kind` module at most."""
    spec = ranker.spec
    if kind == "query":
        return spec.max_query_len + ranker.appended_query_tokens, 0
    if kind == "doc":
        return spec.max_doc_len, 0
    if "passage_states" in ranker.export_inputs(kind):  # prettr: query ids + cached passage
        return spec.max_query_len, spec.max_doc_len
    return spec.max_query_len + spec.max_doc_len, 0


def _shapes(ranker: Ranker, kinds: list[ExportKind], batch_size: int) -> ShapeRange:
    """Every batch up to `batch_size` at every length up to the longest of `kinds` (an
    engine's optimisation profile; ONNX Runtime takes any shape)."""
    tokens = max(_lengths(ranker, kind)[0] for kind in kinds)
    passage = max(_lengths(ranker, kind)[1] for kind in kinds)
    doc_seq = (1, passage, passage) if passage else None
    return ShapeRange(1, batch_size, batch_size, 1, tokens, tokens, doc_seq)


def _example(ranker: Ranker, kind: ExportKind, texts: tuple[str, str]) -> dict[str, torch.Tensor]:
    """Two real texts padded to one batch (one cut short, so the mask has zeros), as the
    profiler's scenarios build theirs (`kdbench.models.batches.fixed_batch`)."""
    query, passage = texts
    short = " ".join(query.split()[:3]) or query
    tokens, passage_tokens = _lengths(ranker, kind)
    if kind == "pair":
        return fixed_batch(
            ranker, "pair", [query, query], tokens + passage_tokens, [short, passage]
        )
    return fixed_batch(ranker, kind, [short, query if kind == "query" else passage], tokens)
