"""One grammar for quantities: sizes (counts of things), durations and rates.

Every option and profile key that takes one parses it here, so `--scale-to 8.8M`,
`--index-size 50k,100k`, `--min-duration-s 500ms` and `--queries-per-s 100/s` read alike.
A parser raises `QuantityError` (a `ValueError`) whose message says what is wrong and lists
the accepted forms; callers prefix it with the option or key (`quantity_error` does that).

Sizes (`parse_size`): a whole number of items, at least 1.
- `8800000`, `8_800_000` (underscores between digits, as in Python), `1e6`
- a decimal with a suffix: `8.8M`, `500k`, `1.5G`; k = thousand, M = million, G or B = billion
  (case-insensitive; the counts are 10**3, 10**6, 10**9, never 2**10)
- the value must come out whole (`1.2345k` is refused, not rounded) and at most 2**63 - 1.
Durations (`parse_duration_ms`): a number and a unit, ns, us (µs), ms, s or min; a bare
number is in `bare_unit` (ms unless the option's name says otherwise: `--min-duration-s 5`
is 5 s). Rates (`parse_rate_per_s`): `100/s`, `100 qps`, `100 q/s`, `6000/min`, or a bare
number per second. Durations and rates are finite, not negative, at most 10**12 of their unit.

Refused everywhere, so that no text is read as another number: commas (neither thousands
`8,841,823` nor decimal `1,5M` is guessed), a second decimal point (`1..5`, `1.2.3`), signs,
inf and nan, hex, empty text, text longer than 64 characters.

Lists (`parse_size_list`, for `--index-size 50000,100000`): split at commas first, then every
item is a size. Two spellings are refused because they look like one number written with a
comma: a list that reads as thousands groups (`1,000` or `8,841,823`: items of three digits
after a first of one to three, no spaces) and a short bare item before a suffixed one (`1,5M`,
`2,5k`). A list that really means those sizes writes a space after each comma (`100, 200`).
Lists of small counts (`parse_small_size_list`: depths, batch sizes, sequence lengths) read a
comma as a separator (`--depth 10,100` is 10 and 100) unless an item after it starts with 0,
which no list item does and a thousands group does (`1,024`, `2,048`, `1,000`): refused.

>>> parse_size("8.8M"), parse_size("500k"), parse_size("8800000"), parse_size("1e6")
(8800000, 500000, 8800000, 1000000)
>>> parse_duration_ms("5ms"), parse_duration_ms("0.5s"), parse_duration_ms("5")
(5.0, 500.0, 5.0)
>>> parse_rate_per_s("100/s"), parse_rate_per_s("6000/min")
(100.0, 100.0)
>>> parse_size_list("50k,100k"), parse_size_list("100, 200")
((50000, 100000), (100, 200))
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MAX_SIZE = 2**63 - 1
MAX_AMOUNT = 10**12  # of a duration's or rate's own unit (ms, 1/s): 31 years, a terahertz
MAX_TEXT = 64

SIZE_SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "b": 10**9}
DURATION_UNITS_MS = {
    "ns": Decimal("1e-6"),
    "us": Decimal("1e-3"),
    "µs": Decimal("1e-3"),
    "ms": Decimal(1),
    "s": Decimal(1000),
    "min": Decimal(60_000),
}
RATE_UNITS_PER_S = {
    "/s": Decimal(1),
    "qps": Decimal(1),
    "q/s": Decimal(1),
    "/ms": Decimal(1000),
    "/min": 1 / Decimal(60),
}

SIZE_FORMS = (
    "a whole number of items at least 1: 8800000, 8_800_000, 1e6, or a decimal with a suffix "
    "k, M, G (thousand, million, billion): 8.8M, 500k, 1.5G; no commas"
)
SIZE_LIST_FORMS = (
    "a comma list of sizes such as 50000,100000 or 50k,1.5M (each a whole number at least 1, "
    "k, M, G suffixes; no thousands or decimal commas)"
)
DURATION_FORMS = (
    "a number with a unit ns, us, ms, s or min: 5ms, 0.5s, 250us (a bare number is in {bare}); "
    "finite, not negative; no commas"
)
RATE_FORMS = (
    "a number of events per second: 100, 100/s, 100 qps, 6000/min, 0.5/ms; finite, not "
    "negative; no commas"
)
NUMBER_FORMS = "a plain number: 0.6, 12, 1e-3; finite, not negative; no commas"

# digits with optional underscores between them, an optional fraction, an optional exponent
_NUMBER = r"(?:[0-9]+(?:_[0-9]+)*(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_QUANTITY = re.compile(rf"\s*(?P<number>{_NUMBER})\s*(?P<unit>[^\s0-9.][^\s]*)?\s*")


class QuantityError(ValueError):
    """A quantity that is not in the grammar; the message names the accepted forms."""


def quantity_error(where: str, exc: QuantityError) -> str:
    """The one-line message for a UserError: `--scale-to: '1,5M': ... ; write ...`."""
    return f"{where}: {exc}"


def parse_size(text: str | int) -> int:
    """A count of items (passages, queries, tokens) from `text`, an int passed through.

    >>> parse_size("1.5G"), parse_size(" 5 k "), parse_size(12)
    (1500000000, 5000, 12)
    """
    if isinstance(text, bool):
        raise QuantityError(f"{text!r} is not a size; write {SIZE_FORMS}")
    if isinstance(text, int):
        return _bounded_size(Decimal(text), repr(text))
    number, unit = _split(text, SIZE_FORMS)
    factor = SIZE_SUFFIXES.get(unit.lower())
    if factor is None:
        raise QuantityError(f"{text!r}: unknown suffix {unit!r}; write {SIZE_FORMS}")
    return _bounded_size(number * factor, repr(text))


def _bounded_size(value: Decimal, shown: str) -> int:
    if value < 1:
        raise QuantityError(f"{shown}: must be at least 1; write {SIZE_FORMS}")
    if value > MAX_SIZE:
        raise QuantityError(f"{shown}: too large (at most 2**63 - 1); write {SIZE_FORMS}")
    if value != value.to_integral_value():
        raise QuantityError(f"{shown}: is not a whole number ({value}); write {SIZE_FORMS}")
    return int(value)


def parse_duration_ms(text: str | float, bare_unit: str = "ms") -> float:
    """A duration in milliseconds; a bare number (or a number passed in) is in `bare_unit`.

    >>> parse_duration_ms("250us"), parse_duration_ms("2", bare_unit="s")
    (0.25, 2000.0)
    """
    return float(_duration(text, bare_unit))


def parse_duration_s(text: str | float) -> float:
    """A duration in seconds, a bare number in seconds (`--min-duration-s 5` or `500ms`).

    >>> parse_duration_s("5"), parse_duration_s("500ms"), parse_duration_s(0.1)
    (5.0, 0.5, 0.1)
    """
    return float(_duration(text, "s") / 1000)


def _duration(text: str | float, bare_unit: str) -> Decimal:
    """Milliseconds, exactly as written (rounded to a float once, by the caller)."""
    forms = DURATION_FORMS.format(bare=bare_unit)
    number, unit = _number_or_text(text, forms)
    factor = DURATION_UNITS_MS.get((unit or bare_unit).lower())
    if factor is None:
        raise QuantityError(f"{text!r}: unknown unit {unit!r}; write {forms}")
    return _bounded_amount(number * factor, repr(text), forms)


def parse_rate_per_s(text: str | float) -> float:
    """Events per second; a bare number (or a number passed in) is per second.

    >>> parse_rate_per_s("100"), parse_rate_per_s("0.5/ms"), parse_rate_per_s("100 qps")
    (100.0, 500.0, 100.0)
    """
    number, unit = _number_or_text(text, RATE_FORMS)
    factor = RATE_UNITS_PER_S.get(unit.lower().replace(" ", "")) if unit else Decimal(1)
    if factor is None:
        raise QuantityError(f"{text!r}: unknown unit {unit!r}; write {RATE_FORMS}")
    return float(_bounded_amount(number * factor, repr(text), RATE_FORMS))


def parse_number(text: str | float) -> float:
    """A plain number without a unit (a quality bound such as 0.6): finite, not negative.

    >>> parse_number("0.6"), parse_number("1e-3")
    (0.6, 0.001)
    """
    number, unit = _number_or_text(text, NUMBER_FORMS)
    if unit:
        raise QuantityError(f"{text!r}: takes no unit (got {unit!r}); write {NUMBER_FORMS}")
    return float(_bounded_amount(number, repr(text), NUMBER_FORMS))


def _number_or_text(text: str | float, forms: str) -> tuple[Decimal, str]:
    if isinstance(text, bool):
        raise QuantityError(f"{text!r} is not a number; write {forms}")
    if isinstance(text, int | float):
        try:
            return Decimal(repr(float(text))), ""
        except (InvalidOperation, OverflowError):
            raise QuantityError(f"{text!r}: not a finite number; write {forms}") from None
    return _split(text, forms)


def _bounded_amount(value: Decimal, shown: str, forms: str) -> Decimal:
    if not value.is_finite():
        raise QuantityError(f"{shown}: not a finite number; write {forms}")
    if value < 0:
        raise QuantityError(f"{shown}: must not be negative; write {forms}")
    if value > MAX_AMOUNT:
        raise QuantityError(f"{shown}: too large (at most 1e12); write {forms}")
    return value


def _split(text: str, forms: str) -> tuple[Decimal, str]:
    """(number, unit as written) from `text`; a QuantityError that says what is wrong."""
    if not isinstance(text, str):
        raise QuantityError(f"{text!r} is not text or a number; write {forms}")
    shown = repr(text)
    if not text.strip():
        raise QuantityError(f"{shown}: empty; write {forms}")
    if len(text) > MAX_TEXT:
        raise QuantityError(f"{shown[:24]}...: longer than {MAX_TEXT} characters; write {forms}")
    problem = _known_problem(text)
    if problem:
        raise QuantityError(f"{shown}: {problem}; write {forms}")
    found = _QUANTITY.fullmatch(text)
    if found is None:
        raise QuantityError(f"{shown}: not a quantity; write {forms}")
    try:
        number = Decimal(found["number"].replace("_", ""))
    except InvalidOperation:  # the pattern admits only what Decimal reads; kept for safety
        raise QuantityError(f"{shown}: not a number; write {forms}") from None
    if number.adjusted() > 40:  # past every bound; keeps the arithmetic below overflow
        raise QuantityError(f"{shown}: too large; write {forms}")
    return number, (found["unit"] or "").strip()


def _known_problem(text: str) -> str | None:
    """The refused classes named, so the message says why, not only what is accepted."""
    lowered = text.strip().lower()
    if "," in text:
        return "a comma is neither a thousands separator nor a decimal point here"
    if ".." in text or text.count(".") > 1:
        return "more than one decimal point"
    if lowered.lstrip("+-") in ("inf", "infinity", "nan") or "inf" in lowered or "nan" in lowered:
        return "not a finite number"
    if lowered.startswith("-"):
        return "must not be negative"
    if lowered.startswith("+"):
        return "write the number without a sign"
    if lowered.startswith("0x"):
        return "write the number in decimal"
    return None


# Lists of sizes.

_THOUSANDS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+")
_ZERO_GROUP = re.compile(r",0[0-9]")  # an item after a comma that starts with 0: `1,024`
_DECIMAL_COMMA = re.compile(r"(?:^|,)\s*[0-9]{1,3},[0-9]+\s*[a-zA-Z]")


def parse_size_list(text: str) -> tuple[int, ...]:
    """Sizes from a comma list, in order, each once; see the module docstring for the two
    spellings refused as ambiguous.

    >>> parse_size_list("1000,5000,20000"), parse_size_list("1.5M")
    ((1000, 5000, 20000), (1500000,))
    """
    return _size_list(text, thousands_commas=True)


def parse_small_size_list(text: str) -> tuple[int, ...]:
    """Like `parse_size_list`, for counts nobody writes with thousands commas (depths, batch
    sizes, sequence lengths): every comma separates two items.

    >>> parse_small_size_list("10,100"), parse_small_size_list("1,32,128")
    ((10, 100), (1, 32, 128))
    """
    # an item starting with 0 is a thousands group (`1,024`): judged as in `parse_size_list`
    zero_group = isinstance(text, str) and bool(_ZERO_GROUP.search(text.strip()))
    return _size_list(text, thousands_commas=zero_group)


def _size_list(text: str, thousands_commas: bool) -> tuple[int, ...]:
    shown = repr(text)
    if not isinstance(text, str) or not text.strip():
        raise QuantityError(f"{shown}: names no size; write {SIZE_LIST_FORMS}")
    stripped = text.strip()
    if thousands_commas and _THOUSANDS.fullmatch(stripped):
        spaced = ", ".join(stripped.split(","))
        raise QuantityError(
            f"{shown}: reads as one number written with thousands commas "
            f"({stripped.replace(',', '')}?); write {stripped.replace(',', '')} for one size, "
            f"or {spaced} (a space after each comma) for several; or {SIZE_LIST_FORMS}"
        )
    if _DECIMAL_COMMA.search(stripped):
        raise QuantityError(
            f"{shown}: reads as a number written with a decimal comma; write it with a point "
            f"(1.5M), or put a space after the comma for a list of sizes (1, 5M); "
            f"{SIZE_LIST_FORMS}"
        )
    sizes: list[int] = []
    for item in stripped.split(","):
        if not item.strip():
            raise QuantityError(f"{shown}: an empty item; write {SIZE_LIST_FORMS}")
        try:
            size = parse_size(item)
        except QuantityError as exc:
            if "," not in stripped:
                raise  # one size: its own message
            raise QuantityError(f"{shown}: item {exc}") from None
        if size not in sizes:
            sizes.append(size)
    return tuple(sizes)


def format_size(value: int) -> str:
    """`value` written exactly with the largest suffix that needs no more digits than it has:
    the inverse of `parse_size`.

    >>> format_size(8_800_000), format_size(500_000), format_size(8_841_823), format_size(950)
    ('8.8M', '500k', '8.841823M', '950')
    """
    for factor, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if value >= factor:
            whole, rest = divmod(value, factor)
            digits = len(str(factor)) - 1
            fraction = f"{rest:0{digits}d}".rstrip("0")
            return f"{whole}.{fraction}{suffix}" if fraction else f"{whole}{suffix}"
    return str(value)
