"""Issue 15: a masked ID number must not be reversible from what is shown beside it.

The old mask kept the first 6 and the last 4 digits of an 18-digit ID; the 8 hidden digits are the
birth date, which pages showed next to it. Now the mask keeps the last 4 only, and roles without the
right to full numbers (organization.permissions.can_view_full_pii) see age instead of birth dates.

A crawl, for every persona: the household list and detail pages (member table and change history),
the API's list and detail, and both exports. No response holds a full ID number it should not (a
member's never; a head's only in the export of a role with the full right to that household), no
old-style mask (6 digits then 8 asterisks), and, for the households a role sees without the full
right, none of its members' birth dates (current or in the history) in any format.
"""

import datetime

import pytest
from django.test import Client

from common.identity import parse_resident_id
from common.testing import make_resident_id
from households.services import member_instance
from households.tests.factories import HouseholdFactory
from tests.access import response_text

pytestmark = pytest.mark.django_db

PERSONAS = ("village_a1", "township_a", "township_b", "county_staff", "bank_x", "bank_y", "city")
# Whose full numbers each persona may see, and which households it sees (test_access_pii's).
FULL = {"county_staff": {"a1", "b1"}, "bank_x": {"a1"}, "bank_y": {"x1"}}
SEES = {
    "county_staff": {"a1", "b1"}, "township_a": {"a1"}, "township_b": {"b1"}, "village_a1": {"a1"},
    "bank_x": {"a1", "b1"}, "bank_y": {"x1"}, "city": {"a1", "b1", "x1"},
}  # fmt: skip
# Distinct, unmistakable birth dates: head and spouse of each household.
PEOPLE = {
    "a1": ("411722", datetime.date(1968, 11, 23), datetime.date(1971, 4, 9)),
    "b1": ("411722", datetime.date(1959, 12, 17), datetime.date(1962, 8, 26)),
    "x1": ("411721", datetime.date(1977, 10, 14), datetime.date(1979, 6, 28)),
}
NEW_A1_HEAD_BIRTH = datetime.date(1966, 10, 19)  # a1's head ID is corrected: a member history row


def date_forms(day: datetime.date) -> set[str]:
    return {
        f"{day:%Y-%m-%d}", f"{day:%Y%m%d}", f"{day:%Y/%m/%d}", f"{day.year}年{day.month}月{day.day}日",
        f"{day:%Y年%m月%d日}", f"{day.year}-{day.month}-{day.day}",
    }  # fmt: skip


@pytest.fixture
def world(regions, personas, banks, api):
    from loans.tests.factories import apply

    villages = {"a1": "village_a1", "b1": "village_b1", "x1": "village_x1"}
    households, ids, births = {}, {}, {}
    for n, (key, (area, head_birth, spouse_birth)) in enumerate(PEOPLE.items()):
        head_id = make_resident_id(area, head_birth, 100 + n)
        spouse = parse_resident_id(make_resident_id(area, spouse_birth, 200 + n, male=False))
        household = HouseholdFactory(village=regions[villages[key]], head_id_number=head_id)
        member_instance(
            household=household, name=f"配偶{key}", relation="配偶", resident=spouse, labor_capable=True
        ).save()
        households[key] = household
        ids[key] = {"head": head_id, "spouse": spouse.number}
        births[key] = {head_birth, spouse_birth}
    apply(households["a1"], actor=personas["admin"], bank=banks["x"])
    apply(households["x1"], actor=personas["admin"], bank=banks["y"])

    # A corrected head ID: the member history now holds the old and the new birth date.
    new_head = make_resident_id("411722", NEW_A1_HEAD_BIRTH, 300)
    response = api(personas["county_staff"]).patch(
        f"/api/v1/households/{households['a1'].pk}/", {"head_id_number": new_head}, format="json"
    )
    assert response.status_code == 200, response.content
    ids["a1"]["old_head"] = ids["a1"]["head"]
    ids["a1"]["head"] = new_head
    births["a1"].add(NEW_A1_HEAD_BIRTH)
    return {"households": households, "ids": ids, "births": births}


