"""The demo loans: consistent with their ledgers, one of each step in the demo villages, the bad
village tripped, and idempotent."""

import pytest
from django.db.models import Sum

from loans import demo
from loans.models import Breaker, Loan, LoanStatus
from loans.selectors import principal_outstanding_from_ledger
from organization import demo_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded():
    demo_data.seed(households=4000)
    return demo.seed(), demo.seed()


def test_demo_loans_are_consistent_complete_and_idempotent(seeded):
    first, second = seeded
    assert first.loans_created > 50 and first.repayments_created > 0
    for loan in Loan.objects.filter(status__in=(LoanStatus.ACTIVE, LoanStatus.CLOSED)).prefetch_related(
        "instalments"
    ):
        assert sum(i.principal_due for i in loan.instalments.all()) == loan.amount
        assert loan.principal_outstanding == principal_outstanding_from_ledger(loan)
        paid = loan.repayments.aggregate(s=Sum("principal_part"))["s"] or 0
        assert loan.amount - paid == loan.principal_outstanding
        assert (loan.principal_outstanding == 0) == (loan.status == LoanStatus.CLOSED)
    statuses = set(Loan.objects.filter(area__code__endswith="100201").values_list("status", flat=True))
    assert {"draft", "submitted", "township_reviewed", "recommended"} <= statuses
    assert (
        first.classified["classification"]["loans"] == Loan.objects.filter(status=LoanStatus.ACTIVE).count()
    )
    assert Breaker.objects.get(region_id=demo.BAD_VILLAGE).state == Breaker.State.TRIPPED
    assert (
        second.loans_created,
        second.in_progress_created,
        second.repayments_created,
        second.deposits_created,
    ) == (0, 0, 0, 0)
