"""Exact numbers for volumes and doses: Fraction inside, Decimal out, never a float (a float that makes 50 days
into 49.999 days moves a refill by a day). Pure: no Flask, no database."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from tracker.clinical.errors import RefillInputError

Number = Decimal | int | str | Fraction


def exact(value: Number, name: str) -> Fraction:
    """`value` as a Fraction; a RefillInputError on `name` for a float or anything not a number."""
    # Floats are refused outright: 0.1 as a float is not 0.1, and a refill date moves.
    if isinstance(value, (bool, float)) or not isinstance(value, (Decimal, int, str, Fraction)):
        raise RefillInputError(f"{name} must be an exact number, not {type(value).__name__}.", name)
    try:
        return Fraction(value)
    except (ValueError, ZeroDivisionError, OverflowError):
        raise RefillInputError(f"{name} is not a number: {value!r}.", name) from None


def at_least_zero(value: Number, name: str, error: type[RefillInputError]) -> Fraction:
    """`exact`, refusing a negative value with `error`."""
    number = exact(value, name)
    if number < 0:
        raise error(f"{name} cannot be negative.", name)
    return number


def rounded(value: Fraction, places: int = 1, rounding: str = ROUND_HALF_UP) -> Decimal:
    """An exact value rounded once (half up unless told) to `places` decimals, for display: 2/3 -> 0.7."""
    number = Decimal(value.numerator) / Decimal(value.denominator)
    return number.quantize(Decimal(1).scaleb(-places), rounding=rounding)


def plain(value: Number) -> str:
    """A volume or dose as the clinic writes it: to 0.001, without trailing zeros (2.500 -> 2.5)."""
    return format(rounded(exact(value, "volume"), 3).normalize(), "f")


def percent(part: int, whole: int) -> Decimal | None:
    """part / whole as a percentage to one decimal; None when there is nothing to divide by."""
    return rounded(Fraction(100 * part, whole)) if whole else None


def median(values: Iterable[int]) -> Decimal | None:
    """The middle value (the mean of the two middle ones for an even count); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return Decimal(ordered[middle])
    return rounded(Fraction(ordered[middle - 1] + ordered[middle], 2))
