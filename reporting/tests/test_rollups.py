"""Every rollup figure of the hand-computed city (conftest.py), de-duplication, dates, idempotence."""

import datetime
from decimal import Decimal

import pytest

from households.tests.factories import HouseholdFactory
from reporting.models import RegionRollup
from reporting.rollups import compute_rollups

from .conftest import AS_OF, make_loan

pytestmark = pytest.mark.django_db

FIELDS = (
    "households registered_households borrowed_households_cumulative borrowed_households_current "
    "coverage_cumulative coverage_current rated_households rating_coverage principal_outstanding npl_principal "
    "npl_ratio written_off_principal subsidy_paid fund_balance covered_outstanding leverage_cap leverage_used"
).split()
NO_FUND = (None, None, None, None)
# By hand (see the fixture's docstring): h1's two loans (h1b closed, then h1a) count once; h2's
# closed and h6's written-off loans count in the cumulative figure only; h3 (never disbursed), h4
# (non_poor now) and h5 (lent after the date) not at all; the enterprise loan in township A's money
# only. Rated: h1, h4, h6, h8. Money: A1 holds h1a 20,000 and h4 5,000, none of it NPL (h1b, once
# substandard and outstanding beside h1a, is now h1's earlier, closed loan); h6's 9,000 written off
# on 2019-03-20 is in the written-off figure only, in neither the outstanding nor the NPL principal.
EXPECTED = {
    "411722100201": (4, 3, 2, 1, "66.67", "33.33", 2, "50.00", "25000", "0", "0.00", "0", "300", *NO_FUND),
    "411722100202": (2, 2, 1, 0, "50.00", "0.00", 1, "50.00", "0", "0", "0.00", "9000", "0", *NO_FUND),
    # 25,000 + the enterprise's 100,000 (doubtful): 100,000 / 125,000
    "411722100": (6, 5, 3, 1, "60.00", "20.00", 3, "50.00", "125000", "100000", "80.00", "9000", "500",
                  *NO_FUND),
    "411722101201": (1, 1, 1, 1, "100.00", "100.00", 0, "0.00", "50000", "50000", "100.00", "0", "500",
                     *NO_FUND),
    "411722101": (1, 1, 1, 1, "100.00", "100.00", 0, "0.00", "50000", "50000", "100.00", "0", "500", *NO_FUND),
    # 150,000 / 175,000; covered: the active loans the fund stands behind today (h5's 8,000 too):
    # 175,000 + 8,000 = 183,000 of a cap of 10 x 20,000,000 = 0.0915 %
    "411722": (7, 6, 4, 2, "66.67", "33.33", 3, "42.86", "175000", "150000", "85.71", "9000", "1000",
               "20000000", "183000", "200000000", "0.09"),
    "411721100201": (2, 1, 1, 1, "100.00", "100.00", 1, "50.00", "20000", "0", "0.00", "0", "0", *NO_FUND),
    "411721100": (2, 1, 1, 1, "100.00", "100.00", 1, "50.00", "20000", "0", "0.00", "0", "0", *NO_FUND),
    "411721": (2, 1, 1, 1, "100.00", "100.00", 1, "50.00", "20000", "0", "0.00", "0", "0",
               "0", "20000", "0", "100.00"),
    # 150,000 / 195,000; covered 183,000 + 20,000 = 203,000: 0.1015 %
    "411700": (9, 7, 5, 3, "71.43", "42.86", 4, "44.44", "195000", "150000", "76.92", "9000", "1000",
               "20000000", "203000", "200000000", "0.10"),
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
    """One loan outstanding at a time (the database), but a household borrows again: a closed loan,
    a written-off one and the outstanding one count the household once."""
    h = households["a1"]
    for status, outstanding, written_off in (("closed", "0", None), ("written_off", "0", "4000"),
                                             ("active", None, None)):  # fmt: skip
        make_loan(h, bank=banks["x"], actor=personas["admin"], amount="10000", outstanding=outstanding,
                  status=status, written_off_principal=Decimal(written_off or 0),
                  written_off_on=datetime.date(2019, 1, 1) if written_off else None)  # fmt: skip
    compute_rollups(as_of=AS_OF)
    for code in ("411722100201", "411722100", "411722", "411700"):
        row = RegionRollup.objects.get(region_id=code, as_of=AS_OF)
        assert (row.borrowed_households_cumulative, row.borrowed_households_current) == (1, 1), code
        assert (row.principal_outstanding, row.written_off_principal) == (
            Decimal("10000.00"),
            Decimal("4000.00"),
        )


def test_the_dated_parts_follow_the_as_of_date(city):
    """On 2018-06-30: h1a, h4, h7, h8 and the enterprise's were lent on 2018-03-01, h1b and h2
    before (both closed since); h2's rating (2018) is in force, the 2019 ones are not; h6's loan
    was not yet written off."""
    compute_rollups(as_of=datetime.date(2018, 6, 30))
    a1 = RegionRollup.objects.get(region_id="411722100201", as_of=datetime.date(2018, 6, 30))
    assert (a1.borrowed_households_cumulative, a1.rated_households) == (2, 1)
    assert a1.principal_outstanding == Decimal("25000.00")  # h1a and h4 (as they stand today)
    assert a1.subsidy_paid == 0  # paid in April 2019
    shangcai = RegionRollup.objects.get(region_id="411722", as_of=datetime.date(2018, 6, 30))
    assert shangcai.fund_balance == Decimal("20000000.00")
    assert shangcai.written_off_principal == 0  # h6's loan was written off on 2019-03-20


def test_recomputing_a_date_replaces_its_rows(city, regions, banks, personas):
    compute_rollups(as_of=AS_OF)
    compute_rollups(as_of=AS_OF - datetime.timedelta(days=1))
    before = {row.region_id: figures(row) for row in RegionRollup.objects.filter(as_of=AS_OF)}
    compute_rollups(as_of=AS_OF)
    assert RegionRollup.objects.count() == 20
    assert {row.region_id: figures(row) for row in RegionRollup.objects.filter(as_of=AS_OF)} == before
    # A new poor household in A2 borrows (h5 has its loan already, lent after the date): the
    # date's rows change (A2: h6 and the newcomer of 3 registered), the other date's stay.
    newcomer = HouseholdFactory(village=regions["village_a2"], status="poor")
    make_loan(newcomer, bank=banks["x"], actor=personas["admin"], amount="1000",
              disbursed_on=datetime.date(2019, 6, 1))  # fmt: skip
    compute_rollups(as_of=AS_OF)
    assert RegionRollup.objects.count() == 20
    a2 = RegionRollup.objects.get(region_id="411722100202", as_of=AS_OF)
    assert (a2.borrowed_households_cumulative, a2.coverage_cumulative) == (2, Decimal("66.67"))
    assert RegionRollup.objects.get(region_id="411700", as_of=AS_OF).borrowed_households_cumulative == 6
    earlier = RegionRollup.objects.get(region_id="411722100202", as_of=AS_OF - datetime.timedelta(days=1))
    assert earlier.borrowed_households_cumulative == 1


def test_a_run_limited_to_a_county_leaves_the_others_and_sums_the_city_again(city, banks, personas):
    compute_rollups(as_of=AS_OF)
    make_loan(
        city["households"][9], bank=banks["y"], actor=personas["admin"], amount="7000"
    )  # 西平, non_poor
    make_loan(city["households"][2], bank=banks["x"], actor=personas["admin"], amount="1000")  # 上蔡, again
    assert compute_rollups(as_of=AS_OF, counties=["411721"])["regions"] == 4  # 西平's three and the city
    assert RegionRollup.objects.get(region_id="411721", as_of=AS_OF).principal_outstanding == Decimal(
        "27000.00"
    )
    assert figures(RegionRollup.objects.get(region_id="411722", as_of=AS_OF)) == expected("411722")
    city_row = RegionRollup.objects.get(region_id="411700", as_of=AS_OF)
    # 上蔡's row as computed first (175,000) + 西平's new one (20,000 + 7,000)
    assert city_row.principal_outstanding == Decimal("202000.00") and RegionRollup.objects.count() == 10


def test_a_proposed_write_off_stays_outstanding_and_an_approved_one_moves_to_written_off(city):
    """h7's 50,000 (loss): proposed for write-off it is still on the books (outstanding and NPL);
    once approved its principal leaves both and is the written-off figure, dated by written_off_on."""
    h7 = city["loans"]["h7"]
    h7.status = "write_off_proposed"
    h7.save(update_fields=["status"])
    compute_rollups(as_of=AS_OF)
    b1 = RegionRollup.objects.get(region_id="411722101201", as_of=AS_OF)
    assert (b1.principal_outstanding, b1.npl_principal, b1.written_off_principal) == (50000, 50000, 0)
    assert b1.borrowed_households_current == 1
    h7.status, h7.principal_outstanding = "written_off", Decimal("0")
    h7.written_off_principal, h7.written_off_on = Decimal("50000"), AS_OF
    h7.save()
    compute_rollups(as_of=AS_OF)
    compute_rollups(as_of=AS_OF - datetime.timedelta(days=1))
    rows = {r.region_id: r for r in RegionRollup.objects.filter(as_of=AS_OF)}
    b1 = rows["411722101201"]
    assert (b1.principal_outstanding, b1.npl_principal, b1.npl_ratio) == (0, 0, Decimal("0.00"))
    assert (b1.written_off_principal, b1.borrowed_households_current, b1.borrowed_households_cumulative) == (
        Decimal("50000"), 0, 1,
    )  # fmt: skip
    # 上蔡: 125,000 of A with its 100,000 NPL; written off: h6's 9,000 and h7's 50,000.
    shangcai = rows["411722"]
    assert (shangcai.principal_outstanding, shangcai.npl_principal, shangcai.npl_ratio) == (
        Decimal("125000"), Decimal("100000"), Decimal("80.00"),
    )  # fmt: skip
    assert shangcai.written_off_principal == Decimal("59000")
    assert rows["411700"].written_off_principal == Decimal("59000")
    # The day before h7's write-off: only h6's.
    day_before = RegionRollup.objects.get(region_id="411722", as_of=AS_OF - datetime.timedelta(days=1))
    assert day_before.written_off_principal == Decimal("9000")
