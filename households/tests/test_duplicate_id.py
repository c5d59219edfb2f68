"""An ID number already on file: inside the user's scope the message names the household (useful to
the clerk); outside it the refusal says nothing of where (issue 15, point 6): no household number,
village code or name, head's name, on any channel (service, API, page form, import row)."""

import datetime
import json

import pytest

from common import pii
from common.identity import parse_resident_id
from common.testing import make_resident_id
from households.models import HEAD_RELATION, Household
from households.services import ID_REGISTERED_OUT_OF_SCOPE, HouseholdError, household_create, member_instance
from households.tests.factories import HouseholdFactory
from households.tests.test_importer import check, family

pytestmark = pytest.mark.django_db

NEW_HEAD = make_resident_id("411722", datetime.date(1981, 3, 4), 21)


def body(**changes) -> dict:
    base = {
        "household_no": "DUP-1",
        "village_code": "411722100201",
        "head_name": "王五",
        "head_id_number": NEW_HEAD,
        "status": "poor",
    }
    return base | changes


@pytest.fixture
def outside(regions):
    """A household in 西平县, outside the 上蔡 personas' scope."""
    return HouseholdFactory(village=regions["village_x1"], household_no="XP-SECRET-7", head_name="秘密户主")


def secrets_of(household: Household) -> list[str]:
    village = household.village
    return [
        household.household_no,
        household.village_id,
        village.name,
        village.parent.name,
        household.head_name,
    ]


def assert_says_nothing_of(text: str, household: Household) -> None:
    leaked = [s for s in secrets_of(household) if s in text]
    assert not leaked, f"the message names {leaked}: {text}"


def errors_of(actor, data) -> dict:
    with pytest.raises(HouseholdError) as exc:
        household_create(actor=actor, data=data)
    return exc.value.errors


# --- the service ---------------------------------------------------------------------------------


def test_head_of_a_household_outside_the_scope(personas, outside):
    errors = errors_of(personas["village_a1"], body(head_id_number=pii.decrypt(outside.head_id_enc)))
    assert errors["head_id_number"] == [ID_REGISTERED_OUT_OF_SCOPE]
    assert_says_nothing_of(json.dumps(errors, ensure_ascii=False), outside)


def test_member_of_a_household_outside_the_scope(personas, outside):
    number = pii.decrypt(outside.head_id_enc)
    members = [
        {"name": "王五", "relation": HEAD_RELATION, "id_number": NEW_HEAD, "gender": "male"},
        {"name": "某", "relation": "子女", "id_number": number},
    ]
    errors = errors_of(personas["county_staff"], body(members=members, member_count=2))
    assert errors["members"] == [f"第2位成员：{ID_REGISTERED_OUT_OF_SCOPE}"]
    assert_says_nothing_of(json.dumps(errors, ensure_ascii=False), outside)


def test_same_county_but_outside_a_village_clerks_scope(personas, regions):
    other = HouseholdFactory(village=regions["village_b1"], household_no="B-OTHER")
    errors = errors_of(personas["village_a1"], body(head_id_number=pii.decrypt(other.head_id_enc)))
    assert errors["head_id_number"] == [ID_REGISTERED_OUT_OF_SCOPE]


def test_inside_the_scope_the_household_is_named(personas, regions):
    other = HouseholdFactory(village=regions["village_b1"], household_no="B-OLD")
    number = pii.decrypt(other.head_id_enc)
    errors = errors_of(personas["county_staff"], body(head_id_number=number))
    assert errors["head_id_number"] == ["该身份证号已是另一户（户编号“B-OLD”）的户主。"]
    members = [
        {"name": "王五", "relation": HEAD_RELATION, "id_number": NEW_HEAD, "gender": "male"},
        {"name": "某", "relation": "子女", "id_number": number},
    ]
    errors = errors_of(personas["county_staff"], body(members=members, member_count=2))
    assert errors["members"] == ["第2位成员：该身份证号已登记在另一户（户编号“B-OLD”）。"]


def test_a_non_head_member_of_a_household_in_scope_is_named(personas, regions):
    other = HouseholdFactory(village=regions["village_a1"], household_no="A-OLD")
    son = make_resident_id("411722", datetime.date(2005, 6, 7), 31)
    resident = parse_resident_id(son)
    member_instance(
        household=other, name="子", relation="子女", resident=resident, labor_capable=False
    ).save()
    errors = errors_of(personas["village_a1"], body(head_id_number=son))
    assert errors["head_id_number"] == ["该身份证号已登记在另一户（户编号“A-OLD”）。"]


# --- the API, the page, the import --------------------------------------------------------------


def test_api_outsider_learns_nothing_of_where(api, personas, outside):
    number = pii.decrypt(outside.head_id_enc)
    response = api(personas["village_a1"]).post(
        "/api/v1/households/", body(head_id_number=number), format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"]["head_id_number"] == [ID_REGISTERED_OUT_OF_SCOPE]
    assert_says_nothing_of(response.content.decode(), outside)
    assert not Household.objects.filter(household_no="DUP-1").exists()


def test_api_insider_is_told_the_household_number(api, personas, regions):
    other = HouseholdFactory(village=regions["village_a1"], household_no="A-KNOWN")
    number = pii.decrypt(other.head_id_enc)
    response = api(personas["village_a1"]).post(
        "/api/v1/households/", body(head_id_number=number), format="json"
    )
    assert response.status_code == 400
    assert "A-KNOWN" in response.json()["errors"]["head_id_number"][0]


def test_page_form_outsider_learns_nothing_of_where(client_for, personas, outside):
    number = pii.decrypt(outside.head_id_enc)
    form = body(head_id_number=number, member_count=1, labor_count=0)
    response = client_for(personas["village_a1"]).post("/households/new/", form)
    assert response.status_code == 200
    text = response.content.decode()
    assert ID_REGISTERED_OUT_OF_SCOPE in text
    assert_says_nothing_of(text, outside)
    assert not Household.objects.filter(household_no="DUP-1").exists()


def test_import_row_outsider_learns_nothing_of_where(personas, outside):
    people = family()
    number = pii.decrypt(outside.head_id_enc)
    people[2].update(证件号码=number, 性别="")
    errors, _ = check(personas["county_staff"], people)
    assert [e["message"] for e in errors] == [ID_REGISTERED_OUT_OF_SCOPE]
    assert_says_nothing_of(json.dumps(errors, ensure_ascii=False), outside)
