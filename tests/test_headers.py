"""Security headers: Content-Security-Policy (common.security) on pages, the API and the API
docs; nosniff, Referrer-Policy and X-Frame-Options everywhere; HSTS under production settings.
The browser side (no script or style refused on real pages) is in tests/test_browser.py."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from config.settings import production

ROOT = Path(__file__).resolve().parent.parent
CSP = "Content-Security-Policy"


def directives(policy: str) -> dict[str, list[str]]:
    return {name: rest for name, *rest in (part.split() for part in policy.split(";") if part.strip())}


def test_the_default_policy_is_strict():
    policy = directives(settings.CONTENT_SECURITY_POLICY)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert policy["style-src-elem"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert "'unsafe-eval'" not in settings.CONTENT_SECURITY_POLICY
    # Production inherits it.
    assert production.CONTENT_SECURITY_POLICY == settings.CONTENT_SECURITY_POLICY


def test_production_settings_turn_on_every_header():
    assert production.SECURE_HSTS_SECONDS >= 31536000
    assert production.SECURE_HSTS_INCLUDE_SUBDOMAINS is True
    assert production.SECURE_HSTS_PRELOAD is True
    assert production.SECURE_CONTENT_TYPE_NOSNIFF is True
    assert production.SECURE_REFERRER_POLICY in {"same-origin", "strict-origin-when-cross-origin"}
    assert production.X_FRAME_OPTIONS == "DENY"
    assert production.SECURE_SSL_REDIRECT is True
    assert "common.security.ContentSecurityPolicyMiddleware" in production.MIDDLEWARE


def assert_security_headers(response, csp=None):
    assert response[CSP] == (csp or settings.CONTENT_SECURITY_POLICY)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/login/", "/api/v1/schema/", "/static-404-page/"])
def test_anonymous_responses_carry_the_headers(client, url):
    assert_security_headers(client.get(url))


@pytest.mark.django_db
def test_pages_and_api_carry_the_headers(client, personas):
    client.force_login(personas["county_staff"])
    for url in ("/", "/dashboard/", "/households/", "/imports/", "/ratings/", "/api/v1/households/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_security_headers(response)


@pytest.mark.django_db
def test_api_token_callers_get_the_headers_too(client, personas):
    from organization.tests.factories import api_token_for

    key = api_token_for(personas["county_staff"])
    response = client.get("/api/v1/households/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200
    assert_security_headers(response)


@pytest.mark.django_db
def test_api_docs_serve_their_script_from_our_origin(client, personas):
    """drf-spectacular's split view: the page loads its start-up script with a <script src>, so
    scripts stay 'self'; only its inline <style> needs the relaxed style-src-elem."""
    client.force_login(personas["county_staff"])
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    assert_security_headers(page, settings.CONTENT_SECURITY_POLICY_API_DOCS)
    html = page.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script> on the docs page"
    script_url = re.search(r'<script src="([^"]*script[^"]*)"', html).group(1).replace("&amp;", "&")
    script = client.get(script_url)
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()
    assert directives(settings.CONTENT_SECURITY_POLICY_API_DOCS)["script-src"] == ["'self'"]


@pytest.mark.django_db
@override_settings(
    SECURE_HSTS_SECONDS=production.SECURE_HSTS_SECONDS,
    SECURE_HSTS_INCLUDE_SUBDOMAINS=production.SECURE_HSTS_INCLUDE_SUBDOMAINS,
    SECURE_HSTS_PRELOAD=production.SECURE_HSTS_PRELOAD,
    SECURE_PROXY_SSL_HEADER=production.SECURE_PROXY_SSL_HEADER,
    SECURE_SSL_REDIRECT=True,
    SESSION_COOKIE_SECURE=True,
    CSRF_COOKIE_SECURE=True,
)
def test_a_production_like_https_response_carries_every_header(client):
    response = client.get("/login/", secure=True)
    assert response.status_code == 200
    assert_security_headers(response)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    # Plain HTTP is redirected to HTTPS (behind the proxy, by X-Forwarded-Proto).
    assert client.get("/login/").status_code == 301
    assert client.get("/login/", headers={"X-Forwarded-Proto": "https"}).status_code == 200


@override_settings(CONTENT_SECURITY_POLICY="")
@pytest.mark.django_db
def test_an_empty_setting_turns_the_policy_off(client):
    assert CSP not in client.get("/login/")


def test_templates_have_no_inline_script_or_style_element():
    """What the policy needs of our own templates: scripts and style sheets are static files
    (json_script data blocks, type=application/json, are not scripts and are fine)."""
    inline_script = re.compile(r"<script(?![^>]*\b(?:src|type=\"application/json\")\b)[^>]*>", re.IGNORECASE)
    handler = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert not inline_script.search(text), f"{path}: inline <script>"
        assert "<style" not in text.lower(), f"{path}: <style> element"
        assert not handler.search(text), f"{path}: inline event handler"
        assert "javascript:" not in text.lower(), f"{path}: javascript: URL"
