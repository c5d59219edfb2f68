"""Security controls across the app: login lockout (django-axes) on the browser login and the API
token, session idle and absolute timeouts, no full ID number in error bodies, CSRF on forms."""

import datetime
import re
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from rest_framework.test import APIClient

from common import pii
from common.testing import make_resident_id
from households.models import Household

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # UserFactory's
START = datetime.datetime(2025, 3, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def clock(time_machine):
    """Time stands still at START until a test moves it."""
    time_machine.move_to(START, tick=False)

    def at(**delta):
        time_machine.move_to(START + datetime.timedelta(**delta), tick=False)

    return at


# --- login lockout: the browser login page ------------------------------------------------------


def web_login(client, username, password, ip="127.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def fail_web(times, username="county", ip="127.0.0.1"):
    for _ in range(times):
        response = web_login(Client(), username, "wrong-password", ip)
        assert response.status_code in (200, 429)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_four_failures_do_not_lock(personas, clock):
    fail_web(4)
    client = Client()
    response = web_login(client, "county", PASSWORD)
    assert response.status_code == 302
    assert logged_in(client)


def test_five_failures_lock_the_login_page(personas, clock):
    fail_web(5)
    client = Client()
    response = web_login(client, "county", PASSWORD)
    assert response.status_code == 429
    assert "锁定" in response.content.decode()
    assert not logged_in(client)


def test_the_fifth_failure_already_answers_locked(personas, clock):
    fail_web(4)
    assert web_login(Client(), "county", "wrong-password").status_code == 429


def test_lockout_is_by_username_and_address(personas, clock):
    fail_web(5)
    other_address = Client()
    assert web_login(other_address, "county", PASSWORD, ip="10.9.9.9").status_code == 302
    assert logged_in(other_address)
    other_user = Client()
    assert web_login(other_user, "town_a", PASSWORD).status_code == 302
    assert logged_in(other_user)


def test_lockout_lasts_fifteen_minutes(personas, clock):
    fail_web(5)
    clock(minutes=14, seconds=50)
    client = Client()
    assert web_login(client, "county", PASSWORD).status_code == 429
    assert not logged_in(client)


def test_lockout_ends_after_fifteen_minutes(personas, clock):
    fail_web(5)
    clock(minutes=15, seconds=1)
    client = Client()
    assert web_login(client, "county", PASSWORD).status_code == 302
    assert logged_in(client)


def test_success_resets_the_count(personas, clock):
    fail_web(4)
    assert web_login(Client(), "county", PASSWORD).status_code == 302
    fail_web(4)
    assert web_login(Client(), "county", PASSWORD).status_code == 302


# --- login lockout: the API token ---------------------------------------------------------------


def token(username, password, ip="127.0.0.1"):
    return APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json", REMOTE_ADDR=ip
    )


def test_token_failures_lock_the_token_endpoint(personas, clock):
    for _ in range(4):
        assert token("county", "wrong-password").json()["code"] == "invalid_credentials"
    fifth = token("county", "wrong-password")
    assert fifth.status_code == 429
    locked = token("county", PASSWORD)
    assert locked.status_code == 429
    assert "token" not in locked.content.decode()


def test_token_lockout_answers_in_the_api_error_shape(personas, clock):
    for _ in range(5):
        token("county", "wrong-password")
    response = token("county", PASSWORD)
    assert response.status_code == 429
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "detail", "errors"}
    assert body["code"] == "locked_out"
    assert "15" in body["detail"]


def test_token_lockout_is_by_username_and_address_and_ends(personas, clock):
    for _ in range(5):
        token("county", "wrong-password")
    assert token("county", PASSWORD, ip="10.9.9.9").status_code == 200
    assert token("town_a", PASSWORD).status_code == 200
    clock(minutes=14)
    assert token("county", PASSWORD).status_code == 429
    clock(minutes=14 + 15, seconds=1)  # a refused attempt while locked starts the 15 minutes again
    assert token("county", PASSWORD).status_code == 200


def test_web_and_api_failures_count_together(personas, clock):
    fail_web(3)
    token("county", "wrong-password")
    token("county", "wrong-password")
    assert token("county", PASSWORD).status_code == 429
    assert web_login(Client(), "county", PASSWORD).status_code == 429


# --- session timeouts ---------------------------------------------------------------------------


@pytest.fixture
def browser(personas, clock):
    client = Client()
    assert web_login(client, "county", PASSWORD).status_code == 302
    assert client.get("/").status_code == 200
    return client


