"""Reads of the organization app: regions, banks, policies, all scoped."""

import datetime
from decimal import Decimal

import pytest
from django.http import Http404

from organization.models import Region
from organization.scoping import scope_for
from organization.selectors import bank_list, policy_for, policy_list, region_get_for_user, region_list
from organization.tests.factories import BankBranchFactory, BankFactory, RegionFactory, approved_policy

pytestmark = pytest.mark.django_db


def codes(qs):
    return [r.code for r in qs]


# --- region_list --------------------------------------------------------------------------------


def test_township_officer_sees_its_subtree_and_ancestors(personas):
    assert codes(region_list(user=personas["township_a"])) == [
        "411700",
        "411722",
        "411722100",
        "411722100201",
        "411722100202",
    ]


def test_township_officer_sees_nothing_of_other_townships(personas, regions):
    # a village of township B whose code shares the first digits of township A's villages
    RegionFactory(code="411722101202", name="乙二村", level=Region.Level.VILLAGE, parent=regions["town_b"])
    seen = set(codes(region_list(user=personas["township_a"])))
    assert not {c for c in seen if c.startswith("411722101") or c.startswith("411721")}


def test_village_clerk_sees_its_village_and_the_chain_above(personas):
    assert codes(region_list(user=personas["village_a1"])) == [
        "411700",
        "411722",
        "411722100",
        "411722100201",
    ]


def test_region_list_filters(personas):
    assert codes(region_list(user=personas["county_staff"], level="township")) == ["411722100", "411722101"]
    assert codes(region_list(user=personas["county_staff"], parent="411722100")) == [
        "411722100201",
        "411722100202",
    ]
    assert codes(region_list(user=personas["township_a"], parent="411722101")) == []
    assert codes(region_list(user=personas["city"], level="county")) == ["411721", "411722"]


def test_bank_officer_sees_the_counties_its_branch_serves(personas):
    assert codes(region_list(user=personas["bank_y"])) == ["411700", "411721", "411721100", "411721100201"]


def test_no_roles_sees_no_regions(personas):
    assert codes(region_list(user=personas["nobody"])) == []


def test_admin_and_city_see_all(personas):
    assert len(region_list(user=personas["admin"])) == len(region_list(user=personas["city"])) == 10


# --- region_get_for_user ------------------------------------------------------------------------


def test_region_get_in_area(personas):
    assert region_get_for_user(user=personas["township_a"], code="411722100201").name == "甲一村"


@pytest.mark.parametrize("code", ["411722101201", "411721", "999999", "", "411722100201' OR 1=1"])
def test_region_get_outside_area_or_missing_is_404(personas, code):
    with pytest.raises(Http404):
        region_get_for_user(user=personas["township_a"], code=code)


def test_region_get_ancestors_only_when_asked(personas):
    with pytest.raises(Http404):
        region_get_for_user(user=personas["township_a"], code="411722")
    assert (
        region_get_for_user(user=personas["township_a"], code="411722", include_ancestors=True).name
        == "上蔡县"
    )
    with pytest.raises(Http404):  # a sibling township is no ancestor
        region_get_for_user(user=personas["township_a"], code="411722101", include_ancestors=True)


# --- bank_list ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("county_staff", ["PSBC"]),
        ("township_a", ["PSBC"]),
        ("village_a1", ["PSBC"]),  # the banks serving its county, to pick one for a loan
        ("bank_x", ["PSBC"]),
        ("bank_y", ["ZYRCB"]),
        ("city", ["PSBC", "ZYRCB"]),
        ("admin", ["PSBC", "ZYRCB"]),
        ("nobody", []),
    ],
)
def test_bank_list(personas, persona, expected):
    assert [b.code for b in bank_list(user=personas[persona])] == expected


def test_bank_list_no_duplicates_for_many_branches(personas, regions, banks):
    BankBranchFactory(bank=banks["x"], code="PSBC-411722-2", counties=[regions["shangcai"]])
    assert [b.code for b in bank_list(user=personas["county_staff"])] == ["PSBC"]


def test_bank_list_does_not_show_a_bank_serving_another_county(personas, regions):
    other = BankFactory(code="OTHER")
    BankBranchFactory(bank=other, code="OTHER-1", counties=[regions["xiping"]])
    assert "OTHER" not in [b.code for b in bank_list(user=personas["township_b"])]
    assert "OTHER" in [b.code for b in bank_list(user=personas["bank_y"])]


# --- policy_for / policy_list -------------------------------------------------------------------


@pytest.fixture
def rows(regions):
    make = approved_policy
    return {
        "2024": make(
            county=regions["shangcai"], effective_from=datetime.date(2024, 1, 1), notice_period_days=6
        ),
        "2025": make(
            county=regions["shangcai"], effective_from=datetime.date(2025, 1, 1), notice_period_days=7
        ),
        "xiping": make(
            county=regions["xiping"], effective_from=datetime.date(2023, 1, 1), notice_period_days=9
        ),
    }


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (datetime.date(2024, 1, 1), "2024"),
        (datetime.date(2024, 12, 31), "2024"),
        (datetime.date(2025, 1, 1), "2025"),
        (datetime.date(2030, 6, 1), "2025"),
    ],
)
def test_policy_for_picks_the_latest_row_in_force(rows, on, expected):
    assert policy_for("411722", on=on) == rows[expected]


def test_policy_for_takes_a_region_too(rows, regions):
    assert policy_for(regions["shangcai"], on=datetime.date(2025, 2, 1)) == rows["2025"]


def test_policy_for_falls_back_to_defaults(rows):
    row = policy_for("411722", on=datetime.date(2023, 12, 31))
    assert row.pk is None
    assert row.county_id == "411722" and row.effective_from == datetime.date(2023, 12, 31)
    assert row.household_loan_cap == 50000 and row.notice_period_days == 5
    assert Decimal(row.fund_share) == Decimal("80") and row.min_grade == "A"


def test_policy_for_county_without_rows(regions):
    assert policy_for("411721", on=datetime.date(2025, 1, 1)).pk is None


def test_policy_list_newest_first_and_scoped(personas, rows):
    assert list(policy_list(user=personas["county_staff"], county_code="411722")) == [
        rows["2025"],
        rows["2024"],
    ]
    assert list(policy_list(user=personas["township_a"], county_code="411722")) == [
        rows["2025"],
        rows["2024"],
    ]
    with pytest.raises(Http404):
        policy_list(user=personas["bank_y"], county_code="411722")
    with pytest.raises(Http404):
        policy_list(user=personas["nobody"], county_code="411722")


# --- scope --------------------------------------------------------------------------------------


def test_scope_is_computed_once_per_user_object(personas, django_assert_num_queries):
    user = personas["bank_x"]
    with django_assert_num_queries(2):  # role assignments, the branch's counties
        first = scope_for(user)
    with django_assert_num_queries(0):
        assert scope_for(user) is first
    assert first.served_county_codes == {"411722"} and not first.region_prefixes
