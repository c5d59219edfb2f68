"""The demo batches: one paid batch per county and bank for the period before the last ended
one, computed by the admin and approved and marked paid by the county's demo user; a second run adds nothing."""

import pytest

from loans import demo as loan_demo
from organization import demo_data
from subsidy import demo, pot_selectors, selectors
from subsidy.models import SettlementBatch, SubsidyPotEntry

pytestmark = pytest.mark.django_db


def test_demo_batches_are_paid_consistent_and_idempotent():
    demo_data.seed(households=1500)
    loan_demo.seed()
    first, second = demo.seed(), demo.seed()
    batches = list(SettlementBatch.objects.select_related("county"))
    assert first.batches_created == len(batches) >= 5 and second.batches_created == 0
    assert first.total_amount > 0 and "审批并拨付结算批次" in first.summary()
    for batch in batches:
        assert batch.status == "paid" and (batch.period_start, batch.period_end) == first.period
        assert batch.total_amount == selectors.lines_sum(batch) and batch.line_count == batch.lines.count()
        events = {e.action: e.actor.username for e in batch.events.all()}
        county_user = f"county_{batch.county_id}"
        assert events == {"create": "admin", "approve": county_user, "mark-paid": county_user}


def test_demo_pot_has_deposits_and_a_payout():
    demo_data.seed(households=1500)
    loan_demo.seed()
    first = demo.seed()
    assert first.pot_entries >= 3 and "贴息资金池" in first.summary()
    assert demo.seed().pot_entries == 0  # made once
    assert pot_selectors.pot_balance("411700") == demo.CITY_POT_DEPOSIT
    (payout,) = SubsidyPotEntry.objects.filter(kind="payout")
    assert (
        payout.region_id == "411722"
        and payout.batch.status == "paid"
        and payout.amount == -payout.batch.total_amount
    )
    assert pot_selectors.pot_balance("411722") > 0