def is_sent_to_login(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/login/")


def test_idle_29_minutes_stays_logged_in(browser, clock):
    clock(minutes=29)
    assert browser.get("/").status_code == 200


def test_idle_30_minutes_logs_out(browser, clock):
    clock(minutes=30, seconds=1)
    assert is_sent_to_login(browser.get("/"))
    assert not logged_in(browser)
    clock(minutes=30, seconds=2)  # and it stays out
    assert is_sent_to_login(browser.get("/"))


def test_activity_keeps_the_session_alive_until_twelve_hours(browser, clock):
    minutes = 0
    while minutes + 25 < 12 * 60:
        minutes += 25
        clock(minutes=minutes)
        assert browser.get("/").status_code == 200, f"logged out after {minutes} active minutes"
    clock(hours=12, seconds=1)
    assert is_sent_to_login(browser.get("/"))
    assert not logged_in(browser)


def test_idle_timeout_applies_to_the_api_with_a_session(browser, clock):
    assert browser.get("/api/v1/me/").status_code == 200
    clock(minutes=31)
    response = browser.get("/api/v1/me/")
    assert response.status_code in (401, 403)
    assert response.json()["code"] in ("not_authenticated", "permission_denied")


# --- no full ID number in error bodies ----------------------------------------------------------

HEAD_ID = make_resident_id("411722", datetime.date(1980, 5, 6), 11)
WIFE_ID = make_resident_id("411722", datetime.date(1982, 7, 8), 12, male=False)


def _body(**changes):
    body = {
        "household_no": "SEC-1",
        "village_code": "411722100201",
        "head_name": "王五",
        "head_id_number": HEAD_ID,
        "status": "poor",
    }
    body.update(changes)
    return body


def _near(number):
    """The same number with its check character wrong."""
    return number[:-1] + ("0" if number[-1] != "0" else "1")


ERROR_CASES = {
    "head_of_another_household": lambda h: _body(head_id_number=pii.decrypt(h.head_id_enc)),
    "bad_checksum": lambda h: _body(head_id_number=_near(HEAD_ID)),
    "too_long": lambda h: _body(head_id_number=HEAD_ID * 3),
    "member_gender": lambda h: _body(
        members=[
            {"name": "王五", "relation": "户主", "id_number": HEAD_ID},
            {"name": "赵六", "relation": "配偶", "id_number": WIFE_ID, "gender": "male"},
        ]
    ),
    "member_in_another_household": lambda h: _body(
        members=[
            {"name": "王五", "relation": "户主", "id_number": HEAD_ID},
            {"name": "某", "relation": "子女", "id_number": pii.decrypt(h.head_id_enc)},
        ]
    ),
    "head_not_matching_member": lambda h: _body(
        members=[{"name": "王五", "relation": "户主", "id_number": WIFE_ID}]
    ),
    "bad_member_id": lambda h: _body(
        members=[{"name": "王五", "relation": "户主", "id_number": _near(WIFE_ID)}]
    ),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_error_bodies_never_contain_the_full_id(api, personas, households, case):
    existing = households["a1"]
    body = ERROR_CASES[case](existing)
    response = api(personas["village_a1"]).post("/api/v1/households/", body, format="json")
    assert response.status_code == 400, response.content
    text = response.content.decode()
    numbers = {HEAD_ID, WIFE_ID, _near(HEAD_ID), _near(WIFE_ID), pii.decrypt(existing.head_id_enc)}
    leaked = [n for n in numbers if n in text]
    assert not leaked, f"{case}: the error body shows {leaked}"
    assert not re.search(r"\d{17}[\dX]", text)


def test_refusals_on_a_household_never_contain_the_full_id(api, personas, households):
    household = households["a1"]
    full = pii.decrypt(household.head_id_enc)
    responses = [
        api(personas["township_a"]).patch(
            f"/api/v1/households/{household.pk}/", {"head_id_number": HEAD_ID}, format="json"
        ),
        api(personas["village_a1"]).patch(
            f"/api/v1/households/{household.pk}/", {"head_id_number": _near(HEAD_ID)}, format="json"
        ),
        api(personas["township_a"]).get(f"/api/v1/households/{household.pk}/pii/"),
        api(personas["township_b"]).get(f"/api/v1/households/{household.pk}/pii/"),
    ]
    assert [r.status_code for r in responses] == [403, 400, 403, 404]
    for response in responses:
        text = response.content.decode()
        assert full not in text and HEAD_ID not in text and _near(HEAD_ID) not in text


# --- CSRF on the browser forms ------------------------------------------------------------------


def test_login_form_needs_the_csrf_token(personas):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "county", "password": PASSWORD})
    assert response.status_code == 403
    assert not logged_in(client)

    page = client.get("/login/")
    csrf = page.cookies["csrftoken"].value
    response = client.post(
        "/login/", {"username": "county", "password": PASSWORD, "csrfmiddlewaretoken": csrf}
    )
    assert response.status_code == 302
    assert logged_in(client)


def test_household_form_needs_the_csrf_token(personas, regions):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas["village_a1"])
    form = _body(member_count=1, labor_count=0)
    response = client.post("/households/new/", form)
    assert response.status_code == 403
    assert not Household.objects.exists()

    client.get("/households/new/")
    form["csrfmiddlewaretoken"] = client.cookies["csrftoken"].value
    response = client.post("/households/new/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Household.objects.filter(household_no="SEC-1").exists()


def test_logout_is_a_post_with_csrf(personas):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas["county_staff"])
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 403
    assert logged_in(client)


def test_api_with_a_session_needs_the_csrf_token(personas, regions):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas["village_a1"])
    response = client.post("/api/v1/households/", _body(), content_type="application/json")
    assert response.status_code == 403
    assert set(response.json()) == {"code", "detail", "errors"}
    assert not Household.objects.exists()

    client.get("/households/new/")  # a page with a form sets the cookie
    csrf = client.cookies["csrftoken"].value
    response = client.post(
        "/api/v1/households/", _body(), content_type="application/json", HTTP_X_CSRFTOKEN=csrf
    )
    assert response.status_code == 201, response.content


def test_api_with_a_token_needs_no_csrf(personas, regions):
    key = token("village_a1", PASSWORD).json()["token"]
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.post("/api/v1/households/", _body(), format="json").status_code == 201
