#!/usr/bin/env bash
# The SciFact distillation study (issue 3): a cross-encoder teacher trained here, then students
# dot (MiniLM, 6 layers), dot (2 layers), colbert, cat (2 layers) and prettr (split at 3), each trained without a teacher
# (RankNet on labels) and with Margin-MSE on the teacher's scores, on the same mined triples.
#
# Stage by stage and resumable: a stage whose result exists is skipped, an interrupted training
# continues from its last checkpoint (--resume), so rerunning this script finishes an interrupted study.
# Models and logs go to scratch/scifact/ (git-ignored); results (small JSON) to results/scifact/.
#
#   scripts/scifact_study.sh            # everything (hours on 2 shared CPU cores, minutes on a GPU)
#   STAGES="refs teacher dot6" scripts/scifact_study.sh   # a subset, in the order given
set -euo pipefail
cd "$(dirname "$0")/.."
[ -z "${VIRTUAL_ENV:-}" ] && [ -f .venv/bin/activate ] && . .venv/bin/activate

DATA=${DATA:-../shared/data/scifact}
MODELS=${MODELS:-scratch/scifact}
RESULTS=${RESULTS:-results/scifact}
MINILM=${MINILM:-sentence-transformers/all-MiniLM-L6-v2}
SEED=${SEED:-42}
DEVICE=${DEVICE:-auto}
STUDENT_STEPS=${STUDENT_STEPS:-150}
TEACHER_STEPS=${TEACHER_STEPS:-200}
DEPTH=${DEPTH:-50}  # BM25 candidates re-ranked per test query by cat and colbert
STAGES=${STAGES:-"refs teacher dot6 dot2 cat2 colbert prettr teacher-test t2 latency table"}
mkdir -p "$MODELS" "$RESULTS/train"

# Shared by every training and by teacher scoring, so every run sees the same mined triples and
# the same held-out dev slice of train queries. The test split is only read by `evaluate`.
MINING=(--data "$DATA" --seed "$SEED" --triples-per-positive 4 --mine-depth 50 --dev-queries 50)
TRAINING=(--batch-size 16 --max-query-len 32 --max-doc-len 128 --learning-rate 2e-5 --checkpoint-every 50
          --device "$DEVICE" --resume)

say() { echo "[$(date +%H:%M:%S)] $*"; }

train_stage() {  # NAME ARGS...: train into $MODELS/NAME unless it finished; copy its summary
  local name=$1; shift
  if [ -f "$RESULTS/train/$name.json" ]; then say "skip train $name (done)"; return; fi
  say "train $name: $*"
  kdbench train "${MINING[@]}" "${TRAINING[@]}" --output "$MODELS/$name" "$@"
  cp "$MODELS/$name/training.json" "$RESULTS/train/$name.json"
  cp "$MODELS/$name/train_log.jsonl" "$RESULTS/train/$name.log.jsonl"
}

eval_stage() {  # NAME ARGS...: test-split evaluation into $RESULTS/NAME.json unless it exists
  local name=$1; shift
  if [ -f "$RESULTS/$name.json" ]; then say "skip evaluate $name (done)"; return; fi
  say "evaluate $name: $*"
  kdbench evaluate --data "$DATA" --split test --device "${DEVICE/auto/cpu}" --output "$RESULTS/$name.json" "$@"
}

STUDENTS="dot6 dot2 colbert cat2 prettr"
student_args() {  # NAME: how the student is built
  case "$1" in
    dot6) echo --model "$MINILM" --arch dot --score-scale 20 ;;
    dot2) echo --model "$MINILM" --arch dot --layers 2 --score-scale 20 ;;
    colbert) echo --model "$MINILM" --arch colbert --similarity cosine ;;
    # A 2-layer cat with a new head: at lr 2e-5 its RankNet loss stayed at log 2 and dev nDCG@10
    # at 0.144 after 150 steps (results/scifact/train/cat2-ranknet-lr2e-5.json), so both cat2 runs use 1e-4.
    cat2) echo --model "$MINILM" --arch cat --layers 2 --learning-rate 1e-4 ;;
    # PreTTR over all 6 layers: query and passage apart through layers 1-3, joined for 4-6; a new head
    # like the teacher's, so the teacher's rate.
    prettr) echo --model "$MINILM" --arch prettr --split-layer 3 --learning-rate 3e-5 ;;
  esac
}
evaluate_args() {  # NAME: dot retrieves from the whole corpus; cat and colbert re-rank BM25
  case "$1" in cat2|colbert|prettr) echo --rerank bm25 --depth "$DEPTH" ;; esac
}
distill_args() {  # NAME: dot and colbert margins live on the scale --score-scale sets; Margin-MSE must
  # match the teacher's margins, so a distilled dot/colbert learns its multiplier (a cat head learns its own).
  case "$1" in dot6|dot2|colbert) echo --learn-score-scale ;; esac
}

