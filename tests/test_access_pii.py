"""Full ID and bank-account numbers (DOMAIN.md "Households", API.md GET /households/{id}/pii/).

Every place a full number can be shown: the API's pii route, the household page's "查看完整证件号
和账号" button, the household export (API and page). Everywhere else (lists, details, the edit
form, the admin site) shows masks only. For each persona and each of the households a1, b1 (上蔡)
and x1 (西平):
- county staff of the county and admins see the full numbers, and so do the officers of a bank
  serving the county for their own bank's applicants and borrowers (a1 has applied to bank X, x1
  to bank Y; b1 to no bank); each view writes one PiiAccessLog row (who, which household, when,
  which channel);
- a role that sees the household but not its numbers (township, village, city, and bank X for b1,
  which is not its applicant) gets 403 on the full-value routes, masks in the export, and no log
  row;
- a role that does not see the household gets 404, and the export leaves it out.
No response ever holds a full number it should not, members' numbers included (they are never
shown in full), and nothing is logged but the views above.
"""

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from common import pii
from common.testing import make_resident_id
from conftest import PERSONA_NAMES
from households.models import PiiAccessLog
from households.services import member_instance
from organization.tests.factories import UserFactory
from tests.access import response_text

pytestmark = pytest.mark.django_db

# Whose full numbers each persona may see, and which households it sees at all (the scope matrix's).
FULL = {"county_staff": {"a1", "b1"}, "bank_x": {"a1"}, "bank_y": {"x1"}, "admin": {"a1", "b1", "x1"}}
SEES = {
    "county_staff": {"a1", "b1"}, "township_a": {"a1"}, "township_b": {"b1"}, "village_a1": {"a1"},
    "bank_x": {"a1", "b1"}, "bank_y": {"x1"}, "city": {"a1", "b1", "x1"}, "admin": {"a1", "b1", "x1"},
    "nobody": set(),
}  # fmt: skip
KEYS = ("a1", "b1", "x1")


@pytest.fixture
def numbers(households, personas, banks):
    """key -> the household's full head ID and account numbers; a1 also has a spouse, whose
    number is never shown in full. a1 has applied for a loan at bank X, x1 at bank Y (drafts: an
    application of any status makes the household the bank's applicant)."""
    from common.identity import parse_resident_id
    from loans.tests.factories import apply

    apply(households["a1"], actor=personas["admin"], bank=banks["x"])
    apply(households["x1"], actor=personas["admin"], bank=banks["y"])

    spouse = parse_resident_id(make_resident_id("411722", datetime.date(1982, 7, 8), 77, male=False))
    member_instance(
        household=households["a1"], name="配偶", relation="配偶", resident=spouse, labor_capable=True
    ).save()
    full = {
        key: {
            "head_id_number": pii.decrypt(h.head_id_enc),
            "bank_account": pii.decrypt(h.bank_account_enc),
        }
        for key, h in households.items()
    }
    assert all(v["head_id_number"] and v["bank_account"] for v in full.values())
    return {"full": full, "spouse": spouse.number}


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def shown(text: str, numbers) -> dict[str, set[str]]:
    """household key -> which of its full numbers the text holds; "spouse" if the member's is there."""
    found = {key: {f for f, value in n.items() if value in text} for key, n in numbers["full"].items()}
    found = {key: fields for key, fields in found.items() if fields}
    if numbers["spouse"] in text:
        found["spouse"] = {"id_number"}
    return found


def logged(since) -> set[tuple[str, str, str]]:
    """(username, household_no, channel) of the log rows written since `since`."""
    return set(
        PiiAccessLog.objects.filter(pk__gt=since).values_list(
            "user__username", "household__household_no", "channel"
        )
    )


def last_log_id() -> int:
    return PiiAccessLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


