import datetime
import re

import pytest

from common import clock, pii
from common.identity import age_on
from common.testing import make_resident_id
from households.models import Household, Member, PiiAccessLog
from households.tests.factories import HouseholdFactory
from organization.models import User

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")
HEAD_ID = make_resident_id("411722", datetime.date(1980, 5, 6), 11)
SPOUSE_ID = make_resident_id("411722", datetime.date(1982, 7, 8), 12, male=False)
CHILD_ID = make_resident_id("411722", datetime.date(2010, 1, 2), 13)
ACCOUNT = "6228480012345678901"

API_FIELDS = {
    "id",
    "household_no",
    "head_name",
    "id_number_masked",
    "phone",
    "village_code",
    "member_count",
    "labor_count",
    "status",
    "attribute",
    "identification_standard",
    "poverty_causes",
    "per_capita_income",
    "bank_name",
    "bank_account_masked",
}


def payload(**changes):
    body = {
        "household_no": "H-NEW-0001",
        "village_code": "411722100201",
        "head_name": "王五",
        "head_id_number": HEAD_ID,
        "phone": "13912345678",
        "status": "poor",
        "attribute": "general",
        "identification_standard": "national",
        "poverty_causes": ["illness", "lack_funds"],
        "per_capita_income": "3500.50",
        "bank_name": "邮储银行",
        "bank_account": ACCOUNT,
        "members": [
            {
                "name": "王五",
                "relation": "户主",
                "id_number": HEAD_ID,
                "gender": "male",
                "labor_capable": True,
            },
            {
                "name": "赵六",
                "relation": "配偶",
                "id_number": SPOUSE_ID,
                "gender": "female",
                "labor_capable": True,
            },
            {"name": "王小", "relation": "子女", "id_number": CHILD_ID, "gender": "male"},
        ],
    }
    body.update(changes)
    return body


def assert_invalid(response, *fields):
    assert response.status_code == 400, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"code", "detail", "errors"}
    assert body["code"] == "invalid"
    assert CJK.search(body["detail"])
    for field in fields:
        assert field in body["errors"], body["errors"]
        messages = body["errors"][field]
        flat = str(messages)
        assert CJK.search(flat), f"{field}: {messages} is not in Chinese"
    return body


# --- scope --------------------------------------------------------------------------------------


def test_list_is_scoped_to_township(api, personas, households):
    response = api(personas["township_a"]).get("/api/v1/households/")
    assert response.status_code == 200
    assert [h["household_no"] for h in response.json()["results"]] == [households["a1"].household_no]


def test_outsider_gets_404_on_detail(api, personas, households):
    response = api(personas["township_b"]).get(f"/api/v1/households/{households['a1'].pk}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_missing_household_is_404_like_out_of_scope(api, personas, households):
    client = api(personas["county_staff"])
    missing = client.get("/api/v1/households/999999/")
    outside = client.get(f"/api/v1/households/{households['x1'].pk}/")
    assert missing.status_code == outside.status_code == 404
    assert missing.json() == outside.json()


# --- list ---------------------------------------------------------------------------------------


@pytest.fixture
def many(regions):
    """Households in A1, A2 and B1 with different statuses and names."""
    make = HouseholdFactory
    return [
        make(village=regions["village_a1"], household_no="A1-001", head_name="李一", status="poor"),
        make(village=regions["village_a1"], household_no="A1-002", head_name="李二", status="lifted"),
        make(village=regions["village_a2"], household_no="A2-001", head_name="王一", status="poor"),
        make(village=regions["village_b1"], household_no="B1-001", head_name="李三", status="monitored"),
        make(village=regions["village_x1"], household_no="X1-001", head_name="李四", status="poor"),
    ]


def _nos(response):
    assert response.status_code == 200, response.content
    return [h["household_no"] for h in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["A1-001", "A1-002", "A2-001", "B1-001"]),
        ({"region": "411722100"}, ["A1-001", "A1-002", "A2-001"]),
        ({"region": "411722100202"}, ["A2-001"]),
        ({"region": "411722"}, ["A1-001", "A1-002", "A2-001", "B1-001"]),
        ({"region": "411721"}, []),  # the filter never widens the scope
        ({"status": "poor"}, ["A1-001", "A2-001"]),
        ({"status": "monitored"}, ["B1-001"]),
        ({"q": "李"}, ["A1-001", "A1-002", "B1-001"]),
        ({"q": "A1-00"}, ["A1-001", "A1-002"]),
        ({"q": "李", "status": "poor", "region": "411722100"}, ["A1-001"]),
    ],
)
def test_list_filters(api, personas, many, query, expected):
    assert _nos(api(personas["county_staff"]).get("/api/v1/households/", query)) == expected


