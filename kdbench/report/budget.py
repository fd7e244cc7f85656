"""Budgets: the best-quality row inside every constraint, and why each better or faster row is not.

A budget is a comma list of constraints on measured columns, with units:
`p95<=10ms,memory<=2GiB` (`parse_budget`). Columns: `p50` and `p95` per query (end to end
where the first stage was profiled, as the plot reads them), `memory` (the row's weights +
activations + index; the process's peak where those were not measured), `weights`,
`activations`, `index`, `process`, `throughput` (items/s), `params`, and any quality the
rows measured (`nDCG@10>=0.6`). `qps>=100@p99<=50ms` asks for the highest valid QPS a
server profile found under that very bound (`kdbench profile --scenario server`). Times take ns, us, ms, s; sizes B, KB, MB, GB, KiB, MiB,
GiB; counts K, M, B.

`decide` picks, among measured rows that passed parity, the best-quality row inside every
constraint (ties: the lower p50), the runner-up, and for each row that is better or faster
than the choice, the constraint that excludes it and by how much; when none fits, the row
that misses by least. Each row's verdict goes in its `budget` field (a column of every
format); the summary in the report's meta.

>>> [c.text for c in parse_budget("p95<=10ms, memory<=2GiB")]
['p95<=10ms', 'memory<=2GiB']
>>> parse_budget("memory<=2GiB")[0].limit  # MiB
2048.0
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

from kdbench.errors import UserError
from kdbench.json_types import JsonObject
from kdbench.quantities import QuantityError, parse_number
from kdbench.report.rows import Row, artifact_name

# unit -> factor to the column's own unit (ms, MiB, items/s, a count); keys are lowercase
TIME = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, "min": 6e4}
BYTES = {
    "b": 2.0**-20,
    "kb": 1e3 / 2**20,
    "mb": 1e6 / 2**20,
    "gb": 1e9 / 2**20,
    "tb": 1e12 / 2**20,
    "kib": 2.0**-10,
    "mib": 1.0,
    "gib": 2.0**10,
    "tib": 2.0**20,
}
RATE = {"": 1.0, "/s": 1.0, "q/s": 1.0, "qps": 1.0, "items/s": 1.0}
COUNT = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9}
PLAIN = {"": 1.0}
UNITS = {"time": (TIME, "ms"), "bytes": (BYTES, "MiB"), "rate": (RATE, "/s"), "count": (COUNT, "")}
OPERATORS = {"<=": "<=", "≤": "<=", "<": "<", ">=": ">=", "≥": ">=", ">": ">"}


def _memory(row: Row) -> float | None:
    return row.memory_mib if row.memory_mib is not None else row.peak_memory_mib


def _parameters(row: Row) -> float | None:
    return None if row.parameters is None else float(row.parameters)


@dataclass(frozen=True)
class BudgetColumn:
    name: str
    get: Callable[[Row], float | None]
    kind: str  # a key of UNITS, or "quality"
    words: str  # how a verdict names it


COLUMNS = {
    column.name: column
    for column in (
        BudgetColumn("p50", lambda r: r.query_p50_ms, "time", "p50"),
        BudgetColumn("p95", lambda r: r.query_p95_ms, "time", "p95"),
        BudgetColumn("memory", _memory, "bytes", "memory"),
        BudgetColumn("weights", lambda r: r.weights_mib, "bytes", "weights"),
        BudgetColumn("activations", lambda r: r.activations_mib, "bytes", "activations"),
        BudgetColumn("index", lambda r: r.index_size_mib, "bytes", "index"),
        BudgetColumn("process", lambda r: r.peak_memory_mib, "bytes", "process memory"),
        BudgetColumn("throughput", lambda r: r.throughput, "rate", "throughput"),
        BudgetColumn("params", _parameters, "count", "parameters"),
        BudgetColumn("max_qps", lambda r: r.max_qps, "rate", "max QPS"),
    )
}
ALIASES = {"qps": "throughput", "items/s": "throughput", "parameters": "params"}
_CONSTRAINT = re.compile(
    r"^\s*(?P<name>[^<>≤≥]+?)\s*(?P<op><=|>=|≤|≥|<|>)\s*"
    r"(?P<value>[-+]?[0-9.,_]+(?:[eE][-+]?[0-9]+)?|[-+]?[A-Za-z]+(?=\s*$))"
    r"\s*(?P<unit>[A-Za-zµ/]*)\s*$"
)


@dataclass(frozen=True)
class Constraint:
    """One `column op limit`, the limit in the column's own unit (ms, MiB, items/s)."""

    column: str
    op: str  # "<=", "<", ">=", ">"
    limit: float
    text: str  # as written
    bound: str = ""  # max_qps: the latency bound the QPS must have held ("p99<=50ms")

    @property
    def unit(self) -> str:
        kind = COLUMNS[self.column].kind if self.column in COLUMNS else "quality"
        return UNITS[kind][1] if kind in UNITS else ""

    def value(self, row: Row) -> float | None:
        if self.bound:  # a QPS found under another bound (or none) is not this one
            return row.max_qps if row.qps_bound == self.bound else None
        if self.column in COLUMNS:
            return COLUMNS[self.column].get(row)
        return row.metrics.get(self.column)

    def holds(self, value: float) -> bool:
        return {
            "<=": value <= self.limit,
            "<": value < self.limit,
            ">=": value >= self.limit,
            ">": value > self.limit,
        }[self.op]

    def miss(self, value: float) -> float:
        """How far past the limit `value` is, relative to the limit (0 when it holds)."""
        if self.holds(value):
            return 0.0
        if self.op in ("<=", "<"):
            return (value - self.limit) / abs(self.limit) if self.limit else math.inf
        return (self.limit - value) / abs(self.limit) if self.limit else math.inf

    def verdict(self, value: float | None) -> str:
        """'p95 7.30 ms > 5 ms (+46%)', or 'p95 not measured'."""
        words = COLUMNS[self.column].words if self.column in COLUMNS else self.column
        if self.bound:
            words += f" @ {self.bound}"
        if value is None:
            return f"{words} not measured"
        unit = f" {self.unit}" if self.unit else ""
        if self.holds(value):
            return f"{words} {value:.4g}{unit} {self.op} {self.limit:.4g}{unit}"
        beyond = {"<=": ">", "<": ">=", ">=": "<", ">": "<="}[self.op]
        return (
            f"{words} {value:.4g}{unit} {beyond} {self.limit:.4g}{unit} "
            f"({'+' if self.op in ('<=', '<') else '−'}{self.miss(value):.0%})"
        )

    def to_dict(self) -> JsonObject:
        return {"column": self.column, "op": self.op, "limit": self.limit, "unit": self.unit}


