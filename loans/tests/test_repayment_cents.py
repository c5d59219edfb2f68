"""A loan repaid in pieces of a few fen closes at exactly zero principal outstanding, on every
database (SQLite keeps decimals as floating point: the principal outstanding must not be worked
out by the database, where 10000 − 0.01 − 0.04 − 9999.95 is −1.8e-12 and breaks the
loan_outstanding_not_negative check)."""

import datetime
from decimal import Decimal

import pytest

from common.clock import today
from loans import services
from loans.models import LoanStatus
from loans.tests.factories_daily import INTEREST, make_loan

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("pieces", [("0.01", "0.04"), ("0.10", "0.20"), ("0.03", "0.07", "0.11")])
def test_a_loan_repaid_in_fen_closes_at_zero(regions, banks, personas, pieces):
    day = today()
    loan = make_loan(
        regions["village_a1"], bank=banks["x"], actor=personas["admin"], amount="10000.00",
        due_dates=[day + datetime.timedelta(days=91 * i) for i in range(1, 5)],
    )  # fmt: skip
    interest = 4 * INTEREST  # allocated first: every piece after it is principal
    paid = Decimal(0)
    for n, piece in enumerate(pieces):
        amount = Decimal(piece) + (interest if n == 0 else 0)
        services.repayment_post(actor=personas["bank_x"], loan=loan, amount=amount, paid_on=day)
        paid += Decimal(piece)
        loan.refresh_from_db()
        assert loan.principal_outstanding == Decimal("10000.00") - paid
    services.repayment_post(
        actor=personas["bank_x"], loan=loan, amount=Decimal("10000.00") - paid, paid_on=day
    )
    loan.refresh_from_db()
    assert (loan.status, loan.principal_outstanding) == (LoanStatus.CLOSED, Decimal("0.00"))
