"""{% household_rating_card household %} for the household page, and the status label filter."""

from django import template

from common.clock import today
from organization.scoping import has_role_over

from .. import selectors, services
from ..models import RatingStatus

register = template.Library()
STATUS_LABELS = dict(RatingStatus.choices)


@register.filter
def rating_status(code: str) -> str:
    return STATUS_LABELS.get(code, code)


@register.inclusion_tag("credit_rating/_household_card.html", takes_context=True)
def household_rating_card(context, household):
    """The household's current grade, credit line, validity, freeze state and recent ratings,
    as the user may see them (the page has already checked the household is in scope)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    day = today()
    summary = selectors.household_rating(household=household, user=user, on=day)
    return {
        "household": household,
        "summary": summary,
        "recent": summary["history"][:5],
        "may_draft": user is not None and has_role_over(user, household.village_id, services.DRAFTERS),
        "today": day,
    }
