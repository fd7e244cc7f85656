"""Collections (docs, queries, qrels), runs, triples and teacher scores.

The contract other packages rely on:

- `Collection` (collection.py): `name`, `split`, `docs: DocStore`, `queries: dict[qid, text]`,
  `qrels: dict[qid, dict[doc_id, grade]]`, `source: dict` (provenance for results).
- `DocStore` (docstore.py): `len()`, `ids()` (sequence of doc ids in store order), `store[doc_id] -> text`,
  `doc_id in store`, `get_many(ids) -> list[str]`, `iter_batches(n) -> (ids, texts)` streamed in
  store order. MS MARCO's 8.8M passages are served from a memory-mapped file + offset index,
  never a Python list of texts.
- `load_collection(source, split)` (load.py): `source` is a BEIR folder, an `ir_datasets` id or an
  MS MARCO-style folder/TSV; `split` picks queries+qrels ("test", "train", "dev", ...).
- `Run = dict[qid, dict[doc_id, score]]`; `read_run`, `write_run` (runs.py, TREC format);
  `read_qrels` (qrels.py, TREC or BEIR tsv).
"""
