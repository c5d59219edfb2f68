"""API.md "Enterprises": registry, recognition, links, eligibility; outsiders get 404."""

import datetime
import re

import pytest

from common.clock import today
from common.dates import add_months
from enterprises.models import BenefitLink, Enterprise, RecognitionEvent
from enterprises.tests.factories import BenefitLinkFactory, EnterpriseFactory, credit_code_for
from households.tests.factories import HouseholdFactory

pytestmark = pytest.mark.django_db

D = datetime.date
CJK = re.compile(r"[\u4e00-\u9fff]")
API_FIELDS = {
    "id", "name", "credit_code", "kind", "founded_on", "county_code", "township_code", "legal_rep", "recognized",
    "households_led",
}  # fmt: skip


def body(**changes) -> dict:
    data = {
        "name": "上蔡县甲镇绿源种植专业合作社",
        "credit_code": credit_code_for(800),
        "kind": "cooperative",
        "founded_on": "2015-03-01",
        "township_code": "411722100",
        "legal_rep": "王大山",
        "contact_phone": "13912345678",
    }
    data.update(changes)
    return data


def assert_refused(response, status, code):
    assert response.status_code == status, (response.status_code, response.content[:500])
    payload = response.json()
    assert set(payload) == {"code", "detail", "errors"}
    assert payload["code"] == code
    assert CJK.search(payload["detail"])
    return payload


@pytest.fixture
def coop(regions):
    return EnterpriseFactory(township=regions["town_a"], founded_on=D(2015, 3, 1))


# --- the new user's walk-through ---------------------------------------------------------------


