"""The one scoping mechanism. Every read goes through it.

A user's scope is the union of what their roles give:
- a region role (village clerk, township officer, county staff, city finance) gives its unit's
  region and everything below it, matched by division-code prefix;
- a bank officer gives the counties its branch serves (households, ratings: read-only) and the
  loans of its own bank in those counties, recorded as (bank, county) pairs: an officer of a
  county branch never reaches its bank's loans of another county (404, as for a missing id); a
  city-level branch that serves every county reaches them all;
- the admin role (or a superuser) gives everything.

Every path by which a bank officer reaches a loan, or something hanging off a loan (repayments,
claims, recoveries, settlement batches, the repayment file), goes through `bank_loans_q` (a
filter) or `serves_bank_loan` (a predicate): the rule is written here once.
"""

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Q

from .models import Role


@dataclass(frozen=True)
class Scope:
    everything: bool
    region_prefixes: frozenset[str]  # from region roles
    bank_counties: frozenset[tuple[int, str]]  # (bank id, county code) from each bank role's branch

    @property
    def served_county_codes(self) -> frozenset[str]:
        """The counties the user's branches serve (households, ratings: read-only)."""
        return frozenset(county for _, county in self.bank_counties)

    @property
    def bank_ids(self) -> frozenset[int]:
        """The user's own banks, to name them (bank lists). Never a loan filter on its own: a
        loan is reached through bank_loans_q / serves_bank_loan, by bank and county."""
        return frozenset(bank for bank, _ in self.bank_counties)

    @property
    def area_prefixes(self) -> frozenset[str]:
        """Where the user may read households, ratings, enterprises."""
        return self.region_prefixes | self.served_county_codes

    def covers_region(self, code: str) -> bool:
        return self.everything or any(code.startswith(p) for p in self.area_prefixes)


NOTHING = Scope(False, frozenset(), frozenset())


def scope_for(user) -> Scope:
    """Computed once per request and kept on the user object."""
    if not user or not user.is_authenticated:
        return NOTHING
    cached = getattr(user, "_scope_cache", None)
    if cached is not None:
        return cached
    prefixes, bank_counties, everything = set(), set(), user.is_superuser
    for assignment in user.role_assignments.select_related("unit__region", "branch").prefetch_related(
        "branch__counties"
    ):
        if assignment.role == Role.ADMIN:
            everything = True
        elif assignment.role == Role.BANK_OFFICER:
            branch = assignment.branch
            bank_counties.update((branch.bank_id, county.code) for county in branch.counties.all())
        else:
            prefixes.add(assignment.unit.region.prefix)
    scope = Scope(everything, frozenset(prefixes), frozenset(bank_counties))
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


def bank_loans_q(scope: Scope, bank_field: str = "bank_id", county_field: str = "county_id") -> Q:
    """Loans (or rows that name a loan's bank and county) of the user's banks in the counties
    their branches serve: an OR of (bank, counties) per bank; matches nothing without a bank role.
    It does not look at `everything`: the caller answers that first (an admin's filter is Q())."""
    counties_of = defaultdict(set)
    for bank_id, county in scope.bank_counties:
        counties_of[bank_id].add(county)
    q = Q(pk__in=[])
    for bank_id in sorted(counties_of):
        q |= Q(**{bank_field: bank_id, f"{county_field}__in": sorted(counties_of[bank_id])})
    return q


def serves_bank_loan(user, bank_id: int, county_code: str) -> bool:
    """May the user act for the lending bank on a loan of `bank_id` in `county_code`: an officer of
    that bank at a branch serving the county (or an admin)? The predicate twin of bank_loans_q."""
    scope = scope_for(user)
    return scope.everything or (bank_id, county_code) in scope.bank_counties


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
