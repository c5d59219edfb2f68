"""The policy pages (/policies/): the row in force with the city's envelope beside each field, the
history, proposals through the form, and their review by a second person (maker-checker)."""

import datetime

import pytest

from common.clock import today
from organization import services
from organization.models import CityPolicy, CountyPolicy, PolicyStatus, Role
from organization.selectors import city_policy_for, policy_for
from organization.tests.factories import UserFactory, assign

pytestmark = pytest.mark.django_db

COUNTY_PAGE = "/policies/county/411722/"
CITY_PAGE = "/policies/city/411700/"


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def tomorrow() -> str:
    return (today() + datetime.timedelta(days=1)).isoformat()


def county_form(**changes) -> dict:
    """What the browser posts: every field prefilled from the row in force, a few changed."""
    current = policy_for("411722", on=today())
    data = {name: getattr(current, name) for name in CountyPolicy.COUNTY_FIELDS}
    return {**data, "effective_from": tomorrow(), **changes}


def city_form(**changes) -> dict:
    current = city_policy_for("411700", on=today())
    data = {name: getattr(current, name) for name in CityPolicy.POLICY_FIELDS}
    return {**data, "effective_from": tomorrow(), **changes}


@pytest.fixture
def second_county(regions):
    return assign(UserFactory(username="county2"), Role.COUNTY_STAFF, region=regions["shangcai"])


@pytest.fixture
def second_city(regions):
    return assign(UserFactory(username="city2"), Role.CITY_FINANCE, region=regions["city"])


def test_county_page_shows_the_row_in_force_and_the_city_envelope(client_for, personas):
    page = text(client_for(personas["county_staff"]).get(COUNTY_PAGE))
    assert "户贷额度上限" in page and "50,000.00" in page
    assert "市级上限 50,000元" in page and "市级上限 36个月" in page and "市级下限 100%" in page
    assert "由市级设定" in page  # the breaker thresholds
    assert 'id="policy-form"' in page
    read_only = text(client_for(personas["township_a"]).get(COUNTY_PAGE))
    assert "市级上限 50,000元" in read_only and 'id="policy-form"' not in read_only


def test_propose_then_a_second_person_approves_through_the_pages(client_for, personas, second_county):
    client = client_for(personas["county_staff"])
    response = client.post(
        f"{COUNTY_PAGE}propose/", county_form(household_loan_cap="40000", notice_period_days=7)
    )
    assert response.status_code == 302
    row = CountyPolicy.objects.get(county_id="411722")
    assert (
        row.status == PolicyStatus.PROPOSED
        and row.household_loan_cap == 40000
        and row.notice_period_days == 7
    )
    assert row.created_by == personas["county_staff"]
    page = text(client.get(COUNTY_PAGE))
    assert "待他人审批" in page and "40,000.00" in page and "批准</button>" not in page

    # The proposer cannot approve their own: the service's message on the page, nothing changes.
    response = client.post(f"/policies/county-rows/{row.pk}/review/", {f"r{row.pk}-decision": "approve"})
    assert "不能复核自己提出的政策调整" in text(response)
    row.refresh_from_db()
    assert row.status == PolicyStatus.PROPOSED

    other = client_for(second_county)
    assert "批准</button>" in text(other.get(COUNTY_PAGE))
    response = other.post(f"/policies/county-rows/{row.pk}/review/", {f"r{row.pk}-decision": "approve"})
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.status == PolicyStatus.APPROVED and row.reviewed_by == second_county
    page = text(other.get(COUNTY_PAGE))
    assert "已批准" in page and str(second_county) in page


