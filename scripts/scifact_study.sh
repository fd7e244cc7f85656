#!/usr/bin/env bash
# The SciFact distillation study (issue 3): a cross-encoder teacher trained here, then students
# dot (MiniLM, 6 layers), dot (2 layers), colbert and cat (2 layers), each trained without a teacher
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
STAGES=${STAGES:-"refs teacher dot6 dot2 cat2 colbert teacher-test table"}
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

student_pair() {  # NAME ARGS...: the student without a teacher and with Margin-MSE, each evaluated
  local name=$1; shift
  local evaluate_args=() distill_args=()
  case "$name" in cat2|colbert) evaluate_args=(--rerank bm25 --depth "$DEPTH");; esac
  # dot and colbert margins live on the scale --score-scale sets; Margin-MSE must match the teacher's
  # margins, so the distilled student learns its multiplier (cat's head learns its scale anyway).
  case "$name" in dot6|dot2|colbert) distill_args=(--learn-score-scale);; esac
  train_stage "$name-ranknet" --steps "$STUDENT_STEPS" --loss ranknet "$@"
  eval_stage "$name-ranknet" --model "$MODELS/$name-ranknet" "${evaluate_args[@]}"
  train_stage "$name-margin-mse" --steps "$STUDENT_STEPS" --loss margin-mse \
    --teacher-scores "$RESULTS/teacher-scores.tsv" "${distill_args[@]}" "$@"
  eval_stage "$name-margin-mse" --model "$MODELS/$name-margin-mse" "${evaluate_args[@]}"
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
                    ("teacher-cat", "teacher: MiniLM cat (6 layers), RankNet")]:
    result = load(name)
    if result:
        dev = ((train_info(name) or {}).get("best") or {}).get("nDCG@10")
        rows.append({"row": label, "name": name, "dev_nDCG@10": dev,
                     **{m: result["metrics"][m] for m in ("nDCG@10", "RR@10")}})
students = [("dot6", "dot, MiniLM 6 layers"), ("dot2", "dot, MiniLM 2 layers"), ("colbert", "colbert, MiniLM 6 layers"),
            ("cat2", "cat, MiniLM 2 layers")]
for key, label in students:
    base, distilled = load(f"{key}-ranknet"), load(f"{key}-margin-mse")
    for name, result, how in ((f"{key}-ranknet", base, "no teacher (RankNet)"),
                              (f"{key}-margin-mse", distilled, "Margin-MSE")):
        if result:
            info = train_info(name) or {}
            dev = (info.get("best") or {}).get("nDCG@10")
            rows.append({"row": f"{label}, {how}", "name": name, "dev_nDCG@10": dev,
                         "train_seconds": info.get("train_seconds"),
                         **{m: result["metrics"][m] for m in ("nDCG@10", "RR@10")}})
    if base and distilled:
        pair = {"student": label}
        for measure in ("nDCG@10", "RR@10"):
            a, b = base["per_query"][measure], distilled["per_query"][measure]
            qids = sorted(a)
            test = ttest_rel([b[q] for q in qids], [a[q] for q in qids])
            pair[measure] = {"no_teacher": base["metrics"][measure], "margin_mse": distilled["metrics"][measure],
                             "delta": distilled["metrics"][measure] - base["metrics"][measure],
                             "t": float(test.statistic), "p": float(test.pvalue), "queries": len(qids)}
        pairs.append(pair)
teacher = load("teacher-scores.tsv")
summary = {"rows": rows, "paired_t_tests": pairs, "teacher": teacher["teacher_report"] if teacher else None}
(results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
lines = ["| model | test nDCG@10 | test RR@10 | dev nDCG@10 |", "|---|---|---|---|"]
for r in rows:
    dev = f"{r['dev_nDCG@10']:.3f}" if r.get("dev_nDCG@10") is not None else "–"
    lines.append(f"| {r['row']} | {r['nDCG@10']:.3f} | {r['RR@10']:.3f} | {dev} |")
lines += ["", "| student | nDCG@10 no teacher → Margin-MSE (Δ, p) | RR@10 no teacher → Margin-MSE (Δ, p) |",
          "|---|---|---|"]
for p in pairs:
    cells = [f"{p[m]['no_teacher']:.3f} → {p[m]['margin_mse']:.3f} ({p[m]['delta']:+.3f}, p = {p[m]['p']:.2g})"
             for m in ("nDCG@10", "RR@10")]
    lines.append(f"| {p['student']} | {cells[0]} | {cells[1]} |")
lines += ["", "Training triples: pairwise accuracy (share ordered positive above negative) and margin std,",
          "teacher beside each student before and after training (students: 256 triples; teacher: all).", "",
          "| run | teacher acc. | teacher margin std | student acc. before → after | student margin std before → after |",
          "|---|---|---|---|---|"]
for key, label in students:
    for name in (f"{key}-ranknet", f"{key}-margin-mse"):
        info = train_info(name)
        if not info:
            continue
        report = info["teacher_report"]
        before, after, teacher_info = report["student_before"], report["student_after"], report.get("teacher")
        t_acc = f"{teacher_info['pairwise_accuracy']:.1%}" if teacher_info else "–"
        t_std = f"{teacher_info['margin']['std']:.2f}" if teacher_info else "–"
        lines.append(f"| {name} | {t_acc} | {t_std} | {before['pairwise_accuracy']:.1%} → {after['pairwise_accuracy']:.1%} "
                     f"| {before['margin']['std']:.2f} → {after['margin']['std']:.2f} |")
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
      # A MiniLM cross-encoder trained on labels; it scores the very triples the students train on.
      train_stage teacher-cat --model "$MINILM" --arch cat --loss ranknet --steps "$TEACHER_STEPS" --learning-rate 3e-5
      if [ ! -f "$RESULTS/teacher-scores.tsv.json" ]; then
        say "teacher score"
        kdbench teacher score "${MINING[@]}" --model "$MODELS/teacher-cat" --output "$RESULTS/teacher-scores.tsv" \
          --device "$DEVICE"
      fi
      ;;
    dot6) student_pair dot6 --model "$MINILM" --arch dot --score-scale 20 ;;
    dot2) student_pair dot2 --model "$MINILM" --arch dot --layers 2 --score-scale 20 ;;
    colbert) student_pair colbert --model "$MINILM" --arch colbert --similarity cosine ;;
    cat2) student_pair cat2 --model "$MINILM" --arch cat --layers 2 ;;
    teacher-test) eval_stage teacher-cat --model "$MODELS/teacher-cat" --rerank bm25 --depth "$DEPTH" ;;
    table) table ;;
    *) echo "unknown stage $stage" >&2; exit 2 ;;
  esac
done
say "study done: $STAGES"
