"""The policy envelope and who sets what (issue point 6): the city's dated rows are ceilings (and
the floor of the household subsidy share) over its counties' rows, the breaker thresholds and the
guarantee-fee subsidy rates are the city's alone, and every row is proposed by one person and takes
effect only when a second of the same level approves it."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from common.errors import Forbidden
from common.models import AuditEntry
from organization.models import CityPolicy, CountyPolicy, PolicyStatus, Region, Role
from organization.selectors import policy_for
from organization.services import (
    OrganizationError,
    city_policy_approve,
    city_policy_propose,
    policy_approve,
    policy_propose,
    policy_reject,
)
from organization.tests.factories import (
    RegionFactory,
    UserFactory,
    approved_city_policy,
    approved_policy,
    assign,
)

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2025, 3, 10)
LATER = datetime.date(2025, 4, 1)


@pytest.fixture
def today(time_machine):
    time_machine.move_to(datetime.datetime(2025, 3, 10, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False)
    return TODAY


@pytest.fixture
def second(regions):
    """Another county staff of 上蔡 and another 市财政局/金融办 user of 驻马店: the checkers."""
    return {
        "county": assign(UserFactory(username="county2"), Role.COUNTY_STAFF, region=regions["shangcai"]),
        "city": assign(UserFactory(username="city2"), Role.CITY_FINANCE, region=regions["city"]),
    }


@pytest.fixture
def other_city(regions):
    """周口市 411600 and its 市财政局/金融办 user: an outsider to 驻马店's rows."""
    city = RegionFactory(code="411600", name="周口市", level=Region.Level.CITY)
    return assign(UserFactory(username="zhoukou"), Role.CITY_FINANCE, region=city)


def propose(personas, **changes):
    return policy_propose(actor=personas["county_staff"], county=Region.objects.get(code="411722"),
                          effective_from=LATER, changes=changes)  # fmt: skip


# --- a county cannot leave the envelope --------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"household_loan_cap": Decimal("60000")},
            "household_loan_cap",
            "户贷额度上限不能超过市级上限50,000元。",
        ),
        (
            {"household_max_term_months": 48},
            "household_max_term_months",
            "户贷最长期限不能超过市级上限36个月。",
        ),
        (
            {"household_subsidy_share": Decimal("90")},
            "household_subsidy_share",
            "户贷贴息比例不能低于市级下限100%。",
        ),
        (
            {"enterprise_subsidy_rate": Decimal("2.5")},
            "enterprise_subsidy_rate",
            "企业贷款贴息年率不能超过市级上限2%。",
        ),
    ],
)
def test_a_county_row_beyond_the_city_envelope_is_refused_naming_the_ceiling(
    personas, regions, today, changes, field, message
):
    with pytest.raises(OrganizationError) as exc:
        propose(personas, **changes)
    assert exc.value.code == "outside_city_envelope"
    assert exc.value.errors == {field: [message]} and exc.value.message == message
    assert not CountyPolicy.objects.exists()


@pytest.mark.parametrize("field", ["township_npl_threshold", "village_npl_threshold"])
def test_a_county_row_cannot_set_a_breaker_threshold(personas, regions, today, field):
    with pytest.raises(OrganizationError) as exc:
        propose(personas, **{field: Decimal("4")})
    assert exc.value.code == "city_owned" and "市级" in exc.value.message
    assert not CountyPolicy.objects.exists()


def test_a_stricter_county_row_is_fine(personas, regions, today):
    row = propose(personas, household_loan_cap=Decimal("40000"), household_max_term_months=24)
    assert (row.status, row.household_loan_cap, row.household_max_term_months) == ("proposed", 40000, 24)


def test_a_city_that_raised_its_ceiling_lets_the_county_follow(personas, regions, today):
    approved_city_policy(
        city=regions["city"], effective_from=datetime.date(2025, 3, 20), household_loan_cap=80000
    )
    assert propose(personas, household_loan_cap=Decimal("60000")).household_loan_cap == 60000


# --- the clamp ---------------------------------------------------------------------------------


