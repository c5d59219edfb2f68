"""The one scoping mechanism. Every read goes through it.

A user's scope is the union of what their roles give:
- a region role (village clerk, township officer, county staff, city finance) gives its unit's
  region and everything below it, matched by division-code prefix;
- a bank officer gives the counties its branch serves (households, ratings: read-only) and the
  loans of its own bank;
- the admin role (or a superuser) gives everything.
"""

from dataclasses import dataclass

from django.db.models import Q

from .models import Role


@dataclass(frozen=True)
class Scope:
    everything: bool
    region_prefixes: frozenset[str]  # from region roles
    served_county_codes: frozenset[str]  # from bank roles
    bank_ids: frozenset[int]

    @property
    def area_prefixes(self) -> frozenset[str]:
        """Where the user may read households, ratings, enterprises."""
        return self.region_prefixes | self.served_county_codes

    def covers_region(self, code: str) -> bool:
        return self.everything or any(code.startswith(p) for p in self.area_prefixes)


NOTHING = Scope(False, frozenset(), frozenset(), frozenset())


def scope_for(user) -> Scope:
    """Computed once per request and kept on the user object."""
    if not user or not user.is_authenticated:
        return NOTHING
    cached = getattr(user, "_scope_cache", None)
    if cached is not None:
        return cached
    prefixes, counties, banks, everything = set(), set(), set(), user.is_superuser
    for assignment in user.role_assignments.select_related("unit__region", "branch").prefetch_related(
        "branch__counties"
    ):
        if assignment.role == Role.ADMIN:
            everything = True
        elif assignment.role == Role.BANK_OFFICER:
            banks.add(assignment.branch.bank_id)
            counties.update(c.code for c in assignment.branch.counties.all())
        else:
            prefixes.add(assignment.unit.region.prefix)
    scope = Scope(everything, frozenset(prefixes), frozenset(counties), frozenset(banks))
    user._scope_cache = scope
    return scope


def prefix_q(field: str, prefixes) -> Q:
    """OR of `field` starting with each prefix; matches nothing for no prefixes."""
    q = Q(pk__in=[])
    for prefix in sorted(prefixes):
        q |= Q(**{f"{field}__startswith": prefix})
    return q


def area_q(user, field: str) -> Q:
    """Filter for objects whose region code is in `field` (e.g. "village_id")."""
    scope = scope_for(user)
    return Q() if scope.everything else prefix_q(field, scope.area_prefixes)


def roles_of(user) -> set[str]:
    if not user or not user.is_authenticated:
        return set()
    roles = {a.role for a in user.role_assignments.all()}
    if user.is_superuser:
        roles.add(Role.ADMIN)
    return roles


def is_admin(user) -> bool:
    return scope_for(user).everything


def has_role_over(user, region_code: str, roles) -> bool:
    """Does the user hold one of `roles` at a unit whose region covers `region_code`?"""
    if is_admin(user):
        return True
    for assignment in user.role_assignments.select_related("unit__region"):
        if assignment.role in roles and assignment.unit_id:
            if region_code.startswith(assignment.unit.region.prefix):
                return True
    return False
