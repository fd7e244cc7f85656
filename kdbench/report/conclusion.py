"""What a run found, in a few lines computed from its rows: the end of `kdbench run` and
`kdbench report`, and the top of report.md and report.html.

The Pareto rows in order of cost, the budget's choice and runner-up (when a budget was set),
each KD/no-KD effect on the report's quality with its intervals and Holm-adjusted p, and every
row whose numbers carry a caveat (under-sampled, quality from another run, never run on real
hardware, failed parity). Nothing here is written by hand: each line reads the rows and the
report's meta, so it can never disagree with the table above it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kdbench.profile.stats import required_samples
from kdbench.report.budget import Constraint, Decision, describe
from kdbench.report.meta import ReportMeta
from kdbench.report.rows import HIGHER_IS_BETTER, Row, display_labels

COST_WORDS = {"p50": "p50", "p95": "p95", "throughput": "throughput", "memory": "memory"}
# Cost axes where more is better: the front's cheapest row is the one with the most.


def cost_text(row: Row, x: str) -> str:
    """The row's value on the report's cost axis, with its unit: 'p50 0.73 ms'."""
    value = row.axis(x)
    if value is None:
        return f"no {x}"
    if x == "throughput":
        return f"{number_text(value)} items/s"
    if x == "qps":
        return f"max QPS {number_text(value)}"
    if x == "memory":
        return f"memory {number_text(value)} MiB"
    return f"{x} {number_text(value)} ms"


def number_text(value: float) -> str:
    """Three significant figures at most, thousands separated: 3,509 · 10.4 · 0.73 · 0.0042.

    >>> [number_text(v) for v in (3508.9, 310.3, 10.40, 0.734, 0.00421)]
    ['3,509', '310', '10.4', '0.73', '0.0042']
    """
    if value >= 100 or value == 0:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 0.1:
        return f"{value:.2f}"
    return f"{value:.2g}"


def conclusion(rows: list[Row], meta: ReportMeta) -> list[str]:
    """The report's conclusion as plain lines ("- " bullets under a heading line)."""
    quality, x = meta.y or "nDCG@10", meta.x or "p50"
    names = dict(zip(map(id, rows), display_labels(rows), strict=True))
    measured = [r for r in rows if not r.reference]
    lines = [f"Conclusion ({quality} against {COST_WORDS.get(x, x)}):"]
    lines += _front(measured, names, quality, x)
    lines += _budget(measured, names, quality, meta.budget)
    lines += _effects(meta.pairs, quality)
    lines += [f"- caveat: {names[id(r)]}: {why}" for r in measured if (why := caveats(r))]
    return lines


def _front(rows: list[Row], names: dict[int, str], quality: str, x: str) -> list[str]:
    front = [r for r in rows if r.pareto]
    if not front:
        return [f"- Pareto front: no row has both a measured {quality} and {x}"]
    sign = -1.0 if x in HIGHER_IS_BETTER else 1.0
    front.sort(key=lambda r: sign * (r.axis(x) or 0.0))
    shown = "; ".join(
        f"{names[id(r)]} ({quality} {r.metrics[quality]:.3f}, {cost_text(r, x)})" for r in front
    )
    return [f"- Pareto front, cheapest first: {shown}"]


def _budget(
    rows: list[Row], names: dict[int, str], quality: str, budget: Decision | None
) -> list[str]:
    if budget is None:
        return []
    head = f"- budget {budget.text}"
    chosen = next((r for r in rows if r.budget == "chosen"), None)
    if chosen is None:
        closest = budget.closest
        missed = f"; closest: {describe(closest[0])}, missing by {closest[1]}" if closest else ""
        return [f"{head}: no row fits{missed}"]
    constraints = budget.constraints
    lines = [f"{head}: best {_within(chosen, names, quality, constraints)}"]
    runner_up = next((r for r in rows if r.budget == "runner-up"), None)
    if runner_up is not None:
        lines.append(f"- runner-up: {_within(runner_up, names, quality, constraints)}")
    return lines


def _within(row: Row, names: dict[int, str], quality: str, constraints: list[Constraint]) -> str:
    """'NAME (nDCG@10 0.647, p95 5.83 ms)': the row's quality and each constrained value."""
    value = row.metrics.get(quality)
    shown = [f"{quality} {value:.3f}" if value is not None else f"no {quality} measured"]
    for constraint in constraints:
        measured = constraint.value(row)
        if constraint.column != quality and measured is not None:
            unit = f" {constraint.unit}" if constraint.unit else ""
            shown.append(f"{constraint.column} {number_text(measured)}{unit}")
    return f"{names[id(row)]} ({', '.join(shown)})"


def _effects(pairs: Sequence[Mapping[str, object]], quality: str) -> list[str]:
    """One line per KD/no-KD pair: the difference on `quality` (else the pair's first measure)."""
    lines = []
    for pair in pairs:
        found = pair_measures(pair)
        row = next((r for r in found if r["measure"] == quality), found[0] if found else None)
        if row is None:
            continue
        bounds = row.get("ci95_t")
        low, high = bounds if isinstance(bounds, list | tuple) and bounds else (None, None)
        interval = f"95% CI {low:+.3f} to {high:+.3f}, " if low is not None else ""
        holm = row.get("p_holm")
        p = f"Holm p {holm:.3g}" if holm is not None else f"p {row['p_value']:.3g}"
        verdict = "significant" if row["significant"] else "not significant"
        lines.append(
            f"- KD effect {pair['kd']} − {pair['nokd']}: {row['measure']} "
            f"{row['difference']:+.3f} ({interval}{p}; {verdict})"
        )
    return lines


def pair_measures(pair: Mapping[str, object]) -> list[Mapping[str, object]]:
    """A KD/no-KD pair's comparisons, one per measure (`kdbench.report.pairs.pair_rows`)."""
    found = pair.get("rows")
    return [r for r in found if isinstance(r, Mapping)] if isinstance(found, list) else []


def caveats(row: Row) -> str:
    """Why a row's numbers need care, in words ('' when none)."""
    found = []
    if row.never_run:
        found.append("never run on real hardware")
    if row.parity not in ("", "passed"):
        found.append(f"parity {row.parity}")
    if row.quality_elsewhere:
        found.append(f"quality from another run ({row.quality_elsewhere})")
    if row.undersampled and row.samples is not None:
        needs = ", ".join(f"{p} needs {required_samples(int(p[1:]))}" for p in row.undersampled)
        found.append(f"under-sampled: {row.samples} timed calls ({needs})")
    return "; ".join(found)