student_pair() {  # NAME: the student without a teacher and with Margin-MSE from teacher T1, each evaluated
  local name=$1
  # shellcheck disable=SC2046  # word splitting of the *_args output is intended
  train_stage "$name-ranknet" --steps "$STUDENT_STEPS" --loss ranknet $(student_args "$name")
  eval_stage "$name-ranknet" --model "$MODELS/$name-ranknet" $(evaluate_args "$name")
  train_stage "$name-margin-mse" --steps "$STUDENT_STEPS" --loss margin-mse \
    --teacher-scores "$RESULTS/teacher-scores.tsv" $(distill_args "$name") $(student_args "$name")
  eval_stage "$name-margin-mse" --model "$MODELS/$name-margin-mse" $(evaluate_args "$name")
}

latency_stage() {  # NAME ARGS...: query latency of a trained student, eager vs ONNX Runtime, one run
  local name=$1; shift
  if [ -f "$RESULTS/profile/$name.json" ]; then say "skip profile $name (done)"; return; fi
  say "profile $name: $*"
  # Parity first (20 real queries x 50 candidates against eager), then >= 20 timed calls and >= 3 s
  # per cell, backends alternating over 2 rounds. Timings need an otherwise idle machine.
  kdbench profile --model "$MODELS/$name" --data "$DATA" --backend eager,onnx --device "${DEVICE/auto/cpu}" \
    --min-samples 20 --min-duration 3 --max-duration 60 --rounds 2 --parity-queries 20 --parity-depth 50 \
    --output "$RESULTS/profile/$name.json" "$@"
}

student_t2() {  # NAME: the student with Margin-MSE from teacher T2 (z-scored mean of T1 and the dot6 student)
  local name=$1
  train_stage "$name-margin-mse-t2" --steps "$STUDENT_STEPS" --loss margin-mse \
    --teacher-scores "$RESULTS/teacher-scores.tsv" --teacher-scores "$RESULTS/teacher-dot6.tsv" \
    --teacher-normalize zscore $(distill_args "$name") $(student_args "$name")
  eval_stage "$name-margin-mse-t2" --model "$MODELS/$name-margin-mse-t2" $(evaluate_args "$name")
}

