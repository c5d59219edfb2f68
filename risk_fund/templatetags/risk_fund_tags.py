"""{% loan_claim loan %}: on a loan's page, its compensation claim, or the way for its bank to file
one once the loan is far enough past due."""

from django import template

from common.clock import today
from loans.services import may_act
from organization.models import Role
from organization.selectors import policy_for

from ..selectors import live_claim

register = template.Library()


@register.inclusion_tag("risk_fund/_loan_claim.html", takes_context=True)
def loan_claim(context, loan):
    """The page has already checked that the user may see the loan."""
    claim = live_claim(loan) if loan.disbursed_on else None
    may_file = (
        claim is None
        and loan.status in ("active", "written_off")
        and loan.dpd >= policy_for(loan.county_id, on=today()).compensation_min_dpd
        and may_act(context["request"].user, loan, Role.BANK_OFFICER)
    )
    return {"loan": loan, "claim": claim, "may_file": may_file}
