"""API of the organization app, per API.md: token, me, regions, banks, users, policies."""

import datetime
from zoneinfo import ZoneInfo

import pytest
from rest_framework.test import APIClient

from organization.models import CountyPolicy, Role, RoleAssignment, ServiceUnit, User
from organization.services import policy_propose
from organization.tests.factories import BankBranchFactory, BankFactory, UserFactory, policy_in_force

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # UserFactory's
TODAY = datetime.date(2025, 3, 10)


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(datetime.datetime(2025, 3, 10, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False)
    return TODAY


def assert_error(response, status, code=None):
    assert response.status_code == status, (response.status_code, response.content[:400])
    body = response.json()
    assert set(body) == {"code", "detail", "errors"}, body
    assert body["detail"]
    if code:
        assert body["code"] == code, body
    return body


# --- token --------------------------------------------------------------------------------------


def test_token_then_token_header_works_on_me(personas):
    client = APIClient()
    response = client.post("/api/v1/auth/token/", {"username": "county", "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"token", "expires_at"}
    token = response.json()["token"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "county"


def test_each_login_issues_a_new_token_and_both_work(personas):
    client = APIClient()
    first = client.post("/api/v1/auth/token/", {"username": "county", "password": PASSWORD}, format="json")
    second = client.post("/api/v1/auth/token/", {"username": "county", "password": PASSWORD}, format="json")
    assert first.json()["token"] != second.json()["token"]
    for key in (first.json()["token"], second.json()["token"]):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        assert client.get("/api/v1/me/").status_code == 200


def test_token_wrong_password_is_400_with_code(personas):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "county", "password": "nope"}, format="json"
    )
    body = assert_error(response, 400, "invalid_credentials")
    assert "token" not in body


def test_token_unknown_user_is_the_same_400(personas):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "ghost", "password": "nope"}, format="json"
    )
    assert_error(response, 400, "invalid_credentials")


def test_token_inactive_user_is_refused(personas):
    User.objects.filter(username="county").update(is_active=False)
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "county", "password": PASSWORD}, format="json"
    )
    assert_error(response, 400, "invalid_credentials")


def test_token_missing_fields_is_400_invalid(personas):
    body = assert_error(APIClient().post("/api/v1/auth/token/", {}, format="json"), 400, "invalid")
    assert set(body["errors"]) == {"username", "password"}


def test_bad_token_is_401(personas):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error(client.get("/api/v1/me/"), 401, "authentication_failed")


def test_no_credentials_is_401(personas):
    response = APIClient().get("/api/v1/me/")
    assert_error(response, 401, "not_authenticated")
    assert response.has_header("WWW-Authenticate")


# --- me -----------------------------------------------------------------------------------------


def test_me_county_staff(api, personas):
    body = api(personas["county_staff"]).get("/api/v1/me/").json()
    assert body["username"] == "county"
    assert body["roles"] == [
        {
            "role": "county_staff",
            "org_unit": "上蔡县县金融扶贫服务中心",
            "region_code": "411722",
            "bank_code": None,
        }
    ]


def test_me_bank_officer(api, personas):
    roles = api(personas["bank_x"]).get("/api/v1/me/").json()["roles"]
    assert roles == [
        {"role": "bank_officer", "org_unit": "邮储银行上蔡支行", "region_code": None, "bank_code": "PSBC"}
    ]


def test_me_village_clerk_and_admin(api, personas):
    clerk = api(personas["village_a1"]).get("/api/v1/me/").json()["roles"]
    assert clerk == [
        {
            "role": "village_clerk",
            "org_unit": "甲一村村金融扶贫服务部",
            "region_code": "411722100201",
            "bank_code": None,
        }
    ]
    admin = api(personas["admin"]).get("/api/v1/me/").json()["roles"]
    assert admin == [{"role": "admin", "org_unit": "系统", "region_code": None, "bank_code": None}]


def test_me_superuser_without_role_is_admin(api, regions):
    root = UserFactory(username="root", is_superuser=True)
    assert [r["role"] for r in api(root).get("/api/v1/me/").json()["roles"]] == ["admin"]


