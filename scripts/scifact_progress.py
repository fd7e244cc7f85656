"""Where the second SciFact design stands on the search seed's dev slice, read from its results.

    python scripts/scifact_progress.py results/scifact > results/scifact/PROGRESS.md

Only dev-slice numbers (the test split is read once, by the study's `test` stage, at the end).
"""

import json
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else "results/scifact")
lines = [
    "| seed 42 training | loss / recipe | dev nDCG@10 (best step) | steps | train s |",
    "|---|---|---|---|---|",
]
for f in sorted((root / "seed42" / "train").glob("*.json")):
    d = json.loads(f.read_text())
    best = d.get("best") or {}
    cfg = d.get("config", {})
    recipe = f.stem.split("-", 1)[1] if "-" in f.stem else f.stem
    lines.append(
        f"| {f.stem} | {recipe} | {best.get('nDCG@10', float('nan')):.4f} (step {best.get('step')}) "
        f"| {d.get('steps_done')} | {d.get('train_seconds', 0):.0f} |"
    )
lines += [
    "",
    "| teacher (scores the seed-42 triples) | pairwise accuracy | contradicts labels | dev nDCG@10 |",
    "|---|---|---|---|",
]
for f in sorted((root / "seed42").glob("teacher-*.tsv.json")):
    r = json.loads(f.read_text())["teacher_report"]
    acc = r.get("pairwise_accuracy")
    dev = (r.get("dev") or {}).get("nDCG@10")
    acc_text = f"{acc:.1%}" if acc is not None else "-"
    dev_text = f"{dev:.4f}" if dev is not None else "-"
    lines.append(
        f"| {f.name.removesuffix('.tsv.json')} | {acc_text} | {r.get('contradicted', '-')} | {dev_text} |"
    )
print("\n".join(lines))
