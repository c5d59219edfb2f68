"""Reads of the enterprise registry, always scoped to the user, and the eligibility of an
enterprise for an enterprise loan (used by the loans app)."""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from common.clock import today
from common.dates import add_months
from common.identity import search_term
from common.money import money
from organization.models import code_prefix
from organization.scoping import area_q
from organization.selectors import policy_for

from .models import BenefitLink, Enterprise, EnterpriseKind, RecognitionEvent


def in_force_q(on: datetime.date, prefix: str = "") -> Q:
    """Links in force on `on` (both ends inclusive; no end date: open-ended)."""
    return Q(**{f"{prefix}start_date__lte": on}) & (
        Q(**{f"{prefix}end_date__isnull": True}) | Q(**{f"{prefix}end_date__gte": on})
    )


def enterprise_list(
    *, user, filters: dict | None = None, on: datetime.date | None = None
) -> QuerySet[Enterprise]:
    """filters: region (a code; its subtree), kind, recognized (bool), q (name contains, or credit
    code prefix). Each row carries households_led on `on` (default today)."""
    filters = filters or {}
    on = on or today()
    qs = (
        Enterprise.objects.filter(area_q(user, "township__code"))
        .select_related("township", "county")
        .annotate(households_led=Count("links__household", filter=in_force_q(on, "links__"), distinct=True))
    )
    if filters.get("region"):
        qs = qs.filter(township__code__startswith=code_prefix(filters["region"]))
    if filters.get("kind"):
        qs = qs.filter(kind=filters["kind"])
    if filters.get("recognized") is not None and filters.get("recognized") != "":
        qs = qs.filter(recognized=filters["recognized"])
    if filters.get("q"):
        term = search_term(filters["q"])
        qs = qs.filter(Q(name__contains=term) | Q(credit_code__startswith=term.upper()))
    return qs.order_by("township_id", "name", "pk")


def enterprise_get_for_user(*, user, pk, on: datetime.date | None = None) -> Enterprise:
    """The enterprise if the user may see it, with households_led on `on` (default today); 404 for
    out-of-scope and missing alike."""
    try:
        return enterprise_list(user=user, on=on).get(pk=pk)
    except (Enterprise.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def households_led(enterprise: Enterprise, *, on: datetime.date) -> int:
    """Distinct households with a link to the enterprise in force on `on`."""
    return (
        BenefitLink.objects.filter(in_force_q(on), enterprise=enterprise)
        .values("household_id")
        .distinct()
        .count()
    )


def link_list(*, enterprise: Enterprise) -> QuerySet[BenefitLink]:
    """Every link of an enterprise the caller already got through enterprise_get_for_user."""
    return enterprise.links.select_related("household__village").order_by("-start_date", "-id")


def link_get_for_user(*, user, enterprise_pk, pk) -> BenefitLink:
    enterprise = enterprise_get_for_user(user=user, pk=enterprise_pk)
    try:
        return enterprise.links.select_related("enterprise", "household").get(pk=pk)
    except (BenefitLink.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def recognition_history(enterprise: Enterprise) -> QuerySet[RecognitionEvent]:
    return enterprise.recognition_events.select_related("actor").order_by("-decided_on", "-id")


def recognized_on_date(enterprise: Enterprise, *, on: datetime.date) -> bool:
    """Was the enterprise recognised on `on`: its last decision up to that day was a recognition."""
    last = enterprise.recognition_events.filter(decided_on__lte=on).order_by("-decided_on", "-id").first()
    return last is not None and last.action == RecognitionEvent.Action.RECOGNIZE


def cooperative_eligible_from(enterprise: Enterprise, *, years: int) -> datetime.date:
    """The first day a cooperative has run `years` full years (29 February + 1 year: 28 February)."""
    return add_months(enterprise.founded_on, 12 * years)


@dataclass(frozen=True)
class EnterpriseEligibility:
    on: datetime.date
    recognised: bool
    cooperative_old_enough: bool  # always True for a company
    households_led: int
    cap_per_household: Decimal
    loan_cap: Decimal
    refusals: list[tuple[str, str]] = field(default_factory=list)  # (API.md code, Chinese message)

    @property
    def eligible(self) -> bool:
        return not self.refusals

    def refusals_for(self, amount: Decimal, *, used: Decimal = Decimal(0)) -> list[tuple[str, str]]:
        """The refusals for a loan of `amount`: the enterprise's own, and exceeds_linkage_cap when
        it and what the enterprise's other loans already `used` of the cap exceed the cap."""
        refusals = list(self.refusals)
        if amount + used > self.loan_cap:
            others = f"，其他贷款已占用{money(used):,}元" if used else ""
            refusals.append(
                (
                    "exceeds_linkage_cap",
                    f"申请金额{money(amount):,}元超过带贫额度上限{self.loan_cap:,}元"
                    f"（{self.on:%Y-%m-%d}带动{self.households_led}户 × 每户{self.cap_per_household:,}元{others}）。",
                )
            )
        return refusals


def enterprise_eligibility(enterprise: Enterprise, *, on: datetime.date) -> EnterpriseEligibility:
    """Whether the enterprise may borrow on `on`, and how much (DOMAIN.md "Enterprises"):
    recognised by the county on that day; a cooperative founded at least cooperative_min_years
    before it (exactly N years is enough); loan cap = households led that day × the county's
    enterprise_cap_per_household (policy rows in force that day)."""
    policy = policy_for(enterprise.county_id, on=on)
    refusals: list[tuple[str, str]] = []

    recognised = recognized_on_date(enterprise, on=on)
    if not recognised:
        refusals.append(
            (
                "enterprise_not_recognized",
                f"{enterprise.name}在{on:%Y-%m-%d}未被县金融扶贫服务中心认定为带贫企业（或认定已撤销），"
                "不能申请带贫企业贷款。",
            )
        )

    old_enough = True
    if enterprise.kind == EnterpriseKind.COOPERATIVE:
        years = policy.cooperative_min_years
        eligible_from = cooperative_eligible_from(enterprise, years=years)
        old_enough = eligible_from <= on
        if not old_enough:
            refusals.append(
                (
                    "cooperative_too_young",
                    f"合作社成立于{enterprise.founded_on:%Y-%m-%d}，须正常运营满{years}年，"
                    f"{eligible_from:%Y-%m-%d}起方可申请。",
                )
            )

    led = households_led(enterprise, on=on)
    per_household = money(policy.enterprise_cap_per_household)
    return EnterpriseEligibility(
        on=on,
        recognised=recognised,
        cooperative_old_enough=old_enough,
        households_led=led,
        cap_per_household=per_household,
        loan_cap=money(per_household * led),
        refusals=refusals,
    )
