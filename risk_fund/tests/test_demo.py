"""The fund's demo, after the loans demo: agreements everywhere (three ways in 上蔡县), a paid
claim with a partial recovery and a filed one, consistent with the ledger, and idempotent."""

import pytest

from common.clock import today
from loans import demo as loan_demo
from organization import demo_data
from organization.models import Bank
from risk_fund import demo, selectors
from risk_fund.models import BankAgreement, ClaimStatus, CompensationClaim, FundEntry

pytestmark = pytest.mark.django_db


def test_demo_is_complete_consistent_and_idempotent():
    demo_data.seed(households=4000)
    loan_demo.seed()
    first, second = demo.seed(), demo.seed()
    assert (second.agreements_created, second.claims_created, second.recoveries_created) == (0, 0, 0)
    pairs = {(c, b.pk) for c in demo_data.ALL_COUNTY_CODES for b in Bank.objects.filter(branches__counties=c)}
    assert set(BankAgreement.objects.values_list("county_id", "bank_id")) == pairs
    assert first.agreements_created == len(pairs)
    three_way = BankAgreement.objects.get(guarantee_share__gt=0)
    assert (three_way.county_id, three_way.guarantee_agency) == (demo.CLAIM_COUNTY, demo.GUARANTOR)

    paid = CompensationClaim.objects.get(status=ClaimStatus.PAID)
    assert paid.guarantee_share > 0 and paid.dpd >= 90 and paid.verified_by != paid.paid_by
    back = selectors.recovered(paid)
    assert 0 < back["amount"] < paid.loss and back["guarantee"] > 0
    assert CompensationClaim.objects.filter(status=ClaimStatus.FILED).count() == 1
    rows = FundEntry.objects.filter(county_id=demo.CLAIM_COUNTY).values_list("amount", flat=True)
    assert selectors.fund_balance(demo.CLAIM_COUNTY, on=today()) == sum(rows)
    assert sum(rows) == loan_demo.FUND_DEPOSIT - paid.fund_share + back["fund"]
    assert "合作协议" in first.summary()
