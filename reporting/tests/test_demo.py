"""reporting.demo: month-end snapshots rebuilt from the ledger, and today's real one."""

import datetime
from decimal import Decimal

import pytest
import time_machine

from loans.models import Repayment
from reporting import demo
from reporting.models import RegionRollup

from .conftest import AS_OF

pytestmark = pytest.mark.django_db
NOON = datetime.datetime(2019, 6, 30, 12, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))


def test_the_dates_are_the_last_month_ends_and_today():
    dates = demo.snapshot_dates(datetime.date(2019, 3, 15), months=3)
    assert dates == [datetime.date(2018, 12, 31), datetime.date(2019, 1, 31), datetime.date(2019, 2, 28),
                     datetime.date(2019, 3, 15)]  # fmt: skip


def test_seed_writes_a_history_from_the_ledger_and_is_idempotent(city, personas):
    h1a = city["loans"]["h1a"]  # 30,000 lent on 2018-03-01, 20,000 outstanding today
    Repayment.objects.create(
        loan=h1a, bank=h1a.bank, paid_on=datetime.date(2019, 3, 10), amount=Decimal("10000"),
        interest_part=Decimal("0"), principal_part=Decimal("10000"), channel="manual", posted_by=personas["admin"],
    )  # fmt: skip
    with time_machine.travel(NOON, tick=False):
        assert demo.seed(months=12) == {"dates": 13, "regions": 10}
        assert demo.seed(months=12)["dates"] == 13
    assert RegionRollup.objects.count() == 130
    a1 = {r.as_of: r for r in RegionRollup.objects.filter(region_id="411722100201")}
    # h1a before its repayment, h4; h1b's and h2's closed loans have no repayments in this ledger:
    # still 10,000 each.
    feb, mar = a1[datetime.date(2019, 2, 28)], a1[datetime.date(2019, 3, 31)]
    assert feb.principal_outstanding == Decimal("30000") + 10000 + 5000 + 10000
    assert mar.principal_outstanding == Decimal("20000") + 10000 + 5000 + 10000
    assert (feb.borrowed_households_current, feb.borrowed_households_cumulative) == (2, 2)
    # h1b was lent in 2017: there already on 2018-12-31, like h2's.
    assert a1[datetime.date(2018, 12, 31)].principal_outstanding == Decimal("30000") + 10000 + 5000 + 10000
    # Today's is the real rollup: h1a 20,000 and h4 5,000.
    assert a1[AS_OF].principal_outstanding == Decimal("25000") and a1[AS_OF].borrowed_households_current == 1
    # A2: h6's 9,000 outstanding until its write-off on 2019-03-20, then written off; h5's loan was
    # lent after every past date.
    a2 = {r.as_of: r for r in RegionRollup.objects.filter(region_id="411722100202")}
    feb, mar = a2[datetime.date(2019, 2, 28)], a2[datetime.date(2019, 3, 31)]
    assert (feb.principal_outstanding, feb.written_off_principal) == (Decimal("9000"), 0)
    assert (mar.principal_outstanding, mar.written_off_principal) == (0, Decimal("9000"))
    shangcai = RegionRollup.objects.get(region_id="411722", as_of=datetime.date(2018, 12, 31))
    assert shangcai.covered_outstanding == shangcai.principal_outstanding
    assert "13 个日期" in demo.summary({"dates": 13, "regions": 10})
