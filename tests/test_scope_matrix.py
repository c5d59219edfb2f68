"""The scope matrix: every route under /api/v1/, walked from the URL resolver, against the personas.

ROUTES holds one case per route name. A route the resolver knows and ROUTES does not (or the
reverse) fails `test_every_api_route_has_a_case`, naming it; so does a route whose view grows a
method the case does not cover. The cases:

- Public: reachable without logging in (token, schema, docs).
- Me: each persona sees itself.
- AdminOnly: every other persona gets 403 and nothing is written.
- List: each persona sees exactly its part (outsiders never see out-of-scope rows; `nobody`
  sees nothing); a POST into a place outside the caller's scope writes nothing.
- Object: an object outside the caller's scope answers 404 {"code": "not_found"} on every method
  the route allows, and the same object is reachable (not 404) by an insider, so the 404 is
  about scope and not about a bad URL.

Every non-public route answers an anonymous caller with 401 and the error shape.
"""

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from common.clock import today
from conftest import PERSONA_NAMES
from households.models import Household, PiiAccessLog
from organization.models import CountyPolicy, User

pytestmark = pytest.mark.django_db

API_PREFIX = "api/v1/"
ALL_PERSONAS = PERSONA_NAMES
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


# --- the resolver -------------------------------------------------------------------------------


def _walk(patterns, prefix="", namespace=None):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace if entry.namespace else namespace
            if namespace and entry.namespace:
                ns = f"{namespace}:{entry.namespace}"
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield prefix + str(entry.pattern), name, entry.callback


def api_routes() -> dict[str, tuple[str, object]]:
    """name -> (pattern, callback) of every route under /api/v1/. An unnamed route is keyed by its
    pattern so it still shows up (and fails) in the matrix."""
    routes = {}
    for pattern, name, callback in _walk(get_resolver().url_patterns):
        if pattern.startswith(API_PREFIX):
            routes[name or f"<unnamed {pattern}>"] = (pattern, callback)
    return routes


def allowed_methods(callback) -> set[str]:
    view_class = getattr(callback, "view_class", None)
    if view_class is None:  # a function view: take what it says it allows, or assume GET
        return {m.upper() for m in getattr(callback, "http_method_names", ["get"]) if m in HTTP_METHODS}
    return {m.upper() for m in HTTP_METHODS if m in view_class.http_method_names and hasattr(view_class, m)}


_CONVERTER = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")


def build_path(name: str, kwargs: dict | None = None) -> str:
    pattern, _ = api_routes()[name]
    kwargs = kwargs or {}
    path = _CONVERTER.sub(lambda m: str(kwargs[m.group("name")]), pattern)
    return "/" + path


# --- the cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Public:
    methods: tuple[str, ...]
    expect: int  # what an anonymous caller gets (never 401)
    body: dict | None = None


@dataclass(frozen=True)
class Me:
    methods: tuple[str, ...] = ("GET",)


@dataclass(frozen=True)
class AdminOnly:
    methods: tuple[str, ...]
    body: Callable[[dict], dict]
    written: Callable[[dict], bool]  # did the request write anything?


@dataclass(frozen=True)
class List:
    """visible: persona -> the keys that persona sees, exactly. key: an item -> its key.
    post_into: persona -> a place outside its scope to POST into (for routes that allow POST)."""

    methods: tuple[str, ...]
    visible: dict[str, Callable[[dict], set]]
    key: Callable[[dict], str]
    post_into: dict[str, Callable[[dict], str]] = field(default_factory=dict)
    post_body: Callable[[dict, str], dict] | None = None
    post_insider: tuple[str, Callable[[dict], str]] | None = None
    written: Callable[[dict], bool] | None = None


@dataclass(frozen=True)
class Object:
    """targets: outsider persona -> target name. insiders: (target, method) -> a persona that
    reaches that target. request: (world, target, method) -> (kwargs, query, body)."""

    methods: tuple[str, ...]
    targets: dict[str, str]
    insiders: dict[tuple[str, str], str]
    request: Callable[[dict, str, str], tuple[dict, dict, dict]]
    untouched: Callable[[dict, str], object] | None = None  # a snapshot that must not change


