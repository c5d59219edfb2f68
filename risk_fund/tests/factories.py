"""Test data of the fund: deposits, agreements, and loans past due (built directly, as the daily
job's tests build them: 10,000 yuan, 100 yuan of interest a quarter, principal at the end)."""

import datetime
from decimal import Decimal

from common.clock import today
from loans.tests.factories import fund_deposit  # noqa: F401 (re-exported)
from loans.tests.factories_daily import overdue_by
from risk_fund.models import BankAgreement


def overdue_loan(
    regions, banks, personas, *, days=120, village="village_a1", bank="x", loan_no=None, **kwargs
):
    """A loan of `village` at bank X (Y for 西平) whose first instalment fell due `days` ago: with
    120 days two instalments are due, so the loss is 10,000 principal + 200 interest."""
    loan = overdue_by(days, today(), regions[village], bank=banks[bank], actor=personas["admin"], **kwargs)
    loan.dpd, loan.loan_no = days, loan_no or loan.loan_no
    loan.save(update_fields=["dpd", "loan_no"])
    return loan


def agreement(county, bank, *, actor, valid_from=datetime.date(2017, 1, 1), **terms) -> BankAgreement:
    terms = {"fund_share": Decimal(80), "bank_share": Decimal(20), **terms}
    return BankAgreement.objects.create(
        county=county, bank=bank, valid_from=valid_from, created_by=actor, **terms
    )
