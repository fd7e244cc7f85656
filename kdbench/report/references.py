"""Published numbers shown beside measured rows (from ../shared/reference/paper-results.md).

They carry no latency: they are reference points for quality, never part of the Pareto front.
"""

from __future__ import annotations

from kdbench.report.rows import Row

# dataset key -> (label, arch, source, metrics)
PUBLISHED: dict[str, list[tuple[str, str, str, dict[str, float]]]] = {
    "scifact": [
        ("BM25", "bm25", "published: BEIR, Anserini multifield", {"nDCG@10": 0.665}),
        ("all-MiniLM-L6-v2", "dot", "published: MTEB", {"nDCG@10": 0.645}),
        ("BM25 + MiniLM-L6 CE", "cat", "published: BEIR re-ranking", {"nDCG@10": 0.688}),
    ],
    "msmarco-dev": [
        ("BM25", "bm25", "published: paper", {"RR@10": 0.194, "nDCG@10": 0.241}),
        (
            "DistilBERT DOT T2",
            "dot",
            "published: paper, dense retrieval",
            {"RR@10": 0.323, "nDCG@10": 0.381},
        ),
        (
            "DistilBERT CAT T2",
            "cat",
            "published: model card, re-rank BM25 top-1000",
            {"RR@10": 0.391, "nDCG@10": 0.451},
        ),
    ],
    "trec-dl-2019": [
        ("BM25", "bm25", "published: paper", {"nDCG@10": 0.501}),
        ("DistilBERT DOT T2", "dot", "published: paper, dense retrieval", {"nDCG@10": 0.697}),
        ("DistilBERT CAT T2", "cat", "published: paper, re-rank BM25 top-1000", {"nDCG@10": 0.747}),
        ("ColBERT T2", "colbert", "published: paper, re-rank BM25 top-1000", {"nDCG@10": 0.744}),
    ],
}


def dataset_key(source: str, split: str = "") -> str | None:
    text = f"{source}/{split}".lower()
    if "scifact" in text:
        return "scifact"
    if "dl19" in text or "trec-dl-2019" in text:
        return "trec-dl-2019"
    if "msmarco" in text and ("dev" in text):
        return "msmarco-dev"
    return None


def reference_rows(source: str, split: str = "") -> list[Row]:
    key = dataset_key(source, split)
    if key is None:
        return []
    return [
        Row(label=label, arch=arch, metrics=dict(metrics), reference=origin)
        for label, arch, origin, metrics in PUBLISHED[key]
    ]