def _codes(*codes):
    return lambda w: set(codes)


ALL_REGIONS = {
    "411700",
    "411722",
    "411721",
    "411722100",
    "411722101",
    "411721100",
    "411722100201",
    "411722100202",
    "411722101201",
    "411721100201",
}
SHANGCAI_TREE = {"411722", "411722100", "411722101", "411722100201", "411722100202", "411722101201"}


def _households(*keys):
    return lambda w: {w["households"][k].household_no for k in keys}


def _household_target(w, target, method):
    body = {"phone": "13900139000"} if method == "PATCH" else {}
    return {"pk": w["households"][target].pk}, {}, body


def _household_snapshot(w, target):
    h = Household.objects.get(pk=w["households"][target].pk)
    return (h.phone, h.updated_at, PiiAccessLog.objects.filter(household=h).count())


COUNTIES = {"shangcai": "411722", "xiping": "411721"}


def _policy_target(w, target, method):
    county = COUNTIES[target]
    if method == "POST":
        effective = today() + datetime.timedelta(days=30)
        return (
            {},
            {},
            {"county": county, "effective_from": effective.isoformat(), "household_loan_cap": "60000.00"},
        )
    return {}, {"county": county}, {}


def _policy_current_target(w, target, method):
    return {}, {"county": COUNTIES[target], "on": today().isoformat()}, {}


def _policy_snapshot(w, target):
    return CountyPolicy.objects.filter(county_id=COUNTIES[target]).count()


VILLAGES = {"a1": "411722100201", "b1": "411722101201", "x1": "411721100201"}


def _region_target(w, target, method):
    return {"code": VILLAGES[target]}, {}, {}


def _new_household_body(w, village_code):
    from common.testing import make_resident_id

    return {
        "household_no": "MATRIX-0001",
        "village_code": village_code,
        "head_name": "矩阵",
        "head_id_number": make_resident_id("411722", datetime.date(1980, 5, 6), 321),
        "status": "poor",
    }


def _new_user_body(w):
    return {
        "username": "matrix-new-user",
        "password": "Xq7-pine-lantern-88",
        "roles": [{"role": "village_clerk", "region_code": "411722100201"}],
    }


# Outsiders of ARCHITECTURE.md: township B for township A's objects, bank Y (西平) for 上蔡's,
# bank X (上蔡) for 西平's, the clerk of village A1 for township B's, and a user with no roles.
HOUSEHOLD_OUTSIDERS = {"township_b": "a1", "bank_y": "a1", "nobody": "a1", "bank_x": "x1", "village_a1": "b1"}

