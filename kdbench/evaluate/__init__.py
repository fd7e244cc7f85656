"""First stages, re-ranking and metrics. Light to import: each module imports its libraries lazily.

The contract other packages rely on:

- `pipeline.evaluate(EvaluateConfig(...), progress=None, output=None) -> dict`: the whole
  `kdbench evaluate` (first stage, optional re-ranking, metrics) as one evaluate result.
- `bm25.BM25(docs, BM25Params(k1=0.9, b=0.4), cache_dir=None).search(queries, k) -> Run`
  (bm25s; index cached per corpus fingerprint + parameters; `BM25Params.to_dict()` for results).
- `dense.exact_search(query_vectors, doc_vectors, k, chunk_size=65536, backend="torch"|"faiss")
  -> (scores [n, k], rows [n, k])`; `dense.TopK` merges score chunks as they stream.
- `rerank.candidates(run, depth)`, `rerank.rerank(ranker, queries, candidates, docs) -> Run`.
- `metrics.compute_metrics(run, qrels, rel=1) -> (means, per_query)` with keys
  "nDCG@10", "RR@10", "R@100", "R@1000", "AP" (ir_measures; trec_eval's tie order).
"""
