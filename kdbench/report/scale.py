"""Extrapolation to the user's collection: predicted columns, each from a stated fit or count.

`kdbench report --scale-to 8.8M` adds predicted values to each profiled query row at the
largest index size its cell was timed at (and build time to `index` rows):

- p50 / p95 ms per query at N passages: the search stage's growth fit
  (kdbench.profile.growth), in the regime the index at N falls in, plus the stages that do
  not grow (encoding the query) as measured: their noise between sizes is not a slope, and
  their spread between sizes is in the interval. An index that outgrows the last-level cache
  is read from memory, at a higher cost per row than sizes inside it show, so a fit made only
  inside the cache is refused for an index past it (and the reverse). A result without
  per-stage samples falls back to a fit of the total;
- index GiB at fp32, fp16 and int8: the bytes per passage the profile counted, times N (fp16
  and int8 store each dimension in 2 and 1 bytes instead of 4);
- memory GiB: the row's weights and activations as measured, plus the index at N (fp32);
- build h: N passages ÷ the encode throughput (an `index` row of the same model and backend
  when one was profiled, else the query profile's own one-off index encoding);
- with `--queries-per-s Q`: replicas (each as the row ran: its threads, its device) to serve
  Q queries per second, from the mean latency per query at N.

Every predicted value names what it came from, the largest size measured and how far beyond
it the prediction reaches; a latency prediction carries the fit's 95% interval, and the fit
refuses what it cannot state (growth it did not see, far extrapolation without an error
bound; see `Fit.predict`). Predicted columns say "predicted" in their header in every format.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kdbench.errors import UserError
from kdbench.json_types import JsonObject
from kdbench.profile.config import APPROXIMATE_SEARCHES
from kdbench.profile.growth import (
    Fit,
    Prediction,
    fits_of,
    rest_trend,
    search_method,
    staged_prediction,
)
from kdbench.profile.measurements import ProfileResult
from kdbench.quantities import QuantityError, parse_size
from kdbench.report.budget import Constraint, describe
from kdbench.report.rows import Row, profiles_of

GIB = 2**30
PRECISION_BYTES = {"fp32": 4, "fp16": 2, "int8": 1}  # per vector dimension


def parse_count(text: str, where: str = "--scale-to") -> int:
    """A number of passages in the quantity grammar (`kdbench.quantities.parse_size`):
    '8.8M' -> 8800000; '500k', '1e6' and '8841823' too; a UserError naming `where`.

    >>> parse_count("8.8M"), parse_count("500k"), parse_count("8841823")
    (8800000, 500000, 8841823)
    """
    try:
        return parse_size(text)
    except QuantityError as exc:
        raise UserError(f"{where}: {exc}") from None


def short_count(value: float) -> str:
    """8800000 -> '8.8M', 5000 -> '5k', 950 -> '950'.

    >>> short_count(8_800_000), short_count(5_000), short_count(8_841_823)
    ('8.8M', '5k', '8.84M')
    """
    for size, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if value >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:g}"


@dataclass(frozen=True)
class Scale:
    """What `--scale-to` and `--queries-per-s` ask for."""

    passages: int | None = None
    queries_per_s: float | None = None


@dataclass(frozen=True)
class Predicted:
    """One predicted value: never measured, so it says where it came from."""

    value: float | None  # None: refused
    unit: str
    source: str  # the fit or count it came from
    low: float | None = None  # 95% interval, where the fit has one
    high: float | None = None
    largest_measured: float | None = None  # index size (passages)
    factor: float | None = None  # the prediction's size / the largest measured
    refused: str | None = None

    def to_dict(self) -> JsonObject:
        return {"predicted": True, **{k: v for k, v in vars(self).items()}}


@dataclass(frozen=True)
class ScaleNotes:
    """What a report says about its predictions: the size and rate asked for, and its lines
    (a headline, then one "- " line per note)."""

    scale_to: int | None
    queries_per_s: float | None
    lines: list[str] = field(default_factory=list)

    def to_dict(self) -> JsonObject:
        """The notes as a report's JSON records them (meta["scale"])."""
        return {
            "scale_to": self.scale_to,
            "queries_per_s": self.queries_per_s,
            "lines": list(self.lines),
        }