ROUTES: dict[str, object] = {
    "auth-token": Public(methods=("POST",), expect=400, body={"username": "nobody", "password": "wrong"}),
    "api-schema": Public(methods=("GET",), expect=200),
    "api-docs": Public(methods=("GET",), expect=200),
    "me": Me(),
    "user-create": AdminOnly(
        methods=("POST",),
        body=_new_user_body,
        written=lambda w: User.objects.filter(username="matrix-new-user").exists(),
    ),
    "region-list": List(
        methods=("GET",),
        key=lambda item: item["code"],
        visible={
            "county_staff": _codes("411700", *SHANGCAI_TREE),
            "township_a": _codes("411700", "411722", "411722100", "411722100201", "411722100202"),
            "township_b": _codes("411700", "411722", "411722101", "411722101201"),
            "village_a1": _codes("411700", "411722", "411722100", "411722100201"),
            "bank_x": _codes("411700", *SHANGCAI_TREE),
            "bank_y": _codes("411700", "411721", "411721100", "411721100201"),
            "city": _codes(*ALL_REGIONS),
            "admin": _codes(*ALL_REGIONS),
            "nobody": _codes(),
        },
    ),
    "region-detail": Object(
        methods=("GET",),
        targets={"township_b": "a1", "bank_y": "a1", "nobody": "a1", "bank_x": "x1", "village_a1": "b1"},
        insiders={("a1", "GET"): "township_a", ("x1", "GET"): "bank_y", ("b1", "GET"): "township_b"},
        request=_region_target,
    ),
    "bank-list": List(
        methods=("GET",),
        key=lambda item: item["code"],
        visible={
            "county_staff": _codes("PSBC"),
            "township_a": _codes("PSBC"),
            "township_b": _codes("PSBC"),
            "village_a1": _codes("PSBC"),
            "bank_x": _codes("PSBC"),
            "bank_y": _codes("ZYRCB"),
            "city": _codes("PSBC", "ZYRCB"),
            "admin": _codes("PSBC", "ZYRCB"),
            "nobody": _codes(),
        },
    ),
    "policy-list": Object(
        methods=("GET", "POST"),
        targets={"township_b": "xiping", "bank_x": "xiping", "bank_y": "shangcai", "nobody": "shangcai"},
        insiders={
            ("shangcai", "GET"): "county_staff",
            ("shangcai", "POST"): "county_staff",
            ("xiping", "GET"): "bank_y",
            ("xiping", "POST"): "bank_y",  # may see 西平, may not change it: 403, not 404
        },
        request=_policy_target,
        untouched=_policy_snapshot,
    ),
    "policy-current": Object(
        methods=("GET",),
        targets={"township_b": "xiping", "bank_x": "xiping", "bank_y": "shangcai", "nobody": "shangcai"},
        insiders={("shangcai", "GET"): "township_a", ("xiping", "GET"): "bank_y"},
        request=_policy_current_target,
    ),
    "household-list": List(
        methods=("GET", "POST"),
        key=lambda item: item["household_no"],
        visible={
            "county_staff": _households("a1", "b1"),
            "township_a": _households("a1"),
            "township_b": _households("b1"),
            "village_a1": _households("a1"),
            "bank_x": _households("a1", "b1"),
            "bank_y": _households("x1"),
            "city": _households("a1", "b1", "x1"),
            "admin": _households("a1", "b1", "x1"),
            "nobody": _households(),
        },
        post_into={
            "township_b": lambda w: VILLAGES["a1"],
            "bank_y": lambda w: VILLAGES["a1"],
            "bank_x": lambda w: VILLAGES["x1"],
            "village_a1": lambda w: VILLAGES["b1"],
            "county_staff": lambda w: VILLAGES["x1"],
            "nobody": lambda w: VILLAGES["a1"],
        },
        post_body=_new_household_body,
        post_insider=("village_a1", lambda w: VILLAGES["a1"]),
        written=lambda w: Household.objects.filter(household_no="MATRIX-0001").exists(),
    ),
    "household-detail": Object(
        methods=("GET", "PATCH"),
        targets=HOUSEHOLD_OUTSIDERS,
        insiders={
            ("a1", "GET"): "township_a",
            ("a1", "PATCH"): "village_a1",
            ("b1", "GET"): "township_b",
            ("b1", "PATCH"): "county_staff",
            ("x1", "GET"): "bank_y",
            ("x1", "PATCH"): "admin",
        },
        request=_household_target,
        untouched=_household_snapshot,
    ),
    "household-pii": Object(
        methods=("GET",),
        targets=HOUSEHOLD_OUTSIDERS,
        insiders={("a1", "GET"): "county_staff", ("b1", "GET"): "bank_x", ("x1", "GET"): "bank_y"},
        request=_household_target,
        untouched=_household_snapshot,
    ),
}


def _cases(kind):
    return [(name, case) for name, case in ROUTES.items() if isinstance(case, kind)]


def _ids(params):
    return ["-".join(str(p) for p in param) for param in params]


# --- the registry matches the resolver ----------------------------------------------------------


