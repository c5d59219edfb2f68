"""Loans for the daily-job tests, built directly (no workflow): what the daily job reads is the
loan's status, area, principal outstanding and classification, and its instalments' due dates and
settled flags."""

import datetime
import itertools
from decimal import Decimal

from enterprises.tests.factories import EnterpriseFactory
from households.tests.factories import HouseholdFactory
from loans.models import Instalment, Loan, LoanStatus
from organization.models import Region

_numbers = itertools.count(1)
INTEREST = Decimal("100.00")


def quarterly(first_due: datetime.date, count: int = 4) -> list[datetime.date]:
    """`count` due dates 91 days apart from `first_due` (exact quarters do not matter here)."""
    return [first_due + datetime.timedelta(days=91 * i) for i in range(count)]


def make_loan(
    area: Region,
    *,
    bank,
    actor,
    amount="10000.00",
    due_dates: list[datetime.date] | None = None,
    settled: int = 0,
    status: str = LoanStatus.ACTIVE,
    outstanding=None,
    classification: str | None = None,
    maturity_date: datetime.date | None = None,
) -> Loan:
    """A household loan of a village, or an enterprise loan of a township (by the area's level),
    interest every instalment and the principal on the last; the first `settled` instalments are
    paid in full. Principal outstanding follows from them unless `outstanding` is given."""
    amount = Decimal(amount)
    due_dates = due_dates or quarterly(datetime.date(2019, 3, 31))
    disbursed_on = due_dates[0] - datetime.timedelta(days=91)
    if area.level == Region.Level.VILLAGE:
        township, borrower = area.parent, {"household": HouseholdFactory(village=area)}
    else:
        township, borrower = area, {"enterprise": EnterpriseFactory(township=area)}
    paid_principal = amount if settled >= len(due_dates) else Decimal(0)
    loan = Loan.objects.create(
        loan_no=f"DAILY{next(_numbers):06d}", area=area, township=township, county=township.parent, bank=bank,
        amount=amount, rate=Decimal("4.75"), term_months=3 * len(due_dates), purpose="breeding", status=status,
        disbursed_on=disbursed_on, maturity_date=maturity_date or due_dates[-1],
        principal_outstanding=amount - paid_principal if outstanding is None else Decimal(outstanding),
        created_by=actor, **({"classification": classification} if classification else {}), **borrower,
    )  # fmt: skip
    starts = [disbursed_on, *due_dates[:-1]]
    Instalment.objects.bulk_create(
        Instalment(
            loan=loan,
            seq=seq,
            start_date=start,
            due_date=due,
            principal_due=amount if seq == len(due_dates) else Decimal(0),
            interest_due=INTEREST,
            principal_paid=(amount if seq == len(due_dates) else Decimal(0))
            if seq <= settled
            else Decimal(0),
            interest_paid=INTEREST if seq <= settled else Decimal(0),
            settled=seq <= settled,
        )  # fmt: skip
        for seq, (start, due) in enumerate(zip(starts, due_dates, strict=True), start=1)
    )
    return loan


def overdue_by(days: int, as_of: datetime.date, area: Region, **kwargs) -> Loan:
    """A loan whose first instalment fell due `days` days before `as_of` (0: falls due on it)."""
    return make_loan(area, due_dates=quarterly(as_of - datetime.timedelta(days=days)), **kwargs)
