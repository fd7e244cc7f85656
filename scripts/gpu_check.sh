#!/usr/bin/env bash
# GPU check for `kdbench profile`: eager fp32/fp16/torch.compile, ONNX and (where installed)
# TensorRT profiles for dot (query, index), colbert (rerank) and cat (rerank) on
# all-MiniLM-L6-v2 and a SciFact subset, one JSON per profile, written as each finishes.
#
# Works on a GPU machine with no network and only torch, transformers, numpy, onnx and
# onnxruntime installed (no kdbench install, typer, ir_measures, bm25s or TensorRT needed).
#   1. here, once:      python scripts/gpu_prepare.py        (stages scratch/gpu, ~46 MiB)
#   2. on the GPU box:  bash scripts/gpu_check.sh             (with scratch/gpu carried along)
#      options pass through: --passes quick (about 7 min on an H100-class card),
#      --deadline 300 (start no profile after 300 s), --only dot:query,cat:rerank
#   on a CPU:           bash scripts/gpu_check.sh --dry-run   (tiny cells; proves the script)
# Output in $OUT (default results/gpu): NN-PASS-ARCH-SCENARIO-DEVICE-VARIANT.json per profile,
# gpu_check.json (index, failures, skips), gpu_check.md (table), gpu_check.log.
# Commit $OUT as results/gpu/ with the card in gpu_check.json ("card").
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
  "$PYTHON" -c 'import torch, transformers, onnxruntime, numpy; print("torch", torch.__version__, "cuda", torch.version.cuda, "| transformers", transformers.__version__, "| onnxruntime", onnxruntime.__version__, onnxruntime.get_available_providers())'
} 2>&1 | tee "$LOG"
"$PYTHON" scripts/gpu_profile.py --out "$OUT" "$@" 2>&1 | tee -a "$LOG"
status=${PIPESTATUS[0]}
echo "== exit $status" | tee -a "$LOG"
exit "$status"