def test_a_later_stricter_city_row_wins_over_an_older_county_row(regions):
    approved_policy(
        county=regions["shangcai"], effective_from=datetime.date(2023, 1, 1), household_loan_cap=50000
    )
    approved_city_policy(
        city=regions["city"], effective_from=datetime.date(2024, 1, 1), household_loan_cap=40000
    )
    assert policy_for("411722", on=datetime.date(2023, 12, 31)).household_loan_cap == 50000
    effective = policy_for("411722", on=datetime.date(2024, 1, 1))
    assert effective.household_loan_cap == 40000 and effective.clamped == ("household_loan_cap",)
    assert policy_for("411721", on=datetime.date(2024, 6, 1)).household_loan_cap == 40000  # no row of its own


def test_an_old_county_row_beyond_the_envelope_is_clamped(regions):
    """Rows from before the envelope may hold looser numbers: they stay, policy_for clamps them."""
    approved_policy(county=regions["shangcai"], effective_from=datetime.date(2020, 1, 1),
                    household_loan_cap=80000, household_max_term_months=60, household_subsidy_share=50,
                    enterprise_subsidy_rate=3, township_npl_threshold=20, village_npl_threshold=20)  # fmt: skip
    p = policy_for("411722", on=TODAY)
    assert (p.household_loan_cap, p.household_max_term_months, p.household_subsidy_share) == (50000, 36, 100)
    assert (p.enterprise_subsidy_rate, p.township_npl_threshold, p.village_npl_threshold) == (2, 5, 7)
    assert (p.guarantee_fee_subsidy_household, p.guarantee_fee_subsidy_enterprise) == (
        Decimal("1.5"),
        Decimal("0.5"),
    )


def test_the_city_may_lower_the_subsidy_floor_and_the_county_follow(regions):
    approved_city_policy(
        city=regions["city"], effective_from=datetime.date(2024, 1, 1), household_subsidy_share=70
    )
    assert (
        policy_for("411722", on=datetime.date(2024, 6, 1)).household_subsidy_share == 100
    )  # the county's own
    approved_policy(
        county=regions["shangcai"], effective_from=datetime.date(2024, 3, 1), household_subsidy_share=70
    )
    assert policy_for("411722", on=datetime.date(2024, 6, 1)).household_subsidy_share == 70


def test_breaker_thresholds_and_guarantee_rates_come_from_the_city_row(regions):
    approved_city_policy(city=regions["city"], effective_from=datetime.date(2024, 1, 1),
                         township_npl_threshold=4, village_npl_threshold=6,
                         guarantee_fee_subsidy_household=Decimal("1.2"))  # fmt: skip
    p = policy_for("411722", on=TODAY)
    assert (p.township_npl_threshold, p.village_npl_threshold, p.guarantee_fee_subsidy_household) == (
        4, 6, Decimal("1.2"),
    )  # fmt: skip


def test_a_proposed_or_rejected_row_has_no_effect(regions):
    CountyPolicy.objects.create(
        county=regions["shangcai"], effective_from=datetime.date(2024, 1, 1), household_loan_cap=30000
    )  # fmt: skip  (status: proposed)
    CityPolicy.objects.create(city=regions["city"], effective_from=datetime.date(2024, 1, 1),
                              household_loan_cap=20000, status=PolicyStatus.REJECTED)  # fmt: skip
    assert policy_for("411722", on=TODAY).household_loan_cap == 50000


# --- maker-checker -----------------------------------------------------------------------------


def test_a_county_change_takes_effect_only_once_a_second_person_approves(personas, regions, second, today):
    row = propose(personas, household_loan_cap=Decimal("40000"))
    assert policy_for("411722", on=LATER).household_loan_cap == 50000
    with pytest.raises(OrganizationError) as exc:
        policy_approve(actor=personas["county_staff"], policy=row)
    assert exc.value.code == "same_person"
    approved = policy_approve(actor=second["county"], policy=row)
    assert (approved.status, approved.reviewed_by) == ("approved", second["county"])
    assert policy_for("411722", on=LATER).household_loan_cap == 40000
    assert policy_for("411722", on=TODAY).household_loan_cap == 50000
    trail = AuditEntry.objects.filter(object_type="county_policy", object_id=str(row.pk)).order_by("id")
    assert [(e.action, e.from_state, e.to_state, e.actor_id) for e in trail] == [
        ("propose", "", "proposed", personas["county_staff"].pk),
        ("approve", "proposed", "approved", second["county"].pk),
    ]
    with pytest.raises(OrganizationError) as exc:
        policy_approve(actor=personas["admin"], policy=row)
    assert exc.value.code == "invalid_state"


