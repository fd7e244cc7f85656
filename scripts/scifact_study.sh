#!/usr/bin/env bash
# The SciFact distillation study, second design (issue 14): can distillation win at small scale?
#
# Per seed (42, 43; everything redrawn: mined triples, dev slice, initialisation, data order):
#   nokd      students trained on labels alone (RankNet): dot 6 layers, dot 2 layers, colbert 6 layers
#   teachers  T1 = a MiniLM cat trained here on labels; every teacher (T1, the dot6 and colbert students
#             above, BM25) scores the students' training triples and the dev slice's BM25 candidates
#   ensemble  E = the four teachers, z-scored per query, weights fitted on the dev slice (the paper's T2
#             idea across architectures)
#   search    (seed 42 only) the first student (dot2, the cheapest) distilled from E with every
#             candidate recipe, the others with its SEARCH_TOP best; dev nDCG@10 of the best dev
#             checkpoint (validation every N steps) recorded for every candidate
#   choose    per student, the recipe with the best dev nDCG@10 on seed 42 -> results/scifact/choices.json
#   final     (seed 43) the chosen recipe per student
#   test      SciFact test, read once, after every choice: each student's no-teacher and chosen
#             distilled model, T1 as a re-ranker, BM25 and the zero-shot model
#   table     results/scifact/summary.json + table.md: paired t-test with 95% CI and a paired bootstrap
#
# Recipes (every one adds the label term; see kdbench/losses/objective.py):
#   mmse-floor  Margin-MSE on E's margins floored at 0.5 (label-consistent) + RankNet, weight 1
#   mmse        Margin-MSE on E's margins as they are + RankNet, weight 1
#   kl          listwise KL to E over the positive and 4 mined negatives + softmax CE, weight 1
#
# Stage by stage and resumable (a finished stage's result is kept; an interrupted training resumes).
# Models go to scratch/scifact/ (git-ignored), results (small JSON) to results/scifact/seed<S>/.
#   scripts/scifact_study.sh                               # everything: hours on 2 CPU cores
#   SEEDS=42 STAGES="nokd teachers" scripts/scifact_study.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ -z "${VIRTUAL_ENV:-}" ] && [ -f .venv/bin/activate ] && . .venv/bin/activate

DATA=${DATA:-../shared/data/scifact}
MINILM=${MINILM:-sentence-transformers/all-MiniLM-L6-v2}
DEVICE=${DEVICE:-auto}
SEEDS=${SEEDS:-"42 43"}
SEARCH_SEED=${SEARCH_SEED:-42}
ROOT=${ROOT:-results/scifact}
SCRATCH=${SCRATCH:-scratch/scifact}
DEPTH=50  # BM25 candidates re-ranked per test query by colbert and the cat teacher
STUDENTS=${STUDENTS:-"dot2 dot6 colbert"}
RECIPES=${RECIPES:-"mmse-floor mmse kl"}
SEARCH_TOP=${SEARCH_TOP:-2}
STAGES=${STAGES:-"refs nokd teachers ensemble search choose final test table"}

say() { echo "[$(date +%H:%M:%S)] $*"; }

use_seed() {  # SEED: where this seed's models and results live, and its mining/training options
  SEED=$1
  RESULTS=$ROOT/seed$SEED
  MODELS=$SCRATCH/seed$SEED
  mkdir -p "$RESULTS/train" "$MODELS"
  # Shared by every training and every teacher: the same mined triples and held-out dev slice.
  MINING=(--data "$DATA" --seed "$SEED" --triples-per-positive 4 --mine-depth 50 --dev-queries 50)
  TRAINING=(--max-query-len 32 --max-doc-len 128 --learning-rate 2e-5 --checkpoint-every 50
            --device "$DEVICE" --resume --quiet)
}

train_stage() {  # NAME ARGS...: train into $MODELS/NAME unless it finished; keep its summary
  local name=$1; shift
  if [ -f "$RESULTS/train/$name.json" ]; then say "skip train seed $SEED $name (done)"; return; fi
  say "train seed $SEED $name: $*"
  kdbench train "${MINING[@]}" "${TRAINING[@]}" --output "$MODELS/$name" "$@"
  cp "$MODELS/$name/training.json" "$RESULTS/train/$name.json"
  cp "$MODELS/$name/train_log.jsonl" "$RESULTS/train/$name.log.jsonl"
}

eval_stage() {  # OUT NAME ARGS...: test-split evaluation into OUT/NAME.json unless it exists
  local out=$1 name=$2; shift 2
  mkdir -p "$out"
  if [ -f "$out/$name.json" ]; then say "skip evaluate $out/$name (done)"; return; fi
  say "evaluate $out/$name: $*"
  kdbench evaluate --data "$DATA" --split test --device "${DEVICE/auto/cpu}" --output "$out/$name.json" "$@"
}

score_stage() {  # NAME ARGS...: a teacher's scores of the training triples (+ dev run) unless done
  local name=$1; shift
  if [ -f "$RESULTS/teacher-$name.tsv.json" ]; then say "skip teacher score seed $SEED $name (done)"; return; fi
  say "teacher score seed $SEED $name"
  kdbench teacher score "${MINING[@]}" --device "$DEVICE" --quiet --output "$RESULTS/teacher-$name.tsv" "$@"
}

