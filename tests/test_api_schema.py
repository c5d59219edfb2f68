"""/api/v1/schema/ and /api/v1/docs/: signed-in callers only (session or token), and the document is
generated once per process (common.schema_views), not on every request."""

import json
from unittest import mock

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

from common.schema_views import clear_schema_cache
from organization.tests.factories import api_token_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_schema():
    clear_schema_cache()
    yield
    clear_schema_cache()


@pytest.mark.parametrize("url", ["/api/v1/schema/", "/api/v1/docs/"])
def test_anonymous_callers_are_refused(api, client, url):
    response = api().get(url)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert client.get(url).status_code == 401  # the browser, without a session
    assert b"openapi" not in response.content and b"swagger" not in response.content.lower()


def test_a_bad_token_is_refused(client):
    response = client.get("/api/v1/schema/", HTTP_AUTHORIZATION="Token not-a-token")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


@pytest.mark.parametrize("url", ["/api/v1/schema/", "/api/v1/docs/"])
def test_a_signed_in_session_gets_them(client, personas, url):
    client.force_login(personas["village_a1"])
    assert client.get(url).status_code == 200


def test_a_token_caller_gets_the_schema(client, personas):
    key = api_token_for(personas["bank_x"])
    response = client.get("/api/v1/schema/", {"format": "json"}, HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200
    assert "/api/v1/households/{id}/pii/" in response.json()["paths"]
    assert "/api/v1/schema/" not in response.json()["paths"]  # SERVE_INCLUDE_SCHEMA = False


def test_the_schema_is_generated_once(api, personas):
    real = SchemaGenerator.get_schema
    with mock.patch.object(SchemaGenerator, "get_schema", autospec=True, side_effect=real) as generate:
        first = api(personas["county_staff"]).get("/api/v1/schema/", {"format": "json"})
        second = api(personas["city"]).get("/api/v1/schema/", {"format": "json"})
        yaml = api(personas["admin"]).get("/api/v1/schema/")
    assert (first.status_code, second.status_code, yaml.status_code) == (200, 200, 200)
    assert generate.call_count == 1
    assert first.content == second.content
    assert yaml.content.startswith(b"openapi:")  # the same document, rendered as YAML


def test_the_query_parameters_do_not_make_new_documents(api, personas):
    real = SchemaGenerator.get_schema
    caller = api(personas["county_staff"])
    with mock.patch.object(SchemaGenerator, "get_schema", autospec=True, side_effect=real) as generate:
        for n in range(3):
            assert caller.get("/api/v1/schema/", {"lang": f"x{n}", "version": f"v{n}"}).status_code == 200
    assert generate.call_count == 1


def test_the_served_document_is_the_generated_one(api, personas):
    """tests/test_fuzz.py fuzzes the in-process document: it must be the one the route serves."""
    served = api(personas["county_staff"]).get("/api/v1/schema/", {"format": "json"}).json()
    generated = json.loads(
        OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True))
    )
    assert served == generated
