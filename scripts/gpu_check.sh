#!/usr/bin/env bash
# GPU check for `kdbench profile`: eager fp32/fp16/torch.compile and ONNX profiles for dot
# (query, index), colbert (rerank) and cat (rerank) on all-MiniLM-L6-v2 and SciFact, as JSON.
#
# Works on a GPU machine with no network and only torch, transformers, numpy, onnx and
# onnxruntime installed (no kdbench install, typer, ir_measures, bm25s or TensorRT needed).
#   1. here, once:      python scripts/gpu_prepare.py        (stages scratch/gpu, ~52 MiB)
#   2. on the GPU box:  bash scripts/gpu_check.sh             (with scratch/gpu carried along)
#      options pass through, e.g. --no-compile, --only dot:query,cat:rerank, --min-samples 200
# Output: $OUT/gpu_check.json (every result, kdbench.result schema, plus failures),
#         $OUT/gpu_check.md (a table) and $OUT/gpu_check.log; $OUT defaults to results/profile/gpu.
# Commit the JSON under results/profile/ named after the card (e.g. results/profile/gpu-h100.json).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-results/profile/gpu}"
mkdir -p "$OUT"
export OUT PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export KDBENCH_CACHE="${KDBENCH_CACHE:-${TMPDIR:-/tmp}/kdbench-cache}"
PYTHON="${PYTHON:-python3}"
LOG="$OUT/gpu_check.log"
{
  echo "== $(date -u +%FT%TZ) $(hostname)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "nvidia-smi not found"
  "$PYTHON" -c 'import torch, transformers, onnxruntime, numpy; print("torch", torch.__version__, "cuda", torch.version.cuda, "| transformers", transformers.__version__, "| onnxruntime", onnxruntime.__version__, onnxruntime.get_available_providers())'
} 2>&1 | tee "$LOG"
"$PYTHON" scripts/gpu_profile.py --out "$OUT" "$@" 2>&1 | tee -a "$LOG"
status=${PIPESTATUS[0]}
echo "== exit $status" | tee -a "$LOG"
exit "$status"
