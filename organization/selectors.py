"""Reads of the organization app. policy_for is the one way anything reads a policy number."""

import datetime

from django.db.models import Q, QuerySet
from django.http import Http404

from .models import Bank, CountyPolicy, Region, code_prefix
from .scoping import area_q, prefix_q, scope_for


def policy_for(county: Region | str, *, on: datetime.date) -> CountyPolicy:
    """The county's policy row in force on `on`. Before any row, DOMAIN.md's defaults
    (an unsaved row with the model's field defaults)."""
    code = county if isinstance(county, str) else county.code
    row = (
        CountyPolicy.objects.filter(county_id=code, effective_from__lte=on)
        .order_by("-effective_from")
        .first()
    )
    return row or CountyPolicy(county_id=code, effective_from=on)


def policy_list(*, user, county_code: str) -> QuerySet[CountyPolicy]:
    region_get_for_user(user=user, code=county_code, include_ancestors=True)  # 404 outside scope
    return CountyPolicy.objects.filter(county_id=county_code).order_by("-effective_from")


def region_list(*, user, parent: str | None = None, level: str | None = None) -> QuerySet[Region]:
    """Regions the user may see: its own area and what is below it, plus the ancestors above it
    (so a village clerk's pages can name their township and county)."""
    scope = scope_for(user)
    qs = Region.objects.all()
    if not scope.everything:
        prefixes = scope.area_prefixes
        ancestors = {p[:n] for p in prefixes for n in (6, 9) if len(p) > n}
        ancestor_codes = ancestors | {p[:4] + "00" for p in prefixes}
        qs = qs.filter(prefix_q("code", prefixes) | Q(code__in=ancestor_codes))
    if parent:
        qs = qs.filter(parent_id=parent)
    if level:
        qs = qs.filter(level=level)
    return qs.order_by("code")


def filter_region_list(*, user) -> list[Region]:
    """The regions of the user's own area, for the region filter of a list page: not the ancestors
    that region_list adds for naming, and villages only when the area is a township or a village,
    so a county's dropdown stays short."""
    scope = scope_for(user)
    regions = [r for r in region_list(user=user) if scope.covers_region(r.code)]
    if any(r.level in ("province", "city", "county") for r in regions):
        regions = [r for r in regions if r.level != Region.Level.VILLAGE]
    return regions


def region_get_for_user(*, user, code: str, include_ancestors: bool = False) -> Region:
    """The region if it is in the user's area; 404 for out-of-scope and missing alike. With
    include_ancestors, also the regions above the area that region_list shows (a township
    officer's county): enough to name it or read its policy, never to reach the data below it."""
    qs = region_list(user=user) if include_ancestors else Region.objects.filter(area_q(user, "code"))
    region = qs.filter(code=code).first()
    if region is None:
        raise Http404
    return region


def bank_list(*, user) -> QuerySet[Bank]:
    """Banks serving a county in the user's area, or the user's own bank."""
    scope = scope_for(user)
    qs = Bank.objects.prefetch_related("branches__counties")
    if not scope.everything:
        # A branch serves whole counties: a township or village area is served by its county's banks.
        by_area = prefix_q("branches__counties__code", {p[:6] for p in scope.area_prefixes})
        qs = qs.filter(by_area | Q(pk__in=scope.bank_ids)).distinct()
    return qs.order_by("code")


__all__ = ["policy_for", "policy_list", "region_list", "region_get_for_user", "bank_list", "code_prefix"]
