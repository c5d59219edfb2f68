"""Who may do what, by role and place. Services call these; views never decide on their own."""

from .models import Role
from .scoping import bank_loans_q, has_role_over, is_admin, roles_of, scope_for

# Roles that may create and edit household files in their area.
HOUSEHOLD_EDITORS = (Role.VILLAGE_CLERK, Role.COUNTY_STAFF)


def can_edit_households_in(user, village_code: str) -> bool:
    return has_role_over(user, village_code, HOUSEHOLD_EDITORS)


def bank_applicants(user):
    """The households with a loan application or loan (any status) at the user's own bank in a
    county their branch serves: ids, as a query. Empty for a user without a bank role."""
    from loans.models import Loan

    scope = scope_for(user)
    if not scope.bank_counties:
        return Loan.objects.none().values("household_id")
    return Loan.objects.filter(bank_loans_q(scope), household__isnull=False).values("household_id")


def can_view_full_pii(user, household) -> bool:
    """County staff of the household's county, admins, and bank officers for their own bank's
    applicants and borrowers (a loan application or loan at the bank in a county the branch
    serves): the rest see masked numbers."""
    if is_admin(user) or has_role_over(user, household.village_id, (Role.COUNTY_STAFF,)):
        return True
    return bank_applicants(user).filter(household_id=household.pk).exists()


def can_create_households(user) -> bool:
    """Whether to offer the create form at all; the service still checks the village."""
    return is_admin(user) or bool(roles_of(user) & set(HOUSEHOLD_EDITORS))
