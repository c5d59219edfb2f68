"""Two clerks at once, on PostgreSQL (row locks): two payouts cannot spend the same balance, and a
loan is claimed once. Two clerks paying the same claim at once are raced through the API in
tests/test_concurrency.py."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection

from common.testing import at_once
from conftest import require_service
from risk_fund import selectors, services
from risk_fund.models import CompensationClaim
from risk_fund.services import FundError

from .factories import fund_deposit, overdue_loan

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def on_postgresql():
    require_service(connection.vendor == "postgresql", "PostgreSQL (row locks for concurrent clerks)")


@pytest.fixture
def slow_balance(monkeypatch):
    """Before reading the balance each clerk waits for the other, for a second at most: without the
    locks both read it together (and both would pay); with them the first gives up waiting, pays and
    commits, and only then may the second go on."""
    original, both_here = selectors.fund_balance, threading.Barrier(2)

    def fund_balance(*args, **kwargs):
        try:
            both_here.wait(timeout=1)
        except threading.BrokenBarrierError:
            pass
        return original(*args, **kwargs)

    monkeypatch.setattr(selectors, "fund_balance", fund_balance)


def verified(loan, p):
    return services.claim_verify(
        actor=p["county_staff"], claim=services.claim_file(actor=p["bank_x"], loan=loan)
    )


def test_two_payouts_cannot_spend_the_same_balance(regions, banks, p, slow_balance):
    fund_deposit(regions["shangcai"], actor=p["admin"], amount=Decimal("10000.00"))  # one 8,160 payout fits
    claims = [verified(overdue_loan(regions, banks, p), p) for _ in range(2)]
    outcomes = at_once(
        *[lambda c=c: services.claim_pay(actor=p["county2"], claim=c) for c in claims], catch=(FundError,)
    )
    assert sorted(o.code if isinstance(o, FundError) else o.status for o in outcomes) == [
        "fund_insufficient",
        "paid",
    ]
    assert selectors.fund_balance("411722", on=claims[0].filed_at.date()) == Decimal("1840.00")


def test_a_loan_filed_twice_at_once_is_claimed_once(loan, p, monkeypatch):
    original = selectors.loss_of

    def loss_of(*args, **kwargs):
        time.sleep(0.3)
        return original(*args, **kwargs)

    monkeypatch.setattr(selectors, "loss_of", loss_of)
    outcomes = at_once(
        *[lambda who=who: services.claim_file(actor=p[who], loan=loan) for who in ("bank_x", "admin")],
        catch=(FundError,),
    )
    assert sorted(o.code if isinstance(o, FundError) else o.status for o in outcomes) == [
        "claim_exists",
        "filed",
    ]
    assert CompensationClaim.objects.filter(loan=loan).count() == 1