def apply_scale(
    rows: list[Row],
    results: Iterable[JsonObject],
    scale: Scale,
    budget: list[Constraint] | None = None,
) -> ScaleNotes:
    """Fill each row's `predicted` at `scale` and return the report's notes on it."""
    lines: list[str] = []
    targets: list[Row] = []
    for label, data in profiles_of(results):
        profile = ProfileResult.from_dict(data)
        own = [r for r in rows if r.label == label and not r.baseline_for and not r.reference]
        found, predicted = _scale_profile(profile, own, rows, scale)
        lines += found
        targets += predicted
    if scale.passages is not None:
        for target in targets:  # exact search over budget: what approximate indexes suggest
            approximate = [t for t in targets if t.search and t.label == target.label]
            if not target.search:
                lines += _over_budget(target, budget or [], scale.passages, approximate)
    if scale.passages is None:  # --queries-per-s alone: capacity at the sizes measured
        for row in rows:
            if row.p50_ms is not None and "replicas" not in row.predicted and not row.reference:
                _add_replicas(row, None, scale)
    return ScaleNotes(
        scale.passages, scale.queries_per_s, [_headline(scale), *(f"- {line}" for line in lines)]
    )


def _headline(scale: Scale) -> str:
    what = []
    if scale.passages is not None:
        what.append(f"at {short_count(scale.passages)} passages ({scale.passages:,})")
    if scale.queries_per_s is not None:
        what.append(f"for {scale.queries_per_s:g} queries/s")
    return (
        f"Predicted {' and '.join(what)}: columns marked 'predicted' were never measured; "
        "'predicted from' names the fit or count behind each row's values, the largest index "
        "size measured and how far beyond it they reach."
    )


def _scale_profile(
    profile: ProfileResult, own: list[Row], rows: list[Row], scale: Scale
) -> tuple[list[str], list[Row]]:
    """Predictions for one profile's rows: the notes they need, and the query rows predicted."""
    fits = fits_of(profile)
    cache = profile.header.environment.get("last_level_cache") or {}
    lines = []
    groups: dict[tuple[Any, ...], list[Row]] = {}
    # this profile's rows only: two profiles of one model (exact, hnsw) share its label
    cells = {
        (c.backend, c.precision, c.batch_size, c.seq_len, c.depth, c.index_size, search_method(c))
        for c in profile.cells
    }
    for row in own:
        shape = (row.backend, row.precision, row.batch_size, row.seq_len, row.depth)
        if (*shape, row.index_size, row.search or "exact") not in cells:
            continue
        if row.scenario == "query" and row.index_size is not None:
            key = (row.backend, row.precision, row.batch_size, row.seq_len, row.depth, row.search)
            groups.setdefault(key, []).append(row)
        elif row.scenario == "index" and row.throughput and scale.passages is not None:
            _add_build(
                row,
                row.throughput,
                f"this row's encoding, {row.throughput:,.0f} passages/s",
                scale.passages,
            )
    targets = []
    for group in groups.values():
        target = max(group, key=lambda r: r.index_size or 0)
        encoder = _encoder(target, rows, profile)
        lines += _predict_query_row(target, group, fits, cache, encoder, scale)
        targets.append(target)
    lines += _depth_notes(profile, fits, own)
    return lines, targets


def _encoder(target: Row, rows: list[Row], profile: ProfileResult) -> tuple[float, str] | None:
    """Passages per second to build the index with, and where that number came from."""
    timed = [
        r
        for r in rows
        if r.label == target.label and r.scenario == "index" and r.throughput and not r.reference
    ]
    same = [r for r in timed if (r.backend, r.precision) == (target.backend, target.precision)]
    if same or timed:
        best = max(same or timed, key=lambda r: r.throughput or 0.0)
        assert best.throughput is not None
        return best.throughput, f"the index row {describe(best)}: {best.throughput:,.0f} passages/s"
    encode = (profile.scenario or {}).get("index_encode")
    rate = encode.get("passages_per_s") if isinstance(encode, dict) else None
    if isinstance(encode, dict) and isinstance(rate, int | float) and rate:
        return float(rate), (
            f"this profile's index encoding ({encode['passages']:,} passages in "
            f"{encode['seconds']:.1f} s, eager fp32, once)"
        )
    return None


