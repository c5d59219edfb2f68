"""API rate limits (common.throttling): per user, per address for anonymous callers, tighter scopes
for the token login, uploads, exports and jobs; a 429 in Chinese in the API's error shape. The suite
itself runs without limits (config/settings/test.py); these tests put low rates back."""

import re

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

pytestmark = pytest.mark.django_db

THROTTLED = re.compile(r"^请求过于频繁，请在\d+秒后重试。$")


def rates(**low):
    base = dict.fromkeys(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "1000/minute")
    return override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": base | low})


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def assert_throttled(response):
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == "throttled"
    assert THROTTLED.match(body["detail"]), body["detail"]
    assert int(response["Retry-After"]) >= 1


def test_the_suite_runs_without_limits():
    for scope, rate in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].items():
        assert rate == "1000000/second", scope


def test_every_scope_has_a_default_rate():
    from config.settings import base  # noqa: PLC0415

    scopes = set(base.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])
    assert scopes == {"anon", "user", "login", "imports", "exports", "jobs"}
    assert all(
        re.match(r"^\d+/(second|minute|hour|day)$", r)
        for r in base.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].values()
    )


def test_signed_in_callers_are_limited_per_user(api, personas):
    with rates(user="3/minute"):
        county = api(personas["county_staff"])
        assert [county.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 200]
        assert_throttled(county.get("/api/v1/me/"))
        assert api(personas["village_a1"]).get("/api/v1/me/").status_code == 200  # another user


def test_token_login_is_limited_per_address(api, personas):
    def login(address, n):
        return api().post(
            "/api/v1/auth/token/",
            {"username": f"nobody{n}", "password": "x"},
            format="json",
            REMOTE_ADDR=address,
        )

    with rates(login="2/minute"):
        assert [login("10.0.0.1", n).status_code for n in range(2)] == [400, 400]
        assert_throttled(login("10.0.0.1", 3))
        # A forged X-Forwarded-For does not give a fresh address (THROTTLE_NUM_PROXIES = 0).
        assert_throttled(
            api().post(
                "/api/v1/auth/token/",
                {"username": "nobody9", "password": "x"},
                format="json",
                REMOTE_ADDR="10.0.0.1",
                HTTP_X_FORWARDED_FOR="203.0.113.7",
            )
        )
        assert login("10.0.0.2", 4).status_code == 400  # another address


def test_anonymous_callers_are_limited_per_address(api, personas):
    with rates(anon="2/minute"):
        statuses = [
            api().post("/api/v1/auth/token/", {"username": "x", "password": "y"}, format="json").status_code
            for _ in range(2)
        ]
        assert statuses == [400, 400]
        assert_throttled(api().post("/api/v1/auth/token/", {"username": "x", "password": "y"}, format="json"))


def test_exports_have_their_own_tighter_limit(api, personas, households):
    with rates(exports="1/minute"):
        county = api(personas["county_staff"])
        assert county.get("/api/v1/households/export.xlsx").status_code == 200
        assert_throttled(county.get("/api/v1/households/export.xlsx"))
        assert county.get("/api/v1/households/").status_code == 200  # other routes are not touched
        assert api(personas["township_a"]).get("/api/v1/households/export.xlsx").status_code == 200


def test_jobs_have_their_own_tighter_limit(api, personas):
    with rates(jobs="1/minute"):
        county = api(personas["county_staff"])
        first = county.post("/api/v1/ratings/prerate/", {"region": "411722100201"}, format="json")
        assert first.status_code != 429, first.content
        assert_throttled(county.post("/api/v1/jobs/daily/", {}, format="json"))


def test_import_uploads_have_their_own_tighter_limit(api, personas):
    with rates(imports="1/minute"):
        county = api(personas["county_staff"])
        first = county.post("/api/v1/imports/", {"kind": "households"}, format="multipart")
        assert first.status_code == 400, first.content  # no file: refused, but counted
        assert_throttled(county.post("/api/v1/imports/", {"kind": "households"}, format="multipart"))
