"""The scope matrix: every route under /api/v1/, walked from the URL resolver, against the personas.

ROUTES holds one case per route name. A route the resolver knows and ROUTES does not (or the
reverse) fails `test_every_api_route_has_a_case`, naming it; so does a route whose view grows a
method the case does not cover. The cases:

- Public: reachable without logging in (the token login).
- Me: each persona sees itself.
- AdminOnly: every other persona gets 403 and nothing is written.
- List: each persona sees exactly its part (outsiders never see out-of-scope rows; `nobody`
  sees nothing); a POST into a place outside the caller's scope writes nothing.
- Object: an object outside the caller's scope answers 404 {"code": "not_found"} on every method
  the route allows, and the same object is reachable (not 404) by an insider, so the 404 is
  about scope and not about a bad URL.

Every non-public route answers an anonymous caller with 401 and the error shape. The browser pages'
cases are tests/access.py's PAGES (checked by tests/test_access_routes.py, which also fails for a
route of either kind that has no case).
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
from enterprises.models import Enterprise
from enterprises.tests.factories import credit_code_for
from households.models import Household, PiiAccessLog
from organization.models import CityPolicy, CountyPolicy, User
from risk_fund.tests.matrix_cases import risk_fund_routes

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
    setup: Callable[[dict], object] | None = None  # world -> makes the rows the list shows
    items: Callable[[object], list] | None = None  # response -> its rows, for a non-JSON list


@dataclass(frozen=True)
class Object:
    """targets: outsider persona -> target name. insiders: (target, method) -> a persona that
    reaches that target. request: (world, target, method) -> (kwargs, query, body)."""

    methods: tuple[str, ...]
    targets: dict[str, str]
    insiders: dict[tuple[str, str], str]
    request: Callable[[dict, str, str], tuple[dict, dict, dict]]
    untouched: Callable[[dict, str], object] | None = None  # a snapshot that must not change


@dataclass(frozen=True)
class Upload:
    """A multipart upload that only some roles may make: each persona in `allowed` gets `expect`
    and its upload is stored; every other persona gets 403 and nothing is written."""

    methods: tuple[str, ...]
    allowed: frozenset[str]
    body: Callable[[dict], dict]
    written: Callable[[dict, str], bool]  # did this persona's request store anything?
    expect: int = 202


@dataclass(frozen=True)
class AnyUser:
    """Open to every signed-in persona alike (a blank template holds no data): each gets `expect`."""

    methods: tuple[str, ...]
    request: Callable[[dict], dict]  # world -> the route's URL kwargs
    expect: int = 200


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


def _xlsx_rows(response) -> list[dict]:
    """The rows of a downloaded workbook's first sheet, keyed by its header row."""
    import io

    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    header, *rows = sheet.iter_rows(values_only=True)
    return [dict(zip(header, row, strict=True)) for row in rows]


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


def _proposed_policy(w, target):
    """A proposed row of the county (made on first use), for the approve and reject routes."""
    rows = w.setdefault("proposed_policies", {})
    if target not in rows:
        rows[target] = CountyPolicy.objects.create(
            county_id=COUNTIES[target], effective_from=today() + datetime.timedelta(days=40)
        )
    return rows[target]


def _policy_review_target(w, target, method):
    return {"pk": _proposed_policy(w, target).pk}, {}, {}


def _policy_review_snapshot(w, target):
    return CountyPolicy.objects.get(pk=_proposed_policy(w, target).pk).status


CITIES = {"zhumadian": "411700"}


def _proposed_city_policy(w, target):
    rows = w.setdefault("proposed_city_policies", {})
    if target not in rows:
        rows[target] = CityPolicy.objects.create(
            city_id=CITIES[target], effective_from=today() + datetime.timedelta(days=40)
        )
    return rows[target]


def _city_policy_target(w, target, method):
    if method == "POST":
        effective = today() + datetime.timedelta(days=30)
        body = {
            "city": CITIES[target],
            "effective_from": effective.isoformat(),
            "household_loan_cap": "40000",
        }
        return {}, {}, body
    return {}, {"city": CITIES[target]}, {}


def _city_policy_snapshot(w, target):
    return sorted(CityPolicy.objects.filter(city_id=CITIES[target]).values_list("pk", "status"))


def _city_review_target(w, target, method):
    return {"pk": _proposed_city_policy(w, target).pk}, {}, {}


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

# Enterprises: township B, bank Y, a village clerk and nobody for township A's; bank X for 西平's.
ENTERPRISE_OUTSIDERS = {"township_b": "a", "bank_y": "a", "nobody": "a", "village_a1": "a", "bank_x": "x"}
TOWNSHIPS = {"a": "411722100", "b": "411722101", "x": "411721100"}
MATRIX_CREDIT_CODE = credit_code_for(99999)