def test_list_bad_status_is_400(api, personas, many):
    assert_invalid(api(personas["county_staff"]).get("/api/v1/households/", {"status": "rich"}), "status")


def test_list_shape(api, personas, many):
    body = api(personas["county_staff"]).get("/api/v1/households/").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 4 and body["next"] is None and body["previous"] is None
    row = body["results"][0]
    assert API_FIELDS <= set(row)
    assert row["per_capita_income"] == "3200.00"
    assert row["poverty_causes"] == ["lack_funds"]
    assert re.fullmatch(r"\*{14}\d{3}[\dX]", row["id_number_masked"])
    assert re.fullmatch(r"6228\*+\d{4}", row["bank_account_masked"])


def test_list_pagination(api, personas, many):
    client = api(personas["county_staff"])
    first = client.get("/api/v1/households/", {"page_size": 3}).json()
    assert first["count"] == 4
    assert [h["household_no"] for h in first["results"]] == ["A1-001", "A1-002", "A2-001"]
    assert "page=2" in first["next"] and first["previous"] is None
    second = client.get("/api/v1/households/", {"page_size": 3, "page": 2}).json()
    assert [h["household_no"] for h in second["results"]] == ["B1-001"]
    assert second["next"] is None and second["previous"]
    assert client.get("/api/v1/households/", {"page": 9}).status_code == 404


def test_list_default_page_size_is_50_and_max_is_500(api, personas, regions):
    Household.objects.bulk_create(
        Household(
            household_no=f"BULK-{n:04d}",
            village=regions["village_a1"],
            head_name=f"批{n}",
            head_id_enc="x",
            head_id_hash=f"{n:064d}",
            head_id_masked="**************0000",
            status="poor",
        )
        for n in range(501)
    )
    client = api(personas["county_staff"])
    assert len(client.get("/api/v1/households/").json()["results"]) == 50
    assert len(client.get("/api/v1/households/", {"page_size": 500}).json()["results"]) == 500
    capped = client.get("/api/v1/households/", {"page_size": 5000}).json()
    assert capped["count"] == 501
    assert len(capped["results"]) == 500


@pytest.mark.parametrize("rows", [3, 30])
def test_list_query_count_does_not_grow_with_rows(api, personas, regions, django_assert_num_queries, rows):
    for n in range(rows):
        HouseholdFactory(village=regions["village_a1" if n % 2 else "village_b1"])
    client = api(User.objects.get(username="county"))
    with django_assert_num_queries(3):  # the scope, the count, the page (with its villages)
        response = client.get("/api/v1/households/", {"page_size": 100})
    assert response.json()["count"] == rows


# --- create -------------------------------------------------------------------------------------


