"""Who may do what, by role and place. Services call these; views never decide on their own."""

from .models import Role
from .scoping import has_role_over, is_admin, roles_of

# Roles that may create and edit household files in their area.
HOUSEHOLD_EDITORS = (Role.VILLAGE_CLERK, Role.COUNTY_STAFF)


def can_edit_households_in(user, village_code: str) -> bool:
    return has_role_over(user, village_code, HOUSEHOLD_EDITORS)


def can_view_full_pii(user, village_code: str) -> bool:
    """County staff of the county, bank officers of a branch serving the county, admins."""
    if is_admin(user) or has_role_over(user, village_code, (Role.COUNTY_STAFF,)):
        return True
    return user.role_assignments.filter(
        role=Role.BANK_OFFICER, branch__counties__code=village_code[:6]
    ).exists()


def can_create_households(user) -> bool:
    """Whether to offer the create form at all; the service still checks the village."""
    return is_admin(user) or bool(roles_of(user) & set(HOUSEHOLD_EDITORS))