def _enterprises(*keys):
    return lambda w: {w["enterprises"][k].credit_code for k in keys}


def _new_enterprise_body(w, township_code):
    return {
        "name": "矩阵合作社",
        "credit_code": MATRIX_CREDIT_CODE,
        "kind": "cooperative",
        "founded_on": "2015-01-01",
        "township_code": township_code,
        "legal_rep": "矩阵",
    }


def _enterprise_target(w, target, method):
    enterprise = w["enterprises"][target]
    household = w["households"][f"{target}1"]
    bodies = {
        "PATCH": {"legal_rep": "矩阵改"},
        "POST": {  # one body that each POST route reads its own fields from
            "decision_no": "矩阵〔2017〕1号",
            "decided_on": "2017-06-01",
            "reason": "矩阵",
            "household": household.pk,
            "mode": "employment",
            "start_date": "2018-01-01",
            "annual_benefit": "1000.00",
        },
    }
    return {"pk": enterprise.pk}, {}, bodies.get(method, {})


def _enterprise_link_target(w, target, method):
    enterprise = w["enterprises"][target]
    return {"pk": enterprise.pk, "link_id": enterprise.links.get().pk}, {}, {"end_date": "2017-06-30"}


def _enterprise_snapshot(w, target):
    e = Enterprise.objects.get(pk=w["enterprises"][target].pk)
    links = tuple(e.links.order_by("pk").values_list("pk", "end_date"))
    return (e.legal_rep, e.updated_at, e.recognized, e.recognition_events.count(), links)


# Imports: a job is its uploader's and the admins'; anyone else gets 404. County staff uploaded
# "county" (failed, with an error workbook), bank X "bank".
IMPORT_OUTSIDERS = {
    "township_a": "county", "village_a1": "county", "bank_x": "county", "city": "county", "nobody": "county",
    "county_staff": "bank", "bank_y": "bank",
}  # fmt: skip


