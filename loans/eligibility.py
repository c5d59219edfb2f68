"""The lending rules of DOMAIN.md "Loans", each with its API.md refusal code and a Chinese message
that tells the clerk what to do. RULES names them; the loan workflow's table (loans.services)
lists which run at each step (submit, approve, disburse, renew, extend), and the application form
shows them all before anyone submits.

Every rule reads the policy row in force on the day of the step (the disbursement date for a
disbursement): an age, a rating's validity or a breaker is judged on that day.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from common.identity import age_on
from common.money import money
from common.workflow import Refusal
from households.models import HouseholdStatus
from organization.models import Grade
from organization.selectors import policy_for

from .models import (
    APPLIED_STATUSES,
    NON_PRODUCTIVE_PURPOSES,
    OUTSTANDING_STATUSES,
    Breaker,
    Loan,
    Purpose,
)  # fmt: skip

ELIGIBLE_STATUSES = (HouseholdStatus.POOR, HouseholdStatus.LIFTED, HouseholdStatus.MONITORED)
GRADE_RANK = {Grade.AAA: 5, Grade.AA: 4, Grade.A: 3, Grade.B: 2, Grade.C: 1}


@dataclass(frozen=True)
class Application:
    """What a rule needs to know: a saved loan or a form not yet saved."""

    household: object  # Household | None
    borrower: object  # Member | None
    enterprise: object  # Enterprise | None
    amount: Decimal
    term_months: int
    purpose: str
    county_code: str
    township_code: str
    village_code: str | None
    loan_id: int | None = None
    renewed_from_id: int | None = None

    @classmethod
    def of(cls, loan: Loan) -> "Application":
        return cls(
            household=loan.household, borrower=loan.borrower, enterprise=loan.enterprise, amount=loan.amount,
            term_months=loan.term_months, purpose=loan.purpose, county_code=loan.county_id,
            township_code=loan.township_id, village_code=None if loan.enterprise_id else loan.area_id,
            loan_id=loan.pk, renewed_from_id=loan.renewed_from_id,
        )  # fmt: skip


def refusals(app: Application, *, on: datetime.date, rules=None) -> list[Refusal]:
    """Every rule of `rules` (default: all of RULES) the application breaks on `on`, in the order
    a clerk would fix them."""
    found: list[Refusal] = []
    for name in rules or RULES:
        found += RULES[name](app, on)
    return found


def _age_rule(app: Application, on: datetime.date) -> list[Refusal]:
    """The borrower's age on the day of the step (on the disbursement date for a disbursement)."""
    if app.enterprise is not None or app.borrower is None:
        return []
    policy, borrower = policy_for(app.county_code, on=on), app.borrower
    age = age_on(borrower.birth_date, on)
    if policy.borrower_min_age <= age <= policy.borrower_max_age:
        return []
    return [Refusal(
        "age_out_of_range",
        f"借款人{borrower.name}在{on:%Y-%m-%d}为{age}周岁，不在{policy.borrower_min_age}至{policy.borrower_max_age}周岁之间。"
        "请改由本户符合年龄的家庭成员作为借款人。",
    )]  # fmt: skip


def _status_rule(app: Application, on: datetime.date) -> list[Refusal]:
    household = app.household
    if household is None or household.status in ELIGIBLE_STATUSES:
        return []
    return [Refusal(
        "ineligible_status",
        f"该户为“{household.get_status_display()}”，扶贫小额信贷只贷给建档立卡未脱贫户、已脱贫户和监测户。",
    )]  # fmt: skip


def _rating_rule(app: Application, on: datetime.date) -> list[Refusal]:
    """An approved rating still valid on `on`, of the policy's minimum grade or better."""
    from credit_rating.selectors import effective_rating

    if app.household is None:
        return []
    policy = policy_for(app.county_code, on=on)
    rating = effective_rating(app.household.pk, on=on)
    if rating is None:
        return [Refusal(
            "no_effective_rating",
            f"该户在{on:%Y-%m-%d}没有有效的信用评级。请先由村级评级、乡镇审核、县级审批后再办理。",
        )]  # fmt: skip
    if GRADE_RANK[rating.grade] < GRADE_RANK[policy.min_grade]:
        return [Refusal(
            "grade_too_low", f"该户信用等级为{rating.grade}，须达到{policy.min_grade}级及以上才能贷款。"
        )]  # fmt: skip
    return []


def _credit_line_rule(app: Application, on: datetime.date) -> list[Refusal]:
    """The amount within the available credit line (0 while the line is frozen)."""
    from credit_rating.selectors import available_credit_line, credit_line_frozen

    if app.household is None:
        return []
    rating, line = available_credit_line(app.household.pk, on=on)
    if rating is None or app.amount <= line or _rating_rule(app, on):  # the rating rule says why
        return []
    why = (
        "授信额度已因贷后检查发现非生产性用途被冻结"
        if credit_line_frozen(app.household.pk)
        else f"授信额度为{line:,}元"
    )
    return [
        Refusal(
            "exceeds_credit_line", f"申请金额{money(app.amount):,}元超过该户可用授信：{why}。请调低金额。"
        )
    ]


