"""The one grammar for quantities (`kdbench.quantities`), property by property."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kdbench.quantities import (
    DURATION_FORMS,
    MAX_AMOUNT,
    MAX_SIZE,
    RATE_FORMS,
    SIZE_FORMS,
    SIZE_LIST_FORMS,
    QuantityError,
    format_size,
    parse_duration_ms,
    parse_duration_s,
    parse_rate_per_s,
    parse_size,
    parse_size_list,
    parse_small_size_list,
)

sizes = st.integers(min_value=1, max_value=MAX_SIZE)
amounts = st.floats(min_value=0, max_value=MAX_AMOUNT, allow_nan=False, allow_infinity=False)
PARSERS = {
    parse_size: SIZE_FORMS,
    parse_duration_ms: DURATION_FORMS.format(bare="ms"),
    parse_rate_per_s: RATE_FORMS,
}


def refused(parse, text: str) -> str:
    with pytest.raises(QuantityError) as caught:
        parse(text)
    message = str(caught.value)
    # a list's message names the list's forms, or the size's for the item at fault
    forms = PARSERS.get(parse) or (SIZE_FORMS if "': item " in message else SIZE_LIST_FORMS)
    assert forms in message, message
    return message


# Round trips.


@given(sizes)
def test_a_size_round_trips_through_every_way_it_is_written(n: int) -> None:
    assert parse_size(format_size(n)) == n
    assert parse_size(str(n)) == n
    assert parse_size(f"{n:_}") == n
    assert parse_size(n) == n


@given(st.integers(min_value=1, max_value=9_223_372), st.sampled_from(["k", "K", "M", "G"]))
def test_a_suffix_multiplies_by_a_power_of_ten(n: int, suffix: str) -> None:
    factor = {"k": 10**3, "m": 10**6, "g": 10**9}[suffix.lower()]
    if n * factor <= MAX_SIZE:
        assert parse_size(f"{n}{suffix}") == n * factor


@given(amounts)
def test_a_duration_round_trips_in_every_unit(x: float) -> None:
    assert parse_duration_ms(f"{x!r}ms") == x
    assert parse_duration_ms(repr(x)) == x  # bare: milliseconds
    assert parse_duration_ms(x) == x
    if x * 1000 <= MAX_AMOUNT:
        assert parse_duration_ms(f"{x!r}s") == float(Decimal(repr(x)) * 1000)
    assert parse_duration_ms(f"{x!r} us") == float(Decimal(repr(x)) / 1000)


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_a_bare_duration_keeps_the_option_s_unit(x: float) -> None:
    assert parse_duration_s(repr(x)) == x
    assert parse_duration_s(f"{x!r}ms") == float(Decimal(repr(x)) / 1000)


@given(amounts, st.sampled_from(["", "/s", " qps", " q/s"]))
def test_a_rate_round_trips(x: float, unit: str) -> None:
    assert parse_rate_per_s(f"{x!r}{unit}") == x


def test_rates_in_other_units() -> None:
    assert parse_rate_per_s("6000/min") == 100.0
    assert parse_rate_per_s("0.5/ms") == 500.0


@given(st.lists(sizes, min_size=1, max_size=6, unique=True))
def test_a_list_written_with_spaces_round_trips(values: list[int]) -> None:
    assert parse_size_list(", ".join(format_size(v) for v in values)) == tuple(values)
    assert parse_size_list(", ".join(map(str, values))) == tuple(values)


@given(st.lists(sizes, min_size=1, max_size=6, unique=True))
def test_a_list_without_spaces_is_read_whole_or_refused(values: list[int]) -> None:
    text = ",".join(map(str, values))
    try:
        assert parse_size_list(text) == tuple(values)
    except QuantityError as exc:  # only the spellings that read as one number
        assert "thousands commas" in str(exc) or "decimal comma" in str(exc)


@given(st.lists(st.integers(1, 100_000), min_size=1, max_size=6, unique=True))
def test_a_list_of_small_counts_is_read_whole(values: list[int]) -> None:
    """Depths, batch sizes, lengths: `10,100` is two depths (no item starts with 0)."""
    assert parse_small_size_list(",".join(map(str, values))) == tuple(values)


@given(st.integers(1, 999), st.integers(0, 99))
def test_a_thousands_group_in_a_list_of_small_counts_is_refused(whole: int, group: int) -> None:
    """`1,024` is a batch of 1024 written with a comma, never 1 and 24: no item starts with 0."""
    assert "thousands commas" in refused(parse_small_size_list, f"{whole},{group:03d}")


# Every refused class, refused with the accepted forms.


@given(st.integers(min_value=1000, max_value=MAX_SIZE))
def test_thousands_commas_are_refused(n: int) -> None:
    text = f"{n:,}"
    assert "comma" in refused(parse_size, text)
    assert "thousands commas" in refused(parse_size_list, text)


@given(st.integers(1, 999), st.integers(1, 99), st.sampled_from(["k", "M", "G"]))
def test_decimal_commas_are_refused(whole: int, fraction: int, suffix: str) -> None:
    text = f"{whole},{fraction}{suffix}"
    assert "comma" in refused(parse_size, text)
    assert "decimal comma" in refused(parse_size_list, text)
    assert "decimal comma" in refused(parse_size_list, f"5k,{text}")
    for parse in (parse_duration_ms, parse_rate_per_s):
        refused(parse, f"{whole},{fraction}")


@pytest.mark.parametrize("text", ["1..5", "1.2.3", "..", "1.", "5.k"])
def test_malformed_decimals_are_refused(text: str) -> None:
    for parse in PARSERS:
        refused(parse, text)


@given(
    st.sampled_from(["inf", "Infinity", "nan", "NaN", "-inf", "+inf", "1e999999"]),
    st.sampled_from(["", "M", "ms", "/s"]),
)
def test_infinite_and_not_a_number_are_refused(word: str, unit: str) -> None:
    for parse in PARSERS:
        refused(parse, word + unit)


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1.0, 1e13])
def test_numbers_passed_in_are_bounded_too(value: float) -> None:
    for parse in (parse_duration_ms, parse_rate_per_s):
        refused(parse, value)


@given(st.integers(min_value=MAX_SIZE + 1, max_value=10**40))
def test_sizes_past_the_largest_are_refused(n: int) -> None:
    assert "too large" in refused(parse_size, str(n))
    assert "too large" in refused(parse_size, n)


def test_a_thirty_digit_number_is_refused_everywhere() -> None:
    thirty = "1" * 30
    for parse in PARSERS:
        assert "too large" in refused(parse, thirty)


@given(st.floats(min_value=1e-3, max_value=1e9, allow_nan=False))
def test_negatives_are_refused(x: float) -> None:
    for parse in PARSERS:
        assert "negative" in refused(parse, f"-{x!r}")


@pytest.mark.parametrize("text", ["0", "0k", "0.0001k", "0e5"])
def test_a_size_is_at_least_one(text: str) -> None:
    assert "at least 1" in refused(parse_size, text)


def test_zero_is_a_duration_and_a_rate() -> None:
    assert parse_duration_ms("0s") == 0.0 and parse_rate_per_s("0") == 0.0


@pytest.mark.parametrize(
    "text", ["", "  ", "k", "ms", "1.2345k", "5x", "0x10", "+5", "5 5", "x" * 100]
)
def test_other_text_is_refused(text: str) -> None:
    refused(parse_size, text)


@pytest.mark.parametrize("text", ["", ",", "5k,", "5k,,6k", ",5k", "5k,abc", "5k,0"])
def test_malformed_lists_are_refused(text: str) -> None:
    refused(parse_size_list, text)


@given(st.text(max_size=30))
def test_any_text_is_a_value_in_range_or_a_quantity_error(text: str) -> None:
    for parse, check in (
        (parse_size, lambda v: 1 <= v <= MAX_SIZE),
        (parse_duration_ms, lambda v: 0 <= v <= MAX_AMOUNT),
        (parse_rate_per_s, lambda v: 0 <= v <= MAX_AMOUNT),
        (parse_size_list, lambda v: all(1 <= s <= MAX_SIZE for s in v)),
    ):
        try:
            value = parse(text)
        except QuantityError:
            continue
        assert check(value), (parse.__name__, text, value)