def _predict_query_row(
    target: Row,
    group: list[Row],
    fits: list[Fit],
    cache: Mapping[str, Any],
    encoder: tuple[float, str] | None,
    scale: Scale,
) -> list[str]:
    """A query row's predicted latency, index, memory, build time and replicas at N."""
    sizes = sorted({r.index_size or 0 for r in group})
    per_passage = (
        target.index_size_mib * 2**20 / target.index_size
        if target.index_size_mib and target.index_size
        else None
    )
    passages = scale.passages
    if passages is None:
        _add_replicas(target, None, scale)
        return []
    notes = []
    for quantity in ("p50_ms", "p95_ms", "mean_ms"):
        staged = _staged_fits(target, quantity, fits, cache, per_passage, passages, sizes)
        if staged is not None:
            target.predicted[quantity] = staged.to_dict()
            continue
        fit, why = _fit_for(target, quantity, fits, cache, per_passage, passages, sizes)
        target.predicted[quantity] = _latency_from_fit(fit, why, passages, sizes).to_dict()
    if per_passage is not None:
        _add_index(target, per_passage, passages, sizes)
    if encoder is not None:
        _add_build(target, encoder[0], encoder[1], passages)
    _add_replicas(target, target.predicted.get("mean_ms"), scale)
    refusals = {q: target.predicted[q].get("refused") for q in ("p50_ms", "p95_ms")}
    if refusals["p50_ms"] and refusals["p50_ms"] == refusals["p95_ms"]:
        refusals = {"latency": refusals["p50_ms"]}
    for quantity, refused in refusals.items():
        if refused:
            what = quantity.removesuffix("_ms")
            notes.append(
                f"{describe(target)}: {what} at {short_count(passages)} refused: {refused}"
            )
    return notes


def _staged_fits(
    target: Row,
    quantity: str,
    fits: list[Fit],
    cache: Mapping[str, Any],
    per_passage: float | None,
    passages: int,
    sizes: list[int],
) -> Predicted | None:
    """`quantity` at N as the search stage's fit plus the other stages as measured, or None
    where the result has no per-stage fits (then the total is fitted)."""
    rest = _cell_fits(target, f"rest_{quantity}", fits)
    if not rest:
        return None
    growing, why = _fit_for(target, f"search_{quantity}", fits, cache, per_passage, passages, sizes)
    if growing is None:
        return _latency_from_fit(None, why, passages, sizes)
    other = max(rest, key=lambda f: len(f.points))
    predicted = staged_prediction(growing, other, passages)
    low, high = _levels(other)
    source = (
        f"search: {growing.describe()}; + the other stages (query encoding) as measured, "
        f"{low:,.2f} to {high:,.2f} ms between the sizes"
    )
    trend = rest_trend(other, passages)
    if trend is not None and trend.value is not None:
        source += (
            f"; they grew with the index (it shares the cache with the model), so the "
            f"interval also spans their trend, {trend.value:,.2f} ms at {short_count(passages)}"
        )
    return _predicted_latency(predicted, source, growing.largest)


def _levels(fit: Fit) -> tuple[float, float]:
    values = [y for _, y, _ in fit.points]
    return min(values), max(values)


def _cell_fits(target: Row, quantity: str, fits: list[Fit]) -> list[Fit]:
    """The fits of `quantity` for the target's cell (any regime)."""
    variable = "log_index_size" if target.search in APPROXIMATE_SEARCHES else "index_size"
    return [
        f
        for f in fits
        if f.quantity == quantity
        and f.variable == variable
        and f.cell.get("search", "exact") == (target.search or "exact")
        and (f.cell.get("backend"), f.cell.get("precision")) == (target.backend, target.precision)
        and (f.cell.get("batch_size"), f.cell.get("seq_len")) == (target.batch_size, target.seq_len)
        and f.cell.get("depth") == target.depth
    ]


