"""Evaluation: first stages (from `kdbench.retrieval`), re-ranking and metrics. Light to import:
each module imports its libraries lazily.

The contract other packages rely on:

- `pipeline.evaluate(EvaluateConfig(...), progress=None, output=None) -> EvaluateResult`: the
  whole `kdbench evaluate` (first stage, optional re-ranking, metrics) as one evaluate result.
- `result.EvaluateResult`: that result, typed; `from_dict(data).to_dict() == data` for every
  evaluate result kdbench has written, and the report reads its attributes.
- `rerank.candidates(run, depth)`, `rerank.rerank(ranker, queries, candidates, docs) -> Run`.
- `metrics.compute_metrics(run, qrels, rel=1, names=None) -> (means, per_query)` with keys
  "nDCG@10", "RR@10", "R@100", "R@1000", "AP", or the ir_measures strings `names`
  (ir_measures; trec_eval's tie order).
- `backend.through_backend(ranker, backend, precision, ...)`: the ranker scoring through
  a profiled backend's runners (`kdbench evaluate --backend onnx:int8`).
"""
