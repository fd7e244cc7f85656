"""The table of results/serving/README.md, from the committed JSON files (python table.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    print(
        "| run | model | backend | batching | one query alone p50 ms | max valid QPS @ bound "
        "| its p99 ms (95% CI) | scheduled / answered QPS there | next step up: QPS, why invalid "
        "| levels | search stopped by |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for path in sorted(HERE.glob("*.json")):
        result = json.loads(path.read_text())
        arch = result["model"]["arch"]
        for cell in result["results"]:
            serving = cell.get("serving")
            if serving is None:
                print(
                    f"| {path.stem} | {arch} | {cell['backend']}:{cell['precision']} | "
                    f"{cell['status']}: {cell.get('error') or ''} | | | | | | | |"
                )
                continue
            settings = serving["settings"]
            batching = (
                f"≤{settings['max_batch']}, wait {settings['max_wait_ms']:g} ms"
                if settings["max_batch"] > 1
                else "batch 1"
            )
            search = serving.get("search", {})
            levels = search.get("levels", [])
            best = next(
                (lv for lv in levels if lv["target_qps"] == serving.get("max_valid_qps")), None
            )
            if best is not None:
                p99 = best["latency_ms"]["p99"]
                ci = best["latency_ci_ms"].get("p99")
                p99_text = f"{p99:.1f}" + (f" ({ci[0]:.1f}–{ci[1]:.1f})" if ci else "")
                rates = f"{best['scheduled_qps']:.1f} / {best['achieved_qps']:.1f}"
                answer = f"**{best['target_qps']:.1f}** @ {serving['bound']}"
            else:
                p99_text, rates, answer = "-", "-", f"none @ {serving['bound']}"
            above = search.get("next_invalid_qps")
            why = "; ".join(search.get("next_invalid_reasons") or [])
            step = f"{above:.1f}: {why}" if above else "-"
            print(
                f"| {path.stem} | {arch} {cell['depth'] if arch != 'dot' else ''} | "
                f"{cell['backend']}:{cell['precision']} | {batching} | "
                f"{serving['alone_p50_ms']:.1f} | {answer} | {p99_text} | {rates} | {step} | "
                f"{len(levels)} | {search.get('stopped_by', '')} |"
            )


if __name__ == "__main__":
    sys.exit(main())