def test_every_api_route_has_a_case():
    names = [
        name for pattern, name, _ in _walk(get_resolver().url_patterns) if pattern.startswith(API_PREFIX)
    ]
    assert None not in names, "every API route needs a name, so the matrix can hold its case"
    assert len(names) == len(set(names)), f"two API routes share a name: {sorted(names)}"
    resolved = set(api_routes())
    missing = sorted(resolved - set(ROUTES))
    stale = sorted(set(ROUTES) - resolved)
    assert not missing, f"API routes without a scope-matrix case in tests/test_scope_matrix.py: {missing}"
    assert not stale, f"scope-matrix cases for routes that no longer exist: {stale}"


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_case_covers_every_method_the_route_allows(name):
    routes = api_routes()
    assert name in routes, f"{name} is not an API route"
    _, callback = routes[name]
    assert allowed_methods(callback) == set(ROUTES[name].methods), (
        f"{name} allows {sorted(allowed_methods(callback))} but its case covers {sorted(ROUTES[name].methods)}"
    )


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def world(regions, banks, personas, households):
    return {"regions": regions, "banks": banks, "personas": personas, "households": households}


def _call(client, method, path, *, query=None, body=None):
    if method == "GET":
        return client.get(path, query or {})
    if query:
        path = f"{path}?{urlencode(query)}"
    return getattr(client, method.lower())(path, body or {}, format="json")


def assert_error_shape(response, status, code=None):
    assert response.status_code == status, (response.status_code, response.content[:300])
    body = response.json()
    assert set(body) == {"code", "detail", "errors"}, body
    assert isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["code"] == code, body


# --- anonymous ----------------------------------------------------------------------------------

ANONYMOUS = [(name, m) for name, case in ROUTES.items() if not isinstance(case, Public) for m in case.methods]


@pytest.mark.parametrize(("name", "method"), ANONYMOUS, ids=_ids(ANONYMOUS))
def test_anonymous_is_refused(api, world, name, method):
    case = ROUTES[name]
    kwargs, query, body = {}, {}, {}
    if isinstance(case, Object):
        target = next(iter(case.targets.values()))
        kwargs, query, body = case.request(world, target, method)
    response = _call(api(), method, build_path(name, kwargs), query=query, body=body)
    assert response.status_code in (401, 403), (name, method, response.status_code)
    assert_error_shape(response, response.status_code)
    assert response.json()["code"] in ("not_authenticated", "authentication_failed", "permission_denied")


PUBLIC = [(name, m) for name, case in _cases(Public) for m in case.methods]


@pytest.mark.parametrize(("name", "method"), PUBLIC, ids=_ids(PUBLIC))
def test_public_route_needs_no_login(api, world, name, method):
    case = ROUTES[name]
    response = _call(api(), method, build_path(name), body=case.body)
    assert response.status_code == case.expect, (name, response.status_code)


# --- me -----------------------------------------------------------------------------------------

ME = [(name, m, p) for name, case in _cases(Me) for m in case.methods for p in ALL_PERSONAS]


@pytest.mark.parametrize(("name", "method", "persona"), ME, ids=_ids(ME))
def test_me_shows_only_the_caller(api, world, name, method, persona):
    user = world["personas"][persona]
    response = _call(api(user), method, build_path(name))
    assert response.status_code == 200
    assert response.json()["username"] == user.username
    expected_roles = {a.role for a in user.role_assignments.all()}
    assert {r["role"] for r in response.json()["roles"]} == expected_roles


# --- admin only ---------------------------------------------------------------------------------

ADMIN_ONLY = [(name, m, p) for name, case in _cases(AdminOnly) for m in case.methods for p in ALL_PERSONAS]


@pytest.mark.parametrize(("name", "method", "persona"), ADMIN_ONLY, ids=_ids(ADMIN_ONLY))
def test_admin_only_route(api, world, name, method, persona):
    case = ROUTES[name]
    response = _call(api(world["personas"][persona]), method, build_path(name), body=case.body(world))
    if persona == "admin":
        assert response.status_code == 201, response.content
        assert case.written(world)
    else:
        assert_error_shape(response, 403, "permission_denied")
        assert not case.written(world)


# --- lists --------------------------------------------------------------------------------------

LIST_GET = [(name, "GET", p) for name, case in _cases(List) for p in case.visible]


