"""How much PreTTR's passage positions matter: the released layout's own ("query_width": a
passage starts after its query's tokens and 8 [MASK]s) against the cacheable fixed slot
(30 + 8 = 38), on SciFact test queries re-ranking BM25's top DEPTH.

    python scripts/prettr_positions.py [--model sebastian-hofstaetter/prettr-distilbert-split_at_3-margin_mse-T2-msmarco]

Without --model (the released weights are not on an offline machine) it builds the released
layout over all-MiniLM-L6-v2 split at 3 with a seeded random head: that measures how far the
position shift moves the states and the ranking, not effectiveness. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch
from kdbench.evaluate.bm25 import BM25
from scipy.stats import kendalltau

from kdbench.data import load_collection
from kdbench.evaluate.metrics import compute_metrics
from kdbench.models import load_model
from kdbench.models.prettr import OFFSET_KEY, POSITIONS_KEY, QUERY_MASKS_KEY

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"


def released_layout_over_minilm() -> object:
    torch.manual_seed(0)
    model = load_model(
        "sentence-transformers/all-MiniLM-L6-v2", "prettr", max_query_len=30, max_doc_len=199
    )
    model.spec.extra.update({QUERY_MASKS_KEY: 8, OFFSET_KEY: 38, POSITIONS_KEY: "query_width"})
    return model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--depth", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = (
        load_model(args.model, allow_pickle=True) if args.model else released_layout_over_minilm()
    )
    collection = load_collection(DATA, "test").first_queries(args.queries)
    run = BM25(collection.docs).search(collection.queries, k=args.depth)
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for mode in ("query_width", "fixed"):
        model.spec.extra[POSITIONS_KEY] = mode  # type: ignore[attr-defined]
        scores[mode] = {}
        for qid, docs in run.items():
            ids = list(docs)
            with torch.no_grad():
                values = model.score_pairs(
                    [collection.queries[qid]] * len(ids), collection.docs.get_many(ids)
                )  # type: ignore[attr-defined]
            scores[mode][qid] = dict(zip(ids, values.tolist(), strict=True))
    own, fixed = scores["query_width"], scores["fixed"]
    diffs = [abs(own[q][d] - fixed[q][d]) / max(1e-9, abs(own[q][d])) for q in own for d in own[q]]
    taus = [kendalltau(list(own[q].values()), [fixed[q][d] for d in own[q]]).statistic for q in own]
    top10 = [
        len(
            set(sorted(own[q], key=own[q].get)[-10:])
            & set(sorted(fixed[q], key=fixed[q].get)[-10:])
        )
        / 10
        for q in own
    ]
    ndcg = {m: compute_metrics(scores[m], collection.qrels)[0]["nDCG@10"] for m in scores}
    print(json.dumps({
        "command": " ".join(["python", *sys.argv]),
        "machine": f"{platform.processor() or platform.machine()}, torch threads 2",
        "model": args.model or "released PreTTR layout over all-MiniLM-L6-v2 (split 3, seeded random head)",
        "queries": len(own), "depth": args.depth, "pairs": len(diffs),
        "relative_score_difference": {"mean": float(np.mean(diffs)), "median": float(np.median(diffs)), "max": float(np.max(diffs))},
        "kendall_tau_per_query": {"mean": float(np.mean(taus)), "min": float(np.min(taus))},
        "top10_overlap_mean": float(np.mean(top10)),
        "ndcg@10": ndcg,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
