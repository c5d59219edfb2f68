"""API tokens (organization.tokens) and passwords: tokens are kept hashed, end after a lifetime in
all or an idle spell, and are revoked by logout, a password change or reset and a deactivation;
a user told to change the password is held at /password/ (pages) or 403 (API) until done."""

import datetime
import hashlib
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from organization import services
from organization.models import AccessToken, Role, User
from organization.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # UserFactory's
NEW = "Xq7-pine-lantern-88"
START = datetime.datetime(2025, 3, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


def login(username, password=PASSWORD):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


def client_with(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def assert_refused(response, status, code):
    assert response.status_code == status, (response.status_code, response.content[:300])
    body = response.json()
    assert set(body) == {"code", "detail", "errors"} and body["code"] == code, body
    return body


def test_the_table_keeps_only_the_hash(personas):
    key = login("county")
    row = AccessToken.objects.get()
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {AccessToken._meta.db_table}")
        stored = cursor.fetchall()
    assert key not in repr(stored)


def test_the_answer_says_when_the_token_expires(personas, clock):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "county", "password": PASSWORD}, format="json"
    )
    expires = datetime.datetime.fromisoformat(response.json()["expires_at"])
    assert expires == START + datetime.timedelta(hours=12)


def test_unknown_token_is_401(personas):
    assert_refused(client_with("not-a-token").get("/api/v1/me/"), 401, "authentication_failed")


def test_idle_token_is_401(personas, clock):
    key = login("county")
    clock.shift(datetime.timedelta(minutes=59))
    assert client_with(key).get("/api/v1/me/").status_code == 200  # use restarts the idle clock
    clock.shift(datetime.timedelta(minutes=59))
    assert client_with(key).get("/api/v1/me/").status_code == 200
    clock.shift(datetime.timedelta(minutes=61))
    body = assert_refused(client_with(key).get("/api/v1/me/"), 401, "token_expired")
    assert "重新登录" in body["detail"]


def test_expired_token_is_401_however_busy(personas, clock):
    key = login("county")
    for _ in range(12 * 2 - 1):  # used every half hour: never idle
        clock.shift(datetime.timedelta(minutes=30))
        assert client_with(key).get("/api/v1/me/").status_code == 200
    clock.shift(datetime.timedelta(minutes=30))  # 12 hours after it was issued
    assert_refused(client_with(key).get("/api/v1/me/"), 401, "token_expired")


def test_the_lifetimes_come_from_settings(personas, clock, settings):
    settings.API_TOKEN_TTL_HOURS = 1
    settings.API_TOKEN_IDLE_MINUTES = 5
    key = login("county")
    clock.shift(datetime.timedelta(minutes=6))
    assert_refused(client_with(key).get("/api/v1/me/"), 401, "token_expired")


def test_last_used_is_written_at_most_once_a_minute(personas, clock):
    key = login("county")
    row = AccessToken.objects.get()
    clock.shift(datetime.timedelta(seconds=30))
    client_with(key).get("/api/v1/me/")
    assert AccessToken.objects.get().last_used_at == row.last_used_at
    clock.shift(datetime.timedelta(seconds=40))
    client_with(key).get("/api/v1/me/")
    assert AccessToken.objects.get().last_used_at == START + datetime.timedelta(seconds=70)


def test_logout_revokes_only_the_callers_token(personas):
    key, other = login("county"), login("county")
    assert client_with(key).post("/api/v1/auth/logout/").status_code == 204
    assert_refused(client_with(key).get("/api/v1/me/"), 401, "authentication_failed")
    assert client_with(other).get("/api/v1/me/").status_code == 200


def test_password_change_revokes_every_token(personas):
    key, other = login("county"), login("county")
    response = client_with(key).post(
        "/api/v1/auth/password/", {"old_password": PASSWORD, "new_password": NEW}, format="json"
    )
    assert response.status_code == 204, response.content
    for k in (key, other):
        assert_refused(client_with(k).get("/api/v1/me/"), 401, "authentication_failed")
    assert client_with(login("county", NEW)).get("/api/v1/me/").status_code == 200


def test_password_change_needs_the_old_password_and_a_strong_new_one(personas):
    client = client_with(login("county"))
    wrong = client.post(
        "/api/v1/auth/password/", {"old_password": "nope", "new_password": NEW}, format="json"
    )
    assert assert_refused(wrong, 400, "invalid")["errors"] == {"old_password": ["原密码不正确。"]}
    weak = client.post(
        "/api/v1/auth/password/", {"old_password": PASSWORD, "new_password": "12345678"}, format="json"
    )
    assert "new_password" in assert_refused(weak, 400, "invalid")["errors"]
    assert client.get("/api/v1/me/").status_code == 200  # nothing changed, the token still works


def test_deactivation_revokes_every_token(personas):
    key = login("county")
    services.user_deactivate(actor=personas["admin"], user=personas["county_staff"])
    assert_refused(client_with(key).get("/api/v1/me/"), 401, "authentication_failed")
    assert AccessToken.objects.get().revoked_at is not None


