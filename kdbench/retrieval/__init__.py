"""Retrieval: BM25 and exact dense search, the one library train, evaluate and profile search with.

Light to import: each module imports its libraries (bm25s, torch) where it is used.

- `bm25.BM25(docs, BM25Params(k1=0.9, b=0.4), cache_dir=None).search(queries, k) -> Run`
  (bm25s; index cached per corpus fingerprint + parameters; `BM25Params.to_dict()` for results;
  `score_docs(query, doc_ids)` scores any docs, not only a top k).
- `dense.exact_search(query_vectors, doc_vectors, k, chunk_size=65536, backend="torch"|"faiss")
  -> (scores [n, k], rows [n, k])`; `dense.TopK` merges score chunks as they stream;
  `dense.as_run(qids, doc_ids, scores, rows) -> Run`.
- `index.SavedIndex.open(dir)` / `index.ShardWriter` / `index.finish`: the saved dense index of
  `evaluate --index-dir` (memory-mapped shards, one per torchrun rank, keyed by the model's
  weights hash and the corpus fingerprint); `index.saved_vectors(dir, ranker, name, docs)`
  -> (vectors, ids, spec) for readers that search it themselves (profile, server).
- `approximate.HnswIndex.build(vectors, ef_search).search(queries, k)` (faiss, optional: only
  `kdbench profile --search hnsw` asks for it); `approximate.recall(exact_rows, rows)`.

Every ranked list is in `kdbench.data.runs.ranked` order (score descending, then doc id
descending, as trec_eval breaks ties); BM25 applies it at its depth cut as well.
"""
