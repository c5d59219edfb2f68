"""Who may do what to enterprises, by role and place. Services call these; views only use them to
decide which buttons to show.

- Register and edit: county staff of the county, the township officer of the enterprise's township
  (the station knows its cooperatives), admins.
- Recognise, withdraw a recognition, add or end benefit links: county staff of the county and
  admins only. Recognition is a county decision (DOMAIN.md), and a link may lead a household of any
  township of the county, which a township officer cannot see.
- Reading follows the area scope (organization.scoping.area_q on the township code): the township,
  the county, the city, bank officers of branches serving the county. A village clerk's area lies
  below every township, so enterprises are not shown at the village desk.
"""

from organization.models import Role
from organization.scoping import has_role_over, is_admin, roles_of

REGISTRARS = (Role.COUNTY_STAFF, Role.TOWNSHIP_OFFICER)
DECIDERS = (Role.COUNTY_STAFF,)


def can_register_enterprises(user) -> bool:
    """Whether to offer the registration form at all; the service still checks the township."""
    return is_admin(user) or bool(roles_of(user) & set(REGISTRARS))


def can_edit_enterprise_in(user, township_code: str) -> bool:
    return has_role_over(user, township_code, REGISTRARS)


def can_recognize_in(user, county_code: str) -> bool:
    return has_role_over(user, county_code, DECIDERS)


def can_manage_links_in(user, county_code: str) -> bool:
    return has_role_over(user, county_code, DECIDERS)
