"""Reads of the organization app. policy_for is the one way anything reads a policy number."""

import datetime
from decimal import Decimal

from django.db.models import Q, QuerySet
from django.http import Http404

from .models import (
    CITY_ENVELOPE,
    CITY_ONLY,
    CITY_OWNED,
    Bank,
    CityPolicy,
    CountyPolicy,
    PolicyStatus,
    Region,
    code_prefix,
)
from .scoping import area_q, prefix_q, scope_for


def city_code_of(county_code: str) -> str:
    """The city a county belongs to, by the 6+3+3 rule (411722 -> 411700)."""
    return county_code[:4] + "00"


def city_policy_for(city: Region | str, *, on: datetime.date) -> CityPolicy:
    """The city's approved row in force on `on`; before any, the seed's envelope (an unsaved row
    with the model's defaults)."""
    code = city if isinstance(city, str) else city.code
    row = (
        CityPolicy.objects.filter(city_id=code, effective_from__lte=on, status=PolicyStatus.APPROVED)
        .order_by("-effective_from")
        .first()
    )
    return row or CityPolicy(city_id=code, effective_from=on)


def clamp_to_city(row: CountyPolicy, city: CityPolicy) -> CountyPolicy:
    """The one clamp: the county's numbers inside the city's envelope (CITY_ENVELOPE: a ceiling
    or a floor), the city's own numbers (breaker thresholds, guarantee-fee subsidy rates) in place
    of the county's. `row` is changed in place and returned; `row.clamped` names the fields the
    envelope cut, `row.city_policy` is the city row."""
    clamped = []
    for name, bound in CITY_ENVELOPE.items():
        value, limit = getattr(row, name), getattr(city, name)
        inside = min(value, limit) if bound == "max" else max(value, limit)
        if inside != value:
            setattr(row, name, inside)
            clamped.append(name)
    for name in CITY_OWNED + CITY_ONLY:
        setattr(row, name, getattr(city, name))
    row.clamped = tuple(clamped)
    row.city_policy = city
    return row


def envelope_errors(values: dict, city: CityPolicy) -> dict[str, list[str]]:
    """Why county numbers would leave the city's envelope: field -> a message naming the city's
    number. The same table as clamp_to_city."""
    errors = {}
    for name, bound in CITY_ENVELOPE.items():
        value = values.get(name)
        if value is None:
            continue
        limit = getattr(city, name)
        if bound == "max" and value > limit:
            errors[name] = [f"{ENVELOPE_LABELS[name]}不能超过市级上限{_shown(name, limit)}。"]
        elif bound == "min" and value < limit:
            errors[name] = [f"{ENVELOPE_LABELS[name]}不能低于市级下限{_shown(name, limit)}。"]
    return errors


ENVELOPE_LABELS = {
    "household_loan_cap": "户贷额度上限",
    "household_max_term_months": "户贷最长期限",
    "household_subsidy_share": "户贷贴息比例",
    "enterprise_subsidy_rate": "企业贷款贴息年率",
}


def _shown(name: str, value) -> str:
    """A city number as the refusal names it: 50,000元, 36个月, 2%."""
    value = Decimal(value)
    if name == "household_loan_cap":
        return f"{value:,.0f}元" if value == value.to_integral_value() else f"{value:,.2f}元"
    if name == "household_max_term_months":
        return f"{value:.0f}个月"
    return f"{value.normalize():f}%"


def envelope_note(name: str, city: CityPolicy) -> str:
    """The city's bound on a county field, as the policy page shows it beside the field
    (「市级上限 50,000元」), or "" for a field the city does not bound."""
    bound = CITY_ENVELOPE.get(name)
    if bound is None:
        return ""
    return f"市级{'上限' if bound == 'max' else '下限'} {_shown(name, getattr(city, name))}"


def policy_for(county: Region | str, *, on: datetime.date) -> CountyPolicy:
    """What every rule reads: the county's approved row in force on `on` (before any, DOMAIN.md's
    defaults: an unsaved row with the model's field defaults), clamped to the envelope of the
    city row in force that day (a later, stricter city row wins over an older county row), with
    the city's breaker thresholds and guarantee-fee subsidy rates. Not to be saved."""
    code = county if isinstance(county, str) else county.code
    row = (
        CountyPolicy.objects.filter(county_id=code, effective_from__lte=on, status=PolicyStatus.APPROVED)
        .order_by("-effective_from")
        .first()
    )
    row = row or CountyPolicy(county_id=code, effective_from=on)
    return clamp_to_city(row, city_policy_for(city_code_of(code), on=on))


def policy_timeline(
    county: Region | str, *, until: datetime.date
) -> list[tuple[datetime.date, CountyPolicy]]:
    """Every day up to `until` on which what policy_for returns may change (an approved county or
    city row starts), with what it returns from then on, oldest first. Before the first day:
    policy_for on datetime.date.min."""
    code = county if isinstance(county, str) else county.code
    approved = {"status": PolicyStatus.APPROVED, "effective_from__lte": until}
    days = set(
        CountyPolicy.objects.filter(county_id=code, **approved).values_list("effective_from", flat=True)
    )
    days |= set(
        CityPolicy.objects.filter(city_id=city_code_of(code), **approved).values_list(
            "effective_from", flat=True
        )
    )
    return [(day, policy_for(code, on=day)) for day in sorted(days)]


def policy_list(*, user, county_code: str) -> QuerySet[CountyPolicy]:
    region_get_for_user(user=user, code=county_code, include_ancestors=True)  # 404 outside scope
    return (
        CountyPolicy.objects.filter(county_id=county_code)
        .select_related("created_by", "reviewed_by")
        .order_by("-effective_from", "-id")
    )


def city_policy_list(*, user, city_code: str) -> QuerySet[CityPolicy]:
    """The city's rows, for anyone whose area lies in the city (a county's staff read the envelope
    they work in); 404 outside it, and for a code that is not a city."""
    city = region_get_for_user(user=user, code=city_code, include_ancestors=True)
    if city.level != Region.Level.CITY:
        raise Http404
    return (
        CityPolicy.objects.filter(city_id=city_code)
        .select_related("created_by", "reviewed_by")
        .order_by("-effective_from", "-id")
    )


def policy_get_for_user(*, user, pk: int) -> CountyPolicy:
    """A county row whose county the user may read (as policy_list); 404 otherwise."""
    row = CountyPolicy.objects.select_related("county").filter(pk=pk).first()
    if row is None:
        raise Http404
    region_get_for_user(user=user, code=row.county_id, include_ancestors=True)
    return row


def city_policy_get_for_user(*, user, pk: int) -> CityPolicy:
    row = CityPolicy.objects.select_related("city").filter(pk=pk).first()
    if row is None:
        raise Http404
    region_get_for_user(user=user, code=row.city_id, include_ancestors=True)
    return row


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


__all__ = [
    "policy_for",
    "policy_timeline",
    "city_policy_for",
    "clamp_to_city",
    "envelope_errors",
    "policy_list",
    "region_list",
    "region_get_for_user",
    "bank_list",
    "code_prefix",
]