def _fit_for(
    target: Row,
    quantity: str,
    fits: list[Fit],
    cache: Mapping[str, Any],
    per_passage: float | None,
    passages: int,
    sizes: list[int],
) -> tuple[Fit | None, str]:
    """The fit of `quantity` for the target's cell in the regime the index at N falls in,
    or None and why there is none."""
    mine = _cell_fits(target, quantity, fits)
    if not mine:
        return None, (
            f"one index size measured ({sizes[0]:,}); time two or more to fit growth "
            "(kdbench profile --index-size 1000,5000)"
        )
    cache_bytes = cache.get("bytes") or mine[0].cache_bytes
    if not cache_bytes or per_passage is None or target.search:
        return max(mine, key=lambda f: len(f.points)), ""
    wanted = "past cache" if per_passage * passages > cache_bytes else "in cache"
    matching = [f for f in mine if f.regime == wanted]
    if matching:
        return max(matching, key=lambda f: len(f.points)), ""
    return None, _regime_refusal(wanted, cache, cache_bytes, per_passage, passages, sizes)


def _regime_refusal(
    wanted: str,
    cache: Mapping[str, Any],
    cache_bytes: float,
    per_passage: float,
    passages: int,
    sizes: list[int],
) -> str:
    """Why no fit holds in the regime the index at N falls in, naming the measured sizes on
    that side of the cache (fewer than the two a line needs) and what to time."""
    level = cache.get("level", "last-level")
    cache_text = f"the {cache_bytes / 2**20:.0f} MiB {level} cache"
    past = wanted == "past cache"
    side = [s for s in sizes if (s * per_passage > cache_bytes) == past]
    where = "past" if past else "inside"
    at_n = f"at {short_count(passages)} the index ({passages * per_passage / GIB:.1f} GiB)"
    if past:
        at_n += " is read from memory, at a cost per row the sizes inside the cache do not show"
    else:
        at_n += f" fits {cache_text}, where a row costs less than the sizes past it show"
    if not side:
        largest = max(sizes) if past else min(sizes)
        which = "largest" if past else "smallest"
        found = (
            f"no measured index is {where} {cache_text} ({which} {largest:,} passages, "
            f"{largest * per_passage / 2**20:.1f} MiB)"
        )
    else:
        (only,) = side
        found = (
            f"one measured index is {where} {cache_text} ({only:,} passages, "
            f"{only * per_passage / 2**20:.1f} MiB), and a line needs two"
        )
    if past:
        first = side[0] if side else _nice(2 * cache_bytes / per_passage)
        asked = [first, 2 * first]
    else:
        top = cache_bytes / per_passage  # the most passages that fit
        asked = [_nice(top / 8), _nice(top / 3)]
    return (
        f"{found}; {at_n}: time two sizes {where} it, e.g. --index-size {','.join(map(str, asked))}"
    )


def _nice(value: float) -> int:
    """Up to a round number: 43691 -> 50000."""
    step = 10 ** max(0, math.floor(math.log10(value)))
    return int(math.ceil(value / step) * step)


def _latency_from_fit(fit: Fit | None, why: str, passages: int, sizes: list[int]) -> Predicted:
    largest = float(max(sizes))
    if fit is None:
        return Predicted(
            None, "ms", "", largest_measured=largest, factor=passages / largest, refused=why
        )
    return _predicted_latency(fit.predict(passages), fit.describe(), fit.largest)


def _predicted_latency(predicted: Prediction, source: str, largest: float) -> Predicted:
    low = None if predicted.low is None else max(0.0, predicted.low)  # a latency is not negative
    return Predicted(
        predicted.value,
        "ms",
        source,
        low,
        predicted.high,
        largest,
        predicted.factor,
        predicted.refused,
    )


