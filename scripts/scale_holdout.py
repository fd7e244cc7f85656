"""Does a growth fit predict a size it never saw? A held-out check of `kdbench report --scale-to`.

    python scripts/scale_holdout.py PROFILE.json --hold-out 200000 [--output CHECK.md]

PROFILE.json is one `kdbench profile --index-size A,B,...,HELD` run (its cells interleaved in
rounds, so every size saw the same machine). The script writes a copy holding only the cells
below the held-out size (without the fits the profile stored, which saw every size), asks `kdbench report COPY --scale-to HELD --format json` for its
prediction (the fit and interval a user would read), asks `kdbench report PROFILE.json` for what
was measured at HELD, and prints both per cell and quantity (p50, p95). Exit 0 when every
measured value lies inside its predicted interval, 1 when one does not, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

QUANTITIES = ("p50_ms", "p95_ms")
FIXED = ("backend", "precision", "scenario", "batch_size", "seq_len", "depth", "search")


def _report(profile: Path, out: Path, scale_to: int | None) -> list[dict[str, object]]:
    command = [sys.executable, "-m", "kdbench", "report", str(profile), "--format", "json"]
    command += ["--output", str(out)]
    if scale_to is not None:
        command += ["--scale-to", str(scale_to)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"scale_holdout: {' '.join(command)} failed: {done.stderr.strip()}")
    rows = json.loads(out.read_text())["rows"]
    assert isinstance(rows, list)
    return rows


def _key(row: dict[str, object]) -> tuple[object, ...]:
    return tuple(row.get(name) for name in FIXED)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--hold-out", type=int, required=True, help="the index size to predict")
    parser.add_argument("--output", type=Path, help="also write the table (Markdown) here")
    args = parser.parse_args()
    try:
        result = json.loads(args.profile.read_text())
    except (OSError, ValueError) as error:
        print(f"scale_holdout: {args.profile}: {error}", file=sys.stderr)
        return 2
    held = args.hold_out
    cells = result.get("results", [])
    sizes = sorted({c.get("index_size") for c in cells if isinstance(c.get("index_size"), int)})
    fitted = [s for s in sizes if s < held]
    if held not in sizes or len(fitted) < 2:
        print(
            f"scale_holdout: {args.profile} must time --hold-out {held} and two smaller index "
            f"sizes (it timed {sizes})",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        subset = dict(result)
        subset["results"] = [c for c in cells if c.get("index_size") in fitted]
        subset["config"] = {**result["config"], "index_size": fitted}
        subset.pop("growth", None)  # the fits stored at profile time saw every size: refit
        (folder / "fit.json").write_text(json.dumps(subset))
        predicted = _report(folder / "fit.json", folder / "predicted.json", held)
        measured = _report(args.profile, folder / "measured.json", None)
    truth = {_key(r): r for r in measured if r.get("index_size") == held}
    lines = [
        f"Held out: {held:,} passages; fitted on {', '.join(f'{s:,}' for s in fitted)} "
        f"({args.profile.name}).",
        "",
        "| cell | quantity | predicted | 95% interval | measured | measured 95% CI | inside |",
        "|---|---|---|---|---|---|---|",
    ]
    inside_all = True
    for row in predicted:
        if row.get("index_size") != max(fitted) or _key(row) not in truth:
            continue
        for quantity in QUANTITIES:
            guess = row.get("predicted", {}).get(quantity)  # type: ignore[union-attr]
            if not isinstance(guess, dict):
                continue
            value = truth[_key(row)][quantity]
            cell = f"{row['backend']} {row['precision']} batch {row['batch_size']}"
            if guess.get("value") is None:
                inside_all = False
                lines.append(
                    f"| {cell} | {quantity} | refused: {guess.get('refused')} |  |  |  |  |"
                )
                continue
            ci = truth[_key(row)].get(quantity.replace("_ms", "_ci_ms")) or ["–", "–"]
            low, high = guess.get("low"), guess.get("high")
            inside = low is not None and high is not None and low <= value <= high
            inside_all = inside_all and inside
            interval = f"{low:.2f}–{high:.2f}" if low is not None and high is not None else "none"
            shown = [f"{c:.2f}" if isinstance(c, float) else str(c) for c in ci]
            lines.append(
                f"| {cell} | {quantity} | {guess['value']:.2f} | {interval} | {value:.2f} | "
                f"{shown[0]}–{shown[1]} | {'yes' if inside else 'NO'} |"
            )
            lines.append(f"|  | from | {guess.get('source', '')} |  |  |  |  |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        args.output.write_text(text)
    return 0 if inside_all else 1


if __name__ == "__main__":
    raise SystemExit(main())
