"""{{ amount|wan }}: money in 万元 with thousands separators and two places (123,456.78), as the
dashboards show it (the xlsx downloads keep yuan); {{ ratio|pct }}: 12.50%."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

register = template.Library()
TEN_THOUSAND = Decimal(10000)


@register.filter
def wan(value) -> str:
    if value in (None, ""):
        return "—"
    try:
        amount = (Decimal(value) / TEN_THOUSAND).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    return f"{amount:,.2f}"


@register.filter
def pct(value) -> str:
    return "—" if value in (None, "") else f"{value}%"


@register.filter
def bar_width(value) -> str:
    """A percentage as a CSS width between 0 and 100 ("37.5")."""
    try:
        number = min(max(Decimal(value), Decimal(0)), Decimal(100))
    except (InvalidOperation, TypeError, ValueError):
        return "0"
    return format(number.normalize(), "f")