@pytest.mark.parametrize("persona", ["township_a", "bank_x", "city", "nobody"])
def test_only_county_staff_or_admin_approve_a_county_change(personas, regions, today, persona):
    row = propose(personas)
    with pytest.raises(Forbidden):
        policy_approve(actor=personas[persona], policy=row)


def test_an_admin_may_be_the_second_person(personas, regions, today):
    assert policy_approve(actor=personas["admin"], policy=propose(personas)).status == "approved"


def test_a_rejected_change_never_takes_effect_and_frees_its_date(personas, regions, second, today):
    row = propose(personas, household_loan_cap=Decimal("40000"))
    rejected = policy_reject(actor=second["county"], policy=row, reason="额度不宜下调")
    assert (rejected.status, rejected.review_note) == ("rejected", "额度不宜下调")
    assert policy_for("411722", on=LATER).household_loan_cap == 50000
    assert AuditEntry.objects.filter(object_type="county_policy", action="reject").get().detail == {
        "reason": "额度不宜下调"
    }
    assert propose(personas).pk != row.pk  # the date may be proposed again


def test_approval_rechecks_the_envelope_in_force_then(personas, regions, second, today):
    row = propose(personas, household_loan_cap=Decimal("45000"))
    approved_city_policy(
        city=regions["city"], effective_from=datetime.date(2025, 3, 20), household_loan_cap=40000
    )
    with pytest.raises(OrganizationError) as exc:
        policy_approve(actor=second["county"], policy=row)
    assert exc.value.message == "户贷额度上限不能超过市级上限40,000元。"


