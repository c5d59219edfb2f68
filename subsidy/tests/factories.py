"""Test data for subsidies: loans built directly (disbursed in the past, with their schedule from
loans.schedules), repaid through loans.services.repayment_post, as banks post them."""

import datetime
from decimal import Decimal

from households.tests.factories import HouseholdFactory
from loans import schedules, services
from loans.models import Instalment, Loan, LoanStatus
from organization.models import Region

Q1_2024 = (datetime.date(2024, 1, 1), datetime.date(2024, 3, 31))


def make_loan(
    area: Region,
    *,
    bank,
    actor,
    amount="30000.00",
    rate="4.75",
    term_months=24,
    disbursed_on=datetime.date(2023, 11, 15),
    method="quarterly_interest_bullet",
    enterprise=None,
    household=None,
    **fields,
) -> Loan:
    """An active loan of `household` (default: a new one of the village `area`), or of `enterprise`
    (area: its township)."""
    amount, rate = Decimal(amount), Decimal(rate)
    if enterprise:
        borrower = {"enterprise": enterprise}
    else:
        household = household or HouseholdFactory(village=area)
        borrower = {"household": household, "borrower": household.members.filter(relation="户主").first()}
    township = area if enterprise else area.parent
    loan = Loan.objects.create(
        area=area, township=township, county=township.parent, bank=bank, amount=amount, rate=rate,
        term_months=term_months, purpose="breeding", repayment_method=method, status=LoanStatus.ACTIVE,
        disbursed_on=disbursed_on, maturity_date=schedules.maturity_date(disbursed_on, term_months),
        principal_outstanding=amount, created_by=actor, **borrower, **fields,
    )  # fmt: skip
    loan.loan_no = f"L{loan.county_id}{loan.pk:07d}"
    loan.save(update_fields=["loan_no"])
    plan = schedules.build_schedule(
        method=method, principal=amount, annual_rate=rate, start=disbursed_on, term_months=term_months
    )
    Instalment.objects.bulk_create(
        Instalment(loan=loan, seq=p.seq, start_date=p.start_date, due_date=p.due_date,
                   principal_due=p.principal_due, interest_due=p.interest_due)
        for p in plan
    )  # fmt: skip
    return loan


def instalment(loan: Loan, seq: int) -> Instalment:
    return loan.instalments.get(seq=seq)


def pay(loan: Loan, *, on: datetime.date, actor, amount=None, seq: int | None = None):
    """A repayment dated `on`: by default the whole of instalment `seq` (or the oldest open one)."""
    if amount is None:
        item = (
            instalment(loan, seq) if seq else loan.instalments.filter(settled=False).order_by("seq").first()
        )
        amount = item.principal_due - item.principal_paid + item.interest_due - item.interest_paid
    loan.refresh_from_db()
    return services.repayment_post(actor=actor, loan=loan, amount=Decimal(amount), paid_on=on)