@pytest.mark.parametrize("persona", PERSONA_NAMES)
def test_full_numbers_only_to_roles_that_need_them_and_every_view_logged(
    api, personas, households, numbers, persona
):
    user = personas[persona]
    full_for, sees = FULL.get(persona, set()), SEES[persona]
    no = {key: households[key].household_no for key in KEYS}
    start, started_at = last_log_id(), timezone.now()
    expected_log = set()

    for key in KEYS:
        household = households[key]
        # The API's pii route.
        response = api(user).get(f"/api/v1/households/{household.pk}/pii/")
        if key in full_for:
            assert (response.status_code, response.json()) == (200, numbers["full"][key])
            expected_log.add((user.username, no[key], "api"))
        else:
            assert response.status_code == (403 if key in sees else 404), (key, response.status_code)
            assert shown(response.content.decode(), numbers) == {}
        # The page's reveal button.
        response = client_of(user).post(f"/households/{household.pk}/", {"action": "reveal"})
        if key in full_for:
            assert response.status_code == 200
            assert shown(response_text(response), numbers) == {key: {"head_id_number", "bank_account"}}
            expected_log.add((user.username, no[key], "web"))
        else:
            assert response.status_code == (403 if key in sees else 404), (key, response.status_code)
            assert shown(response_text(response), numbers) == {}

    # The exports: full numbers of the households whose numbers the role may see, masks otherwise.
    for path, channel in (
        ("/api/v1/households/export.xlsx", "api-xlsx"),
        ("/households/export.xlsx", "web-xlsx"),
    ):
        client = api(user) if path.startswith("/api/") else client_of(user)
        text = response_text(client.get(path))
        assert shown(text, numbers) == {k: {"head_id_number", "bank_account"} for k in full_for}, path
        for key in sees - full_for:
            assert households[key].head_id_masked in text and households[key].bank_account_masked in text
        for key in set(KEYS) - sees:
            assert no[key] not in text, f"{persona} exports {key}, which it does not see"
        expected_log |= {(user.username, no[key], channel) for key in full_for}

    # Everything else shows masks only, to everyone, and logs nothing.
    for key in sees:
        pk = households[key].pk
        for response in (
            api(user).get("/api/v1/households/", {"page_size": 500}),
            api(user).get(f"/api/v1/households/{pk}/"),
            client_of(user).get("/households/"),
            client_of(user).get(f"/households/{pk}/"),
            client_of(user).get(f"/households/{pk}/edit/"),
            client_of(user).get(f"/ratings/new/{pk}/"),
        ):
            assert shown(response_text(response), numbers) == {}, (
                persona,
                key,
                response.request["PATH_INFO"],
            )

    assert logged(start) == expected_log
    assert not PiiAccessLog.objects.filter(pk__gt=start, at__lt=started_at).exists()
    assert not PiiAccessLog.objects.filter(pk__gt=start, at__gt=timezone.now()).exists()


def test_the_log_says_who_which_household_when_and_from_where(api, personas, households, numbers):
    household = households["a1"]
    before = timezone.now()
    api(personas["bank_x"]).get(f"/api/v1/households/{household.pk}/pii/", REMOTE_ADDR="10.1.2.3")
    entry = PiiAccessLog.objects.get()
    assert (entry.user, entry.household, entry.channel, entry.ip_address) == (
        personas["bank_x"], household, "api", "10.1.2.3",
    )  # fmt: skip
    assert entry.fields == "head_id_number,bank_account"
    assert before <= entry.at <= timezone.now()


def test_the_admin_site_shows_masks_only(households, numbers):
    """A superuser browsing the admin site sees ciphertext, hashes and masks, never a number."""
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    pk = households["a1"].pk
    client = client_of(superuser)
    for path in (
        "/admin/households/household/",
        f"/admin/households/household/{pk}/change/",
        f"/admin/households/household/{pk}/history/",
        "/admin/households/piiaccesslog/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert shown(response_text(response), numbers) == {}, path
    assert households["a1"].head_id_masked in response_text(
        client.get(f"/admin/households/household/{pk}/change/")
    )
    assert not PiiAccessLog.objects.exists()
