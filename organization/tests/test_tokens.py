"""API tokens (organization.tokens): kept hashed, ending after a lifetime in all or an idle spell."""

import datetime
import hashlib
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from rest_framework.test import APIClient

from organization.models import AccessToken

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # UserFactory's
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