def _constraint_items(text: str) -> list[str]:
    """Comma-separated items, commas inside parentheses kept (`P(rel=2,judged_only)@10`)."""
    items, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    return [item.strip() for item in [*items, current] if item.strip()]


def parse_budget(text: str, where: str = "--budget") -> list[Constraint]:
    """Constraints from "p95<=10ms,memory<=2GiB"; a UserError naming `where` and the item."""
    items = _constraint_items(text)
    for before, item in pairwise(items):
        if item[0].isdigit():  # `p95<=1,5ms`: every constraint starts with its column
            raise UserError(
                f"{where} {text!r}: {before},{item}: a comma separates constraints, it is "
                f"neither a decimal point nor a thousands separator; write the number with a "
                f'point and no separators, e.g. "p95<=1.5ms"'
            )
    constraints = [_parse_one(item, text, where) for item in items]
    if not constraints:
        raise UserError(f'{where} {text!r}: names no constraint; write e.g. "p95<=10ms"')
    return constraints


def _parse_one(item: str, text: str, where: str) -> Constraint:
    if "@" in item and re.match(r"\s*(max_)?qps\s*[<>≤≥]", item, re.IGNORECASE):
        return _parse_qps(item, text, where)
    found = _CONSTRAINT.match(item)
    if found is None:
        raise UserError(
            f'{where} {text!r}: cannot read {item!r}; write COLUMN<=VALUE[UNIT], e.g. "p95<=10ms"'
        )
    try:  # the number by the one quantity grammar: no commas, no 1..5, no inf
        number = parse_number(found["value"])
    except QuantityError as exc:
        raise UserError(f"{where} {text!r}: {item!r}: {exc}") from None
    name = ALIASES.get(found["name"].lower(), found["name"])
    name = name.lower() if name.lower() in COLUMNS else name
    kind = COLUMNS[name].kind if name in COLUMNS else "quality"
    units = UNITS[kind][0] if kind in UNITS else PLAIN
    unit = found["unit"].lower() if kind == "bytes" or kind == "count" else found["unit"]
    if unit not in units:
        known = ", ".join(u for u in units if u)
        if kind not in UNITS:  # `p99<=5ms`: no column of that name, and a quality has no unit
            raise UserError(
                f"{where} {text!r}: {item!r}: {name!r} is not a column that takes a unit "
                f"({', '.join(COLUMNS)}); a quality takes none (nDCG@10>=0.6)"
            )
        what = f"unit {unit!r} is not one of {known}" if unit else f"needs a unit ({known})"
        example = f"{name}<={found['value']}{UNITS[kind][1]}"
        raise UserError(f"{where} {text!r}: {item!r}: {name} {what}; e.g. {example}")
    limit = number * units[unit]
    return Constraint(name, OPERATORS[found["op"]], limit, item.replace(" ", ""))


