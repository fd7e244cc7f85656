"""`EvaluateConfig`: every `kdbench evaluate` setting, declared once with its help text.

Light (no numpy, no torch): the CLI builds its options from these fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kdbench.backends.onnx.config import OPSET_MAX, OPSET_MIN
from kdbench.errors import UserError
from kdbench.evaluate.metrics import parse_measures
from kdbench.models.registry import archs_where
from kdbench.options import (
    LEFT_OUT,
    PATH,
    Fixed,
    Mining,
    ModelLoading,
    backend_variant_names,
    canonical_choice,
    check_ranges,
    field_of,
    flag_name,
    option,
    precision_names,
    reuse,
)


def _measures(text: str) -> tuple[str, ...]:

    return parse_measures(text)


def _index_precisions() -> Fixed:
    return Fixed(("fp32", "fp16"))  # kdbench.retrieval.index.PRECISIONS, without numpy


@dataclass(frozen=True)
class EvaluateConfig(ModelLoading):
    """Every `kdbench evaluate` option; `None` means "the default for this model"."""

    data: str = option(help="BEIR/MS MARCO folder or ir_datasets id (beir/scifact/test).", cli=PATH)
    split: str | None = option(None, help="Queries + qrels to use (test, dev, dl19, ...).")
    model: str | None = option(
        None,
        help="bm25, a hub id, a folder or a kdbench checkpoint; omit to evaluate --run as it is.",
        cli=PATH,
    )
    rerank: str | None = option(
        None,
        help=lambda: (
            "First stage to re-rank: bm25 (the default where the model cannot search "
            f"a collection itself; {'/'.join(archs_where(lambda a: a.dense_retrieval))} retrieves)."
        ),
    )
    run: str | None = option(
        None, help="TREC run to re-rank with --model, or to evaluate without it.", cli=PATH
    )
    depth: int = option(100, help="Candidates re-ranked per query.", minimum=1)
    k: int = option(1000, help="Docs retrieved per query (BM25, dense retrieval).", minimum=1)
    rel: int = option(
        1, help="Grade at which RR, R and AP count a doc relevant (TREC-DL: 2).", minimum=1
    )
    measures: tuple[str, ...] | None = option(
        None,
        help='ir_measures strings, e.g. "nDCG@10 RR(rel=2)@10 R@1000" (each carries its own '
        "rel). Default: nDCG@10, RR@10, R@100, R@1000, AP at --rel.",
        cli={"flag": "--measure", "parse": _measures},
    )
    batch_size: int = option(32, help="Texts (or pairs) per forward pass.", minimum=1)
    queries: int | None = option(
        None, help="Only the first N judged queries (quick runs).", minimum=1
    )
    # The training's dev slice, drawn as `kdbench train` draws it (same count, same seed).
    dev_queries: int | None = reuse(
        Mining,
        "dev_queries",
        default=None,
        minimum=1,
        help="Only the dev slice `kdbench train --dev-queries N --seed S` holds out of --split.",
    )
    seed: int = reuse(Mining, "seed", help="Seed of the --dev-queries slice (the training's).")
    bm25_k1: float = option(0.9, help="BM25 k1 (Anserini's default).", minimum=0)
    bm25_b: float = option(0.4, help="BM25 b (Anserini's default).", minimum=0, maximum=1)
    backend: str = option(
        "eager",
        help="Score through this backend, as `kdbench profile` times it: {choices}, or "
        "NAME:PRECISION (onnx:int8): the same export, quantised graph, provider or engine.",
        choices=backend_variant_names,
    )
    precision: str | None = option(
        None,
        help="{choices} for --backend without :PRECISION (default fp32).",
        choices=precision_names,
    )
    onnx_provider: str | None = option(
        None, help="--backend onnx: cpu, cuda or tensorrt (default: from --device)."
    )
    opset: int = option(
        17,
        help="ONNX opset of the export (as `kdbench profile --opset`).",
        minimum=OPSET_MIN,
        maximum=OPSET_MAX,
    )
    encode_chunk: int | None = option(
        None,
        help="Dense retrieval: passages encoded per chunk (batches are length-sorted within "
        "one; the unit torchrun's ranks share). Default: max(4096, 64 x --batch-size).",
        minimum=1,
        hashed_default=LEFT_OUT,
    )
    index_dir: str | None = option(
        None,
        help="Dense retrieval: keep the encoded corpus here (memory-mapped shards) and reuse it "
        "on later runs of the same model and collection; under torchrun every rank must see it.",
        hashed_default=LEFT_OUT,
        cli=PATH,
    )
    index_precision: str = option(
        "fp32",
        help="Vectors stored in --index-dir: {choices} (fp16 halves it; scores then differ "
        "from fp32 in the last digits).",
        choices=_index_precisions,
        hashed_default=LEFT_OUT,
    )
    calibration_size: int = option(
        300,
        help="Static int8 (openvino:int8, onnx:int8-static): train queries and passages its "
        "activation scales are calibrated on.",
        minimum=1,
        hashed_default=LEFT_OUT,
    )
    calibration_split: str = option(
        "train",
        help="Static int8: the split of --data it is calibrated on (never the one scored).",
        hashed_default=LEFT_OUT,
    )
    run_file: str | None = option(None, help="Write the final ranking here (TREC run).", cli=PATH)
    run_tag: str = option("kdbench", help="The run tag in --run-file.")
    cache_dir: str | None = option(
        None, help="Cache of BM25 indexes (default: kdbench's cache).", cli={"hidden": True}
    )
    extra: dict[str, Any] = option(
        default_factory=dict, help="Free-form provenance.", cli={"hidden": True}
    )

    def artifact(self) -> tuple[str, str]:
        """(canonical backend, precision) the ranker scores through: `--backend NAME:PRECISION`,
        else `--backend` with `--precision` (fp32 by default)."""
        where = flag_name(field_of(EvaluateConfig, "backend"))
        backend = canonical_choice(field_of(EvaluateConfig, "backend"), self.backend, where)
        name, _, pinned = backend.partition(":")
        if pinned and self.precision is not None and pinned != self.precision:
            raise UserError(
                f"--backend {self.backend} --precision {self.precision}: two precisions; pass one"
            )
        precision = pinned or self.precision or "fp32"
        canonical_choice(field_of(EvaluateConfig, "precision"), precision, "--precision")
        return name, precision

    def check(self) -> None:
        check_ranges(self, flag_name)
        if self.measures is not None:
            parse_measures(" ".join(self.measures))
        if self.artifact() != ("eager", "fp32") and (
            self.model is None or self.model.lower() == "bm25"
        ):
            raise UserError(
                "--backend/--precision score a neural --model; BM25 and --run have none"
            )
        if self.dev_queries is not None and self.queries is not None:
            raise UserError("--queries and --dev-queries both choose the queries; pass one")
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