def test_county_staff_register_link_recognise_and_see_the_loan_cap(api, personas, regions):
    """Done means: county staff register a cooperative, link twelve households, recognise it and
    see its loan cap; a township officer of another township sees none of it."""
    staff = api(personas["county_staff"])
    founded = add_months(today(), -36)
    response = staff.post("/api/v1/enterprises/", body(founded_on=founded.isoformat()), format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert API_FIELDS <= set(created)
    assert (created["county_code"], created["recognized"], created["households_led"]) == ("411722", False, 0)
    pk = created["id"]

    households = [
        HouseholdFactory(village=regions["village_a1" if i % 2 else "village_a2"]) for i in range(12)
    ]
    for i, household in enumerate(households):
        response = staff.post(
            f"/api/v1/enterprises/{pk}/links/",
            {
                "household": household.pk,
                "mode": "employment" if i % 2 else "equity_labor",
                "start_date": founded.isoformat(),
                "end_date": None,
                "annual_benefit": "3000.00",
            },
            format="json",
        )
        assert response.status_code == 201, response.content
    links = staff.get(f"/api/v1/enterprises/{pk}/links/").json()
    assert len(links) == 12 and all(link["in_force"] for link in links)

    response = staff.post(
        f"/api/v1/enterprises/{pk}/recognize/",
        {"decision_no": "蔡扶贫〔2017〕12号", "decided_on": today().isoformat()},
        format="json",
    )
    assert response.status_code == 200, response.content
    detail = response.json()
    assert detail["recognized"] is True and detail["households_led"] == 12
    assert detail["recognition_events"][0]["decision_no"] == "蔡扶贫〔2017〕12号"

    eligibility = staff.get(f"/api/v1/enterprises/{pk}/eligibility/").json()
    assert eligibility == {
        "on": today().isoformat(),
        "recognized": True,
        "cooperative_old_enough": True,
        "households_led": 12,
        "cap_per_household": "100000.00",
        "loan_cap": "1200000.00",
        "eligible": True,
        "refusals": [],
    }

    outsider = api(personas["township_b"])
    assert outsider.get("/api/v1/enterprises/").json()["count"] == 0
    for path in ("", "links/", "eligibility/"):
        assert_refused(outsider.get(f"/api/v1/enterprises/{pk}/{path}"), 404, "not_found")


# --- registry ----------------------------------------------------------------------------------


def test_list_fields_filters_and_pagination(api, personas, regions, coop):
    EnterpriseFactory(township=regions["town_b"], kind="company", name="乙镇公司")
    client = api(personas["county_staff"])
    page = client.get("/api/v1/enterprises/", {"page_size": 1}).json()
    assert page["count"] == 2 and len(page["results"]) == 1 and page["next"]
    assert API_FIELDS <= set(page["results"][0])
    assert [e["name"] for e in client.get("/api/v1/enterprises/", {"kind": "company"}).json()["results"]] == [
        "乙镇公司"
    ]
    assert client.get("/api/v1/enterprises/", {"region": "411722100"}).json()["count"] == 1
    assert client.get("/api/v1/enterprises/", {"recognized": "true"}).json()["count"] == 0
    assert client.get("/api/v1/enterprises/", {"recognized": "false"}).json()["count"] == 2
    assert_refused(client.get("/api/v1/enterprises/", {"kind": "farm"}), 400, "invalid")


def test_list_query_count_does_not_grow(api, personas, regions, django_assert_max_num_queries):
    client = api(personas["county_staff"])
    for i in range(5):
        e = EnterpriseFactory(township=regions["town_a" if i % 2 else "town_b"])
        BenefitLinkFactory(
            enterprise=e,
            household=HouseholdFactory(village=regions["village_a1"]),
            created_by=personas["admin"],
        )
    with django_assert_max_num_queries(5):
        assert client.get("/api/v1/enterprises/").json()["count"] == 5


def test_create_refusals(api, personas, coop):
    client = api(personas["county_staff"])
    payload = assert_refused(
        client.post("/api/v1/enterprises/", body(credit_code="91110000600037341M"), format="json"),
        400,
        "invalid",
    )
    assert payload["errors"]["credit_code"] == [
        "统一社会信用代码校验位不正确，请核对号码（可能有字符录错）。"
    ]
    payload = assert_refused(
        client.post("/api/v1/enterprises/", body(credit_code=coop.credit_code), format="json"), 400, "invalid"
    )
    assert "已登记" in payload["errors"]["credit_code"][0]
    payload = assert_refused(client.post("/api/v1/enterprises/", {}, format="json"), 400, "invalid")
    assert {"name", "credit_code", "kind", "founded_on", "township_code", "legal_rep"} <= set(
        payload["errors"]
    )


def test_township_officer_registers_in_own_township(api, personas):
    response = api(personas["township_a"]).post("/api/v1/enterprises/", body(), format="json")
    assert response.status_code == 201
    payload = assert_refused(
        api(personas["township_b"]).post(
            "/api/v1/enterprises/", body(credit_code=credit_code_for(801)), format="json"
        ),
        400,
        "invalid",
    )
    assert "不在您的管辖范围内" in payload["errors"]["township_code"][0]


@pytest.mark.parametrize("persona", ["bank_x", "city", "village_a1"])
def test_readers_cannot_register(api, personas, persona):
    assert_refused(
        api(personas[persona]).post("/api/v1/enterprises/", body(), format="json"), 403, "permission_denied"
    )
    assert not Enterprise.objects.exists()


def test_detail_and_patch(api, personas, coop):
    client = api(personas["township_a"])
    detail = client.get(f"/api/v1/enterprises/{coop.pk}/").json()
    assert detail["credit_code"] == coop.credit_code and detail["recognition_events"] == []
    response = client.patch(f"/api/v1/enterprises/{coop.pk}/", {"legal_rep": "赵四"}, format="json")
    assert response.status_code == 200 and response.json()["legal_rep"] == "赵四"
    assert_refused(
        api(personas["bank_x"]).patch(f"/api/v1/enterprises/{coop.pk}/", {"legal_rep": "x"}, format="json"),
        403,
        "permission_denied",
    )


@pytest.mark.parametrize("persona", ["township_b", "bank_y", "village_a1", "nobody"])
def test_outsiders_get_404_everywhere(api, personas, households, coop, persona):
    staff = personas["county_staff"]
    link = BenefitLinkFactory(enterprise=coop, household=households["a1"], created_by=staff)
    client = api(personas[persona])
    base = f"/api/v1/enterprises/{coop.pk}/"
    for method, path, payload in [
        ("get", "", None),
        ("patch", "", {"legal_rep": "x"}),
        ("post", "recognize/", {"decision_no": "X", "decided_on": "2017-06-01"}),
        ("post", "withdraw-recognition/", {"reason": "x"}),
        ("get", "links/", None),
        ("post", "links/", {"household": households["a1"].pk, "mode": "employment", "start_date": "2018-01-01",
                            "annual_benefit": "1"}),
        ("post", f"links/{link.pk}/end/", {"end_date": "2018-01-01"}),
        ("get", "eligibility/", None),
    ]:  # fmt: skip
        response = (
            getattr(client, method)(base + path, payload, format="json")
            if payload
            else client.get(base + path)
        )
        assert_refused(response, 404, "not_found")
    coop.refresh_from_db()
    assert coop.legal_rep != "x" and not coop.recognized
    assert BenefitLink.objects.count() == 1 and BenefitLink.objects.get().end_date is None


def test_another_enterprises_link_is_404(api, personas, regions, households, coop):
    other = EnterpriseFactory(township=regions["town_a"])
    link = BenefitLinkFactory(enterprise=other, household=households["a1"], created_by=personas["admin"])
    response = api(personas["county_staff"]).post(
        f"/api/v1/enterprises/{coop.pk}/links/{link.pk}/end/", {"end_date": "2018-01-01"}, format="json"
    )
    assert_refused(response, 404, "not_found")


# --- recognition -------------------------------------------------------------------------------


def test_recognise_and_withdraw(api, personas, coop):
    client = api(personas["county_staff"])
    url = f"/api/v1/enterprises/{coop.pk}/"
    assert (
        client.post(
            url + "recognize/", {"decision_no": "A号", "decided_on": "2017-06-01"}, format="json"
        ).status_code
        == 200
    )
    assert_refused(
        client.post(url + "recognize/", {"decision_no": "B号", "decided_on": "2017-07-01"}, format="json"),
        400,
        "already_recognized",
    )
    payload = assert_refused(
        client.post(url + "withdraw-recognition/", {"reason": ""}, format="json"), 400, "invalid"
    )
    assert "reason" in payload["errors"]
    response = client.post(
        url + "withdraw-recognition/", {"reason": "未履行带贫协议", "decided_on": "2018-01-05"}, format="json"
    )
    assert response.status_code == 200
    detail = response.json()
    assert detail["recognized"] is False and detail["recognized_on"] is None
    assert [(e["action"], e["decided_on"], e["reason"]) for e in detail["recognition_events"]] == [
        ("withdraw", "2018-01-05", "未履行带贫协议"),
        ("recognize", "2017-06-01", ""),
    ]
    assert_refused(
        client.post(url + "withdraw-recognition/", {"reason": "x"}, format="json"), 400, "not_recognized"
    )


@pytest.mark.parametrize("persona", ["township_a", "bank_x", "city"])
def test_insiders_without_the_right_get_403(api, personas, coop, persona):
    response = api(personas[persona]).post(
        f"/api/v1/enterprises/{coop.pk}/recognize/",
        {"decision_no": "X", "decided_on": "2017-06-01"},
        format="json",
    )
    assert_refused(response, 403, "permission_denied")
    assert not RecognitionEvent.objects.exists()


# --- links -------------------------------------------------------------------------------------


def link_body(household, **changes):
    data = {"household": household.pk, "mode": "employment", "start_date": "2017-01-01", "end_date": "2019-12-31",
            "annual_benefit": "3000"}  # fmt: skip
    data.update(changes)
    return data


def test_link_refusals(api, personas, regions, households, coop):
    client = api(personas["county_staff"])
    url = f"/api/v1/enterprises/{coop.pk}/links/"
    payload = assert_refused(client.post(url, link_body(households["x1"]), format="json"), 400, "invalid")
    assert payload["errors"]["household"] == [
        "户不存在，或不在本企业所在的上蔡县：只能与本县的建档立卡户建立利益联结。"
    ]
    rich = HouseholdFactory(village=regions["village_a1"], status="non_poor")
    payload = assert_refused(client.post(url, link_body(rich), format="json"), 400, "invalid")
    assert "是非贫困户" in payload["errors"]["household"][0]
    assert client.post(url, link_body(households["a1"]), format="json").status_code == 201
    payload = assert_refused(
        client.post(url, link_body(households["a1"], start_date="2019-01-01", end_date=None), format="json"),
        400,
        "invalid",
    )
    assert "时间重叠" in payload["errors"]["start_date"][0]
    payload = assert_refused(
        client.post(url, link_body(households["b1"], mode="gift"), format="json"), 400, "invalid"
    )
    assert "mode" in payload["errors"]
    assert BenefitLink.objects.count() == 1
    assert_refused(
        api(personas["township_a"]).post(url, link_body(households["b1"]), format="json"),
        403,
        "permission_denied",
    )


def test_end_a_link(api, personas, households, coop):
    client = api(personas["county_staff"])
    created = client.post(
        f"/api/v1/enterprises/{coop.pk}/links/", link_body(households["a1"]), format="json"
    ).json()
    response = client.post(
        f"/api/v1/enterprises/{coop.pk}/links/{created['id']}/end/",
        {"end_date": "2018-06-30", "reason": "农户外出务工"},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["end_date"], response.json()["end_reason"]) == ("2018-06-30", "农户外出务工")


def test_eligibility_with_an_amount(api, personas, regions, coop):
    staff = personas["county_staff"]
    client = api(staff)
    for _ in range(2):
        BenefitLinkFactory(
            enterprise=coop, household=HouseholdFactory(village=regions["village_a1"]), created_by=staff
        )
    result = client.get(
        f"/api/v1/enterprises/{coop.pk}/eligibility/", {"on": "2017-07-19", "amount": "250000"}
    ).json()
    assert result["loan_cap"] == "200000.00" and result["eligible"] is False
    assert [r["code"] for r in result["refusals"]] == ["enterprise_not_recognized", "exceeds_linkage_cap"]
    assert all(CJK.search(r["message"]) for r in result["refusals"])


def test_eligibility_of_a_young_cooperative(api, personas, coop):
    client = api(personas["county_staff"])
    result = client.get(f"/api/v1/enterprises/{coop.pk}/eligibility/", {"on": "2017-02-28"}).json()
    assert result["cooperative_old_enough"] is False
    assert "cooperative_too_young" in [r["code"] for r in result["refusals"]]
    result = client.get(f"/api/v1/enterprises/{coop.pk}/eligibility/", {"on": "2017-03-01"}).json()
    assert result["cooperative_old_enough"] is True


def test_schema_lists_the_routes(api, personas):
    schema = api(personas["admin"]).get("/api/v1/schema/", {"format": "json"}).json()
    for path in (
        "/api/v1/enterprises/",
        "/api/v1/enterprises/{id}/",
        "/api/v1/enterprises/{id}/recognize/",
        "/api/v1/enterprises/{id}/links/",
        "/api/v1/enterprises/{id}/eligibility/",
    ):
        assert path in schema["paths"], path
