"""Reads: scope, filters, and the loan eligibility of an enterprise on a date."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from enterprises import services
from enterprises.models import EnterpriseKind
from enterprises.selectors import enterprise_eligibility, enterprise_get_for_user, enterprise_list
from enterprises.tests.factories import BenefitLinkFactory, EnterpriseFactory
from households.tests.factories import HouseholdFactory
from organization.tests.factories import approved_policy

pytestmark = pytest.mark.django_db

D = datetime.date


@pytest.fixture
def spread(regions):
    """One enterprise in each of township A, township B (上蔡) and 西平."""
    return {
        "a": EnterpriseFactory(township=regions["town_a"], name="甲镇合作社"),
        "b": EnterpriseFactory(township=regions["town_b"], name="乙镇公司", kind=EnterpriseKind.COMPANY),
        "x": EnterpriseFactory(township=regions["town_x"], name="西平合作社"),
    }


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("county_staff", {"a", "b"}),
        ("township_a", {"a"}),
        ("township_b", {"b"}),
        ("village_a1", set()),  # a village desk's area lies below every township
        ("bank_x", {"a", "b"}),
        ("bank_y", {"x"}),
        ("city", {"a", "b", "x"}),
        ("admin", {"a", "b", "x"}),
        ("nobody", set()),
    ],
)
def test_list_scope(personas, spread, persona, expected):
    names = {e.pk: k for k, e in spread.items()}
    assert {names[e.pk] for e in enterprise_list(user=personas[persona])} == expected


@pytest.mark.parametrize(
    ("persona", "key"), [("township_b", "a"), ("bank_y", "a"), ("bank_x", "x"), ("nobody", "a")]
)
def test_get_outside_scope_is_404(personas, spread, persona, key):
    with pytest.raises(Http404):
        enterprise_get_for_user(user=personas[persona], pk=spread[key].pk)


def test_get_missing_is_404(personas):
    for pk in (999999, "abc", None):
        with pytest.raises(Http404):
            enterprise_get_for_user(user=personas["admin"], pk=pk)


def test_filters(personas, spread):
    user = personas["admin"]
    assert list(enterprise_list(user=user, filters={"region": "411722101"})) == [spread["b"]]
    assert list(enterprise_list(user=user, filters={"region": "411721"})) == [spread["x"]]
    assert set(enterprise_list(user=user, filters={"kind": "cooperative"})) == {spread["a"], spread["x"]}
    assert list(enterprise_list(user=user, filters={"q": "乙镇"})) == [spread["b"]]
    assert list(enterprise_list(user=user, filters={"q": spread["x"].credit_code[:17].lower()})) == [
        spread["x"]
    ]
    spread["a"].recognized, spread["a"].recognized_on = True, D(2017, 1, 1)
    spread["a"].save()
    assert list(enterprise_list(user=user, filters={"recognized": True})) == [spread["a"]]
    assert set(enterprise_list(user=user, filters={"recognized": False})) == {spread["b"], spread["x"]}


def test_list_annotates_households_led_without_extra_queries(personas, regions, spread):
    staff = personas["county_staff"]
    for _ in range(3):
        household = HouseholdFactory(village=regions["village_a1"])
        BenefitLinkFactory(enterprise=spread["a"], household=household, created_by=staff)
    ended = HouseholdFactory(village=regions["village_a1"])
    BenefitLinkFactory(
        enterprise=spread["a"],
        household=ended,
        created_by=staff,
        start_date=D(2016, 1, 1),
        end_date=D(2016, 12, 31),
    )
    with CaptureQueriesContext(connection) as ctx:
        rows = {e.name: e.households_led for e in enterprise_list(user=staff)}
    assert rows == {"甲镇合作社": 3, "乙镇公司": 0}
    assert len(ctx.captured_queries) <= 2  # the scope (role assignments) and the list
    assert {e.name: e.households_led for e in enterprise_list(user=staff, on=D(2016, 6, 1))} == {
        "甲镇合作社": 1,
        "乙镇公司": 0,
    }


# --- eligibility -------------------------------------------------------------------------------


LINKS_FROM = D(2017, 1, 1)
RECOGNISED_ON = D(2017, 6, 1)


def _lead(enterprise, staff, regions, n, start=LINKS_FROM):
    for _ in range(n):
        household = HouseholdFactory(village=regions["village_a2"])
        BenefitLinkFactory(enterprise=enterprise, household=household, created_by=staff, start_date=start)


def _recognise(enterprise, staff, on=RECOGNISED_ON):
    services.enterprise_recognize(
        actor=staff, enterprise=enterprise, decision_no="蔡扶贫〔2017〕1号", decided_on=on
    )


def test_cooperative_two_year_rule_on_its_boundary(personas, regions):
    coop = EnterpriseFactory(township=regions["town_a"], founded_on=D(2015, 7, 20))
    _recognise(coop, personas["county_staff"])
    day_before = enterprise_eligibility(coop, on=D(2017, 7, 19))
    assert not day_before.cooperative_old_enough
    assert day_before.refusals == [
        ("cooperative_too_young", "合作社成立于2015-07-20，须正常运营满2年，2017-07-20起方可申请。")
    ]
    boundary = enterprise_eligibility(coop, on=D(2017, 7, 20))  # exactly two years: enough
    assert boundary.cooperative_old_enough and boundary.refusals == [] and boundary.eligible


def test_cooperative_founded_on_29_february(personas, regions):
    coop = EnterpriseFactory(township=regions["town_a"], founded_on=D(2016, 2, 29))
    _recognise(coop, personas["county_staff"])
    assert not enterprise_eligibility(coop, on=D(2018, 2, 27)).cooperative_old_enough
    assert enterprise_eligibility(coop, on=D(2018, 2, 28)).cooperative_old_enough


def test_a_company_has_no_age_rule(personas, regions):
    company = EnterpriseFactory(
        township=regions["town_a"], kind=EnterpriseKind.COMPANY, founded_on=D(2017, 5, 1)
    )
    _recognise(company, personas["county_staff"])
    result = enterprise_eligibility(company, on=D(2017, 6, 1))
    assert result.cooperative_old_enough and result.eligible


def test_years_come_from_the_policy_row_in_force(personas, regions):
    coop = EnterpriseFactory(township=regions["town_a"], founded_on=D(2015, 6, 1))
    _recognise(coop, personas["county_staff"])
    approved_policy(county_id="411722", effective_from=D(2018, 1, 1), cooperative_min_years=3)
    assert enterprise_eligibility(coop, on=D(2017, 12, 31)).cooperative_old_enough  # 2 years then
    result = enterprise_eligibility(coop, on=D(2018, 1, 1))  # 3 years from the new row
    assert not result.cooperative_old_enough
    assert "须正常运营满3年，2018-06-01起" in result.refusals[0][1]
    approved_policy(county_id="411721", effective_from=D(2010, 1, 1), cooperative_min_years=1)
    assert not enterprise_eligibility(coop, on=D(2018, 1, 1)).cooperative_old_enough  # another county's row


def test_recognition_on_the_date(personas, regions):
    staff = personas["county_staff"]
    coop = EnterpriseFactory(township=regions["town_a"], founded_on=D(2010, 1, 1))
    result = enterprise_eligibility(coop, on=D(2017, 6, 1))
    assert not result.recognised
    assert result.refusals[0][0] == "enterprise_not_recognized"
    _recognise(coop, staff, on=D(2017, 6, 1))
    assert not enterprise_eligibility(coop, on=D(2017, 5, 31)).recognised
    assert enterprise_eligibility(coop, on=D(2017, 6, 1)).recognised
    services.enterprise_withdraw_recognition(
        actor=staff, enterprise=coop, reason="停业", decided_on=D(2018, 3, 1)
    )
    assert enterprise_eligibility(coop, on=D(2018, 2, 28)).recognised
    assert not enterprise_eligibility(coop, on=D(2018, 3, 1)).recognised


def test_loan_cap_is_households_led_times_the_county_amount(personas, regions):
    staff = personas["county_staff"]
    coop = EnterpriseFactory(township=regions["town_a"], founded_on=D(2010, 1, 1))
    _recognise(coop, staff)
    _lead(coop, staff, regions, 12)
    result = enterprise_eligibility(coop, on=D(2017, 7, 19))
    assert result.households_led == 12
    assert result.cap_per_household == Decimal("100000.00")
    assert result.loan_cap == Decimal("1200000.00")
    assert result.refusals_for(Decimal("1200000")) == []
    assert result.refusals_for(Decimal("1200000.01")) == [
        (
            "exceeds_linkage_cap",
            "申请金额1,200,000.01元超过带贫额度上限1,200,000.00元（2017-07-19带动12户 × 每户100,000.00元）。",
        )
    ]
    approved_policy(county_id="411722", effective_from=D(2018, 1, 1), enterprise_cap_per_household=80000)
    assert enterprise_eligibility(coop, on=D(2018, 1, 1)).loan_cap == Decimal("960000.00")
    assert enterprise_eligibility(coop, on=D(2016, 12, 31)).loan_cap == Decimal("0.00")


def test_refusals_add_up(personas, regions):
    coop = EnterpriseFactory(township=regions["town_a"], founded_on=D(2017, 1, 1))
    result = enterprise_eligibility(coop, on=D(2017, 6, 1))
    assert [code for code, _ in result.refusals] == ["enterprise_not_recognized", "cooperative_too_young"]
    assert [code for code, _ in result.refusals_for(Decimal("1"))] == [
        "enterprise_not_recognized",
        "cooperative_too_young",
        "exceeds_linkage_cap",
    ]
