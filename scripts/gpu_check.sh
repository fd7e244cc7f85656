#!/usr/bin/env bash
# GPU check for `kdbench profile` on all-MiniLM-L6-v2 and a SciFact subset: a preflight, then
# plans under one deadline, each in a process of its own that is killed at the deadline:
#   A  dot (query, index), colbert (rerank), cat (rerank) on eager fp32, fp16, bf16 (662 samples: p99)
#   B  torch.compile for dot query and cat rerank, only if the preflight compiled
#   C  export parity: the ONNX graph against the model's scores on the GPU (no CPU timing)
#   D  one server cell, where this kdbench has --scenario server
#
# Works on a GPU machine with no network and only torch, transformers, numpy, onnx and
# onnxruntime installed (no kdbench install, typer, ir_measures, bm25s or TensorRT needed).
#   1. here, once:      python scripts/gpu_prepare.py     (stages scratch/gpu with COMMIT.json;
#                                                          refuses if tree + folder > 64 MiB)
#   2. on the GPU box:  bash scripts/gpu_check.sh --deadline 300   (scratch/gpu carried along)
#      300 s leaves device time for one rerun in a 15-minute lease; also --plans A,C,
#      --only dot:query,cat:rerank
#   on a CPU:           bash scripts/gpu_check.sh --dry-run --deadline 60   (tiny cells; proves
#                       the script, a plan killed at the deadline included; ends within 75 s)
# Output in $OUT (default results/gpu): preflight.json (first), NN-PLAN-ARCH-SCENARIO.json per
# finished plan, gpu_check.json (index: runs, killed, failures, skipped), gpu_check.md (table),
# gpu_check.log. Commit $OUT as results/gpu/; the card and commit are in preflight.json.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-results/gpu}"
mkdir -p "$OUT"
export OUT PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export KDBENCH_CACHE="${KDBENCH_CACHE:-${TMPDIR:-/tmp}/kdbench-cache}"
PYTHON="${PYTHON:-python3}"
LOG="$OUT/gpu_check.log"
{
  echo "== $(date -u +%FT%TZ) $(hostname)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "nvidia-smi not found"
} 2>&1 | tee "$LOG"
"$PYTHON" scripts/gpu_profile.py --out "$OUT" "$@" 2>&1 | tee -a "$LOG"
status=${PIPESTATUS[0]}
echo "== exit $status" | tee -a "$LOG"
exit "$status"