def test_approval_after_the_date_has_come_is_refused(personas, regions, second, time_machine, today):
    row = propose(personas)
    time_machine.move_to(datetime.datetime(2025, 4, 1, 9, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False)
    with pytest.raises(OrganizationError) as exc:
        policy_approve(actor=second["county"], policy=row)
    assert exc.value.code == "too_late"


# --- city rows ---------------------------------------------------------------------------------


def test_city_finance_proposes_and_another_approves_a_city_row(personas, regions, second, today):
    row = city_policy_propose(actor=personas["city"], city=regions["city"], effective_from=LATER,
                              changes={"household_loan_cap": Decimal("40000"), "township_npl_threshold": 4})  # fmt: skip
    assert row.status == "proposed" and policy_for("411722", on=LATER).household_loan_cap == 50000
    with pytest.raises(OrganizationError):
        city_policy_approve(actor=personas["city"], policy=row)
    city_policy_approve(actor=second["city"], policy=row)
    p = policy_for("411722", on=LATER)
    assert (p.household_loan_cap, p.township_npl_threshold) == (40000, 4)
    assert [e.action for e in AuditEntry.objects.filter(object_type="city_policy")] == ["approve", "propose"]


@pytest.mark.parametrize("persona", ["county_staff", "township_a", "bank_x", "nobody"])
def test_only_city_finance_or_admin_propose_a_city_row(personas, regions, today, persona):
    with pytest.raises(Forbidden):
        city_policy_propose(actor=personas[persona], city=regions["city"], effective_from=LATER, changes={})
    assert not CityPolicy.objects.exists()


def test_city_finance_of_another_city_cannot_set_this_citys_row(other_city, regions, today):
    with pytest.raises(Forbidden):
        city_policy_propose(actor=other_city, city=regions["city"], effective_from=LATER, changes={})


def test_a_city_row_on_a_county_is_refused(personas, regions, today):
    with pytest.raises(OrganizationError):
        city_policy_propose(
            actor=personas["admin"], city=regions["shangcai"], effective_from=LATER, changes={}
        )


# --- the API -----------------------------------------------------------------------------------


def test_api_county_cannot_raise_its_cap_to_60000(api, personas, regions, today):
    response = api(personas["county_staff"]).post(
        "/api/v1/policies/", {"county": "411722", "effective_from": "2025-04-01", "household_loan_cap": "60000"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "outside_city_envelope"
    assert body["errors"] == {"household_loan_cap": ["户贷额度上限不能超过市级上限50,000元。"]}
    assert not CountyPolicy.objects.exists()


@pytest.mark.parametrize(
    "field",
    [{"household_max_term_months": 48}, {"household_subsidy_share": "90"}, {"village_npl_threshold": "3"}],
)
def test_api_refuses_term_48_share_90_and_thresholds(api, personas, regions, today, field):
    response = api(personas["county_staff"]).post(
        "/api/v1/policies/", {"county": "411722", "effective_from": "2025-04-01", **field}, format="json"
    )
    assert response.status_code == 400 and set(response.json()["errors"]) == set(field)
    assert not CountyPolicy.objects.exists()


def test_api_propose_then_approve_by_another(api, personas, regions, second, today):
    response = api(personas["county_staff"]).post(
        "/api/v1/policies/", {"county": "411722", "effective_from": "2025-04-01", "household_loan_cap": "40000"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201 and response.json()["status"] == "proposed"
    pk = response.json()["id"]
    own = api(personas["county_staff"]).post(f"/api/v1/policies/{pk}/approve/")
    assert (own.status_code, own.json()["code"]) == (400, "same_person")
    assert api(personas["township_a"]).post(f"/api/v1/policies/{pk}/approve/").status_code == 403
    assert api(personas["bank_y"]).post(f"/api/v1/policies/{pk}/approve/").status_code == 404
    done = api(second["county"]).post(f"/api/v1/policies/{pk}/approve/")
    assert (done.status_code, done.json()["status"], done.json()["reviewed_by"]) == (
        200,
        "approved",
        "county2",
    )
    current = api(personas["county_staff"]).get(
        "/api/v1/policies/current/", {"county": "411722", "on": "2025-04-01"}
    )
    assert current.json()["household_loan_cap"] == "40000.00"
    assert current.json()["guarantee_fee_subsidy_household"] == "1.50"


def test_api_reject(api, personas, regions, second, today):
    row = propose(personas)
    response = api(second["county"]).post(
        f"/api/v1/policies/{row.pk}/reject/", {"reason": "重复"}, format="json"
    )
    assert (response.status_code, response.json()["status"], response.json()["review_note"]) == (
        200,
        "rejected",
        "重复",
    )


def test_api_city_rows(api, personas, regions, second, other_city, today):
    body = {"city": "411700", "effective_from": "2025-04-01", "household_loan_cap": "40000"}
    assert (
        api(personas["county_staff"]).post("/api/v1/city-policies/", body, format="json").status_code == 403
    )
    assert api(other_city).post("/api/v1/city-policies/", body, format="json").status_code == 404
    assert api(other_city).get("/api/v1/city-policies/", {"city": "411700"}).status_code == 404
    assert api(personas["nobody"]).get("/api/v1/city-policies/", {"city": "411700"}).status_code == 404
    assert not CityPolicy.objects.exists()
    created = api(personas["city"]).post("/api/v1/city-policies/", body, format="json")
    assert created.status_code == 201 and created.json()["status"] == "proposed"
    pk = created.json()["id"]
    assert api(other_city).post(f"/api/v1/city-policies/{pk}/approve/").status_code == 404
    assert api(personas["county_staff"]).post(f"/api/v1/city-policies/{pk}/approve/").status_code == 403
    assert api(second["city"]).post(f"/api/v1/city-policies/{pk}/approve/").status_code == 200
    listed = api(personas["county_staff"]).get("/api/v1/city-policies/", {"city": "411700"})
    assert [(r["household_loan_cap"], r["status"]) for r in listed.json()] == [("40000.00", "approved")]
    assert policy_for("411722", on=LATER).household_loan_cap == 40000


def test_schema_documents_the_policy_error_codes(api, personas):
    schema = api(personas["admin"]).get("/api/v1/schema/", {"format": "json"}).json()
    post = schema["paths"]["/api/v1/policies/"]["post"]["responses"]
    assert (
        "outside_city_envelope" in post["400"]["description"] and "city_owned" in post["400"]["description"]
    )
    approve = schema["paths"]["/api/v1/policies/{id}/approve/"]["post"]["responses"]
    assert "same_person" in approve["400"]["description"] and "403" in approve and "404" in approve
    assert "/api/v1/city-policies/{id}/reject/" in schema["paths"]