def _add_index(row: Row, per_passage: float, passages: int, sizes: list[int]) -> None:
    """Index bytes at N per precision: counted bytes per passage × N (a count, not a fit)."""
    largest = float(max(sizes))
    source = f"counted: {per_passage:,.0f} bytes per passage (fp32) at {', '.join(f'{s:,}' for s in sizes)}"
    for precision, size in PRECISION_BYTES.items():
        value = per_passage * size / 4 * passages / GIB
        row.predicted[f"index_gib_{precision}"] = Predicted(
            value, "GiB", source, value, value, largest, passages / largest
        ).to_dict()
    weights = row.weights_mib
    if weights is not None:
        fixed = (weights + (row.activations_mib or 0.0)) / 1024
        value = fixed + per_passage * passages / GIB
        row.predicted["memory_gib"] = Predicted(
            value,
            "GiB",
            f"weights + activations as measured at {row.index_size:,} passages + the fp32 index",
            largest_measured=largest,
            factor=passages / largest,
        ).to_dict()


def _add_build(row: Row, rate: float, source: str, passages: int) -> None:
    row.predicted["build_h"] = Predicted(
        passages / rate / 3600, "h", f"{passages:,} passages ÷ {source}"
    ).to_dict()


def _add_replicas(row: Row, mean: Mapping[str, Any] | None, scale: Scale) -> None:
    """Processes (each as the row ran) to serve the asked queries per second."""
    if scale.queries_per_s is None or not row.batch_size or row.scenario == "index":
        return
    if row.qps_bound:  # a server row: replicas from the highest QPS that held its bound
        row.predicted["replicas"] = Predicted(
            math.ceil(scale.queries_per_s / row.max_qps) if row.max_qps else None,
            "",
            f"{scale.queries_per_s:g} q/s ÷ {row.max_qps or 0:.4g} max valid QPS "
            f"@ {row.qps_bound} per replica, measured on {row.qps_machine or 'an unnamed machine'}",
            refused=None if row.max_qps else f"no valid QPS @ {row.qps_bound}",
        ).to_dict()
        return
    if mean is None:
        if row.p50_ms is None:
            return
        latency, low, high = row.p50_ms, None, None
        source = "the measured p50 per call (no scaling asked)"
    elif mean.get("value") is None:
        row.predicted["replicas"] = Predicted(None, "", "", refused=mean.get("refused")).to_dict()
        return
    else:
        latency, low, high = mean["value"], mean.get("low"), mean.get("high")
        source = "the predicted mean latency: " + str(mean["source"])

    def needed(ms: float | None) -> float | None:
        return None if ms is None else math.ceil(scale.queries_per_s * ms / 1000 / row.batch_size)  # type: ignore[operator]

    row.predicted["replicas"] = Predicted(
        needed(latency), "", f"{scale.queries_per_s:g} q/s × {source}", needed(low), needed(high)
    ).to_dict()


def _over_budget(
    row: Row, budget: list[Constraint], passages: int, approximate: list[Row]
) -> list[str]:
    """Where exact search's predicted latency at N breaks a latency constraint: say so, and
    what the approximate indexes profiled beside it predict (or that none was)."""
    notes = []
    for constraint in budget:
        predicted = row.predicted.get(f"{constraint.column}_ms")
        if predicted is None or predicted.get("value") is None:
            continue
        if not constraint.holds(predicted["value"]):
            notes.append(
                f"{describe(row)}: at {short_count(passages)} exact search is predicted at "
                f"{constraint.column} {predicted['value']:,.1f} ms, outside {constraint.text}; "
                + approximate_note(approximate, constraint, passages)
            )
    return notes


def approximate_note(approximate: list[Row], constraint: Constraint, passages: int) -> str:
    """What the approximate indexes measured suggest at N, or how to measure one."""
    import importlib.util

    found = []
    for row in approximate:
        predicted = row.predicted.get(f"{constraint.column}_ms") or {}
        if predicted.get("value") is None:
            found.append(f"{row.search} ({describe(row)}): {predicted.get('refused')}")
            continue
        verdict = "inside" if constraint.holds(predicted["value"]) else "outside"
        found.append(
            f"{row.search} measured up to {row.index_size:,} passages ({row.includes}) "
            f"predicts {constraint.column} {predicted['value']:,.2f} ms at {short_count(passages)} "
            f"from a fit in log N, {verdict} the budget; its recall at N is not measured"
        )
    if found:
        return "an approximate index: " + "; ".join(found)
    if importlib.util.find_spec("faiss") is None:
        return (
            "an approximate index (HNSW) reads a fraction of the rows per query; faiss is not "
            "installed here, so none was measured (pip install faiss-cpu, then kdbench profile "
            "--search hnsw --index-size ...)"
        )
    return (
        "an approximate index (HNSW) reads a fraction of the rows per query: profile one with "
        "kdbench profile --search hnsw --index-size ... and report both"
    )


