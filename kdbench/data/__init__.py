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
  `ranked(docs)` / `truncate(run, depth)`: the one order of every ranked list (score
  descending, then doc id descending, as trec_eval breaks ties); `read_qrels` (qrels.py).
- The training set (triples, their texts, teacher scores, the dev slice) is
  `kdbench.train.training_set`: it mines from a BM25 run, so it sits above `retrieval`.

Collections that arrive with problems kdbench can tolerate keep going with a warning that
counts them, in `Collection.warnings` (and the result), as trec_eval, BEIR and ir_datasets
accept them: documents without text are kept (BM25 never retrieves them; dense models
encode them as empty text); queries with empty text are skipped with their judgements;
qrels whose query has no text are dropped; judged docs absent from the corpus stay (they
count as relevant, never retrieved); a qrels line repeated word for word counts once;
negative grades are kept (not relevant, as in trec_eval). Anything that makes a file
ambiguous is an `InputFileError` naming file and line: wrong column count, bad UTF-8 or
JSON, missing `_id`/`text`, duplicate doc or query ids, one judgement with two grades, an
empty file, qrels that match no query or no doc at all.
"""

from kdbench.data.collection import Collection
from kdbench.data.docstore import DocStore, InMemoryDocStore, OffsetDocStore
from kdbench.data.load import load_collection
from kdbench.data.qrels import Qrels, read_qrels
from kdbench.data.queries import read_queries
from kdbench.data.runs import Run, ranked, read_run, write_run

__all__ = [
    "Collection",
    "DocStore",
    "InMemoryDocStore",
    "OffsetDocStore",
    "Qrels",
    "Run",
    "load_collection",
    "ranked",
    "read_qrels",
    "read_queries",
    "read_run",
    "write_run",
]