def test_admin_reset_revokes_and_forces_a_change(personas):
    key = login("county")
    services.password_reset(actor=personas["admin"], user=personas["county_staff"], new_password=NEW)
    assert_refused(client_with(key).get("/api/v1/me/"), 401, "authentication_failed")
    assert User.objects.get(username="county").must_change_password


def test_only_admins_reset_passwords(personas):
    from common.errors import Forbidden

    with pytest.raises(Forbidden):
        services.password_reset(actor=personas["county_staff"], user=personas["township_a"], new_password=NEW)


def test_the_django_admin_password_form_resets_through_the_service(personas):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    key = login("county")
    client = Client()
    client.force_login(root)
    user = personas["county_staff"]
    response = client.post(
        f"/admin/organization/user/{user.pk}/password/",
        {"password1": NEW, "password2": NEW, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content[:500]
    user.refresh_from_db()
    assert user.check_password(NEW) and user.must_change_password
    assert_refused(client_with(key).get("/api/v1/me/"), 401, "authentication_failed")


def test_the_django_admin_deactivation_revokes_tokens(personas):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    key = login("county")
    admin_client = Client()
    admin_client.force_login(root)
    user = personas["county_staff"]
    page = admin_client.get(f"/admin/organization/user/{user.pk}/change/")
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data.update(
        {
            "is_active": "",
            "groups": [],
            "user_permissions": [],
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2025-01-01",
            "date_joined_1": "00:00:00",
            "role_assignments-TOTAL_FORMS": "0",
            "role_assignments-INITIAL_FORMS": "0",
        }
    )
    data = {k: v for k, v in data.items() if k not in ("is_active", "last_login", "date_joined", "is_staff")}
    if not data.get("must_change_password"):
        data.pop("must_change_password", None)
    response = admin_client.post(f"/admin/organization/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    user.refresh_from_db()
    assert not user.is_active
    assert_refused(client_with(key).get("/api/v1/me/"), 401, "authentication_failed")


def test_the_django_admins_own_password_page_revokes_tokens(personas):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    key = login("root")
    client = Client()
    client.force_login(root)
    response = client.post(
        "/admin/password_change/", {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW}
    )
    assert response.status_code == 302, response.content[:500]
    root.refresh_from_db()
    assert root.check_password(NEW)
    assert_refused(client_with(key).get("/api/v1/me/"), 401, "authentication_failed")
    assert client.get("/admin/").status_code == 200  # the session stays


# --- forced change --------------------------------------------------------------------------------


def test_user_create_sets_the_flag_and_demo_users_do_not(personas):
    user = services.user_create(
        actor=personas["admin"], username="new1", password=NEW, roles=[{"role": Role.ADMIN}]
    )
    assert user.must_change_password
    assert not personas["county_staff"].must_change_password


def test_a_flagged_api_user_reaches_only_password_and_logout(personas):
    User.objects.filter(username="county").update(must_change_password=True)
    client = client_with(login("county"))
    body = assert_refused(client.get("/api/v1/households/"), 403, "password_change_required")
    assert "修改密码" in body["detail"]
    assert_refused(client.get("/api/v1/me/"), 403, "password_change_required")
    response = client.post(
        "/api/v1/auth/password/", {"old_password": PASSWORD, "new_password": NEW}, format="json"
    )
    assert response.status_code == 204
    assert not User.objects.get(username="county").must_change_password
    assert client_with(login("county", NEW)).get("/api/v1/households/").status_code == 200


def test_a_flagged_api_user_may_log_out(personas):
    User.objects.filter(username="county").update(must_change_password=True)
    key = login("county")
    assert client_with(key).post("/api/v1/auth/logout/").status_code == 204


def test_a_flagged_page_user_is_sent_to_the_password_page(personas):
    user = personas["county_staff"]
    User.objects.filter(pk=user.pk).update(must_change_password=True)
    client = Client()
    client.force_login(user)
    response = client.get("/households/")
    assert response.status_code == 302 and response["Location"] == "/password/"
    assert client.get("/password/").status_code == 200
    response = client.post(
        "/password/", {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW}
    )
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/households/").status_code == 200  # still signed in, no longer held


def test_the_password_page_shows_chinese_errors(personas):
    client = Client()
    client.force_login(personas["county_staff"])
    response = client.post("/password/", {"old_password": "nope", "new_password1": NEW, "new_password2": NEW})
    assert response.status_code == 200
    assert "旧密码" in response.content.decode()
    assert personas["county_staff"].check_password(PASSWORD)


def test_a_page_password_change_revokes_api_tokens(personas):
    key = login("county")
    client = Client()
    client.force_login(personas["county_staff"])
    client.post("/password/", {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW})
    assert_refused(client_with(key).get("/api/v1/me/"), 401, "authentication_failed")
