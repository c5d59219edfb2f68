"""{% borrower_loans household %} / {% borrower_loans enterprise %}: the borrower's loans on its
page, and the way to apply for those who take applications."""

from django import template

from common.money import rate_text
from enterprises.models import Enterprise
from organization.models import Role
from organization.scoping import has_role_over

from ..selectors import loan_list

register = template.Library()
SHOWN = 5


@register.inclusion_tag("loans/_borrower_loans.html", takes_context=True)
def borrower_loans(context, borrower):
    """The page has already checked that the user may see the borrower."""
    user = context["request"].user
    enterprise = isinstance(borrower, Enterprise)
    key = "enterprise" if enterprise else "household"
    loans = loan_list(user=user, filters={key: borrower.pk}).select_related("township")
    area = borrower.township_id if enterprise else borrower.village_id
    return {
        "loans": list(loans[: SHOWN + 1]),
        "shown": SHOWN,
        "key": key,
        "borrower": borrower,
        "may_apply": has_role_over(user, area, (Role.VILLAGE_CLERK, Role.COUNTY_STAFF)),
    }


@register.filter
def rate(value) -> str:
    """4.7500 -> 4.75 (the annual rate as the API writes it)."""
    return rate_text(value) if value is not None else ""
