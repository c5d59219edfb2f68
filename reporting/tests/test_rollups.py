"""Every rollup figure of the hand-computed city (conftest.py), de-duplication, dates, idempotence."""

import datetime
from decimal import Decimal

import pytest

from reporting.models import RegionRollup
from reporting.rollups import compute_rollups

from .conftest import AS_OF, make_loan

pytestmark = pytest.mark.django_db

FIELDS = (
    "households registered_households borrowed_households_cumulative borrowed_households_current "
    "coverage_cumulative coverage_current rated_households rating_coverage principal_outstanding npl_principal "
    "npl_ratio subsidy_paid fund_balance covered_outstanding leverage_cap leverage_used"
).split()
NO_FUND = (None, None, None, None)
# By hand (see the fixture's docstring): h1's two loans count once; h2's closed and h6's written-off
# loans count in the cumulative figure only; h3 (never disbursed), h4 (non_poor now) and h5 (lent
# after the date) not at all; the enterprise loan in township A's money only. Rated: h1, h4, h6, h8.
EXPECTED = {
    "411722100201": (4, 3, 2, 1, "66.67", "33.33", 2, "50.00", "35000", "10000", "28.57", "300", *NO_FUND),
    "411722100202": (2, 2, 1, 0, "50.00", "0.00", 1, "50.00", "0", "0", "0.00", "0", *NO_FUND),
    "411722100": (6, 5, 3, 1, "60.00", "20.00", 3, "50.00", "135000", "110000", "81.48", "500", *NO_FUND),
    "411722101201": (1, 1, 1, 1, "100.00", "100.00", 0, "0.00", "50000", "50000", "100.00", "500", *NO_FUND),
    "411722101": (1, 1, 1, 1, "100.00", "100.00", 0, "0.00", "50000", "50000", "100.00", "500", *NO_FUND),
    # covered: the active loans the fund stands behind today (h5's too), cap 10 x 20,000,000
    "411722": (7, 6, 4, 2, "66.67", "33.33", 3, "42.86", "185000", "160000", "86.49", "1000",
               "20000000", "193000", "200000000", "0.10"),
    "411721100201": (2, 1, 1, 1, "100.00", "100.00", 1, "50.00", "20000", "0", "0.00", "0", *NO_FUND),
    "411721100": (2, 1, 1, 1, "100.00", "100.00", 1, "50.00", "20000", "0", "0.00", "0", *NO_FUND),
    "411721": (2, 1, 1, 1, "100.00", "100.00", 1, "50.00", "20000", "0", "0.00", "0", "0", "20000", "0", "100.00"),
    "411700": (9, 7, 5, 3, "71.43", "42.86", 4, "44.44", "205000", "160000", "78.05", "1000",
               "20000000", "213000", "200000000", "0.11"),
}  # fmt: skip


def figures(row: RegionRollup) -> tuple:
    return tuple(getattr(row, name) for name in FIELDS)


def expected(code: str) -> tuple:
    return tuple(v if v is None or isinstance(v, int) else Decimal(v) for v in EXPECTED[code])


def test_every_figure_of_every_region_by_hand(city):
    result = compute_rollups(as_of=AS_OF)
    rows = {row.region_id: row for row in RegionRollup.objects.filter(as_of=AS_OF)}
    assert set(rows) == set(EXPECTED) and result == {"as_of": "2019-06-30", "regions": 10}
    for code in EXPECTED:
        assert figures(rows[code]) == expected(code), code
    assert (rows["411722100201"].level, rows["411722100201"].parent_code) == ("village", "411722100")
    assert (rows["411700"].level, rows["411700"].parent_code) == ("city", "")


def test_two_loans_of_one_household_count_once(regions, banks, personas, households):
    h = households["a1"]
    for amount in ("10000", "20000"):
        make_loan(h, bank=banks["x"], actor=personas["admin"], amount=amount)
    compute_rollups(as_of=AS_OF)
    for code in ("411722100201", "411722100", "411722", "411700"):
        row = RegionRollup.objects.get(region_id=code, as_of=AS_OF)
        assert (row.borrowed_households_cumulative, row.borrowed_households_current) == (1, 1), code
        assert row.principal_outstanding == Decimal("30000.00")


def test_the_dated_parts_follow_the_as_of_date(city):
    """On 2018-06-30: h1b (2019) and h7, h8... were lent on 2018-03-01 except h1b; h2's rating
    (2018) is in force, the 2019 ones are not."""
    compute_rollups(as_of=datetime.date(2018, 6, 30))
    a1 = RegionRollup.objects.get(region_id="411722100201", as_of=datetime.date(2018, 6, 30))
    assert (a1.borrowed_households_cumulative, a1.rated_households) == (2, 1)
    assert a1.principal_outstanding == Decimal("25000.00")  # h1a and h4: h1b was lent in 2019
    assert a1.subsidy_paid == 0  # paid in April 2019
    shangcai = RegionRollup.objects.get(region_id="411722", as_of=datetime.date(2018, 6, 30))
    assert shangcai.fund_balance == Decimal("20000000.00")


def test_recomputing_a_date_replaces_its_rows(city, regions, banks, personas):
    compute_rollups(as_of=AS_OF)
    compute_rollups(as_of=AS_OF - datetime.timedelta(days=1))
    before = {row.region_id: figures(row) for row in RegionRollup.objects.filter(as_of=AS_OF)}
    compute_rollups(as_of=AS_OF)
    assert RegionRollup.objects.count() == 20
    assert {row.region_id: figures(row) for row in RegionRollup.objects.filter(as_of=AS_OF)} == before
    # A new borrower in A2: the date's rows change, the other date's stay.
    make_loan(city["households"][5], bank=banks["x"], actor=personas["admin"], amount="1000",
              disbursed_on=datetime.date(2019, 6, 1))  # fmt: skip
    compute_rollups(as_of=AS_OF)
    assert RegionRollup.objects.count() == 20
    a2 = RegionRollup.objects.get(region_id="411722100202", as_of=AS_OF)
    assert (a2.borrowed_households_cumulative, a2.coverage_cumulative) == (2, Decimal("100.00"))
    assert RegionRollup.objects.get(region_id="411700", as_of=AS_OF).borrowed_households_cumulative == 6
    earlier = RegionRollup.objects.get(region_id="411722100202", as_of=AS_OF - datetime.timedelta(days=1))
    assert earlier.borrowed_households_cumulative == 1


def test_a_run_limited_to_a_county_leaves_the_others_and_sums_the_city_again(city, banks, personas):
    compute_rollups(as_of=AS_OF)
    make_loan(
        city["households"][9], bank=banks["y"], actor=personas["admin"], amount="7000"
    )  # 西平, non_poor
    make_loan(city["households"][5], bank=banks["x"], actor=personas["admin"], amount="1000")  # 上蔡
    assert compute_rollups(as_of=AS_OF, counties=["411721"])["regions"] == 4  # 西平's three and the city
    assert RegionRollup.objects.get(region_id="411721", as_of=AS_OF).principal_outstanding == Decimal(
        "27000.00"
    )
    assert figures(RegionRollup.objects.get(region_id="411722", as_of=AS_OF)) == expected("411722")
    city_row = RegionRollup.objects.get(region_id="411700", as_of=AS_OF)
    assert city_row.principal_outstanding == Decimal("212000.00") and RegionRollup.objects.count() == 10