def test_me_with_two_roles(api, personas, regions):
    user = personas["township_a"]
    RoleAssignment.objects.create(
        user=user, role=Role.VILLAGE_CLERK, unit=ServiceUnit.objects.get(region=regions["village_a2"])
    )
    roles = api(user).get("/api/v1/me/").json()["roles"]
    assert {(r["role"], r["region_code"]) for r in roles} == {
        ("township_officer", "411722100"),
        ("village_clerk", "411722100202"),
    }


# --- regions ------------------------------------------------------------------------------------


def test_regions_by_parent_and_level(api, personas):
    response = api(personas["county_staff"]).get(
        "/api/v1/regions/", {"parent": "411722", "level": "township"}
    )
    assert response.status_code == 200
    assert response.json() == [
        {"code": "411722100", "name": "甲镇", "level": "township", "parent": "411722"},
        {"code": "411722101", "name": "乙镇", "level": "township", "parent": "411722"},
    ]


def test_regions_level_filter_for_township_officer(api, personas):
    response = api(personas["township_a"]).get("/api/v1/regions/", {"level": "village"})
    assert [r["code"] for r in response.json()] == ["411722100201", "411722100202"]


def test_regions_parent_outside_scope_gives_nothing(api, personas):
    response = api(personas["township_b"]).get("/api/v1/regions/", {"parent": "411722100"})
    assert response.status_code == 200
    assert response.json() == []


def test_regions_bad_level_is_400(api, personas):
    assert_error(api(personas["admin"]).get("/api/v1/regions/", {"level": "galaxy"}), 400, "invalid")


def test_region_detail_of_own_county_for_township_officer(api, personas):
    """/regions/ lists the county above a township; /regions/<code>/ answers for it too."""
    response = api(personas["township_a"]).get("/api/v1/regions/411722/")
    assert response.status_code == 200
    assert response.json() == {"code": "411722", "name": "上蔡县", "level": "county", "parent": "411700"}


def test_region_detail_missing_is_404(api, personas):
    assert_error(api(personas["admin"]).get("/api/v1/regions/999999/"), 404, "not_found")


def test_region_list_query_count_is_flat(api, personas, regions, django_assert_num_queries):
    from organization.models import Region
    from organization.tests.factories import RegionFactory

    client = api(User.objects.get(username="county"))
    with django_assert_num_queries(2):  # the scope, the regions
        client.get("/api/v1/regions/")
    for n in range(20):
        RegionFactory(code=f"411722100{300 + n}", level=Region.Level.VILLAGE, parent=regions["town_a"])
    client = api(User.objects.get(username="county"))
    with django_assert_num_queries(2):
        assert len(client.get("/api/v1/regions/").json()) == 27


# --- banks --------------------------------------------------------------------------------------


def test_banks_lists_counties(api, personas):
    response = api(personas["admin"]).get("/api/v1/banks/")
    assert response.json() == [
        {"code": "PSBC", "name": "邮储银行", "counties": ["411722"]},
        {"code": "ZYRCB", "name": "中原农商银行", "counties": ["411721"]},
    ]


def test_banks_for_county_staff_and_village_clerk(api, personas):
    for persona in ("county_staff", "village_a1"):
        assert [b["code"] for b in api(personas[persona]).get("/api/v1/banks/").json()] == ["PSBC"], persona


def test_banks_for_bank_officer_is_own_bank(api, personas):
    assert [b["code"] for b in api(personas["bank_y"]).get("/api/v1/banks/").json()] == ["ZYRCB"]


def test_bank_with_branches_in_two_counties(api, personas, regions, banks):
    BankBranchFactory(
        bank=banks["x"], code="PSBC-411721", name="邮储银行西平支行", counties=[regions["xiping"]]
    )
    body = api(personas["bank_y"]).get("/api/v1/banks/").json()
    assert {b["code"]: b["counties"] for b in body} == {"PSBC": ["411721", "411722"], "ZYRCB": ["411721"]}