def _depth_notes(profile: ProfileResult, fits: list[Fit], own: list[Row]) -> list[str]:
    """Re-ranking cost per candidate, from fits over depth: it does not grow with the collection."""
    notes = []
    for fit in fits:
        if fit.variable == "depth" and fit.quantity == "p50_ms":
            cell = fit.cell
            notes.append(
                f"{own[0].label if own else '?'} {cell.get('backend')}:{cell.get('precision')} "
                f"{cell.get('scenario')}: {fit.slope:.4g} ms per candidate + {fit.intercept:.3g} ms "
                f"({fit.describe()}); at a fixed depth it does not grow with the collection"
            )
    return notes


# A predicted column: its header, how a row gives its value, the decimals shown.
PredictedColumn = tuple[str, Callable[[Row], object], int | None]
# name in Row.predicted, header (before " @N (predicted)"), decimals; p50/p95 with intervals
PREDICTED_COLUMNS = (
    ("p50_ms", "p50 ms", 2),
    ("p95_ms", "p95 ms", 2),
    ("index_gib_fp32", "index GiB fp32", 2),
    ("index_gib_fp16", "index GiB fp16", 2),
    ("index_gib_int8", "index GiB int8", 2),
    ("memory_gib", "memory GiB", 2),
    ("build_h", "build h", 2),
    ("replicas", "replicas", 0),
)


def columns(rows: list[Row], passages: int | None) -> list[PredictedColumn]:
    """(header, getter, decimals) of the predicted columns some row has, each header ending
    in "(predicted)", then "predicted from"."""
    present = {name for row in rows for name in row.predicted}
    at = f" @{short_count(passages)}" if passages else ""
    found: list[PredictedColumn] = []
    for name, header, decimals in PREDICTED_COLUMNS:
        if name in present:
            found.append((f"{header}{at} (predicted)", _getter(name, "value"), decimals))
            if name in ("p50_ms", "p95_ms"):
                interval = f"{header[:3]}{at} 95% interval (predicted)"
                found.append((interval, _interval(name), decimals))
    if present:
        found.append(("predicted from", _source, None))
    return found


def _getter(name: str, key: str) -> Callable[[Row], object]:
    def get(row: Row) -> object:
        return (row.predicted.get(name) or {}).get(key)

    return get


def _interval(name: str) -> Callable[[Row], list[float] | None]:
    def get(row: Row) -> list[float] | None:
        value = row.predicted.get(name) or {}
        if value.get("low") is None or value.get("high") is None:
            return None
        return [value["low"], value["high"]]

    return get


def _source(row: Row) -> str:
    """The fit behind the row's latency predictions (or why they were refused), in short."""
    latencies = {q: row.predicted[q] for q in ("p50_ms", "p95_ms") if q in row.predicted}
    if not latencies:
        build = row.predicted.get("build_h") or row.predicted.get("replicas")
        return str(build["source"]) if build else ""
    made = [latency for latency in latencies.values() if not latency.get("refused")]
    refused = [q.removesuffix("_ms") for q, latency in latencies.items() if latency.get("refused")]
    if not made:
        largest = next(iter(latencies.values()))["largest_measured"] or 0
        return f"latency refused ({short_count(largest)} largest measured)"
    latency = made[0]
    fit = "fit in log N" if "log of index size" in latency["source"] else "linear fit"
    text = (
        f"{fit}, largest measured {latency['largest_measured']:,.0f} passages "
        f"(×{latency['factor']:,.0f} beyond)"
    )
    return text + (f"; {' and '.join(refused)} refused" if refused else "")