table() {  # results/scifact/summary.json + table.md: every finished row, paired t-tests distilled vs not
  python - "$RESULTS" <<'PY'
import json, sys
from pathlib import Path
from scipy.stats import ttest_rel

results = Path(sys.argv[1])
def load(name):
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None
def train_info(name):
    path = results / "train" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None

rows, pairs = [], []
for name, label in [("bm25", "BM25"), ("minilm-zero-shot", "all-MiniLM-L6-v2 dot, zero-shot"),
                    ("teacher-cat", "T1: MiniLM cat (6 layers), RankNet")]:
    result = load(name)
    if result:
        dev = ((train_info(name) or {}).get("best") or {}).get("nDCG@10")
        rows.append({"row": label, "name": name, "dev_nDCG@10": dev,
                     **{m: result["metrics"][m] for m in ("nDCG@10", "RR@10")}})
students = [("dot6", "dot, MiniLM 6 layers"), ("dot2", "dot, MiniLM 2 layers"), ("colbert", "colbert, MiniLM 6 layers"),
            ("cat2", "cat, MiniLM 2 layers"), ("prettr", "prettr, MiniLM 6 layers, split at 3")]
variants = [("ranknet", "no teacher (RankNet)"), ("margin-mse", "Margin-MSE, T1"), ("margin-mse-t2", "Margin-MSE, T2")]
for key, label in students:
    base = load(f"{key}-ranknet")
    for variant, how in variants:
        name = f"{key}-{variant}"
        result = load(name)
        if not result:
            continue
        info = train_info(name) or {}
        rows.append({"row": f"{label}, {how}", "name": name, "dev_nDCG@10": (info.get("best") or {}).get("nDCG@10"),
                     "train_seconds": info.get("train_seconds"),
                     **{m: result["metrics"][m] for m in ("nDCG@10", "RR@10")}})
        if variant == "ranknet" or not base:
            continue
        pair = {"student": label, "teacher": how.split(", ")[1], "run": name}
        for measure in ("nDCG@10", "RR@10"):
            a, b = base["per_query"][measure], result["per_query"][measure]
            qids = sorted(a)
            test = ttest_rel([b[q] for q in qids], [a[q] for q in qids])
            pair[measure] = {"no_teacher": base["metrics"][measure], "margin_mse": result["metrics"][measure],
                             "delta": result["metrics"][measure] - base["metrics"][measure],
                             "t": float(test.statistic), "p": float(test.pvalue), "queries": len(qids)}
        pairs.append(pair)
teachers = {name: load(f"{name}.tsv") for name in ("teacher-scores", "teacher-dot6", "teacher-minilm-dot", "teacher-bm25")}
summary = {"rows": rows, "paired_t_tests": pairs,
           "teachers": {k: v["teacher_report"] for k, v in teachers.items() if v}}
(results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
lines = ["| model | test nDCG@10 | test RR@10 | dev nDCG@10 |", "|---|---|---|---|"]
for r in rows:
    dev = f"{r['dev_nDCG@10']:.3f}" if r.get("dev_nDCG@10") is not None else "–"
    lines.append(f"| {r['row']} | {r['nDCG@10']:.3f} | {r['RR@10']:.3f} | {dev} |")
lines += ["", "Paired t-tests over the 300 test queries, distilled minus no teacher:", "",
          "| student | teacher | nDCG@10: no teacher → Margin-MSE (Δ, p) | RR@10: no teacher → Margin-MSE (Δ, p) |",
          "|---|---|---|---|"]
for p in pairs:
    cells = [f"{p[m]['no_teacher']:.3f} → {p[m]['margin_mse']:.3f} ({p[m]['delta']:+.3f}, p = {p[m]['p']:.2g})"
             for m in ("nDCG@10", "RR@10")]
    lines.append(f"| {p['student']} | {p['teacher']} | {cells[0]} | {cells[1]} |")
lines += ["", "Teachers on the training triples (all 3,464) and the dev slice (BM25 top 30 re-ranked):", "",
          "| teacher | pairwise accuracy | margin mean | margin std | dev nDCG@10 |", "|---|---|---|---|---|"]
for name, label in (("teacher-scores", "T1: MiniLM cat"), ("teacher-dot6", "dot6 student, no teacher (in T2)"),
                    ("teacher-minilm-dot", "zero-shot MiniLM dot"),
                    ("teacher-bm25", "BM25")):
    if teachers.get(name):
        rep = teachers[name]["teacher_report"]
        dev = f"{rep['dev']['nDCG@10']:.3f}" if rep.get("dev") else "–"
        lines.append(f"| {label} | {rep['pairwise_accuracy']:.1%} | {rep['margin']['mean']:.3f} "
                     f"| {rep['margin']['std']:.3f} | {dev} |")
lines += ["", "Students on 256 training triples, before → after training (teacher columns: the run's teacher):", "",
          "| run | teacher acc. | teacher margin std | student acc. | student margin std | learned score scale |",
          "|---|---|---|---|---|---|"]
for key, label in students:
    for variant, _ in variants:
        name = f"{key}-{variant}"
        info = train_info(name)
        if not info:
            continue
        report = info["teacher_report"]
        before, after, teacher_info = report["student_before"], report["student_after"], report.get("teacher")
        t_acc = f"{teacher_info['pairwise_accuracy']:.1%}" if teacher_info else "–"
        t_std = f"{teacher_info['margin']['std']:.2f}" if teacher_info else "–"
        scale = f"{info['model']['score_scale']:.1f}" if info["config"].get("learn_score_scale") else "–"
        lines.append(f"| {name} | {t_acc} | {t_std} | {before['pairwise_accuracy']:.1%} → {after['pairwise_accuracy']:.1%} "
                     f"| {before['margin']['std']:.2f} → {after['margin']['std']:.2f} | {scale} |")
profiles = {}
for key, _ in students:
    path = results / "profile" / f"{key}-margin-mse.json"
    if path.exists():
        profiles[key] = json.loads(path.read_text())
if profiles:
    lines += ["", "Latency per query, one run per model on an otherwise idle machine (`results/scifact/profile/`; "
              "a no-teacher twin has the same cost):", "",
              "| model | scenario | eager p50 / p95 ms | onnx p50 / p95 ms | onnx speed-up (p50) | parity (max abs diff) |",
              "|---|---|---|---|---|---|"]
    def latency_rows(label, result):
        cells = {r["backend"]: r for r in result["results"] if r.get("status") == "ok"}
        if not {"eager", "onnx"} <= set(cells):
            return []
        e, o = cells["eager"], cells["onnx"]
        scenario = f"{e['scenario']} (depth {e['depth']}, {e['seq_len']} tokens)" if e["scenario"] == "rerank" \
            else f"{e['scenario']} ({e['seq_len']} tokens, search {result['config'].get('index_size')} passages)"
        return [f"| {label} | {scenario} | {e['latency_ms']['p50']:.1f} / {e['latency_ms']['p95']:.1f} "
                f"| {o['latency_ms']['p50']:.1f} / {o['latency_ms']['p95']:.1f} "
                f"| {e['latency_ms']['p50'] / o['latency_ms']['p50']:.2f}x | {o['parity']['max_abs_diff']:.1e} |"]
    for key, label in students:
        if key in profiles:
            lines += latency_rows(label, profiles[key])
            if "baseline" in profiles[key]:
                lines += latency_rows(f"same weights as cat (6 layers, the teacher's architecture)", profiles[key]["baseline"])
    summary["latency"] = {key: {r["backend"]: r["latency_ms"] for r in p["results"]} for key, p in profiles.items()}
    (results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
(results / "table.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
}

for stage in $STAGES; do
  case "$stage" in
    refs)
      eval_stage bm25 --model bm25
      eval_stage minilm-zero-shot --model "$MINILM" --arch dot --max-query-len 32 --max-doc-len 128
      ;;
    teacher)
      # T1: a MiniLM cross-encoder trained on labels; it scores the very triples the students train on.
      train_stage teacher-cat --model "$MINILM" --arch cat --loss ranknet --steps "$TEACHER_STEPS" --learning-rate 3e-5
      if [ ! -f "$RESULTS/teacher-scores.tsv.json" ]; then
        say "teacher score"
        kdbench teacher score "${MINING[@]}" --model "$MODELS/teacher-cat" --output "$RESULTS/teacher-scores.tsv" \
          --device "$DEVICE"
      fi
      ;;
    dot6|dot2|colbert|cat2|prettr) student_pair "$stage" ;;
    t2)
      # Teacher T2, the paper's ensemble idea: T1 (cat, dev nDCG@10 0.627) and the best model on the
      # dev slice, the 6-layer dot trained on labels (dev 0.682; zero-shot MiniLM dot: 0.625), each
      # z-scored, averaged. Chosen on the dev slice, never on test. It teaches the 2-layer students:
      # the efficient models, which should learn from models bigger than themselves.
      if [ ! -f "$RESULTS/teacher-minilm-dot.tsv.json" ]; then
        kdbench teacher score "${MINING[@]}" --model "$MINILM" --arch dot --max-query-len 32 --max-doc-len 128 \
          --output "$RESULTS/teacher-minilm-dot.tsv" --device "$DEVICE"
      fi
      if [ ! -f "$RESULTS/teacher-dot6.tsv.json" ]; then
        say "teacher score dot6-ranknet"
        kdbench teacher score "${MINING[@]}" --model "$MODELS/dot6-ranknet" \
          --output "$RESULTS/teacher-dot6.tsv" --device "$DEVICE"
      fi
      for name in ${T2_STUDENTS:-dot2 cat2}; do student_t2 "$name"; done
      ;;
    latency)
      # One model per architecture: a student and its no-teacher twin have the same shape and cost.
      # dot: encode one query + exact search; the others re-rank one query's BM25 top 50 at the
      # study's lengths (32 + 128 tokens); prettr with passages' layer-3 states cached, timed
      # against the same weights run as a cat (the teacher's architecture), interleaved.
      mkdir -p "$RESULTS/profile"
      latency_stage dot6-margin-mse --index-size 1000
      latency_stage dot2-margin-mse --index-size 1000
      latency_stage colbert-margin-mse --depth 50
      latency_stage cat2-margin-mse --depth 50 --seq-len 160
      latency_stage prettr-margin-mse --depth 50 --seq-len 160 --baseline-arch cat
      ;;
    teacher-test) eval_stage teacher-cat --model "$MODELS/teacher-cat" --rerank bm25 --depth "$DEPTH" ;;
    table) table ;;
    *) echo "unknown stage $stage" >&2; exit 2 ;;
  esac
done
say "study done: $STAGES"
