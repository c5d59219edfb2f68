"""The city finance office reads everything and writes nothing (DOMAIN.md "Who uses it"), but for
its own city's policy rows (the envelope of its counties and the regulators' numbers: issue point
6), which it proposes and approves (organization/tests/test_policy_envelope.py), and the deposits
into its subsidy pot (贴息资金池: the city's money for guarantee and interest subsidies,
subsidy/tests/test_pot.py).

The routes that accept a write are enumerated twice, from the URL resolver and from the OpenAPI
schema, and the two must agree. The city's POST/PUT/PATCH/DELETE to each, with a body the route
would accept from a role that may, answers 403 (or 404 for what the city cannot see, such as
another user's import job) and no table changes. The same for every browser page, with a form the
page would accept. The dashboards and the assessment still answer 200.
"""

import re
from urllib.parse import urlencode

import pytest
from django.test import Client

from common.clock import today
from loans.services import TRANSITIONS as LOAN_ACTIONS
from risk_fund.views import CLAIM_BUTTONS
from subsidy.services import TRANSITIONS as BATCH_ACTIONS
from tests.access import PAGES, all_routes, changed_tables, db_fingerprint, page_path
from tests.test_scope_matrix import (
    ROUTES,
    AdminOnly,
    List,
    Object,
    Upload,
    _dashboard_target,
    _monthly_target,
    _rollups,
    allowed_methods,
    assert_error_shape,
    build_path,
)

pytestmark = pytest.mark.django_db

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# Signing in and out, and changing one's own password: the city's own account, no business data.
NOT_A_WRITE = {"auth-token", "auth-logout", "auth-password"}
# The city's own policy rows: the one thing it writes (maker-checker, tested with the envelope).
CITY_OWN_WRITES = {"city-policy-list", "city-policy-approve", "city-policy-reject"}
CITY_OWN_PAGES = {"policies:city-propose", "policies:city-review", "subsidy:pot-deposit", "password-change"}


def resolver_writes() -> set[tuple[str, str]]:
    return {
        (r.name, method)
        for r in all_routes()
        if r.area == "api"
        for method in allowed_methods(r.callback) & WRITES
    }


