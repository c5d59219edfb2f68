"""{{ amount|yuan }}: money with thousands separators and two places (1,200,000.00), whatever the
locale's number grouping (humanize's intcomma leaves zh-hans numbers ungrouped)."""

from decimal import Decimal, InvalidOperation

from django import template

register = template.Library()


@register.filter
def yuan(value) -> str:
    if value in (None, ""):
        return "—"
    try:
        return f"{Decimal(value):,.2f}"
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
