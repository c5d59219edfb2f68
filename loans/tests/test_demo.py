"""The demo loans: consistent with their ledgers, one of each step in the demo villages, the bad
village tripped, and idempotent."""

import pytest
from django.db.models import Sum

from common.clock import today
from loans import demo, services
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
        first.classified["classification"]["loans"]
        == Loan.objects.filter(status__in=(LoanStatus.ACTIVE, LoanStatus.WRITE_OFF_PROPOSED)).count()
    )
    assert Breaker.objects.get(region_id=demo.BAD_VILLAGE).state == Breaker.State.TRIPPED
    # The controls at work (上蔡, and another county's write-off): a returned application with its reason, a loan approved before
    # its township tripped that may not be disbursed, a loss loan's write-off awaiting a second person.
    returned = Loan.objects.get(county_id="411722", status=LoanStatus.RETURNED)
    assert returned.events.get(action="return").comment == demo.RETURN_REASON
    approved = Loan.objects.get(county_id="411722", status=LoanStatus.APPROVED)
    refused = services.LOAN_WORKFLOW.refusals(approved, actor=None, action="disburse", on=today())
    assert "breaker_tripped" in {r.code for r in refused}
    proposed = Loan.objects.get(status=LoanStatus.WRITE_OFF_PROPOSED)
    assert proposed.classification == "loss" and proposed.events.filter(action="write-off").exists()
    assert (
        second.loans_created,
        second.in_progress_created,
        second.repayments_created,
        second.deposits_created,
    ) == (0, 0, 0, 0)