student_args() {  # NAME: how the student is built, and its steps (the best dev checkpoint is kept)
  case "$1" in
    dot6) echo --model "$MINILM" --arch dot --score-scale 20 --steps 150 --validate-every 50 ;;
    # 2 layers learn slowly from a 6-layer start: 600 cheap steps, the best of 6 validations kept.
    dot2) echo --model "$MINILM" --arch dot --layers 2 --score-scale 20 --steps 600 --validate-every 100 ;;
    colbert) echo --model "$MINILM" --arch colbert --similarity cosine --steps 150 --validate-every 50 ;;
  esac
}
evaluate_args() {  # NAME: dot retrieves from the whole corpus; colbert re-ranks BM25
  case "$1" in colbert) echo --rerank bm25 --depth "$DEPTH" ;; esac
}
recipe_args() {  # RECIPE: the distillation objective from the ensemble E
  local teacher=(--teacher-scores "$RESULTS/teacher-ensemble.tsv" --learn-score-scale)
  case "$1" in
    mmse-floor) echo "${teacher[@]}" --batch-size 16 --loss margin-mse --teacher-margin-floor 0.5 \
                  --label-loss ranknet --label-weight 1 ;;
    mmse) echo "${teacher[@]}" --batch-size 16 --loss margin-mse --label-loss ranknet --label-weight 1 ;;
    # 8 positives x (1 + 4 negatives) per step: about the passages per step of the pairwise recipes' 16 x 2.
    kl) echo "${teacher[@]}" --batch-size 8 --loss kl --negatives 4 --label-loss ce --label-weight 1 ;;
  esac
}

chosen_recipe() {  # STUDENT: the recipe `choose` wrote for it
  python -c "import json,sys; print(json.load(open('$ROOT/choices.json'))['students'][sys.argv[1]]['chosen'])" "$1"
}

distil_stage() {  # STUDENT RECIPE
  # shellcheck disable=SC2046  # word splitting of the *_args output is intended
  train_stage "$1-$2" $(student_args "$1") $(recipe_args "$2")
}

for SEED_ in $SEEDS; do
  use_seed "$SEED_"
  for stage in $STAGES; do
    case "$stage" in
      refs)  # seed-independent rows, once
        eval_stage "$ROOT/refs" bm25 --model bm25
        eval_stage "$ROOT/refs" minilm-zero-shot --model "$MINILM" --arch dot --max-query-len 32 --max-doc-len 128
        ;;
      nokd)
        # shellcheck disable=SC2046
        for s in $STUDENTS; do train_stage "$s-ranknet" --batch-size 16 --loss ranknet $(student_args "$s"); done
        ;;
      teachers)
        train_stage teacher-cat --model "$MINILM" --arch cat --loss ranknet --steps 200 --batch-size 16 \
          --learning-rate 3e-5
        score_stage cat --model "$MODELS/teacher-cat" --compare-student "$MODELS/dot6-ranknet"
        score_stage dot6 --model "$MODELS/dot6-ranknet"
        score_stage colbert --model "$MODELS/colbert-ranknet" --compare-student "$MODELS/dot6-ranknet"
        score_stage bm25 --model bm25 --compare-student "$MODELS/dot6-ranknet"
        ;;
      ensemble)
        if [ ! -f "$RESULTS/teacher-ensemble.tsv.json" ]; then
          say "teacher ensemble seed $SEED"
          kdbench teacher ensemble --data "$DATA" --normalize query-zscore --output "$RESULTS/teacher-ensemble.tsv" \
            --scores "$RESULTS/teacher-cat.tsv" --scores "$RESULTS/teacher-dot6.tsv" \
            --scores "$RESULTS/teacher-colbert.tsv" --scores "$RESULTS/teacher-bm25.tsv"
        fi
        ;;
      search)
        # The first (cheapest) student tries every recipe; the others try its SEARCH_TOP best on
        # the dev slice (CPU hours: a 6-layer training is 3-4x a 2-layer one).
        if [ "$SEED" = "$SEARCH_SEED" ]; then
          read -r first others <<< "$STUDENTS"
          for r in $RECIPES; do distil_stage "$first" "$r"; done
          top=$(python scripts/scifact_table.py rank "$ROOT" "$SEED" "$first" "$RECIPES" "$SEARCH_TOP")
          for s in $others; do for r in $top; do distil_stage "$s" "$r"; done; done
        fi
        ;;
      choose)
        if [ "$SEED" = "$SEARCH_SEED" ]; then
          python scripts/scifact_table.py choose "$ROOT" "$SEARCH_SEED" "$STUDENTS" "$RECIPES"
        fi
        ;;
      final)
        for s in $STUDENTS; do distil_stage "$s" "$(chosen_recipe "$s")"; done
        ;;
      test)  # the test split, read once every choice is made
        [ -f "$ROOT/choices.json" ] || { echo "test: run choose first" >&2; exit 2; }
        for s in $STUDENTS; do
          # shellcheck disable=SC2046
          eval_stage "$RESULTS" "$s-ranknet" --model "$MODELS/$s-ranknet" $(evaluate_args "$s")
          r=$(chosen_recipe "$s")
          # shellcheck disable=SC2046
          eval_stage "$RESULTS" "$s-$r" --model "$MODELS/$s-$r" $(evaluate_args "$s")
        done
        eval_stage "$RESULTS" teacher-cat --model "$MODELS/teacher-cat" --rerank bm25 --depth "$DEPTH"
        ;;
      table) python scripts/scifact_table.py table "$ROOT" "$SEEDS" "$STUDENTS" ;;
      *) echo "unknown stage $stage" >&2; exit 2 ;;
    esac
  done
done
say "study done: seeds $SEEDS, stages $STAGES"
