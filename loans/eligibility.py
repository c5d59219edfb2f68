"""The lending rules of DOMAIN.md "Loans", each with its API.md refusal code and a Chinese message
that tells the clerk what to do. Checked when the village submits, again when the bank approves,
and shown on the application form before anyone submits.

Every check reads the policy row in force on the day of the check.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from common.money import money
from households.models import HouseholdStatus
from organization.models import Grade
from organization.selectors import policy_for

from .models import IN_PROGRESS_STATUSES, NON_PRODUCTIVE_PURPOSES, Breaker, Loan, LoanStatus, Purpose

ELIGIBLE_STATUSES = (HouseholdStatus.POOR, HouseholdStatus.LIFTED, HouseholdStatus.MONITORED)
GRADE_RANK = {Grade.AAA: 5, Grade.AA: 4, Grade.A: 3, Grade.B: 2, Grade.C: 1}


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str


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


def refusals(app: Application, *, on: datetime.date, include_leverage: bool = True) -> list[Refusal]:
    """Every rule the application breaks on `on`, in the order a clerk would fix them."""
    policy = policy_for(app.county_code, on=on)
    found: list[Refusal] = []
    if app.enterprise is not None:
        found += _enterprise_rules(app, on=on)
    else:
        found += _household_rules(app, policy, on=on)
    found += _purpose_rule(app)
    found += _breaker_rules(app)
    if include_leverage:
        found += _leverage_rule(app, on=on)
    return found


def _household_rules(app: Application, policy, *, on: datetime.date) -> list[Refusal]:
    from credit_rating.selectors import available_credit_line, credit_line_frozen

    found = []
    household, borrower = app.household, app.borrower
    if borrower is not None:
        age = age_on(borrower.birth_date, on)
        if not policy.borrower_min_age <= age <= policy.borrower_max_age:
            found.append(Refusal(
                "age_out_of_range",
                f"借款人{borrower.name}今年{age}周岁，不在{policy.borrower_min_age}至{policy.borrower_max_age}周岁之间。"
                "请改由本户符合年龄的家庭成员作为借款人。",
            ))  # fmt: skip
    if household.status not in ELIGIBLE_STATUSES:
        found.append(Refusal(
            "ineligible_status",
            f"该户为“{household.get_status_display()}”，扶贫小额信贷只贷给建档立卡未脱贫户、已脱贫户和监测户。",
        ))  # fmt: skip

    rating, line = available_credit_line(household.pk, on=on)
    if rating is None:
        found.append(Refusal(
            "no_effective_rating", "该户没有有效的信用评级。请先由村级评级、乡镇审核、县级审批后再申请贷款。"
        ))  # fmt: skip
    elif GRADE_RANK[rating.grade] < GRADE_RANK[policy.min_grade]:
        found.append(Refusal(
            "grade_too_low", f"该户信用等级为{rating.grade}，须达到{policy.min_grade}级及以上才能贷款。"
        ))  # fmt: skip
    elif app.amount > line:
        why = (
            "授信额度已因贷后检查发现非生产性用途被冻结"
            if credit_line_frozen(household.pk)
            else f"授信额度为{line:,}元"
        )
        found.append(Refusal(
            "exceeds_credit_line", f"申请金额{money(app.amount):,}元超过该户可用授信：{why}。请调低金额。"
        ))  # fmt: skip

    if app.amount > policy.household_loan_cap:
        found.append(Refusal(
            "exceeds_product_cap",
            f"户贷金额不超过{policy.household_loan_cap:,}元，申请{money(app.amount):,}元。请调低金额。",
        ))  # fmt: skip
    if app.term_months > policy.household_max_term_months:
        found.append(Refusal(
            "term_too_long", f"户贷期限不超过{policy.household_max_term_months}个月，申请{app.term_months}个月。"
        ))  # fmt: skip
    other = other_household_loan(app)
    if other is not None:
        found.append(Refusal(
            "duplicate_household_loan",
            f"该户已有一笔未结清的扶贫小额信贷（{other}，{other.get_status_display()}），"
            "一户只能有一笔，家庭成员、不同银行合并计算。",
        ))  # fmt: skip
    return found


def other_household_loan(app: Application) -> Loan | None:
    """Another loan of the household still in progress or outstanding (any member, any bank); the
    loan a renewal replaces does not count."""
    others = Loan.objects.filter(
        household=app.household, status__in=(*IN_PROGRESS_STATUSES, LoanStatus.ACTIVE)
    ).exclude(status=LoanStatus.DRAFT)
    if app.loan_id:
        others = others.exclude(pk=app.loan_id)
    if app.renewed_from_id:
        others = others.exclude(pk=app.renewed_from_id)
    return others.first()


def _enterprise_rules(app: Application, *, on: datetime.date) -> list[Refusal]:
    from enterprises.selectors import enterprise_eligibility

    eligibility = enterprise_eligibility(app.enterprise, on=on)
    return [Refusal(code, message) for code, message in eligibility.refusals_for(app.amount)]


def _purpose_rule(app: Application) -> list[Refusal]:
    if app.purpose in NON_PRODUCTIVE_PURPOSES:
        label = Purpose(app.purpose).label
        return [Refusal(
            "non_productive_purpose",
            f"扶贫小额信贷只能用于发展生产，不能用于{label}。"
            "请选择种植、养殖、加工、商贸流通、乡村旅游、手工业、运输或其他生产经营。",
        )]  # fmt: skip
    return []


def _breaker_rules(app: Application) -> list[Refusal]:
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


def _leverage_rule(app: Application, *, on: datetime.date) -> list[Refusal]:
    from risk_fund.selectors import leverage_refusal

    message = leverage_refusal(app.county_code, amount=app.amount, on=on)
    return [Refusal("fund_leverage_exceeded", message)] if message else []


def age_on(birth_date: datetime.date, on: datetime.date) -> int:
    """Full years (周岁) on `on`."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