def _tiny_xlsx() -> bytes:
    import io

    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["户编号", "姓名"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _import_job(w, target):
    """The job named `target`, made on first use (only the import cases pay for it)."""
    from django.core.files.base import ContentFile

    from imports.models import ImportJob

    jobs = w.setdefault("import_jobs", {})
    if target not in jobs:
        owner = {"county": "county_staff", "bank": "bank_x"}[target]
        job = ImportJob(
            kind="households", created_by=w["personas"][owner], original_name=f"{target}.xlsx",
            status="failed", phase="done", error_count=1,
            errors=[{"row": 2, "column": "户编号", "value": "x", "message": "矩阵"}],
        )  # fmt: skip
        job.file.save(f"{target}.xlsx", ContentFile(_tiny_xlsx()), save=False)
        job.error_report.save(f"{target}-errors.xlsx", ContentFile(_tiny_xlsx()), save=False)
        job.save()
        jobs[target] = job
    return jobs[target]


def _import_target(w, target, method):
    return {"pk": _import_job(w, target).pk}, {}, {}


def _import_snapshot(w, target):
    from imports.models import ImportJob

    return ImportJob.objects.filter(pk=_import_job(w, target).pk).values_list("status", "attempts").get()


def _import_upload(w):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return {"kind": "households", "dry_run": "true", "file": SimpleUploadedFile("矩阵.xlsx", _tiny_xlsx())}


def _import_written(w, persona):
    from imports.models import ImportJob

    return ImportJob.objects.filter(created_by=w["personas"][persona]).exists()


# Credit ratings, made on first use: the default scorecard in 上蔡 and 西平; a1 approved, b1
# submitted (work in progress: the bank of 上蔡 does not see it), x1 approved.
RATING_REGIONS = {"shangcai": "411722", "xiping": "411721", "town_b": "411722101"}


def _rating_world(w) -> dict:
    if "ratings" not in w:
        from credit_rating.tests.factories import RatingFactory, publish_default

        cards = {key: publish_default(w["regions"][key]) for key in ("shangcai", "xiping")}
        admin = w["personas"]["admin"]
        made = {}
        for key, county, status in (("a1", "shangcai", "approved"), ("b1", "shangcai", "submitted"),
                                    ("x1", "xiping", "approved")):  # fmt: skip
            made[key] = RatingFactory(
                household=w["households"][key], scorecard=cards[county], status=status, drafted_by=admin
            )
        w["ratings"] = made
    return w["ratings"]


def _rating_target(w, target, method):
    body = {"scores": {}} if method == "PATCH" else {"reason": "矩阵", "comment": "矩阵", "agrees": False}
    return {"pk": _rating_world(w)[target].pk}, {}, body


def _rating_snapshot(w, target):
    from credit_rating.models import Rating

    rating = Rating.objects.get(pk=_rating_world(w)[target].pk)
    return (rating.status, rating.score, rating.drafted_by_id, rating.events.count())


def _household_rating_target(w, target, method):
    _rating_world(w)
    return _household_target(w, target, method)


def _scorecard_target(w, target, method):
    _rating_world(w)
    return {}, {"county": RATING_REGIONS[target]}, {}


def _prerate_target(w, target, method):
    _rating_world(w)
    return {}, {}, {"region": RATING_REGIONS[target]}


def _prerate_snapshot(w, target):
    from common.models import Job
    from credit_rating.models import Rating

    return (Job.objects.count(), Rating.objects.count())


def _new_rating_body(w, household_key):
    return {"household": w["households"][household_key].pk, "scores": {}}


def _rating_written(w):
    from credit_rating.models import Rating

    return Rating.objects.filter(status="draft").exists()


def _job_target(w, target, method):
    from common.jobs import job_create

    jobs = w.setdefault("jobs", {})
    if target not in jobs:
        jobs[target] = job_create(
            kind="prerate", actor=w["personas"]["county_staff"], params={"region": "411722"}
        )
    return {"pk": jobs[target].pk}, {}, {}


# Creating something for a household outside the caller's scope: persona -> that household's key.
POST_FOR_OUTSIDE_HOUSEHOLD = {
    p: (lambda chosen: lambda w: chosen)(key)
    for p, key in {"township_b": "a1", "bank_y": "a1", "bank_x": "x1", "village_a1": "b1", "county_staff": "x1",
                   "nobody": "a1"}.items()
}  # fmt: skip

# Outsiders of a rating: as for its household (the bank of 上蔡 sees b1's, under review: it may give
# an opinion; it misses 西平's x1).
RATING_OUTSIDERS = HOUSEHOLD_OUTSIDERS
RATING_INSIDERS = {
    ("a1", "GET"): "township_a", ("a1", "PATCH"): "village_a1", ("a1", "POST"): "county_staff",
    ("b1", "GET"): "township_b", ("b1", "PATCH"): "county_staff", ("b1", "POST"): "township_b",
    ("x1", "GET"): "bank_y", ("x1", "PATCH"): "admin", ("x1", "POST"): "admin",
}  # fmt: skip


def _rating_transition_case():
    return Object(
        methods=("POST",),
        targets=RATING_OUTSIDERS,
        insiders={k: v for k, v in RATING_INSIDERS.items() if k[1] == "POST"},
        request=_rating_target,
        untouched=_rating_snapshot,
    )


RATING_ROUTES: dict[str, object] = {
    "scorecard-current": Object(
        methods=("GET",),
        targets={"township_b": "xiping", "bank_x": "xiping", "bank_y": "shangcai", "nobody": "shangcai"},
        insiders={("shangcai", "GET"): "township_a", ("xiping", "GET"): "bank_y"},
        request=_scorecard_target,
    ),
    "rating-list": List(
        methods=("GET", "POST"),
        key=lambda item: item["household_no"],
        setup=_rating_world,
        visible={
            "county_staff": _households("a1", "b1"),
            "township_a": _households("a1"),
            "township_b": _households("b1"),
            "village_a1": _households("a1"),
            "bank_x": _households("a1", "b1"),  # b1's is under review: the banks see it (同步参与)
            "bank_y": _households("x1"),
            "city": _households("a1", "b1", "x1"),
            "admin": _households("a1", "b1", "x1"),
            "nobody": _households(),
        },
        post_into=POST_FOR_OUTSIDE_HOUSEHOLD,
        post_body=_new_rating_body,
        post_insider=("village_a1", lambda w: "a1"),
        written=_rating_written,
    ),
    "rating-detail": Object(
        methods=("GET", "PATCH"),
        targets=RATING_OUTSIDERS,
        insiders={k: v for k, v in RATING_INSIDERS.items() if k[1] in ("GET", "PATCH")},
        request=_rating_target,
        untouched=_rating_snapshot,
    ),
    "rating-submit": _rating_transition_case(),
    "rating-review": _rating_transition_case(),
    "rating-approve": _rating_transition_case(),
    "rating-reject": _rating_transition_case(),
    "rating-return": _rating_transition_case(),
    "rating-opinions": Object(
        methods=("GET", "POST"),
        targets=RATING_OUTSIDERS,
        insiders={
            ("a1", "GET"): "township_a",
            ("b1", "GET"): "bank_x",
            ("b1", "POST"): "bank_x",
            ("x1", "GET"): "bank_y",
            ("a1", "POST"): "village_a1",
            ("x1", "POST"): "admin",
        },
        request=_rating_target,
        untouched=_rating_snapshot,
    ),
    "rating-prerate": Object(
        methods=("POST",),
        targets={
            "township_b": "xiping",
            "bank_x": "xiping",
            "bank_y": "shangcai",
            "nobody": "shangcai",
            "village_a1": "town_b",
        },
        insiders={
            ("shangcai", "POST"): "county_staff",
            ("xiping", "POST"): "admin",
            ("town_b", "POST"): "township_b",
        },
        request=_prerate_target,
        untouched=_prerate_snapshot,
    ),
    "household-rating": Object(
        methods=("GET",),
        targets=HOUSEHOLD_OUTSIDERS,
        insiders={("a1", "GET"): "bank_x", ("b1", "GET"): "township_b", ("x1", "GET"): "bank_y"},
        request=_household_rating_target,
    ),
    "job-detail": Object(  # a job is its starter's and the admins'
        methods=("GET",),
        targets={
            p: "county_job"
            for p in ("township_a", "township_b", "village_a1", "bank_x", "bank_y", "city", "nobody")
        },
        insiders={("county_job", "GET"): "county_staff"},
        request=_job_target,
    ),
}


# Loans, made on first use: a draft in A1 and one in B1 at bank X (上蔡), one in 西平 X1 at bank Y.
# Region roles see their area's loans, bank officers their own bank's.
def _loan_world(w) -> dict:
    if "loans" not in w:
        from loans.models import Loan

        made = {}
        for key, bank in (("a1", "x"), ("b1", "x"), ("x1", "y")):
            household = w["households"][key]
            made[key] = Loan.objects.create(
                loan_no=f"L-MATRIX-{key}", household=household, area=household.village,
                township=household.village.parent, county=household.village.parent.parent, bank=w["banks"][bank],
                amount="20000.00", rate="4.75", term_months=24, purpose="breeding",
                created_by=w["personas"]["admin"],
            )  # fmt: skip
        w["loans"] = made
    return w["loans"]


def _loans(*keys):
    return lambda w: {f"L-MATRIX-{k}" for k in keys}


# One body that each loan POST route reads its own fields from.
LOAN_POST_BODY = {
    "comment": "矩阵", "reason": "矩阵", "months": 3, "amount": "10.00", "tier": "township", "finding": "normal",
}  # fmt: skip


def _loan_target(w, target, method):
    body = {**LOAN_POST_BODY, "paid_on": today().isoformat(), "disbursed_on": today().isoformat()}
    return {"pk": _loan_world(w)[target].pk}, {}, body if method in ("POST", "PATCH") else {}


def _loan_snapshot(w, target):
    from loans.models import Loan

    loan = Loan.objects.get(pk=_loan_world(w)[target].pk)
    return (
        loan.status,
        loan.events.count(),
        loan.repayments.count(),
        loan.checks.count(),
        loan.renewals.count(),
    )


def _new_loan_body(w, household_key):
    return {
        "household": w["households"][household_key].pk, "bank": "PSBC", "amount": "1234.00", "term_months": 12,
        "purpose": "planting",
    }  # fmt: skip


def _loan_written(w):
    from loans.models import Loan

    return Loan.objects.filter(amount="1234.00").exists()


LOAN_INSIDERS = {
    ("a1", "GET"): "township_a", ("a1", "POST"): "village_a1",
    ("b1", "GET"): "bank_x", ("b1", "POST"): "county_staff",
    ("x1", "GET"): "bank_y", ("x1", "POST"): "bank_y",
    # The village corrects its own drafts; county staff any of the county's.
    ("a1", "PATCH"): "village_a1", ("b1", "PATCH"): "county_staff", ("x1", "PATCH"): "admin",
}  # fmt: skip


def _loan_object_case(methods=("POST",)):
    return Object(
        methods=methods,
        targets=HOUSEHOLD_OUTSIDERS,
        insiders={k: v for k, v in LOAN_INSIDERS.items() if k[1] in methods},
        request=_loan_target,
        untouched=_loan_snapshot,
    )


LOAN_ACTIONS = (
    "submit", "township-review", "county-recommend", "approve", "return", "reject", "withdraw", "write-off",
    "write-off-approve", "write-off-reject", "disburse", "extend", "renew",
)  # fmt: skip
LOAN_ROUTES: dict[str, object] = {
    "loan-list": List(
        methods=("GET", "POST"),
        key=lambda item: item["loan_no"],
        setup=_loan_world,
        visible={
            "county_staff": _loans("a1", "b1"),
            "township_a": _loans("a1"),
            "township_b": _loans("b1"),
            "village_a1": _loans("a1"),
            "bank_x": _loans("a1", "b1"),
            "bank_y": _loans("x1"),
            "city": _loans("a1", "b1", "x1"),
            "admin": _loans("a1", "b1", "x1"),
            "nobody": _loans(),
        },
        post_into=POST_FOR_OUTSIDE_HOUSEHOLD,
        post_body=_new_loan_body,
        post_insider=("village_a1", lambda w: "a1"),
        written=_loan_written,
    ),
    "loan-detail": _loan_object_case(("GET", "PATCH")),
    "loan-schedule": _loan_object_case(("GET",)),
    "loan-eligibility": _loan_object_case(("GET",)),
    "loan-repayments": _loan_object_case(("GET", "POST")),
    "loan-checks": _loan_object_case(("GET", "POST")),
    **{f"loan-{action}": _loan_object_case() for action in LOAN_ACTIONS},
}

# Breakers: one bad loan in each of villages A1, B1 and X1 (bank X in 上蔡, bank Y in 西平), then
# the breakers computed: every village and its township has a row.
BREAKER_VILLAGES = {"a1": "411722100201", "b1": "411722101201", "x1": "411721100201"}


def _breaker_world(w) -> dict:
    if "breakers" not in w:
        from loans.daily import compute_breakers
        from loans.tests.factories_daily import overdue_by

        as_of = today()
        for key in BREAKER_VILLAGES:
            bank = w["banks"]["y" if key == "x1" else "x"]
            overdue_by(200, as_of, w["regions"][f"village_{key}"], bank=bank, actor=w["personas"]["admin"],
                       classification="doubtful")  # fmt: skip
        compute_breakers(as_of=as_of)
        w["breakers"] = dict(BREAKER_VILLAGES)
    return w["breakers"]


def _breaker_target(w, target, method):
    return {"region_code": _breaker_world(w)[target]}, {}, {}


def _breaker_snapshot(w, target):
    from loans.models import Breaker, BreakerEvent

    code = _breaker_world(w)[target]
    return Breaker.objects.get(region_id=code).state, BreakerEvent.objects.filter(region_id=code).count()


def _daily_target(w, target, method):
    return {}, {}, {"as_of": today().isoformat(), "county": COUNTIES[target]}


def _job_count(w, target):
    from common.models import Job

    return Job.objects.count()


SHANGCAI_BREAKERS = ("411722100201", "411722100", "411722101201", "411722101")
DAILY_ROUTES: dict[str, object] = {
    "jobs-daily": Object(
        methods=("POST",),
        targets={
            "bank_y": "shangcai",
            "bank_x": "xiping",
            "township_b": "xiping",
            "village_a1": "xiping",
            "nobody": "shangcai",
        },  # fmt: skip
        insiders={("shangcai", "POST"): "county_staff", ("xiping", "POST"): "admin"},
        request=_daily_target,
        untouched=_job_count,
    ),
    "breaker-list": List(
        methods=("GET",),
        key=lambda item: item["region_code"],
        setup=_breaker_world,
        visible={
            "county_staff": _codes(*SHANGCAI_BREAKERS),
            "township_a": _codes("411722100201", "411722100"),
            "township_b": _codes("411722101201", "411722101"),
            "village_a1": _codes("411722100201"),
            "bank_x": _codes(*SHANGCAI_BREAKERS),
            "bank_y": _codes("411721100201", "411721100"),
            "city": _codes(*SHANGCAI_BREAKERS, "411721100201", "411721100"),
            "admin": _codes(*SHANGCAI_BREAKERS, "411721100201", "411721100"),
            "nobody": _codes(),
        },
    ),
    "breaker-resume": Object(
        methods=("POST",),
        targets={"township_b": "a1", "bank_y": "a1", "village_a1": "b1", "bank_x": "x1", "nobody": "a1"},
        insiders={("a1", "POST"): "county_staff", ("b1", "POST"): "county_staff", ("x1", "POST"): "admin"},
        request=_breaker_target,
        untouched=_breaker_snapshot,
    ),
}


# Dashboards (reporting): a region outside the caller's scope answers 404 on the dashboard, its trend
# and its export; the monthly report is the city's; the assessment lists the counties in scope.
DASHBOARD_REGIONS = {
    "city": "411700",
    "shangcai": "411722",
    "xiping": "411721",
    "a": "411722100",
    "b1": "411722101201",
}


def _rollups(w) -> None:
    if "rollups" not in w:
        from reporting.rollups import compute_rollups

        w["rollups"] = compute_rollups(as_of=today())


def _dashboard_target(w, target, method):
    _rollups(w)
    return {}, {"region": DASHBOARD_REGIONS[target]}, {}


def _monthly_target(w, target, method):
    _rollups(w)
    return {}, {"region": DASHBOARD_REGIONS[target], "month": f"{today():%Y-%m}"}, {}


def _assessment_rows(response) -> list[dict]:
    return response.json()["results"]


DASHBOARD_CASE = {
    "methods": ("GET",),
    "targets": {"township_b": "a", "township_a": "shangcai", "county_staff": "city", "bank_y": "shangcai",
                "bank_x": "xiping", "village_a1": "b1", "nobody": "city"},
    "insiders": {("a", "GET"): "township_a", ("shangcai", "GET"): "county_staff", ("xiping", "GET"): "bank_y",
                 ("b1", "GET"): "township_b", ("city", "GET"): "city"},
    "request": _dashboard_target,
}  # fmt: skip
REPORTING_ROUTES: dict[str, object] = {
    "dashboard": Object(**DASHBOARD_CASE),
    "dashboard-trend": Object(**DASHBOARD_CASE),
    "dashboard-export": Object(**DASHBOARD_CASE),
    "report-monthly": Object(
        methods=("GET",),
        targets={"county_staff": "city", "township_a": "city", "bank_x": "city", "nobody": "city"},
        insiders={("city", "GET"): "city"},
        request=_monthly_target,
    ),
    "assessment": List(
        methods=("GET",),
        key=lambda row: row["county"],
        setup=_rollups,
        items=_assessment_rows,
        visible={
            "county_staff": _codes("411722"),
            "township_a": _codes(),
            "township_b": _codes(),
            "village_a1": _codes(),
            "bank_x": _codes("411722"),
            "bank_y": _codes("411721"),
            "city": _codes("411722", "411721"),
            "admin": _codes("411722", "411721"),
            "nobody": _codes(),
        },
    ),
}


# Interest subsidy: one batch of the first quarter of 2024 in 上蔡 (bank X) and one in 西平 (bank Y),
# computed by the admin, made on first use. A batch is its county's: county staff and the city read
# it, and the officers of its bank; townships, villages and the other county and bank do not.
SUBSIDY_BATCHES = {"shangcai": ("shangcai", "x"), "xiping": ("xiping", "y")}


def _subsidy_world(w) -> dict:
    if "subsidy_batches" not in w:
        from subsidy.services import batch_create

        w["subsidy_batches"] = {
            key: batch_create(actor=w["personas"]["admin"], county=w["regions"][county], bank=w["banks"][bank],
                              period_start=datetime.date(2024, 1, 1))
            for key, (county, bank) in SUBSIDY_BATCHES.items()
        }  # fmt: skip
    return w["subsidy_batches"]


def _subsidy_batches(*keys):
    return lambda w: {
        f"{w['banks'][SUBSIDY_BATCHES[k][1]].code}-{w['regions'][SUBSIDY_BATCHES[k][0]].code}" for k in keys
    }


def _subsidy_target(w, target, method):
    return (
        {"pk": _subsidy_world(w)[target].pk},
        {},
        {"reason": "矩阵", "comment": "矩阵"} if method == "POST" else {},
    )


def _subsidy_snapshot(w, target):
    from subsidy.models import SettlementBatch

    batch = SettlementBatch.objects.get(pk=_subsidy_world(w)[target].pk)
    return batch.status, batch.line_count, batch.computed_at, batch.events.count()


def _new_subsidy_batch_body(w, county_code):
    bank = "PSBC" if county_code == "411722" else "ZYRCB"
    return {"county": county_code, "bank": bank, "period_start": "2024-04-01", "period_end": "2024-06-30"}


def _subsidy_batch_written(w):
    from subsidy.models import SettlementBatch

    return SettlementBatch.objects.filter(period_start=datetime.date(2024, 4, 1)).exists()


SUBSIDY_OUTSIDERS = {
    "township_a": "shangcai", "township_b": "shangcai", "village_a1": "shangcai", "bank_y": "shangcai",
    "nobody": "shangcai", "bank_x": "xiping", "county_staff": "xiping",
}  # fmt: skip


def _subsidy_object_case(method):
    insiders = (
        {("shangcai", "GET"): "bank_x", ("xiping", "GET"): "bank_y"}
        if method == "GET"
        else {("shangcai", "POST"): "county_staff", ("xiping", "POST"): "admin"}
    )
    return Object(methods=(method,), targets=SUBSIDY_OUTSIDERS, insiders=insiders, request=_subsidy_target,
                  untouched=_subsidy_snapshot)  # fmt: skip


SUBSIDY_ROUTES: dict[str, object] = {
    "subsidy-batch-list": List(
        methods=("GET", "POST"),
        key=lambda item: f"{item['bank']}-{item['county']}",
        setup=_subsidy_world,
        visible={
            "county_staff": _subsidy_batches("shangcai"),
            "township_a": _subsidy_batches(),
            "township_b": _subsidy_batches(),
            "village_a1": _subsidy_batches(),
            "bank_x": _subsidy_batches("shangcai"),
            "bank_y": _subsidy_batches("xiping"),
            "city": _subsidy_batches("shangcai", "xiping"),
            "admin": _subsidy_batches("shangcai", "xiping"),
            "nobody": _subsidy_batches(),
        },  # fmt: skip
        post_into={
            "county_staff": lambda w: "411721",
            "bank_x": lambda w: "411721",
            "city": lambda w: "411722",
            "township_a": lambda w: "411722",
            "village_a1": lambda w: "411722",
            "bank_y": lambda w: "411722",
            "nobody": lambda w: "411722",
        },  # fmt: skip
        post_body=_new_subsidy_batch_body,
        post_insider=("county_staff", lambda w: "411722"),
        written=_subsidy_batch_written,
    ),
    "subsidy-batch-detail": _subsidy_object_case("GET"),
    "subsidy-batch-lines": _subsidy_object_case("GET"),
    "subsidy-batch-export": _subsidy_object_case("GET"),
    **{
        f"subsidy-batch-{a}": _subsidy_object_case("POST")
        for a in ("recompute", "approve", "mark-paid", "cancel")
    },
}

ROUTES: dict[str, object] = {
    **SUBSIDY_ROUTES,
    **risk_fund_routes(List=List, Object=Object),
    **RATING_ROUTES,
    **LOAN_ROUTES,
    **DAILY_ROUTES,
    **REPORTING_ROUTES,
    "auth-token": Public(methods=("POST",), expect=400, body={"username": "nobody", "password": "wrong"}),
    # Each caller ends its own token (force-authenticated here: no token, nothing to revoke) and
    # changes its own password (an empty body: 400, nothing written).
    "auth-logout": AnyUser(methods=("POST",), request=lambda w: {}, expect=204),
    "auth-password": AnyUser(methods=("POST",), request=lambda w: {}, expect=400),
    # The OpenAPI document and its page: any signed-in caller (the same document for all).
    "api-schema": AnyUser(methods=("GET",), request=lambda w: {}),
    "api-docs": AnyUser(methods=("GET",), request=lambda w: {}),
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
    **{
        f"policy-{action}": Object(
            methods=("POST",),
            targets={"township_b": "xiping", "bank_x": "xiping", "bank_y": "shangcai", "nobody": "shangcai"},
            insiders={("shangcai", "POST"): "county_staff", ("xiping", "POST"): "bank_y"},  # bank_y: 403
            request=_policy_review_target,
            untouched=_policy_review_snapshot,
        )
        for action in ("approve", "reject")
    },
    # Everyone whose area lies in 驻马店 reads its envelope; only its 市财政局/金融办 (and admins)
    # change it (the others get 403, tests/test_access_city.py and the envelope tests).
    "city-policy-list": Object(
        methods=("GET", "POST"),
        targets={"nobody": "zhumadian"},
        insiders={("zhumadian", "GET"): "county_staff", ("zhumadian", "POST"): "city"},
        request=_city_policy_target,
        untouched=_city_policy_snapshot,
    ),
    **{
        f"city-policy-{action}": Object(
            methods=("POST",),
            targets={"nobody": "zhumadian"},
            insiders={("zhumadian", "POST"): "admin"},
            request=_city_review_target,
        )
        for action in ("approve", "reject")
    },
    "policy-current": Object(
        methods=("GET",),
        targets={"township_b": "xiping", "bank_x": "xiping", "bank_y": "shangcai", "nobody": "shangcai"},
        insiders={("shangcai", "GET"): "township_a", ("xiping", "GET"): "bank_y"},
        request=_policy_current_target,
    ),
    "household-export": List(
        methods=("GET",),
        key=lambda row: row["户编号"],
        items=_xlsx_rows,
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
    "import-create": Upload(
        methods=("POST",),
        allowed=frozenset({"county_staff", "admin"}),  # households: county staff (DOMAIN.md), admins
        body=_import_upload,
        written=_import_written,
    ),
    "import-template": AnyUser(methods=("GET",), request=lambda w: {"kind": "households"}),
    "import-detail": Object(
        methods=("GET",),
        targets=IMPORT_OUTSIDERS,
        insiders={("county", "GET"): "county_staff", ("bank", "GET"): "admin"},
        request=_import_target,
        untouched=_import_snapshot,
    ),
    "import-error-report": Object(
        methods=("GET",),
        targets=IMPORT_OUTSIDERS,
        insiders={("county", "GET"): "admin", ("bank", "GET"): "bank_x"},
        request=_import_target,
        untouched=_import_snapshot,
    ),
    "household-pii": Object(
        methods=("GET",),
        targets=HOUSEHOLD_OUTSIDERS,
        insiders={("a1", "GET"): "county_staff", ("b1", "GET"): "bank_x", ("x1", "GET"): "bank_y"},
        request=_household_target,
        untouched=_household_snapshot,
    ),
    # --- enterprises (world["enterprises"]: a in township A, b in township B, x in 西平) ---
    "enterprise-list": List(
        methods=("GET", "POST"),
        key=lambda item: item["credit_code"],
        visible={
            "county_staff": _enterprises("a", "b"),
            "township_a": _enterprises("a"),
            "township_b": _enterprises("b"),
            "village_a1": _enterprises(),  # a village desk's area lies below every township
            "bank_x": _enterprises("a", "b"),
            "bank_y": _enterprises("x"),
            "city": _enterprises("a", "b", "x"),
            "admin": _enterprises("a", "b", "x"),
            "nobody": _enterprises(),
        },
        post_into={
            "township_b": lambda w: TOWNSHIPS["a"],
            "bank_y": lambda w: TOWNSHIPS["a"],
            "bank_x": lambda w: TOWNSHIPS["x"],
            "village_a1": lambda w: TOWNSHIPS["a"],
            "county_staff": lambda w: TOWNSHIPS["x"],
            "nobody": lambda w: TOWNSHIPS["a"],
        },
        post_body=_new_enterprise_body,
        post_insider=("township_a", lambda w: TOWNSHIPS["a"]),
        written=lambda w: Enterprise.objects.filter(credit_code=MATRIX_CREDIT_CODE).exists(),
    ),
    "enterprise-detail": Object(
        methods=("GET", "PATCH"),
        targets=ENTERPRISE_OUTSIDERS,
        insiders={
            ("a", "GET"): "township_a",
            ("a", "PATCH"): "township_a",
            ("x", "GET"): "bank_y",
            ("x", "PATCH"): "admin",
        },
        request=_enterprise_target,
        untouched=_enterprise_snapshot,
    ),
    "enterprise-recognize": Object(
        methods=("POST",),
        targets=ENTERPRISE_OUTSIDERS,
        insiders={("a", "POST"): "county_staff", ("x", "POST"): "admin"},
        request=_enterprise_target,
        untouched=_enterprise_snapshot,
    ),
    "enterprise-withdraw-recognition": Object(
        methods=("POST",),
        targets=ENTERPRISE_OUTSIDERS,
        insiders={("a", "POST"): "county_staff", ("x", "POST"): "admin"},
        request=_enterprise_target,
        untouched=_enterprise_snapshot,
    ),
    "enterprise-links": Object(
        methods=("GET", "POST"),
        targets=ENTERPRISE_OUTSIDERS,
        insiders={
            ("a", "GET"): "township_a",
            ("a", "POST"): "county_staff",
            ("x", "GET"): "bank_y",
            ("x", "POST"): "admin",
        },
        request=_enterprise_target,
        untouched=_enterprise_snapshot,
    ),
    "enterprise-link-end": Object(
        methods=("POST",),
        targets=ENTERPRISE_OUTSIDERS,
        insiders={("a", "POST"): "county_staff", ("x", "POST"): "admin"},
        request=_enterprise_link_target,
        untouched=_enterprise_snapshot,
    ),
    "enterprise-eligibility": Object(
        methods=("GET",),
        targets=ENTERPRISE_OUTSIDERS,
        insiders={("a", "GET"): "township_a", ("x", "GET"): "bank_y"},
        request=_enterprise_target,
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


# The `world` fixture is in tests/conftest.py (the access-control tests share it).


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
    elif isinstance(case, AnyUser):
        kwargs = case.request(world)
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
    if case.setup:
        case.setup(world)
    response = _call(api(world["personas"][persona]), method, build_path(name), query={"page_size": 500})
    assert response.status_code == 200, getattr(response, "content", response)
    if case.items:
        items = case.items(response)
    else:
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
    if case.setup:
        case.setup(world)
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
    if case.setup:
        case.setup(world)
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


# --- uploads, and routes open to every signed-in user ----------------------------------------

UPLOADS = [(name, m, p) for name, case in _cases(Upload) for m in case.methods for p in ALL_PERSONAS]


@pytest.mark.parametrize(("name", "method", "persona"), UPLOADS, ids=_ids(UPLOADS))
def test_upload_only_by_roles_that_may(api, world, name, method, persona):
    case = ROUTES[name]
    client = api(world["personas"][persona])
    response = getattr(client, method.lower())(build_path(name), case.body(world), format="multipart")
    if persona in case.allowed:
        assert response.status_code == case.expect, response.content[:300]
        assert case.written(world, persona)
    else:
        assert_error_shape(response, 403, "permission_denied")
        assert not case.written(world, persona)


ANY_USER = [(name, m, p) for name, case in _cases(AnyUser) for m in case.methods for p in ALL_PERSONAS]


@pytest.mark.parametrize(("name", "method", "persona"), ANY_USER, ids=_ids(ANY_USER))
def test_open_route_answers_every_persona_alike(api, world, name, method, persona):
    case = ROUTES[name]
    response = _call(api(world["personas"][persona]), method, build_path(name, case.request(world)))
    assert response.status_code == case.expect, (persona, response.status_code)