def test_village_clerk_creates_a_household(api, personas, regions):
    response = api(personas["village_a1"]).post("/api/v1/households/", payload(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert API_FIELDS | {"members"} <= set(body)
    assert body["household_no"] == "H-NEW-0001"
    assert body["village_code"] == "411722100201"
    assert body["id_number_masked"] == "*" * 14 + HEAD_ID[-4:]
    assert body["bank_account_masked"] == "6228" + "*" * 11 + "8901"
    assert body["member_count"] == 3 and body["labor_count"] == 2
    assert body["per_capita_income"] == "3500.50"
    assert body["poverty_causes"] == ["illness", "lack_funds"]
    assert [(m["name"], m["relation"], m["gender"]) for m in body["members"]] == [
        ("王五", "户主", "male"),
        ("赵六", "配偶", "female"),
        ("王小", "子女", "male"),
    ]
    # a village clerk may not see full numbers: age, not the birth date the mask hides
    assert body["members"][0]["age"] == age_on(datetime.date(1980, 5, 6), clock.today())
    assert all("birth_date" not in m for m in body["members"])
    assert body["members"][1]["id_number_masked"] == "*" * 14 + SPOUSE_ID[-4:]
    # masked values only: no full number anywhere in the response
    text = response.content.decode()
    for number in (HEAD_ID, SPOUSE_ID, CHILD_ID, ACCOUNT):
        assert number not in text
    assert "head_id_number" not in body and "bank_account" not in body

    household = Household.objects.get(pk=body["id"])
    assert HEAD_ID not in household.head_id_enc and pii.decrypt(household.head_id_enc) == HEAD_ID
    assert pii.decrypt(household.bank_account_enc) == ACCOUNT
    assert household.head_id_hash == pii.lookup_hash(HEAD_ID)


def test_create_without_members_makes_the_head_a_member(api, personas, regions):
    response = api(personas["county_staff"]).post(
        "/api/v1/households/", payload(members=None) | {"members": []}, format="json"
    )
    assert response.status_code == 201, response.content
    members = response.json()["members"]
    assert [(m["name"], m["relation"]) for m in members] == [("王五", "户主")]


def test_create_minimal(api, personas, regions):
    body = {
        k: payload()[k] for k in ("household_no", "village_code", "head_name", "head_id_number", "status")
    }
    response = api(personas["village_a1"]).post("/api/v1/households/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["bank_account_masked"] == ""


def test_create_full_width_id_is_normalised(api, personas, regions):
    full_width = HEAD_ID.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    members = [dict(m) for m in payload()["members"]]
    members[0]["id_number"] = full_width
    response = api(personas["village_a1"]).post(
        "/api/v1/households/", payload(head_id_number=full_width, members=members), format="json"
    )
    assert response.status_code == 201, response.content
    household = Household.objects.get(pk=response.json()["id"])
    assert pii.decrypt(household.head_id_enc) == HEAD_ID


def test_township_officer_cannot_create(api, personas, regions):
    response = api(personas["township_a"]).post("/api/v1/households/", payload(), format="json")
    assert response.status_code in (400, 403)
    assert not Household.objects.filter(household_no="H-NEW-0001").exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {"head_id_number": HEAD_ID[:-1] + ("0" if HEAD_ID[-1] != "0" else "1")},
            "head_id_number",
        ),  # checksum
        ({"head_id_number": "41172219800506"}, "head_id_number"),  # length
        ({"head_id_number": "41172219800230001X"}, "head_id_number"),  # no 30 February
        ({"phone": "12345"}, "phone"),
        ({"phone": "23912345678"}, "phone"),
        ({"status": "rich"}, "status"),
        ({"attribute": "special"}, "attribute"),
        ({"identification_standard": "galactic"}, "identification_standard"),
        ({"poverty_causes": ["bad_luck"]}, "poverty_causes"),
        ({"per_capita_income": "-1"}, "per_capita_income"),
        ({"per_capita_income": "abc"}, "per_capita_income"),
        ({"village_code": "411722101201"}, "village_code"),  # outside the clerk's village
        ({"village_code": "411722100299"}, "village_code"),  # no such village
        ({"village_code": "411722100"}, "village_code"),  # a township
        ({"head_name": ""}, "head_name"),
        ({"household_no": ""}, "household_no"),
        ({"bank_account": "12ab"}, "bank_account"),
        ({"member_count": 2, "labor_count": 3}, "labor_count"),
        ({"member_count": 0}, "member_count"),
    ],
)
def test_create_with_bad_field_is_400_in_chinese(api, personas, regions, changes, field):
    response = api(personas["village_a1"]).post("/api/v1/households/", payload(**changes), format="json")
    assert_invalid(response, field)
    assert not Household.objects.exists()


def _with_member(index, **changes):
    members = [dict(m) for m in payload()["members"]]
    members[index].update(changes)
    return payload(members=members)


@pytest.mark.parametrize(
    "body",
    [
        _with_member(1, gender="male"),  # the spouse's ID says female
        _with_member(2, gender="unknown"),
        _with_member(2, id_number="123"),
        _with_member(1, relation="户主"),  # two heads
        _with_member(0, relation="本人"),  # no head
        _with_member(2, id_number=SPOUSE_ID, gender="female"),  # the same ID twice
        _with_member(0, id_number=SPOUSE_ID, gender="female"),  # the head member is not the head
    ],
)
def test_create_with_bad_members_is_400_in_chinese(api, personas, regions, body):
    response = api(personas["village_a1"]).post("/api/v1/households/", body, format="json")
    assert_invalid(response, "members")
    assert not Household.objects.exists()


def test_head_of_two_households_is_refused(api, personas, regions):
    client = api(personas["village_a1"])
    assert client.post("/api/v1/households/", payload(), format="json").status_code == 201
    second = client.post("/api/v1/households/", payload(household_no="H-NEW-0002", members=[]), format="json")
    assert_invalid(second, "head_id_number")
    assert Household.objects.count() == 1


def test_household_no_is_unique(api, personas, households):
    response = api(personas["village_a1"]).post(
        "/api/v1/households/", payload(household_no=households["a1"].household_no), format="json"
    )
    assert_invalid(response, "household_no")


# --- patch --------------------------------------------------------------------------------------


