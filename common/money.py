"""Money is Decimal, stored with two places, rounded half-up in one place."""

from decimal import ROUND_HALF_UP, Decimal

from django.db import models

CENT = Decimal("0.01")


def money(value) -> Decimal:
    """Round a number (Decimal, int or numeric string; never float) to the cent."""
    if isinstance(value, float):
        raise TypeError("money never comes from float")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def MoneyField(verbose_name: str, **kwargs) -> models.DecimalField:  # noqa: N802 (reads like a field class)
    """The one definition of a money column."""
    kwargs.setdefault("max_digits", 14)
    kwargs.setdefault("decimal_places", 2)
    return models.DecimalField(verbose_name, **kwargs)


def PercentField(verbose_name: str, **kwargs) -> models.DecimalField:  # noqa: N802
    """A percentage such as 4.35 or 80.00."""
    kwargs.setdefault("max_digits", 6)
    kwargs.setdefault("decimal_places", 2)
    return models.DecimalField(verbose_name, **kwargs)


def percent(part, whole) -> Decimal:
    """part / whole as a percentage with two places (12.50); 0.00 when whole is 0."""
    if not whole:
        return Decimal("0.00")
    return (Decimal(part) * 100 / Decimal(whole)).quantize(CENT, rounding=ROUND_HALF_UP)


def rate_text(value) -> str:
    """An annual percentage as people write it, at least two places: 4.7500 -> "4.75", 5.2250 -> "5.225"."""
    whole, _, places = format(Decimal(value).normalize(), "f").partition(".")
    return f"{whole}.{places.ljust(2, '0')}"