def _product_cap_rule(app: Application, on: datetime.date) -> list[Refusal]:
    if app.household is None:
        return []
    policy, found = policy_for(app.county_code, on=on), []
    if app.amount > policy.household_loan_cap:
        found.append(Refusal(
            "exceeds_product_cap",
            f"户贷金额不超过{policy.household_loan_cap:,}元，申请{money(app.amount):,}元。请调低金额。",
        ))  # fmt: skip
    if app.term_months > policy.household_max_term_months:
        found.append(Refusal(
            "term_too_long", f"户贷期限不超过{policy.household_max_term_months}个月，申请{app.term_months}个月。"
        ))  # fmt: skip
    return found


def _one_live_loan_rule(app: Application, on: datetime.date) -> list[Refusal]:
    if app.household is None:
        return []
    other = other_household_loan(app)
    if other is None:
        return []
    return [duplicate_household_loan(other)]


def duplicate_household_loan(other: Loan | None) -> Refusal:
    which = f"（{other}，{other.get_status_display()}）" if other is not None else ""
    return Refusal(
        "duplicate_household_loan",
        f"该户已有一笔未结清的扶贫小额信贷{which}，一户只能有一笔，家庭成员、不同银行合并计算。",
    )


def other_household_loan(app: Application) -> Loan | None:
    """Another loan of the household still in progress or outstanding (any member, any bank); the
    loan a renewal replaces does not count."""
    others = Loan.objects.filter(
        household=app.household, status__in=(*APPLIED_STATUSES, *OUTSTANDING_STATUSES)
    )
    if app.loan_id:
        others = others.exclude(pk=app.loan_id)
    if app.renewed_from_id:
        others = others.exclude(pk=app.renewed_from_id)
    return others.first()


def _enterprise_rule(app: Application, on: datetime.date) -> list[Refusal]:
    """Recognised, old enough, and within the linkage cap after the enterprise's other loans:
    their principal outstanding and the amounts applied for and not yet disbursed."""
    from enterprises.selectors import enterprise_eligibility

    if app.enterprise is None:
        return []
    eligibility = enterprise_eligibility(app.enterprise, on=on)
    return [
        Refusal(code, message)
        for code, message in eligibility.refusals_for(app.amount, used=enterprise_used(app))
    ]


def enterprise_used(app: Application) -> Decimal:
    """What the enterprise's other live loans take of its cap (the loan a renewal replaces aside)."""
    others = Loan.objects.filter(enterprise=app.enterprise).exclude(pk__in=[app.loan_id, app.renewed_from_id])
    outstanding = others.filter(status__in=OUTSTANDING_STATUSES).aggregate(s=Sum("principal_outstanding"))[
        "s"
    ]
    applied = others.filter(status__in=APPLIED_STATUSES).aggregate(s=Sum("amount"))["s"]
    return money((outstanding or 0) + (applied or 0))


def _purpose_rule(app: Application, on: datetime.date) -> list[Refusal]:
    if app.purpose in NON_PRODUCTIVE_PURPOSES:
        label = Purpose(app.purpose).label
        return [Refusal(
            "non_productive_purpose",
            f"扶贫小额信贷只能用于发展生产，不能用于{label}。"
            "请选择种植、养殖、加工、商贸流通、乡村旅游、手工业、运输或其他生产经营。",
        )]  # fmt: skip
    return []


def _breaker_rule(app: Application, on: datetime.date) -> list[Refusal]:
    """The village's and the township's breakers closed (the seed: 停止贷款发放)."""
    codes = [c for c in (app.village_code, app.township_code) if c]
    tripped = Breaker.objects.filter(region_id__in=codes, state=Breaker.State.TRIPPED).select_related(
        "region"
    )
    return [
        Refusal(
            "breaker_tripped",
            f"{b.region.name}不良贷款率{b.npl_ratio}%，超过{b.threshold}%的熔断线，已暂停新增贷款。"
            "待不良率回落并经县级确认恢复后再办理。",
        )
        for b in tripped
    ]


def _leverage_rule(app: Application, on: datetime.date) -> list[Refusal]:
    """The fund's leverage after this loan: principal outstanding plus the loans approved and not
    yet disbursed (this one aside) plus this amount. Takes the county fund's lock first, so two
    approvals or disbursements of one county pass this check one after the other."""
    from risk_fund.selectors import fund_lock, leverage_refusal

    if transaction.get_connection().in_atomic_block:  # a page showing the rules takes no lock
        fund_lock(app.county_code)
    message = leverage_refusal(app.county_code, amount=app.amount, on=on, exclude_loan_id=app.loan_id)
    return [Refusal("fund_leverage_exceeded", message)] if message else []


# name -> rule; the order is the order a clerk would fix them in.
RULES = {
    "age": _age_rule,
    "household_status": _status_rule,
    "rating": _rating_rule,
    "credit_line": _credit_line_rule,
    "product_cap": _product_cap_rule,
    "one_live_loan": _one_live_loan_rule,
    "enterprise": _enterprise_rule,
    "purpose": _purpose_rule,
    "breaker": _breaker_rule,
    "leverage": _leverage_rule,
}