@pytest.mark.parametrize(("name", "method", "persona"), LIST_GET, ids=_ids(LIST_GET))
def test_list_shows_exactly_the_callers_part(api, world, name, method, persona):
    case = ROUTES[name]
    response = _call(api(world["personas"][persona]), method, build_path(name), query={"page_size": 500})
    assert response.status_code == 200, response.content
    body = response.json()
    items = body["results"] if isinstance(body, dict) else body
    seen = {case.key(item) for item in items}
    expected = case.visible[persona](world)
    leaked = seen - expected
    assert not leaked, f"{persona} sees out-of-scope rows on {name}: {sorted(leaked)}"
    assert seen == expected, f"{persona} misses rows on {name}: {sorted(expected - seen)}"


LIST_POST = [
    (name, "POST", p) for name, case in _cases(List) if "POST" in case.methods for p in case.post_into
]


@pytest.mark.parametrize(("name", "method", "persona"), LIST_POST, ids=_ids(LIST_POST))
def test_list_post_outside_scope_writes_nothing(api, world, name, method, persona):
    case = ROUTES[name]
    body = case.post_body(world, case.post_into[persona](world))
    response = _call(api(world["personas"][persona]), method, build_path(name), body=body)
    assert response.status_code in (400, 403, 404), (response.status_code, response.content)
    assert_error_shape(response, response.status_code)
    assert not case.written(world)


LIST_POST_INSIDER = [(name, "POST", case.post_insider[0]) for name, case in _cases(List) if case.post_insider]


@pytest.mark.parametrize(("name", "method", "persona"), LIST_POST_INSIDER, ids=_ids(LIST_POST_INSIDER))
def test_list_post_inside_scope_is_written(api, world, name, method, persona):
    """The same body, into the insider's own place, goes through: the refusal above is about scope."""
    case = ROUTES[name]
    body = case.post_body(world, case.post_insider[1](world))
    response = _call(api(world["personas"][persona]), method, build_path(name), body=body)
    assert response.status_code == 201, response.content
    assert case.written(world)


# --- objects ------------------------------------------------------------------------------------

OBJECT_OUTSIDERS = [(name, m, p) for name, case in _cases(Object) for m in case.methods for p in case.targets]


@pytest.mark.parametrize(("name", "method", "persona"), OBJECT_OUTSIDERS, ids=_ids(OBJECT_OUTSIDERS))
def test_outsider_gets_404(api, world, name, method, persona):
    case = ROUTES[name]
    target = case.targets[persona]
    kwargs, query, body = case.request(world, target, method)
    before = case.untouched(world, target) if case.untouched else None
    response = _call(
        api(world["personas"][persona]), method, build_path(name, kwargs), query=query, body=body
    )
    assert_error_shape(response, 404, "not_found")
    if case.untouched:
        assert case.untouched(world, target) == before, "an out-of-scope request changed something"


OBJECT_INSIDERS = [(name, m, p) for name, case in _cases(Object) for (t, m), p in case.insiders.items()]
OBJECT_INSIDER_TARGETS = {
    (name, m, p): t for name, case in _cases(Object) for (t, m), p in case.insiders.items()
}


@pytest.mark.parametrize(("name", "method", "persona"), OBJECT_INSIDERS, ids=_ids(OBJECT_INSIDERS))
def test_insider_reaches_the_same_object(api, world, name, method, persona):
    case = ROUTES[name]
    target = OBJECT_INSIDER_TARGETS[(name, method, persona)]
    kwargs, query, body = case.request(world, target, method)
    response = _call(
        api(world["personas"][persona]), method, build_path(name, kwargs), query=query, body=body
    )
    assert response.status_code != 404, (name, method, persona, response.content[:300])
    assert response.status_code < 500


@pytest.mark.parametrize("name", [name for name, _ in _cases(Object)])
def test_every_outsider_target_has_an_insider(name):
    """Each target an outsider is refused must be reachable by someone, on every method."""
    case = ROUTES[name]
    for target in set(case.targets.values()):
        for method in case.methods:
            assert (target, method) in case.insiders, f"{name}: no insider for {target} {method}"