def test_village_clerk_patches(api, personas, households):
    household = households["a1"]
    response = api(personas["village_a1"]).patch(
        f"/api/v1/households/{household.pk}/", {"phone": "0396-1234567", "status": "lifted"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["phone"] == "0396-1234567"
    assert response.json()["status"] == "lifted"
    household.refresh_from_db()
    assert household.status == "lifted"
    assert household.history.first().history_user == personas["village_a1"]


def test_patch_head_id_updates_the_head_member(api, personas, households):
    household = households["a1"]
    new_id = make_resident_id("411722", datetime.date(1975, 3, 4), 77, male=False)
    response = api(personas["county_staff"]).patch(
        f"/api/v1/households/{household.pk}/",
        {"head_id_number": new_id, "head_name": "新户主"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id_number_masked"] == "*" * 14 + new_id[-4:]
    head = [m for m in body["members"] if m["relation"] == "户主"]
    assert head == [
        {
            "name": "新户主",
            "relation": "户主",
            "id_number_masked": body["id_number_masked"],
            "gender": "female",
            "birth_date": "1975-03-04",  # county staff may see full numbers
            "age": age_on(datetime.date(1975, 3, 4), clock.today()),
            "labor_capable": True,
        },
    ]
    assert new_id not in response.content.decode()


def test_patch_bad_value_is_400_and_changes_nothing(api, personas, households):
    household = households["a1"]
    response = api(personas["village_a1"]).patch(
        f"/api/v1/households/{household.pk}/", {"phone": "bad", "status": "lifted"}, format="json"
    )
    assert_invalid(response, "phone")
    household.refresh_from_db()
    assert household.status == "poor" and household.phone == "13800138000"


def test_patch_into_a_village_outside_scope_is_refused(api, personas, households):
    household = households["a1"]
    response = api(personas["village_a1"]).patch(
        f"/api/v1/households/{household.pk}/", {"village_code": "411722101201"}, format="json"
    )
    assert_invalid(response, "village_code")
    household.refresh_from_db()
    assert household.village_id == "411722100201"


@pytest.mark.parametrize("persona", ["township_a", "bank_x", "city"])
def test_patch_by_viewer_who_may_not_edit_is_403(api, personas, households, persona):
    household = households["a1"]
    response = api(personas[persona]).patch(
        f"/api/v1/households/{household.pk}/", {"status": "lifted"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    household.refresh_from_db()
    assert household.status == "poor"


def test_patch_replaces_members(api, personas, households):
    household = households["a1"]
    head_id = pii.decrypt(household.head_id_enc)
    members = [
        {"name": household.head_name, "relation": "户主", "id_number": head_id},
        {
            "name": "新成员",
            "relation": "子女",
            "id_number": CHILD_ID,
            "gender": "male",
            "labor_capable": False,
        },
    ]
    response = api(personas["village_a1"]).patch(
        f"/api/v1/households/{household.pk}/", {"members": members, "member_count": 2}, format="json"
    )
    assert response.status_code == 200, response.content
    assert [m["name"] for m in response.json()["members"]] == [household.head_name, "新成员"]
    assert Member.objects.filter(household=household).count() == 2


# --- PII ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["county_staff", "bank_x", "admin"])
def test_pii_in_full_for_roles_that_need_it_and_logged_per_call(api, personas, banks, households, persona):
    from loans.tests.factories import apply

    household = households["a1"]
    apply(household, actor=personas["admin"], bank=banks["x"])  # bank X's applicant
    client = api(personas[persona])
    for call in (1, 2):
        response = client.get(f"/api/v1/households/{household.pk}/pii/", REMOTE_ADDR="10.1.2.3")
        assert response.status_code == 200
        assert response.json() == {
            "head_id_number": pii.decrypt(household.head_id_enc),
            "bank_account": pii.decrypt(household.bank_account_enc),
        }
        assert PiiAccessLog.objects.count() == call
    log = PiiAccessLog.objects.first()
    assert (log.user, log.household, log.channel, log.ip_address) == (
        personas[persona],
        household,
        "api",
        "10.1.2.3",
    )
    assert "head_id_number" in log.fields and "bank_account" in log.fields


@pytest.mark.parametrize("persona", ["township_a", "village_a1", "city"])
def test_pii_refused_for_viewers_and_not_logged(api, personas, households, persona):
    response = api(personas[persona]).get(f"/api/v1/households/{households['a1'].pk}/pii/")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert pii.decrypt(households["a1"].head_id_enc) not in response.content.decode()
    assert not PiiAccessLog.objects.exists()


def test_pii_outside_scope_is_404_and_not_logged(api, personas, households):
    response = api(personas["bank_y"]).get(f"/api/v1/households/{households['a1'].pk}/pii/")
    assert response.status_code == 404
    assert not PiiAccessLog.objects.exists()


def test_detail_shows_masked_numbers_only(api, personas, households):
    household = households["a1"]
    response = api(personas["county_staff"]).get(f"/api/v1/households/{household.pk}/")
    assert response.status_code == 200
    text = response.content.decode()
    assert pii.decrypt(household.head_id_enc) not in text
    assert pii.decrypt(household.bank_account_enc) not in text
    assert response.json()["members"][0]["id_number_masked"] == household.head_id_masked