def test_bank_list_query_count_is_flat(api, personas, regions, django_assert_num_queries):
    client = api(User.objects.get(username="city"))
    with django_assert_num_queries(4):  # scope, banks, branches, counties
        client.get("/api/v1/banks/")
    for n in range(10):
        bank = BankFactory(code=f"B{n}")
        BankBranchFactory(bank=bank, code=f"B{n}-1", counties=[regions["shangcai"]])
        BankBranchFactory(bank=bank, code=f"B{n}-2", counties=[regions["xiping"]])
    client = api(User.objects.get(username="city"))
    with django_assert_num_queries(4):
        assert len(client.get("/api/v1/banks/").json()) == 12


# --- users --------------------------------------------------------------------------------------

STRONG = "Xq7-pine-lantern-88"


@pytest.mark.parametrize(
    ("role", "place", "unit_kind"),
    [
        ("village_clerk", {"region_code": "411722100201"}, "village_desk"),
        ("township_officer", {"region_code": "411722100"}, "township_station"),
        ("county_staff", {"region_code": "411722"}, "county_centre"),
        ("city_finance", {"region_code": "411700"}, "city_office"),
    ],
)
def test_admin_creates_user_at_service_unit(api, personas, role, place, unit_kind):
    response = api(personas["admin"]).post(
        "/api/v1/users/",
        {"username": "new", "password": STRONG, "roles": [{"role": role, **place}]},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["username"] == "new"
    assert response.json()["roles"][0]["role"] == role
    assert response.json()["roles"][0]["region_code"] == place["region_code"]
    user = User.objects.get(username="new")
    assert user.check_password(STRONG)
    assignment = user.role_assignments.get()
    assert assignment.unit.kind == unit_kind and assignment.branch is None


@pytest.mark.parametrize(
    "place",
    [
        {"bank_code": "PSBC-411722"},  # the branch's own code
        {"bank_code": "PSBC", "region_code": "411722"},  # the bank's code, as /banks/ and /me/ name it
        {"bank_code": "PSBC"},  # a bank with one branch
    ],
)
def test_admin_creates_bank_officer_at_branch(api, personas, banks, place):
    response = api(personas["admin"]).post(
        "/api/v1/users/",
        {"username": "loan-officer", "password": STRONG, "roles": [{"role": "bank_officer", **place}]},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["roles"] == [
        {"role": "bank_officer", "org_unit": "邮储银行上蔡支行", "region_code": None, "bank_code": "PSBC"}
    ]
    assert User.objects.get(username="loan-officer").role_assignments.get().branch == banks["branch_x"]


def test_the_new_user_can_log_in_and_sees_its_area(api, personas, households):
    api(personas["admin"]).post(
        "/api/v1/users/",
        {
            "username": "clerk2",
            "password": STRONG,
            "roles": [{"role": "village_clerk", "region_code": "411722101201"}],
        },
        format="json",
    )
    token = APIClient().post("/api/v1/auth/token/", {"username": "clerk2", "password": STRONG}, format="json")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    # A new user changes the password the admin gave before anything else (which ends the token).
    assert_error(client.get("/api/v1/households/"), 403, "password_change_required")
    new = STRONG + "-mine"
    changed = client.post(
        "/api/v1/auth/password/", {"old_password": STRONG, "new_password": new}, format="json"
    )
    assert changed.status_code == 204, changed.content
    token = APIClient().post("/api/v1/auth/token/", {"username": "clerk2", "password": new}, format="json")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    results = client.get("/api/v1/households/").json()["results"]
    assert [h["household_no"] for h in results] == [households["b1"].household_no]


def test_user_with_two_roles(api, personas):
    response = api(personas["admin"]).post(
        "/api/v1/users/",
        {
            "username": "two-hats",
            "password": STRONG,
            "roles": [{"role": "township_officer", "region_code": "411722100"}, {"role": "admin"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert {r["role"] for r in response.json()["roles"]} == {"township_officer", "admin"}


@pytest.mark.parametrize(
    ("roles", "field"),
    [
        ([{"role": "village_clerk", "region_code": "411722999201"}], "roles"),  # no such village
        ([{"role": "village_clerk", "region_code": "411722100"}], "roles"),  # a township, not a village
        ([{"role": "county_staff", "region_code": "411722100201"}], "roles"),  # a village, not a county
        ([{"role": "village_clerk"}], "roles"),  # no region at all
        ([{"role": "bank_officer", "bank_code": "NOPE"}], "roles"),
        (
            [{"role": "bank_officer", "bank_code": "PSBC", "region_code": "411721"}],
            "roles",
        ),  # X does not serve 西平
        ([{"role": "wizard", "region_code": "411722"}], "roles"),
        ([], "roles"),
    ],
)
def test_bad_roles_are_400_and_create_nothing(api, personas, roles, field):
    response = api(personas["admin"]).post(
        "/api/v1/users/", {"username": "bad", "password": STRONG, "roles": roles}, format="json"
    )
    body = assert_error(response, 400, "invalid")
    assert field in body["errors"], body
    assert not User.objects.filter(username="bad").exists()


def test_second_bad_role_rolls_back_the_first(api, personas):
    roles = [
        {"role": "village_clerk", "region_code": "411722100201"},
        {"role": "county_staff", "region_code": "000000"},
    ]
    response = api(personas["admin"]).post(
        "/api/v1/users/", {"username": "half", "password": STRONG, "roles": roles}, format="json"
    )
    assert_error(response, 400, "invalid")
    assert not User.objects.filter(username="half").exists()


@pytest.mark.parametrize("password", ["12345678901", "password123", "short1!", "weak-user-name"])
def test_weak_password_is_400(api, personas, password):
    response = api(personas["admin"]).post(
        "/api/v1/users/",
        {"username": "weak-user-name", "password": password, "roles": [{"role": "admin"}]},
        format="json",
    )
    body = assert_error(response, 400, "invalid")
    assert body["errors"]["password"]
    assert not User.objects.filter(username="weak-user-name").exists()


def test_duplicate_username_is_400(api, personas):
    response = api(personas["admin"]).post(
        "/api/v1/users/",
        {"username": "county", "password": STRONG, "roles": [{"role": "admin"}]},
        format="json",
    )
    assert "username" in assert_error(response, 400, "invalid")["errors"]


@pytest.mark.parametrize("persona", ["county_staff", "bank_x", "city", "nobody"])
def test_non_admin_cannot_create_users(api, personas, persona):
    response = api(personas[persona]).post(
        "/api/v1/users/",
        {"username": "sneaky", "password": STRONG, "roles": [{"role": "admin"}]},
        format="json",
    )
    assert_error(response, 403, "permission_denied")
    assert not User.objects.filter(username="sneaky").exists()


# --- policies -----------------------------------------------------------------------------------


@pytest.fixture
def policy_rows(regions, personas, time_machine):
    """上蔡 rows from 2024-01-01 (notice 7 days) and 2025-01-01 (cap 60000); 西平 one row."""
    time_machine.move_to(datetime.datetime(2023, 6, 1, 9, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False)
    staff = personas["county_staff"]
    old = policy_in_force(
        actor=staff,
        county=regions["shangcai"],
        effective_from=datetime.date(2024, 1, 1),
        changes={"notice_period_days": 7},
    )
    new = policy_in_force(
        actor=staff,
        county=regions["shangcai"],
        effective_from=datetime.date(2025, 1, 1),
        changes={"household_loan_cap": "45000.00"},
    )
    policy_in_force(
        actor=personas["admin"],
        county=regions["xiping"],
        effective_from=datetime.date(2024, 6, 1),
        changes={"fund_share": "70.00", "bank_share": "30.00"},
    )
    time_machine.move_to(datetime.datetime(2025, 3, 10, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False)
    return {"old": old, "new": new}


def test_policy_list_newest_first(api, personas, policy_rows):
    response = api(personas["county_staff"]).get("/api/v1/policies/", {"county": "411722"})
    assert response.status_code == 200
    rows = response.json()
    assert [r["effective_from"] for r in rows] == ["2025-01-01", "2024-01-01"]
    assert rows[0]["county"] == "411722"
    assert rows[0]["household_loan_cap"] == "45000.00"
    assert rows[0]["notice_period_days"] == 7  # copied from the row in force before it
    assert rows[1]["household_loan_cap"] == "50000.00"
    assert rows[1]["township_npl_threshold"] == "5.00"
    assert rows[1]["fund_share"] == "80.00"
    assert set(rows[0]) == {
        "id", "county", "effective_from", "status", *CountyPolicy.POLICY_FIELDS, "created_by", "created_at",
        "reviewed_by", "reviewed_at", "review_note",
    }  # fmt: skip
    assert (rows[0]["status"], rows[0]["created_by"], rows[0]["reviewed_by"]) == (
        "approved", "county", "policy-reviewer",
    )  # fmt: skip


def test_policy_list_of_county_without_rows_is_empty(api, personas, regions):
    assert api(personas["county_staff"]).get("/api/v1/policies/", {"county": "411722"}).json() == []


def test_policy_list_needs_county(api, personas):
    assert "county" in assert_error(api(personas["admin"]).get("/api/v1/policies/"), 400, "invalid")["errors"]


def test_township_officer_reads_its_countys_policies(api, personas, policy_rows):
    response = api(personas["township_b"]).get("/api/v1/policies/", {"county": "411722"})
    assert response.status_code == 200
    assert len(response.json()) == 2


def test_policy_list_of_other_county_is_404(api, personas, policy_rows):
    assert_error(api(personas["bank_y"]).get("/api/v1/policies/", {"county": "411722"}), 404, "not_found")
    assert_error(
        api(personas["county_staff"]).get("/api/v1/policies/", {"county": "411721"}), 404, "not_found"
    )


@pytest.mark.parametrize(
    ("on", "expected_from", "cap"),
    [
        ("2025-01-01", "2025-01-01", "45000.00"),
        ("2024-12-31", "2024-01-01", "50000.00"),
        (None, "2025-01-01", "45000.00"),
    ],
)
def test_policy_current(api, personas, policy_rows, on, expected_from, cap):
    query = {"county": "411722"} | ({"on": on} if on else {})
    response = api(personas["county_staff"]).get("/api/v1/policies/current/", query)
    assert response.status_code == 200
    assert response.json()["effective_from"] == expected_from
    assert response.json()["household_loan_cap"] == cap


def test_policy_current_before_any_row_gives_defaults(api, personas, policy_rows):
    response = api(personas["county_staff"]).get(
        "/api/v1/policies/current/", {"county": "411722", "on": "2023-12-31"}
    )
    body = response.json()
    assert response.status_code == 200
    assert body["id"] is None
    assert body["effective_from"] == "2023-12-31"
    assert body["household_loan_cap"] == "50000.00"
    assert body["notice_period_days"] == 5
    assert body["enterprise_cap_per_household"] == "100000.00"
    assert body["min_grade"] == "A"


def test_policy_current_bad_date_is_400(api, personas, regions):
    response = api(personas["county_staff"]).get(
        "/api/v1/policies/current/", {"county": "411722", "on": "2025-02-30"}
    )
    assert "on" in assert_error(response, 400, "invalid")["errors"]


def test_county_staff_posts_a_policy_row(api, personas, policy_rows):
    response = api(personas["county_staff"]).post(
        "/api/v1/policies/",
        {"county": "411722", "effective_from": "2025-04-01", "notice_period_days": 10, "fund_share": "75.50"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["effective_from"] == "2025-04-01"
    assert body["notice_period_days"] == 10
    assert body["fund_share"] == "75.50"
    assert body["household_loan_cap"] == "45000.00"  # copied from the row in force (2025-01-01)
    assert body["status"] == "proposed"  # in force only once a second person approves it
    assert body["borrower_max_age"] == 65
    row = CountyPolicy.objects.get(pk=body["id"])
    assert row.created_by == personas["county_staff"]
    policy_rows["new"].refresh_from_db()
    assert policy_rows["new"].notice_period_days == 7  # the row in force is not edited


def test_admin_posts_a_policy_row(api, personas, policy_rows):
    response = api(personas["admin"]).post(
        "/api/v1/policies/", {"county": "411721", "effective_from": "2025-03-11"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["fund_share"] == "70.00"


@pytest.mark.parametrize("day", ["2025-03-10", "2025-03-09", "2024-01-01"])
def test_policy_for_a_date_already_in_force_is_400(api, personas, policy_rows, day):
    response = api(personas["county_staff"]).post(
        "/api/v1/policies/",
        {"county": "411722", "effective_from": day, "household_loan_cap": "1.00"},
        format="json",
    )
    body = assert_error(response, 400, "invalid")
    assert "effective_from" in body["errors"]
    assert CountyPolicy.objects.filter(county_id="411722").count() == 2


def test_policy_by_township_officer_is_403(api, personas, policy_rows):
    response = api(personas["township_a"]).post(
        "/api/v1/policies/", {"county": "411722", "effective_from": "2025-04-01"}, format="json"
    )
    assert_error(response, 403, "permission_denied")
    assert CountyPolicy.objects.filter(county_id="411722").count() == 2


def test_policy_by_bank_officer_of_the_county_is_403(api, personas, policy_rows):
    response = api(personas["bank_x"]).post(
        "/api/v1/policies/", {"county": "411722", "effective_from": "2025-04-01"}, format="json"
    )
    assert_error(response, 403, "permission_denied")


def test_policy_with_impossible_values_is_400(api, personas, policy_rows):
    response = api(personas["county_staff"]).post(
        "/api/v1/policies/",
        {"county": "411722", "effective_from": "2025-04-01", "borrower_min_age": 70},
        format="json",
    )
    assert_error(response, 400, "invalid")


def test_policy_with_bad_types_is_400(api, personas, policy_rows):
    response = api(personas["county_staff"]).post(
        "/api/v1/policies/",
        {"county": "411722", "effective_from": "2025-04-01", "household_loan_cap": "lots", "min_grade": "Z"},
        format="json",
    )
    body = assert_error(response, 400, "invalid")
    assert {"household_loan_cap", "min_grade"} <= set(body["errors"])


def test_policy_twice_on_the_same_day_is_400(api, personas, policy_rows):
    client = api(personas["county_staff"])
    first = client.post(
        "/api/v1/policies/", {"county": "411722", "effective_from": "2025-04-01"}, format="json"
    )
    assert first.status_code == 201
    second = client.post(
        "/api/v1/policies/", {"county": "411722", "effective_from": "2025-04-01"}, format="json"
    )
    body = assert_error(second, 400, "invalid")
    assert body["errors"] == {"effective_from": ["该日期已有一条政策。"]}
    assert CountyPolicy.objects.filter(county_id="411722").count() == 3


def test_policy_post_to_other_county_on_a_taken_date_is_still_404(api, personas, policy_rows):
    """The date clash must not be checked before scope: that would tell an outsider which dates
    another county has rows for."""
    response = api(personas["bank_y"]).post(
        "/api/v1/policies/", {"county": "411722", "effective_from": "2025-01-01"}, format="json"
    )
    assert_error(response, 404, "not_found")


def test_policy_list_query_count_is_flat(api, personas, policy_rows, django_assert_num_queries, time_machine):
    client = api(User.objects.get(username="county"))
    with django_assert_num_queries(3):  # scope, the county, the rows
        client.get("/api/v1/policies/", {"county": "411722"})
    for month in range(4, 12):
        policy_propose(
            actor=personas["admin"],
            county=personas["county_staff"].role_assignments.get().unit.region,
            effective_from=datetime.date(2025, month, 1),
            changes={},
        )
    client = api(User.objects.get(username="county"))
    with django_assert_num_queries(3):
        assert len(client.get("/api/v1/policies/", {"county": "411722"}).json()) == 10