def schema_writes(client) -> set[tuple[str, str]]:
    """(route name, method) of every write operation in /api/v1/schema/."""

    def shape(path):  # the schema may rename a parameter ({pk} as {id}): compare without names
        return re.sub(r"\{\w+\}", "{}", path)

    name_of = {
        shape("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.pattern)): r.name
        for r in all_routes()
        if r.area == "api"
    }
    schema = client.get("/api/v1/schema/", {"format": "json"}).json()
    found = set()
    for path, operations in schema["paths"].items():
        for method in operations:
            if method.upper() in WRITES:
                assert shape(path) in name_of, f"the schema has {path}, which no route serves"
                found.add((name_of[shape(path)], method.upper()))
    return found


def test_schema_and_resolver_agree_on_the_write_routes(api, personas):
    from_schema = schema_writes(api(personas["city"]))
    from_resolver = resolver_writes()
    assert from_schema == from_resolver, (
        f"only in the schema: {sorted(from_schema - from_resolver)}; "
        f"only in the URL resolver: {sorted(from_resolver - from_schema)}"
    )


# --- the API -------------------------------------------------------------------------------------


def api_request(world, name: str, method: str) -> tuple[str, dict, str]:
    """(path, body, format) of a write the route accepts from a role that may make it: the scope
    matrix's own request, on a target some insider reaches (the city sees them all)."""
    case = ROUTES[name]
    if isinstance(case, Object):
        target = next(t for t, m in case.insiders if m == method)
        kwargs, query, body = case.request(world, target, method)
        path = build_path(name, kwargs)
        return (f"{path}?{urlencode(query)}" if query else path), body, "json"
    if isinstance(case, List):
        if case.setup:
            case.setup(world)
        return build_path(name), case.post_body(world, case.post_insider[1](world)), "json"
    if isinstance(case, AdminOnly):
        return build_path(name), case.body(world), "json"
    if isinstance(case, Upload):
        return build_path(name), case.body(world), "multipart"
    raise AssertionError(f"{name}: no write request for a {type(case).__name__} case")


API_WRITES = sorted(
    (name, method) for name, method in resolver_writes() if name not in NOT_A_WRITE | CITY_OWN_WRITES
)


@pytest.mark.parametrize(("name", "method"), API_WRITES, ids=[f"{n}-{m}" for n, m in API_WRITES])
def test_city_writes_nothing_through_the_api(api, world, name, method):
    path, body, fmt = api_request(world, name, method)
    client = api(world["personas"]["city"])
    before = db_fingerprint()
    response = getattr(client, method.lower())(path, body, format=fmt, HTTP_IDEMPOTENCY_KEY="city-1")
    assert changed_tables(before, db_fingerprint()) == [], f"the city's {method} {path} wrote something"
    assert response.status_code in (403, 404, 405), (
        name,
        method,
        response.status_code,
        response.content[:300],
    )
    assert_error_shape(response, response.status_code)


# --- the pages -----------------------------------------------------------------------------------

# Each action of a workflow page, so that every one is tried (the URL names the action).
PAGE_ACTIONS = {
    "loans:action": sorted(LOAN_ACTIONS),
    "risk_fund:claim-action": sorted(CLAIM_BUTTONS),
    "subsidy:action": sorted(BATCH_ACTIONS),
    "credit_rating:detail": ["submit", "review", "approve", "return", "reject", "opinion"],
    "households:detail": ["reveal"],
}
# What the pages' forms read, with and without the prefix a workflow form carries (its action).
FORM_FIELDS = {
    "comment": "市级", "reason": "市级", "months": "3", "amount": "10.00", "tier": "county",
    "finding": "normal", "note": "市级", "decision_no": "市〔2018〕1号", "mode": "employment",
    "start_date": "2018-01-01", "annual_benefit": "100.00", "kind": "deposit", "source": "市财政",
    "fund_share": "80", "bank_share": "20", "bank": "PSBC", "head_name": "市级", "status": "poor",
    "member_count": "1", "labor_count": "1", "legal_rep": "市级", "name": "市级", "agrees": "yes",
}  # fmt: skip
DATE_FIELDS = ("paid_on", "received_on", "disbursed_on", "decided_on", "end_date", "checked_on", "valid_from")


def page_body(world, action: str | None) -> dict:
    day = today().isoformat()
    fields = {**FORM_FIELDS, **dict.fromkeys(DATE_FIELDS, day)}
    fields["household_no"] = world["households"]["a1"].household_no
    body = {**fields, **{f"{action}-{k}": v for k, v in fields.items()}} if action else fields
    if action:
        body["action"] = action
    return body


def page_writes() -> list[tuple[str, str | None]]:
    cases = [
        (name, None)
        for name, case in PAGES.items()
        if not case.public and name not in PAGE_ACTIONS and name not in CITY_OWN_PAGES
    ]
    cases += [(name, action) for name, actions in PAGE_ACTIONS.items() for action in actions]
    return sorted(cases, key=lambda c: (c[0], c[1] or ""))


PAGE_WRITES = page_writes()


@pytest.mark.parametrize(("name", "action"), PAGE_WRITES, ids=[f"{n}-{a}" for n, a in PAGE_WRITES])
def test_city_writes_nothing_through_the_pages(world, name, action):
    """A page with a form refuses the city (403, or 404 for what it cannot see). A page that only
    reads refuses a POST from anyone (405) and writes nothing, for the city and the admin alike."""
    case = PAGES[name]
    path = page_path(name, world, case)
    if action and "action" in (case.kwargs(world) if case.kwargs else {}):
        path = re.sub(r"/do/[\w-]+/$", f"/do/{action}/", path)
    body = page_body(world, action)
    for persona in ("city",) if case.takes_post else ("city", "admin"):
        client = Client()
        client.force_login(world["personas"][persona])
        before = db_fingerprint()
        response = client.post(path, body)
        changed = changed_tables(before, db_fingerprint())
        if persona == "admin":  # the admin's export shows full ID numbers: the access log says so
            changed = [label for label in changed if label != "households.piiaccesslog"]
        assert changed == [], f"{persona}'s POST {path} wrote something"
        allowed = (403, 404, 405) if case.takes_post else (405,)
        assert response.status_code in allowed, (name, action, persona, response.status_code)


# --- what the city does: read -------------------------------------------------------------------


def test_city_reads_the_dashboards(api, world):
    _rollups(world)
    city = world["personas"]["city"]
    client = api(city)
    for name, (kwargs, query, _body) in {
        "dashboard": _dashboard_target(world, "city", "GET"),
        "dashboard-trend": _dashboard_target(world, "city", "GET"),
        "dashboard-export": _dashboard_target(world, "city", "GET"),
        "report-monthly": _monthly_target(world, "city", "GET"),
        "assessment": ({}, {"year": today().year}, {}),
    }.items():
        response = client.get(build_path(name, kwargs), query)
        assert response.status_code == 200, (name, response.status_code)
    pages = Client()
    pages.force_login(city)
    for path in ("/", "/dashboard/", "/dashboard/?region=411722", "/dashboard/assessment/",
                 f"/dashboard/assessment/export.xlsx?year={today().year}"):  # fmt: skip
        assert pages.get(path).status_code == 200, path
