"""What one tie rule for ranked lists changed on SciFact (results/tie-rule/scifact.md).

Before, BM25 runs kept whichever of equal-score docs bm25s selected at the depth cut, and
mining and the dev slice re-sorted them by doc id ascending; now every ranked list is in
`kdbench.data.runs.ranked` order (doc id descending, trec_eval's), at the cut too.

    python scripts/tie_rule_scifact.py [SCIFACT_FOLDER]
"""

from __future__ import annotations

import random
import sys
from typing import Any

from kdbench.data import load_collection, ranked
from kdbench.data.triples import Triple, dev_slice, mine_triples
from kdbench.evaluate.metrics import compute_metrics
from kdbench.retrieval.bm25 import BM25

Run = dict[str, dict[str, float]]


def bm25s_cut(bm25: BM25, queries: dict[str, str], k: int) -> Run:
    """The run as bm25s selects it (the old `search`): its top k, ties at the cut as they fall."""
    run: Run = {}
    for qid, text in queries.items():
        rows, scores = bm25.retriever.retrieve(bm25.tokenize([text]), k=k, show_progress=False)
        keep = scores[0] > 0
        run[qid] = dict(
            zip(bm25.doc_ids[rows[0][keep]].tolist(), scores[0][keep].tolist(), strict=True)
        )
    return run


def ties_at(run: Run, depth: int) -> int:
    """Queries whose doc at place `depth` scores as the next one does (needs a deeper run)."""
    return sum(
        1
        for docs in run.values()
        if len(docs) > depth and ranked(docs)[depth - 1][1] == ranked(docs)[depth][1]
    )


def old_mining(qrels: Any, run: Run, qids: list[str]) -> list[Triple]:
    """`mine_triples` with the old order (equal scores by doc id ascending), default settings."""
    rng, triples = random.Random(42), []
    for qid in sorted(qids):
        positives = sorted(d for d, g in qrels[qid].items() if g > 0)
        top = sorted(run[qid].items(), key=lambda item: (-item[1], item[0]))[:50]
        candidates = [d for d, _ in top if d not in positives]
        for pos_id in positives:
            pool = rng.sample(candidates, len(candidates))
            triples += [Triple(qid, pos_id, (pool[i % len(pool)],)) for i in range(8)]
    rng.shuffle(triples)
    return triples


def queries_of(collection: Any, qids: list[str]) -> dict[str, str]:
    return {q: collection.queries[q] for q in qids}


def main(folder: str) -> None:
    for split, cuts in (("train", (50, 30)), ("test", (1000, 100))):
        collection = load_collection(folder, split)
        bm25 = BM25(collection.docs)
        queries = dict(collection.queries)
        deeper = bm25.search(queries, k=max(cuts) + 1)
        for k in cuts:
            old, new = bm25s_cut(bm25, queries, k), bm25.search(queries, k=k)
            moved = [q for q in queries if set(old[q]) != set(new[q])]
            relevant = sum(
                collection.qrels[q].get(d, 0) > 0 for q in moved for d in set(old[q]) ^ set(new[q])
            )
            same = (
                compute_metrics(old, collection.qrels)[0]
                == compute_metrics(new, collection.qrels)[0]
            )
            print(
                f"{split} BM25 top {k}: {ties_at(deeper, k)} of {len(queries)} queries tie across "
                f"place {k}; {len(moved)} keep another doc set than bm25s's cut "
                f"({relevant} of the swapped docs relevant); metrics identical: {same}"
            )
    collection = load_collection(folder, "train")
    judged = sorted(q for q, j in collection.qrels.items() if any(g > 0 for g in j.values()))
    run = BM25(collection.docs).search(queries_of(collection, judged), k=50)
    dev = set(dev_slice(collection.qrels, 50, 42))
    train_qids = [q for q in judged if q not in dev]
    new = mine_triples(collection.qrels, run, train_qids, depth=50, triples_per_positive=8)
    old = old_mining(collection.qrels, run, train_qids)
    before = old_mining(
        collection.qrels,
        bm25s_cut(BM25(collection.docs), queries_of(collection, judged), 50),
        train_qids,
    )
    for what, reference in (("the same run, old order", old), ("the old run and order", before)):
        changed = [a for a, b in zip(reference, new, strict=True) if a != b]
        print(
            f"mining (defaults: depth 50, 8 triples per positive, 50 dev queries, seed 42) vs "
            f"{what}: {len(changed)} of {len(new)} triples differ, in "
            f"{len({a.qid for a in changed})} of {len(train_qids)} train queries"
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/scifact")