def responses(persona, user, world, api):
    """(what, text) of every page, API response and export the persona reaches."""
    client = Client()
    client.force_login(user)
    out = [
        ("page list", client.get("/households/")),
        ("api list", api(user).get("/api/v1/households/", {"page_size": 500})),
        ("page export", client.get("/households/export.xlsx")),
        ("api export", api(user).get("/api/v1/households/export.xlsx")),
    ]
    for key in sorted(SEES[persona]):
        pk = world["households"][key].pk
        out += [
            (f"page detail {key}", client.get(f"/households/{pk}/")),
            (f"api detail {key}", api(user).get(f"/api/v1/households/{pk}/")),
        ]
    for what, response in out:
        assert response.status_code == 200, (persona, what, response.status_code)
    return [(what, response_text(response)) for what, response in out]


@pytest.mark.parametrize("persona", PERSONAS)
def test_no_full_id_and_no_birth_date_beside_a_mask(api, personas, world, persona):
    user = personas[persona]
    full_for, sees = FULL.get(persona, set()), SEES[persona]
    texts = responses(persona, user, world, api)
    assert any(world["households"][key].head_id_masked in text for key in sees for _what, text in texts)

    for what, text in texts:
        for key, numbers in world["ids"].items():
            for who, number in numbers.items():
                allowed = who == "head" and key in full_for and "export" in what
                assert allowed or number not in text, (persona, what, key, who)
                # not even the 8 digits a mask hides, nor an old-style mask
                assert allowed or number[:14] not in text, (persona, what, key, who)
                assert f"{number[:6]}********" not in text, (persona, what, key, who)
        for key in sees - full_for:
            for day in world["births"][key]:
                for form in date_forms(day):
                    assert form not in text, (persona, what, key, form)


def test_roles_without_the_right_see_ages_and_that_a_birth_date_changed(api, personas, world):
    """The positive side: the clerk's page shows ages and says the head's birth date changed; the
    county staff's shows the dates, old and new; the API gives age to both, birth_date to the staff."""
    a1 = world["households"]["a1"]
    old, spouse = PEOPLE["a1"][1], PEOPLE["a1"][2]
    clerk, county = Client(), Client()
    clerk.force_login(personas["village_a1"])
    county.force_login(personas["county_staff"])

    page = response_text(clerk.get(f"/households/{a1.pk}/"))
    assert "<th>年龄</th>" in page and "周岁" in page and "出生日期 已更改" in page
    page = response_text(county.get(f"/households/{a1.pk}/"))
    assert "<th>出生日期</th>" in page and f"{spouse:%Y-%m-%d}" in page
    assert f"出生日期 {old:%Y-%m-%d} → {NEW_A1_HEAD_BIRTH:%Y-%m-%d}" in page

    members = api(personas["village_a1"]).get(f"/api/v1/households/{a1.pk}/").json()["members"]
    assert all(set(m) >= {"age", "id_number_masked"} and "birth_date" not in m for m in members)
    assert all(m["id_number_masked"].startswith("*" * 14) for m in members)
    members = api(personas["county_staff"]).get(f"/api/v1/households/{a1.pk}/").json()["members"]
    assert {m["birth_date"] for m in members} == {f"{NEW_A1_HEAD_BIRTH:%Y-%m-%d}", f"{spouse:%Y-%m-%d}"}
    assert all(isinstance(m["age"], int) for m in members)


def test_staff_without_the_admin_role_see_ages_in_the_admin(personas, world):
    """The admin site is for admins, who may see full numbers; a staff user with only the view
    permissions (no admin role) sees ages there, not birth dates."""
    from django.contrib.auth.models import Permission

    staff = personas["city"]
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(*Permission.objects.filter(codename__in=("view_household", "view_member")))
    client = Client()
    client.force_login(staff)
    a1 = world["households"]["a1"]
    a1.refresh_from_db()
    response = client.get(f"/admin/households/household/{a1.pk}/change/")
    assert response.status_code == 200
    text = response_text(response)
    assert a1.head_id_masked in text and "年龄（周岁）" in text
    for day in world["births"]["a1"]:
        for form in date_forms(day):
            assert form not in text, form
    personas["admin"].is_superuser = True  # as the admin_client fixture: the admin site's permissions
    personas["admin"].save()
    admin = Client()
    admin.force_login(personas["admin"])
    response = admin.get(f"/admin/households/household/{a1.pk}/change/")
    assert response.status_code == 200
    text = response_text(response)
    assert any(form in text for form in date_forms(PEOPLE["a1"][2]))  # the admin sees the birth date
