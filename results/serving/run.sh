#!/usr/bin/env bash
# The committed serving measurements (docs/serving.md): SciFact test queries, 2 cores,
# each run alone on the machine (flock -x) and under 6 minutes. Usage: results/serving/run.sh NAME
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD
KD=${KDBENCH:-kdbench}
DATA=${SCIFACT:-/work/shared/data/scifact}
OUT=results/serving
COMMON=(--data "$DATA" --split test --scenario server --min-queries 1024 --min-query-duration 10s
        --search-budget 200s --parity-queries 10 --parity-depth 50)
DOT=(--model all-MiniLM-L6-v2 --arch dot --seq-len 32 --doc-len 128 --index-size 100 "${COMMON[@]}" --p99-bound 50ms)
CAT=(--model all-MiniLM-L6-v2 --arch cat --seq-len 160 --batch-size 100 "${COMMON[@]}")
BATCH=(--max-batch 8 --max-wait-ms 5ms)
run() { name=$1; shift; echo "$ $KD profile $* --output $OUT/$name.json" > "$OUT/$name.cmd";
        flock -x /tmp/kdbench-cpu.lock timeout 360 "$KD" profile "$@" --output "$OUT/$name.json" 2>&1 | tee "$OUT/$name.log"; }
lscpu | grep "Model name" > "$OUT/machine.txt"; nproc >> "$OUT/machine.txt"
case $1 in
  dot-eager)        run $1 "${DOT[@]}" --backend eager ;;
  dot-eager-batch)  run $1 "${DOT[@]}" --backend eager "${BATCH[@]}" ;;
  dot-onnx)         run $1 "${DOT[@]}" --backend onnx ;;
  dot-onnx-batch)   run $1 "${DOT[@]}" --backend onnx "${BATCH[@]}" ;;
  dot-int8)         run $1 "${DOT[@]}" --backend onnx:int8 ;;
  dot-int8-batch)   run $1 "${DOT[@]}" --backend onnx:int8 "${BATCH[@]}" ;;
  cat-20)           run $1 "${CAT[@]}" --backend onnx --depth 20 --p99-bound 50ms ;;
  cat-20-batch)     run $1 "${CAT[@]}" --backend onnx --depth 20 --p99-bound 50ms "${BATCH[@]}" ;;
  cat-100)          run $1 "${CAT[@]}" --backend onnx --depth 100 --p99-bound 500ms ;;
  cat-100-batch)    run $1 "${CAT[@]}" --backend onnx --depth 100 --p99-bound 500ms "${BATCH[@]}" ;;
  *) echo "unknown run $1" >&2; exit 2 ;;
esac