def _parse_qps(item: str, text: str, where: str) -> Constraint:
    """`qps>=100@p99<=50ms`: the highest valid QPS under that latency bound.

    >>> c = parse_budget("qps>=100@p99<=50ms")[0]
    >>> c.column, c.op, c.limit, c.bound
    ('max_qps', '>=', 100.0, 'p99<=50ms')
    """
    from kdbench.profile.serving import parse_bound

    rate, _, bound_text = item.partition("@")
    found = _CONSTRAINT.match(rate)
    if found is None:
        raise UserError(
            f"{where} {text!r}: cannot read {item!r}; write QPS>=VALUE@PERCENTILE<=TIME, "
            'e.g. "qps>=100@p99<=50ms"'
        )
    if found["unit"] not in RATE:
        raise UserError(f"{where} {text!r}: {item!r}: a rate takes /s or no unit")
    try:  # the number by the one quantity grammar
        limit = parse_number(found["value"])
    except QuantityError as exc:
        raise UserError(f"{where} {text!r}: {item!r}: {exc}") from None
    bound = parse_bound(bound_text, where)
    if re.search(r"\d\s*$", bound_text):  # as every latency in a budget, with its unit
        raise UserError(
            f"{where} {text!r}: {item!r}: the latency bound needs a unit (ns, us, ms, s, min), "
            f"e.g. qps>={limit:g}@{bound.label}"
        )
    return Constraint("max_qps", OPERATORS[found["op"]], limit, item.replace(" ", ""), bound.label)


def check_columns(constraints: list[Constraint], rows: list[Row], where: str = "--budget") -> None:
    """Every constrained quality was measured by some row (a column name is always known)."""
    measured = sorted({m for r in rows for m in r.metrics})
    for constraint in constraints:
        if constraint.column not in COLUMNS and constraint.column not in measured:
            columns = ", ".join([*COLUMNS, *measured])
            raise UserError(
                f"{where} {constraint.text}: no column {constraint.column!r}; budgets can "
                f"constrain {columns}"
            )


@dataclass
class Decision:
    """What a budget chose among the rows, and why not the others."""

    constraints: list[Constraint]
    quality: str
    chosen: Row | None = None
    runner_up: Row | None = None
    excluded: list[tuple[Row, str, str]] = field(default_factory=list)  # row, "better"/..., why
    closest: tuple[Row, str] | None = None  # none fits: the nearest miss and by how much

    @property
    def text(self) -> str:
        return ",".join(c.text for c in self.constraints)

    def lines(self) -> list[str]:
        """The summary a report prints beside its table."""
        head = f"Budget {self.text} (best {self.quality} inside every constraint):"
        if self.chosen is None:
            lines = [f"{head} no row fits."]
            if self.closest is not None:
                row, why = self.closest
                lines.append(f"- closest: {describe(row)}, which misses by {why}")
            return lines
        lines = [head, f"- chosen: {self._summary(self.chosen)}"]
        if self.runner_up is not None:
            lines.append(f"- runner-up: {self._summary(self.runner_up)}")
        lines += [
            f"- excluded ({kind}): {describe(row)}: {why}" for row, kind, why in self.excluded
        ]
        return lines

    def _summary(self, row: Row) -> str:
        quality = row.metrics.get(self.quality)
        shown = f"{self.quality} {quality:.3f}" if quality is not None else "no quality measured"
        values = "; ".join(c.verdict(c.value(row)) for c in self.constraints)
        return f"{describe(row)}: {shown}; {values}"

    def to_dict(self) -> JsonObject:
        """The decision as a report's JSON records it (meta["budget"])."""
        return {
            "budget": self.text,
            "constraints": [c.to_dict() for c in self.constraints],
            "quality": self.quality,
            "chosen": None if self.chosen is None else describe(self.chosen),
            "runner_up": None if self.runner_up is None else describe(self.runner_up),
            "excluded": [
                {"row": describe(row), "as": kind, "why": why} for row, kind, why in self.excluded
            ],
            "closest": None
            if self.closest is None
            else {"row": describe(self.closest[0]), "misses_by": self.closest[1]},
            "lines": [*self.lines()],
        }