def test_reject_through_the_page_with_a_reason(client_for, personas, second_county):
    row = services.policy_propose(actor=personas["county_staff"], county=personas["county_staff"]
                                  .role_assignments.get().unit.region,
                                  effective_from=today() + datetime.timedelta(days=3),
                                  changes={"notice_period_days": 9})  # fmt: skip
    response = client_for(second_county).post(
        f"/policies/county-rows/{row.pk}/review/",
        {f"r{row.pk}-decision": "reject", f"r{row.pk}-reason": "公示期过长"},
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.status == PolicyStatus.REJECTED and row.review_note == "公示期过长"
    assert "公示期过长" in text(client_for(second_county).get(COUNTY_PAGE))


def test_a_cap_over_the_city_ceiling_is_refused_on_the_form_and_nothing_is_written(client_for, personas):
    response = client_for(personas["county_staff"]).post(
        f"{COUNTY_PAGE}propose/", county_form(household_loan_cap="60000")
    )
    page = text(response)
    assert "户贷额度上限不能超过市级上限50,000元。" in page and 'id="failed"' in page
    assert not CountyPolicy.objects.exists()


def test_a_date_not_after_today_and_an_unchanged_form_are_refused(client_for, personas):
    client = client_for(personas["county_staff"])
    page = text(client.post(f"{COUNTY_PAGE}propose/", county_form(effective_from=today().isoformat(),
                                                                   notice_period_days=7)))  # fmt: skip
    assert "生效日期须晚于今天。" in page
    page = text(client.post(f"{COUNTY_PAGE}propose/", county_form()))
    assert "没有修改任何参数" in page
    assert not CountyPolicy.objects.exists()


def test_who_may_do_what_on_the_county_page(client_for, personas):
    row = services.policy_propose(actor=personas["admin"], county=personas["county_staff"]
                                  .role_assignments.get().unit.region,
                                  effective_from=today() + datetime.timedelta(days=3),
                                  changes={"notice_period_days": 9})  # fmt: skip
    review = f"/policies/county-rows/{row.pk}/review/"
    body = {f"r{row.pk}-decision": "approve"}
    for outsider in ("bank_y", "nobody"):
        client = client_for(personas[outsider])
        assert client.get(COUNTY_PAGE).status_code == 404
        assert client.post(f"{COUNTY_PAGE}propose/", county_form(notice_period_days=7)).status_code == 404
        assert client.post(review, body).status_code == 404
    for reader in ("township_a", "village_a1", "bank_x", "city"):
        client = client_for(personas[reader])
        assert client.get(COUNTY_PAGE).status_code == 200, reader
        assert client.post(f"{COUNTY_PAGE}propose/", county_form(notice_period_days=7)).status_code == 403
        assert client.post(review, body).status_code == 403
    assert CountyPolicy.objects.count() == 1
    row.refresh_from_db()
    assert row.status == PolicyStatus.PROPOSED


def test_city_page_propose_approve_and_who_may(client_for, personas, second_city):
    client = client_for(personas["city"])
    page = text(client.get(CITY_PAGE))
    assert "户贷担保费补贴年率" in page and 'id="policy-form"' in page
    response = client.post(f"{CITY_PAGE}propose/", city_form(household_subsidy_share="70"))
    assert response.status_code == 302
    row = CityPolicy.objects.get(city_id="411700", status=PolicyStatus.PROPOSED)
    assert row.household_subsidy_share == 70
    assert "待他人审批" in text(client.get(CITY_PAGE))
    # county staff read the envelope but neither propose nor review
    county = client_for(personas["county_staff"])
    assert 'id="policy-form"' not in text(county.get(CITY_PAGE))
    assert county.post(f"{CITY_PAGE}propose/", city_form(village_npl_threshold="6")).status_code == 403
    assert (
        county.post(f"/policies/city-rows/{row.pk}/review/", {f"r{row.pk}-decision": "approve"}).status_code
        == 403
    )
    assert client_for(personas["nobody"]).get(CITY_PAGE).status_code == 404
    assert client_for(personas["city"]).get(COUNTY_PAGE.replace("411722", "411700")).status_code == 404

    response = client_for(second_city).post(
        f"/policies/city-rows/{row.pk}/review/", {f"r{row.pk}-decision": "approve"}
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.status == PolicyStatus.APPROVED and row.reviewed_by == second_city


def test_menu_and_index(client_for, personas):
    page = text(client_for(personas["county_staff"]).get("/policies/"))
    assert COUNTY_PAGE in page and CITY_PAGE in page and "/policies/county/411721/" not in page
    assert 'href="/policies/"' in page  # the menu entry
    page = text(client_for(personas["township_a"]).get("/"))
    assert 'href="/policies/"' not in page
