"""How cost grows: straight-line fits of latency and index bytes over measured sizes.

A profile that times several index sizes (`--index-size 1000,5000,20000`, exact search) or
re-ranking depths (`--depth 10,50,100`) gets one fit per quantity and per fixed cell
(backend, precision, batch, sequence length, and the other of size or depth): exact search
reads every index row, so its cost is linear in index size; a re-ranker scores every
candidate, so its cost is linear in depth (the slope is the cost per candidate).

Each measured point is the cell's statistic with its standard error from the raw samples
(a percentile's from its distribution-free order-statistic interval, the mean's from the
standard deviation). With those the fit is weighted least squares and its parameters have a
covariance; with three sizes or more, a fit worse than the points' own noise widens it (the
Birge ratio), so curvature shows up as a wider interval. Without samples (a hand-made
result) it is ordinary least squares, with an error only from three points on.

Process memory is not fitted: an allocator keeps freed pages, so a process's peak at small
sizes does not follow its index; what grows is the index, whose bytes each cell counts.

`Fit.predict` refuses what it cannot state: more than `MAX_FACTOR` times the largest
measured size without an error bound, or growth the measurements did not show.

>>> fit = fit_line("index_bytes", "index_size", [(1000, 4000.0, 0.0), (3000, 12000.0, 0.0)])
>>> fit.slope, fit.predict(10_000).value
(4.0, 40000.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kdbench.errors import UserError
from kdbench.json_types import JsonObject, is_json_object
from kdbench.profile.measurements import Cell, Latency, ProfileResult

# What a fit holds fixed: backend, precision, arch, scenario, batch_size, seq_len, search,
# depth or index_size; over index sizes with a known cache also cache_bytes and regime.
FitCell = dict[str, str | int | None]

# Up to this many times the largest measured size, a prediction needs no error bound.
MAX_FACTOR = 10.0

VARIABLES = {
    "index_size": "linear in index size (exact search reads every row)",
    "log_index_size": "linear in the log of index size (an HNSW graph's search)",
    "depth": "linear in re-ranking depth (a cost per candidate)",
}
# What is fitted, its unit, and whether it is counted rather than timed (exact, no noise).
QUANTITIES = {
    "p50_ms": ("ms", False),
    "p95_ms": ("ms", False),
    "mean_ms": ("ms", False),
    "search_p50_ms": ("ms", False),
    "search_p95_ms": ("ms", False),
    "search_mean_ms": ("ms", False),
    # every stage but search (encoding the query), per call: not the index's cost, though it
    # can slow beside a larger one (`staged_prediction`)
    "rest_p50_ms": ("ms", False),
    "rest_p95_ms": ("ms", False),
    "rest_mean_ms": ("ms", False),
    "index_bytes": ("bytes", True),
}
# The stage that grows with the index; a query's total is predicted as its fit plus the
# other stages as measured (`staged_prediction`), so their noise does not enter the slope.
GROWING_STAGE = "search"

# Two-sided 95% quantiles of Student's t by degrees of freedom (beyond the table: normal).
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306}
_Z95 = 1.96


@dataclass(frozen=True)
class Prediction:
    """A value a fit predicts at `x`, its 95% interval, or why it refused."""

    x: float
    value: float | None
    low: float | None = None
    high: float | None = None
    factor: float = 1.0  # x / the largest measured size
    refused: str | None = None


@dataclass(frozen=True)
class Fit:
    """quantity = intercept + slope · variable, over measured points (x, y, standard error)."""

    quantity: str
    variable: str
    intercept: float
    slope: float
    points: list[tuple[float, float, float | None]]
    covariance: tuple[float, float, float] | None = None  # var(a), cov(a, b), var(b)
    quantile: float = _Z95  # the interval's multiplier (normal, or t with n - 2 dof)
    error_from: str = ""  # how the covariance was estimated ("" when there is none)
    # the fixed part: backend, precision, batch, ...; over index sizes with a known cache,
    # also cache_bytes and regime: "in cache", "past cache" (every point) or "both"
    cell: FitCell = field(default_factory=dict)

    @property
    def regime(self) -> str:
        """ "in cache", "past cache" or "both" over index sizes with a known cache, else ""."""
        return str(self.cell.get("regime", ""))

    @property
    def cache_bytes(self) -> int | None:
        """The last-level cache the sizes were placed against (None: not known)."""
        value = self.cell.get("cache_bytes")
        return value if isinstance(value, int) else None

    @property
    def logarithmic(self) -> bool:
        return self.variable == "log_index_size"

    def size(self, x: float) -> float:
        """A point's size (passages, candidates) from its x (the log of it for an HNSW fit)."""
        return math.exp(x) if self.logarithmic else x

    @property
    def largest(self) -> float:
        return max(self.size(x) for x, _, _ in self.points)

    @property
    def sizes(self) -> list[float]:
        return sorted({self.size(x) for x, _, _ in self.points})

    @property
    def unchecked(self) -> bool:
        """Two sizes of a timed quantity: the line goes through both, so nothing checks that
        cost is linear in between or beyond them."""
        return len(self.sizes) == 2 and not QUANTITIES[self.quantity][1]

    def power_law_at(self, x: float) -> float | None:
        """The other simple model through two sizes, y = c·x^k: where it and the line part,
        two sizes cannot say which holds (None: not two positive points)."""
        if not self.unchecked or self.logarithmic:
            return None
        by_x: dict[float, list[float]] = {}
        for px, py, _ in self.points:
            by_x.setdefault(px, []).append(py)
        (x1, ys1), (x2, ys2) = sorted(by_x.items())
        y1, y2 = sum(ys1) / len(ys1), sum(ys2) / len(ys2)
        if min(x1, y1, y2, x) <= 0:
            return None
        k = math.log(y2 / y1) / math.log(x2 / x1)
        return y1 * (x / x1) ** k

    @property
    def max_residual(self) -> float:
        """The largest relative miss of the line at a measured point (0: through every one)."""
        return max(
            (abs(y - self.at(x)) / abs(y) for x, y, _ in self.points if y),
            default=0.0,
        )

    def at(self, x: float) -> float:
        return self.intercept + self.slope * x

    def describe(self) -> str:
        """One line: what was fitted over which sizes, and how good it is."""
        sizes = ", ".join(f"{x:,.0f}" for x in self.sizes)
        text = f"{self.quantity} {VARIABLES[self.variable]}; measured at {sizes}"
        if len(self.sizes) > 2:
            text += f"; largest miss at a measured size {self.max_residual:.0%}"
        elif self.unchecked and not self.logarithmic:
            text += (
                "; linearity unchecked (two sizes): the interval also spans a power law "
                "through both"
            )
        else:
            text += "; linearity unchecked (two sizes)"
        return text + (f"; 95% interval {self.error_from}" if self.error_from else "")

    def predict(self, size: float, max_factor: float = MAX_FACTOR) -> Prediction:
        """The fitted value at `size` with its 95% interval, unless that says more than the
        measurements can: growth they did not show, or a far extrapolation without error."""
        factor = size / self.largest
        x = math.log(size) if self.logarithmic else size
        value = self.at(x)
        if factor > 1 and self.slope <= 0:
            return Prediction(
                size,
                None,
                factor=factor,
                refused=f"{self.quantity} did not grow over the measured sizes "
                f"({', '.join(f'{s:,.0f}' for s in self.sizes)}); time larger ones",
            )
        if self.covariance is None:
            if factor > max_factor:
                return Prediction(
                    size,
                    None,
                    factor=factor,
                    refused=f"{factor:,.0f}× the largest measured size ({self.largest:,.0f}) "
                    "and the fit has no error bound; time three sizes or more, or keep samples",
                )
            return Prediction(size, value, factor=factor)
        var_a, cov_ab, var_b = self.covariance
        half = self.quantile * math.sqrt(max(0.0, var_a + 2 * x * cov_ab + x * x * var_b))
        low, high = value, value
        other = self.power_law_at(x)
        if other is not None:  # two sizes: what the fit cannot check widens the interval
            low, high = min(value, other), max(value, other)
        return Prediction(size, value, low - half, high + half, factor)

    def to_dict(self) -> JsonObject:
        return {
            "quantity": self.quantity,
            "unit": QUANTITIES[self.quantity][0],
            "variable": self.variable,
            "model": VARIABLES[self.variable],
            "cell": {**self.cell},
            "intercept": self.intercept,
            "slope": self.slope,
            "covariance": None if self.covariance is None else list(self.covariance),
            "quantile": self.quantile,
            "error_from": self.error_from,
            "points": [list(point) for point in self.points],
            "max_residual": self.max_residual,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Fit:
        """A fit as `to_dict` wrote it (a profile result's "growth")."""
        covariance = data.get("covariance")
        if covariance is not None:
            covariance = _stored_numbers(covariance, 3, "growth covariance")
        return cls(
            quantity=_stored_text(data.get("quantity"), "growth quantity"),
            variable=_stored_text(data.get("variable"), "growth variable"),
            intercept=float(_stored_number(data.get("intercept"), "growth intercept")),
            slope=float(_stored_number(data.get("slope"), "growth slope")),
            points=[
                _stored_point(point) for point in _stored_list(data.get("points"), "growth points")
            ],
            covariance=None
            if covariance is None
            else (covariance[0], covariance[1], covariance[2]),
            quantile=float(_stored_number(data.get("quantile", _Z95), "growth quantile")),
            error_from=str(data.get("error_from", "")),
            cell=_stored_fit_cell(data.get("cell", {})),
        )


def staged_prediction(growing: Fit, rest: Fit, size: float) -> Prediction:
    """A query's total at `size`: the growing stage's prediction plus the other stages.

    Those are taken as not growing with the index: their value is their mean over the measured
    sizes, and the interval spans every size's value with its own error (the differences
    between sizes are how much a cell's encoding varies from run to run). But the other stages
    share the cache with the index: a larger index that streams through the cache evicts more
    of the model's weights, and encoding the query slows. Two sizes cannot tell that apart
    from noise, so where the other stages grew between the sizes the interval also spans
    their own fit (`rest`, with its interval) carried on to `size`.

    >>> search = fit_line("search_p50_ms", "index_size", [(10, 1.0, 0.01), (20, 2.0, 0.01)])
    >>> rest = fit_line("rest_p50_ms", "index_size", [(10, 14.0, 0.1), (20, 16.0, 0.1)])
    >>> p = staged_prediction(search, rest, 40)
    >>> round(p.value, 3), round(p.low, 2), round(p.high, 2)
    (19.0, 17.73, 24.78)
    """
    grown = growing.predict(size)
    if grown.value is None:
        return grown
    level, low, high = _rest_span(rest, size)
    value = grown.value + level
    if grown.low is None or grown.high is None:
        return Prediction(size, value, factor=grown.factor)
    return Prediction(size, value, grown.low + low, grown.high + high, grown.factor)


def _rest_span(rest: Fit, size: float) -> tuple[float, float, float]:
    """The other stages at `size`: (their level as measured, low, high). The span holds the
    level with its spread and, where they grew over the measured sizes, their trend."""
    values = [y for _, y, _ in rest.points]
    level = sum(values) / len(values)
    errors = [se for _, _, se in rest.points if se is not None]
    half = max(abs(y - level) for y in values) + _Z95 * max(errors, default=0.0)
    low, high = level - half, level + half
    trend = rest_trend(rest, size)
    if trend is not None and trend.value is not None:
        low = min(low, trend.low if trend.low is not None else trend.value)
        high = max(high, trend.high if trend.high is not None else trend.value)
    return level, low, high


def rest_trend(rest: Fit, size: float) -> Prediction | None:
    """The other stages' own line carried on to `size`, where they grew over the measured
    sizes and `size` lies beyond them (None: they did not grow, or `size` is not beyond)."""
    trend = rest.predict(size)  # refused where they did not grow
    return trend if trend.value is not None and trend.factor > 1 else None


def fit_line(
    quantity: str,
    variable: str,
    points: Sequence[tuple[float, float, float | None]],
    cell: FitCell | None = None,
) -> Fit:
    """The least-squares line through `points` (x, y, standard error of y).

    Known errors on every point: weighted, the covariance from them (widened by the misfit
    when there are three points or more); a counted quantity (`QUANTITIES`) is exact;
    otherwise ordinary least squares with an error only when it has residual freedom.

    >>> fit = fit_line("mean_ms", "index_size", [(1, 1.0, None), (2, 3.0, None), (3, 3.0, None)])
    >>> [round(v, 6) for v in (fit.intercept, fit.slope, fit.covariance[2])]  # var(slope) = s²/Sxx
    [0.333333, 1.0, 0.333333]
    """
    if len({x for x, _, _ in points}) < 2:
        raise ValueError(f"a line needs two distinct sizes, got {[x for x, _, _ in points]}")
    exact = QUANTITIES[quantity][1]
    known = not exact and all(se is not None and se > 0 for _, _, se in points)
    weights = [1.0 / se**2 if known and se else 1.0 for _, _, se in points]  # type: ignore[operator]
    intercept, slope, inverse = _weighted_line(points, weights)
    dof = len(points) - 2
    misfit = sum(
        w * (y - intercept - slope * x) ** 2 for (x, y, _), w in zip(points, weights, strict=True)
    )
    covariance: tuple[float, float, float] | None
    if exact:
        covariance, quantile, error_from = (0.0, 0.0, 0.0), _Z95, "none: counted, not timed"
    elif known:
        scale = max(1.0, misfit / dof) if dof > 0 else 1.0
        covariance = _scaled(inverse, scale)
        quantile, error_from = _Z95, "from the samples' spread at each size"
        if scale > 1.0:
            error_from += f", widened ×{math.sqrt(scale):.1f} by the misfit"
    elif dof > 0:
        covariance = _scaled(inverse, misfit / dof)
        quantile, error_from = _T95.get(dof, _Z95), f"from the residuals (t, {dof} dof)"
    else:
        covariance, quantile, error_from = None, _Z95, ""
    return Fit(
        quantity,
        variable,
        intercept,
        slope,
        list(points),
        covariance,
        quantile,
        error_from,
        dict(cell or {}),
    )


def _weighted_line(
    points: Sequence[tuple[float, float, float | None]], weights: Sequence[float]
) -> tuple[float, float, tuple[float, float, float]]:
    """(intercept, slope, (XᵀWX)⁻¹ as var(a), cov(a, b), var(b)) of weighted least squares."""
    s = sum(weights)
    sx = sum(w * x for (x, _, _), w in zip(points, weights, strict=True))
    sxx = sum(w * x * x for (x, _, _), w in zip(points, weights, strict=True))
    sy = sum(w * y for (_, y, _), w in zip(points, weights, strict=True))
    sxy = sum(w * x * y for (x, y, _), w in zip(points, weights, strict=True))
    d = s * sxx - sx * sx
    slope = (s * sxy - sx * sy) / d
    intercept = (sxx * sy - sx * sxy) / d
    return intercept, slope, (sxx / d, -sx / d, s / d)


def _scaled(inverse: tuple[float, float, float], scale: float) -> tuple[float, float, float]:
    return (inverse[0] * scale, inverse[1] * scale, inverse[2] * scale)


def quantile_error(samples: Sequence[float], q: float) -> float | None:
    """The standard error of the `q` quantile of `samples`, from its distribution-free 95%
    interval (the order statistics n·q ± 1.96·√(n·q·(1−q))); None below 20 samples.

    >>> quantile_error(list(range(1, 101)), 0.5)  # the median's interval: values 40 to 60
    5.1020408163265305
    """
    n = len(samples)
    if n < 20:
        return None
    ordered = sorted(samples)
    spread = _Z95 * math.sqrt(n * q * (1 - q))
    low = max(0, math.floor(n * q - spread) - 1)
    high = min(n - 1, math.ceil(n * q + spread) - 1)
    return (ordered[high] - ordered[low]) / (2 * _Z95)


# One measured point of a cell: (value, standard error or None), or None when not measured.
Measure = Callable[[Cell], tuple[float, float | None] | None]


def _latency(q: float, stage: str = "total") -> Measure:
    def measure(cell: Cell) -> tuple[float, float | None] | None:
        latency = cell.latency if stage == "total" else (cell.stages or {}).get(stage)
        if latency is None:
            return None
        value = {0.5: latency.p50, 0.95: latency.p95}[q]
        raw = (cell.samples_ns or {}).get(stage)
        error = quantile_error([t / 1e6 for t in raw], q) if raw else None
        return value, error

    return measure


def _mean_of(latency: Latency | None) -> tuple[float, float | None] | None:
    if latency is None:
        return None
    return latency.mean, (latency.std / math.sqrt(latency.n) if latency.n > 1 else None)


def _mean(cell: Cell) -> tuple[float, float | None] | None:
    return _mean_of(cell.latency)


def _stage_mean(cell: Cell) -> tuple[float, float | None] | None:
    return _mean_of((cell.stages or {}).get(GROWING_STAGE))


def rest_samples_ms(cell: Cell) -> list[float] | None:
    """Per timed call, the total less the growing stage (ms): the other stages."""
    raw = cell.samples_ns or {}
    total, growing = raw.get("total"), raw.get(GROWING_STAGE)
    if not total or not growing or len(total) != len(growing):
        return None
    return [(t - g) / 1e6 for t, g in zip(total, growing, strict=True)]


def _rest(statistic: str) -> Measure:
    """The other stages' p50, p95 or mean per call, from the raw samples (None without them:
    a difference of two percentiles is not the percentile of the difference)."""

    def measure(cell: Cell) -> tuple[float, float | None] | None:
        rest = rest_samples_ms(cell)
        if rest is None:
            return None
        if statistic == "mean":
            mean = sum(rest) / len(rest)
            if len(rest) < 2:
                return mean, None
            std = math.sqrt(sum((v - mean) ** 2 for v in rest) / (len(rest) - 1))
            return mean, std / math.sqrt(len(rest))
        q = {"p50": 0.5, "p95": 0.95}[statistic]
        ordered = sorted(rest)
        position = q * (len(ordered) - 1)  # numpy's linear interpolation, as stats.py uses
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
        return value, quantile_error(rest, q)

    return measure


def _index_bytes(cell: Cell) -> tuple[float, float | None] | None:
    index_mib = cell.memory.index_mib if cell.memory is not None else None
    return None if index_mib is None else (index_mib * 2**20, 0.0)


MEASURES: dict[str, Measure] = {
    "p50_ms": _latency(0.5),
    "p95_ms": _latency(0.95),
    "mean_ms": _mean,
    "search_p50_ms": _latency(0.5, GROWING_STAGE),
    "search_p95_ms": _latency(0.95, GROWING_STAGE),
    "search_mean_ms": _stage_mean,
    "rest_p50_ms": _rest("p50"),
    "rest_p95_ms": _rest("p95"),
    "rest_mean_ms": _rest("mean"),
    "index_bytes": _index_bytes,
}
_TIMED = tuple(name for name, (_, counted) in QUANTITIES.items() if not counted)


def growth_fits(cells: Iterable[Cell], cache_bytes: int | None = None) -> list[Fit]:
    """Every fit the timed cells allow: per quantity, over index size at a fixed depth and
    over depth at a fixed index size, wherever two sizes or more were timed.

    With `cache_bytes` (the last-level cache), a timed quantity over index sizes on both
    sides of it is also fitted on each side with two sizes or more: an index that outgrows
    the cache is read from memory at a higher cost per row, so one line cannot hold both.
    """
    timed = [cell for cell in cells if cell.latency is not None]
    fits: list[Fit] = []
    for variable, fixed in (("index_size", "depth"), ("depth", "index_size")):
        groups: dict[tuple[str | int | None, ...], list[Cell]] = {}
        for cell in timed:
            if getattr(cell, variable) is not None:
                key = (*_fixed(cell).values(), getattr(cell, fixed))
                groups.setdefault(key, []).append(cell)
        for group in groups.values():
            identity = {**_fixed(group[0]), fixed: getattr(group[0], fixed)}
            fits.extend(_group_fits(variable, group, identity, cache_bytes))
    return fits


def search_method(cell: Cell) -> str:
    """How a query cell searched: "exact", or its approximate method ("hnsw")."""
    return str((cell.search or {}).get("method") or "exact")


def _fixed(cell: Cell) -> FitCell:
    """What a fit holds fixed of `cell`, besides the depth or index size."""
    return {
        "backend": cell.backend,
        "precision": cell.precision,
        "arch": cell.arch,
        "scenario": cell.scenario,
        "batch_size": cell.batch_size,
        "seq_len": cell.seq_len,
        "search": search_method(cell),
    }


def _group_fits(
    variable: str, group: list[Cell], identity: FitCell, cache_bytes: int | None
) -> list[Fit]:
    fits = []
    ordered = sorted(group, key=lambda c: getattr(c, variable))
    sides = [ordered]
    # an HNSW graph visits about log(N) nodes per query: its cost is fitted in log N
    fitted = (
        "log_index_size" if identity["search"] == "hnsw" and variable == "index_size" else variable
    )
    if fitted == "index_size" and cache_bytes:
        regime = _regimes(ordered, cache_bytes)
        identity = {**identity, "cache_bytes": cache_bytes}
        if len(set(regime)) > 1:  # the sizes straddle the cache: each side on its own too
            sides += [
                [c for c, r in zip(ordered, regime, strict=True) if r == side]
                for side in ("in cache", "past cache")
            ]
    for quantity, measure in MEASURES.items():
        for part in sides if quantity in _TIMED else sides[:1]:
            points = [
                (_x(fitted, getattr(cell, variable)), *measured)
                for cell in part
                if (measured := measure(cell)) is not None
            ]
            if len({x for x, _, _ in points}) < 2:
                continue
            cell = dict(identity)
            if "cache_bytes" in cell:
                cell["regime"] = _regime_of(_regimes(part, cache_bytes or 0))
            fits.append(fit_line(quantity, fitted, points, cell))
    return fits


def _x(variable: str, size: int) -> float:
    return math.log(size) if variable == "log_index_size" else float(size)


def _regimes(cells: list[Cell], cache_bytes: int) -> list[str]:
    """Per cell: whether its searched index fits in the cache ("" when its bytes are unknown)."""
    regimes = []
    for cell in cells:
        measured = _index_bytes(cell)
        if measured is None:
            regimes.append("")
        else:
            regimes.append("in cache" if measured[0] <= cache_bytes else "past cache")
    return regimes


def _regime_of(regimes: list[str]) -> str:
    """ "in cache" or "past cache" when every point is; "both" when they straddle the cache."""
    kinds = set(regimes)
    return kinds.pop() if len(kinds) == 1 else "both"


def fits_of(profile: ProfileResult) -> list[Fit]:
    """A profile result's stored fits, or (a result written without them) fitted now, with
    the last-level cache its environment records."""
    stored = profile.growth
    if stored:
        return [Fit.from_dict(f) for f in stored]
    cache = profile.header.environment.get("last_level_cache")
    cache_bytes = cache.get("bytes") if isinstance(cache, dict) else None
    return growth_fits(profile.cells, cache_bytes if isinstance(cache_bytes, int) else None)


# -- reading a stored fit: a file's values checked against what `Fit.to_dict` writes ---------
def _unreadable_fit(what: str) -> UserError:
    return UserError(f"{what} is not what kdbench profile writes; is this a kdbench result?")


def _stored_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise _unreadable_fit(what)
    return value


def _stored_number(value: object, what: str) -> int | float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _unreadable_fit(what)
    return value


def _stored_list(value: object, what: str) -> list[object]:
    if not isinstance(value, list):
        raise _unreadable_fit(what)
    return value


def _stored_numbers(value: object, count: int, what: str) -> list[int | float]:
    """`count` numbers, as stored (an integer stays one, so the fit writes back the same)."""
    numbers = [_stored_number(item, what) for item in _stored_list(value, what)]
    if len(numbers) != count:
        raise _unreadable_fit(what)
    return numbers


def _stored_point(value: object) -> tuple[float, float, float | None]:
    items = _stored_list(value, "a growth point")
    if len(items) != 3:
        raise _unreadable_fit("a growth point")
    x, y, se = items
    error = None if se is None else float(_stored_number(se, "a growth point"))
    return (
        float(_stored_number(x, "a growth point")),
        float(_stored_number(y, "a growth point")),
        error,
    )


def _stored_fit_cell(value: object) -> FitCell:
    if not is_json_object(value):
        raise _unreadable_fit("a growth cell")
    cell: FitCell = {}
    for key, item in value.items():
        if not isinstance(item, str | int | None):
            raise _unreadable_fit(f"growth cell {key}")
        cell[key] = item
    return cell