def describe(row: Row) -> str:
    """'dot-L2 (onnx, cpu, query batch 1 seq 32, 1,000 passages)'; BM25 or an evaluation alone
    by its name and artifact."""
    if not row.scenario:
        return f"{row.label} ({row.quality_from or 'evaluated'}, not profiled)"
    parts = [artifact_name(row.backend, row.precision) if row.backend else row.quality_from]
    parts += [row.device] if row.device else []
    shape = row.scenario + (f" batch {row.batch_size}" if row.batch_size else "")
    shape += f" seq {row.seq_len}" if row.seq_len else ""
    shape += f" depth {row.depth}" if row.depth and row.scenario != "query" else ""
    parts.append(shape)
    if row.index_size is not None:
        parts.append(f"{row.index_size:,} passages" + (f", {row.search}" if row.search else ""))
    return f"{row.label} ({', '.join(p for p in parts if p)})"


def decide(rows: list[Row], constraints: list[Constraint], quality: str = "nDCG@10") -> Decision:
    """The best-quality measured row inside every constraint, the runner-up, and why each
    better or faster row is out; every row's verdict in its `budget` field."""
    decision = Decision(constraints, quality)
    candidates = [r for r in rows if not r.reference]
    fitting = [r for r in candidates if not _misses(r, constraints)]
    ranked = sorted(fitting, key=lambda r: _rank(r, quality))
    if ranked:
        decision.chosen = ranked[0]
        decision.runner_up = ranked[1] if len(ranked) > 1 else None
        decision.excluded = _excluded(decision.chosen, candidates, constraints, quality)
    else:
        decision.closest = _closest(candidates, constraints)
    for row in rows:
        row.budget = _verdict(row, decision, constraints)
    return decision


def _rank(row: Row, quality: str) -> tuple[float, float, str]:
    """Best quality first (a row without quality after every row with), then the lower p50."""
    value = row.metrics.get(quality)
    return (-math.inf if value is None else -value, row.query_p50_ms or math.inf, row.label)


def _misses(row: Row, constraints: list[Constraint]) -> list[str]:
    """Why `row` is outside the budget: failed parity (its numbers are not the model's), then
    one verdict per failed or unmeasured constraint."""
    if row.parity not in ("", "passed"):
        return ["failed parity"]
    found = []
    for constraint in constraints:
        value = constraint.value(row)
        if value is None or not constraint.holds(value):
            found.append(constraint.verdict(value))
    return found


def _excluded(
    chosen: Row, candidates: list[Row], constraints: list[Constraint], quality: str
) -> list[tuple[Row, str, str]]:
    """Rows better (quality) or faster (p50) than the choice, each with what rules it out."""
    best = chosen.metrics.get(quality)
    speed = chosen.query_p50_ms
    found = []
    for row in candidates:
        misses = _misses(row, constraints)
        if not misses:
            continue
        value, p50 = row.metrics.get(quality), row.query_p50_ms
        better = value is not None and (best is None or value > best)
        faster = p50 is not None and speed is not None and p50 < speed
        if better or faster:
            kind = "better and faster" if better and faster else "better" if better else "faster"
            found.append((row, kind, "; ".join(misses)))
    return found


def _closest(candidates: list[Row], constraints: list[Constraint]) -> tuple[Row, str] | None:
    """The measured row whose worst miss is smallest, with its misses."""
    scored = []
    for row in candidates:
        values = [c.value(row) for c in constraints]
        if row.parity not in ("", "passed") or any(value is None for value in values):
            continue
        worst = max(c.miss(v) for c, v in zip(constraints, values, strict=True) if v is not None)
        scored.append((worst, row))
    if not scored:
        return None
    _, row = min(scored, key=lambda pair: (pair[0], pair[1].label))
    return row, "; ".join(_misses(row, constraints))


def _verdict(row: Row, decision: Decision, constraints: list[Constraint]) -> str:
    if row.reference:
        return ""
    if row is decision.chosen:
        return "chosen"
    if row is decision.runner_up:
        return "runner-up"
    misses = _misses(row, constraints)
    return "fits" if not misses else "out: " + "; ".join(misses)


def budget_mark(row: Row) -> str:
    """SVG attributes of a plotted row under a budget: the chosen point ringed, a row outside
    the budget faded ('' without a budget), whatever axes the plot has."""
    if row.budget == "chosen":
        return ' stroke="#2a7" stroke-width="4" data-budget="chosen"'
    if row.budget.startswith("out"):
        return ' fill-opacity="0.3" data-budget="out"'
    return ' data-budget="fits"' if row.budget else ""
