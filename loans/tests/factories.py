"""Test data for loans: the lending set-up of a county (scorecard, fund), effective ratings, and
loans walked through the workflow by the proper personas."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import time_machine

from credit_rating.models import RatingStatus
from credit_rating.tests.factories import RatingFactory, publish_default
from loans import services
from loans.models import Loan, LoanStatus
from risk_fund.models import FundEntry

FUND = Decimal("20000000.00")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def fund_deposit(county, *, actor, amount=FUND, on=datetime.date(2017, 1, 1)) -> FundEntry:
    return FundEntry.objects.create(
        county=county,
        kind=FundEntry.Kind.DEPOSIT,
        amount=amount,
        received_on=on,
        source="县财政",
        created_by=actor,
    )


def rate(household, *, actor, grade="AA", line="40000.00") -> None:
    """An approved rating valid today (built directly: the rating workflow has its own tests)."""
    scorecard = household.village.parent.parent  # the county
    from credit_rating.models import Scorecard

    card = Scorecard.objects.filter(county=scorecard).first() or publish_default(scorecard)
    RatingFactory(
        household=household, scorecard=card, drafted_by=actor, status=RatingStatus.APPROVED, grade=grade,
        credit_line=Decimal(line),
    )  # fmt: skip


def apply(household, *, actor, bank, amount="30000.00", term_months=24, purpose="breeding", **kwargs) -> Loan:
    return services.loan_create(
        actor=actor, household=household, bank=bank, amount=Decimal(amount), term_months=term_months,
        purpose=purpose, repayment_method=kwargs.pop("repayment_method", "quarterly_interest_bullet"), **kwargs,
    )  # fmt: skip


# The step of each status, and who takes it (keys of the `personas` fixture).
STEPS = [
    (LoanStatus.SUBMITTED, "submit", "village_a1"),
    (LoanStatus.TOWNSHIP_REVIEWED, "township-review", "township_a"),
    (LoanStatus.RECOMMENDED, "county-recommend", "county_staff"),
    (LoanStatus.APPROVED, "approve", "bank_x"),
]


def walk(loan: Loan, *, to: str, personas, disbursed_on: datetime.date | None = None) -> Loan:
    """Move a loan of village A1 (bank X) along the workflow; the notice period is skipped by
    travelling past it. `to` may be any of STEPS' statuses or active."""
    done = [status for status, _, _ in STEPS].index(loan.status) + 1 if loan.status != LoanStatus.DRAFT else 0
    for status, action, who in STEPS[done:]:
        if action == "approve":
            return _approve_and_disburse(loan, to=to, personas=personas, disbursed_on=disbursed_on)
        loan = services.loan_transition(actor=personas[who], loan=loan, action=action)
        if status == to:
            return loan
    raise AssertionError(to)


def _approve_and_disburse(loan, *, to, personas, disbursed_on):
    """Approved on the day the notice period ends (the bank cannot approve before), disbursed that
    day or on `disbursed_on`, on that day itself (a disbursement is recorded when it happens)."""
    with _on(loan.notice_ends_on):
        loan = services.loan_transition(actor=personas["bank_x"], loan=loan, action="approve")
        if to == LoanStatus.APPROVED:
            return loan
    day = disbursed_on or loan.notice_ends_on
    with _on(day):
        return services.loan_disburse(actor=personas["bank_x"], loan=loan, disbursed_on=day)


def _on(day: datetime.date):
    return time_machine.travel(datetime.datetime.combine(day, datetime.time(12), tzinfo=SHANGHAI), tick=False)


def recognise_and_link(enterprise, households, *, actor) -> None:
    """Recognised since 2017 and leading `households` from then on, open-ended."""
    from enterprises.services import enterprise_recognize
    from enterprises.tests.factories import BenefitLinkFactory

    enterprise_recognize(
        actor=actor,
        enterprise=enterprise,
        decision_no="上蔡政〔2017〕1号",
        decided_on=datetime.date(2017, 1, 1),
    )
    for household in households:
        BenefitLinkFactory(
            enterprise=enterprise, household=household, created_by=actor, start_date=datetime.date(2017, 1, 1)
        )
