"""Every route the URL resolver knows has a scope case: the API's in tests/test_scope_matrix.py,
the browser pages' in tests/access.py (PAGES), and everything under /admin/ is for staff only.

A page case is checked here: anonymous callers are sent to the login page; outsiders get 404 for
an object of township A / 上蔡 on GET and POST and nothing is written; roles the page is not for
get 403 and nothing is written; a list shows township A's rows to its insider and never to its
outsiders; the insider reaches the page (so the 404 is about scope, not a bad URL).
"""

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.access import PAGES, Page, all_routes, changed_tables, db_fingerprint, page_path, response_text
from tests.test_scope_matrix import ROUTES

pytestmark = pytest.mark.django_db


def test_every_route_has_a_case():
    routes = all_routes()
    unnamed = sorted(r.pattern for r in routes if r.name is None and r.area != "admin")
    assert not unnamed, f"routes without a name cannot have a scope case: {unnamed}"
    api = {r.name for r in routes if r.area == "api"}
    pages = {r.name for r in routes if r.area == "page"}
    missing_api = sorted(api - set(ROUTES))
    missing_pages = sorted(pages - set(PAGES))
    stale_pages = sorted(set(PAGES) - pages)
    assert not missing_api, f"API routes without a case in tests/test_scope_matrix.py: {missing_api}"
    assert not missing_pages, f"pages without a case in tests/access.py PAGES: {missing_pages}"
    assert not stale_pages, f"PAGES cases for routes that no longer exist: {stale_pages}"
    assert any(r.area == "admin" for r in routes)  # test_admin_is_for_staff_only walks them


# --- the pages -------------------------------------------------------------------------------------


def client_of(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def send(client, method: str, path: str, body: dict | None = None):
    return client.get(path) if method == "GET" else client.post(path, body or {})


def assert_refused(world, persona, path, method, status):
    client = client_of(world["personas"][persona])  # logging in stamps last_login: before the snapshot
    before = db_fingerprint()
    response = send(client, method, path)
    assert response.status_code == status, (persona, method, path, response.status_code)
    assert changed_tables(before, db_fingerprint()) == [], f"{persona} {method} {path} wrote something"


PAGE_CASES = sorted(name for name, case in PAGES.items() if not case.public)


@pytest.mark.parametrize("name", PAGE_CASES)
def test_page_scope(world, name):
    case: Page = PAGES[name]
    path = page_path(name, world, case)
    check_anonymous(path)
    for persona in case.outsiders:
        check_outsider(world, case, persona, path)
    for persona in case.refused:
        assert_refused(world, persona, path, "POST", 403)
        if not case.post_only:
            assert_refused(world, persona, path, "GET", 403)
    check_insider(world, case, name, path)


def check_anonymous(path):
    for method in ("GET", "POST"):
        response = send(client_of(), method, path)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), (method, path)


def check_outsider(world, case: Page, persona: str, path: str):
    if case.shown is not None:  # a list answers, without township A's rows
        text = response_text(client_of(world["personas"][persona]).get(path))
        leaked = {t for t in case.shown(world) if t in text}
        assert not leaked, f"{persona} sees {sorted(leaked)} on {path}"
        return
    # A POST-only page refuses GET, and a read-only page POST, before it looks at the object (405
    # says nothing about it).
    assert_refused(world, persona, path, "GET", 405 if case.post_only else 404)
    assert_refused(world, persona, path, "POST", 404 if case.takes_post else 405)


def check_insider(world, case: Page, name: str, path: str):
    insider = client_of(world["personas"][case.insider])
    if case.post_only:
        assert insider.get(path).status_code == 405, f"{name} answers GET: not a POST-only page"
    response = send(insider, "POST" if case.post_only else "GET", path, case.body)
    assert response.status_code not in (403, 404, 405) and response.status_code < 500, (
        name, case.insider, response.status_code,
    )  # fmt: skip
    if case.shown is not None:
        text = response_text(response)
        missing = {t for t in case.shown(world) if t not in text}
        assert not missing, f"{case.insider} misses {sorted(missing)} on {path}"


def test_login_and_logout_pages_need_no_login():
    assert client_of().get(reverse("login")).status_code == 200
    assert client_of().get(reverse("logout")).status_code == 405  # logging out is a POST
    assert client_of().post(reverse("logout")).status_code == 302


# --- the admin site --------------------------------------------------------------------------------

# The admin pages that take a POST (the rest answer it as a GET, through the same staff check).
ADMIN_FORMS = re.compile(r"/(add|change|delete|password_change|logout)/$")
# Stand-ins for the admin routes' URL arguments.
ADMIN_KWARGS = {
    "object_id": "1",
    "id": "1",
    "content_type_id": "1",
    "app_label": "households",
    "url": "nothing-here",
}


def admin_paths() -> list[str]:
    """A path of every admin route (some are unnamed redirects), its arguments filled in."""
    paths = []
    for route in all_routes():
        if route.area != "admin" or route.name == "admin:login":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: ADMIN_KWARGS[m.group(1)], route.pattern)
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: ADMIN_KWARGS[m.group(1)], path)
        paths.append("/" + path.replace("^", "").replace("$", ""))
    return paths


def sent_to_admin_login(response) -> bool:
    # The admin's logout sends a caller who is not staff to the admin index, which sends them on.
    return response.status_code == 302 and response["Location"].split("?")[0] in ("/admin/login/", "/admin/")


# The admin site lets in staff only, whatever their roles: a caller without a login, the city (who
# reads everything) and county staff (who write the most) stand for the rest.
@pytest.mark.parametrize("persona", ["anonymous", "city", "county_staff"])
def test_admin_is_for_staff_only(personas, persona, households):
    """Every /admin/ route (but its login form) sends a caller without staff status to the admin
    login, and a POST to a form writes nothing."""
    client = client_of(None if persona == "anonymous" else personas[persona])
    before = db_fingerprint()
    let_in = []
    for path in admin_paths():
        for method in ("GET", "POST") if ADMIN_FORMS.search(path) else ("GET",):
            response = send(client, method, path)
            if not sent_to_admin_login(response):
                let_in.append((method, path, response.status_code))
    assert not let_in, f"{persona} is let into the admin site: {let_in[:10]}"
    assert changed_tables(before, db_fingerprint()) == []


def test_admin_role_reaches_the_admin_site(personas):
    assert client_of(personas["admin"]).get(reverse("admin:index")).status_code == 200
