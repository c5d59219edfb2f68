"""Shared by the access-control tests (tests/test_access_*.py): every route the URL resolver knows,
the browser pages' scope cases, a fingerprint of every table (so a refused request provably wrote
nothing), and the text of a response, spreadsheets included.

The API's cases are tests/test_scope_matrix.py's ROUTES; the pages' are PAGES below, built on the
same world (households a1/b1/x1, enterprises a/b/x, loans, ratings, claims, batches and import jobs
made on first use). Each page case names the object of township A / 上蔡 that the page shows, who
must get 404 for it (outsiders), who reaches it (the insider) and who is refused with 403.
"""

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.apps import apps
from django.db import connection
from django.urls import get_resolver, reverse

from common.clock import today
from risk_fund.tests.matrix_cases import claim_world
from tests.test_scope_matrix import (
    API_PREFIX,
    _import_job,
    _loan_world,
    _rating_world,
    _rollups,
    _subsidy_world,
    _walk,
)

ADMIN_PREFIX = "admin/"


@dataclass(frozen=True)
class Route:
    pattern: str
    name: str | None
    callback: object

    @property
    def area(self) -> str:
        if self.pattern.startswith(API_PREFIX):
            return "api"
        if self.pattern.startswith(ADMIN_PREFIX):
            return "admin"
        return "page"


def all_routes() -> list[Route]:
    return [Route(pattern, name, callback) for pattern, name, callback in _walk(get_resolver().url_patterns)]


# --- nothing written ------------------------------------------------------------------------------

# Tables a request may touch without writing business data: the session (idle-timeout stamp) and
# the login-lockout records.
UNTRACKED = {"sessions.session", "axes.accessattempt", "axes.accesslog", "axes.accessfailurelog"}


def _tracked_tables() -> dict[str, tuple[str, str]]:
    """Model label -> (table, primary key column) of every table a request could write."""
    tables = {}
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.label_lower not in UNTRACKED and meta.managed and not meta.proxy:
            tables[meta.label_lower] = (meta.db_table, meta.pk.column)
    return tables


def db_fingerprint() -> dict[str, str]:
    """Model label -> a digest of all its rows, for every table: equal before and after a request
    means the request wrote nothing (no row added, changed or removed). The tests take it often:
    on PostgreSQL the database digests every table in one statement; elsewhere one query a table."""
    quote, tables = connection.ops.quote_name, _tracked_tables()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(" UNION ALL ".join(
                f"SELECT %s, md5(coalesce(string_agg(t::text, '|' ORDER BY t.{quote(pk)}), '')) FROM {quote(table)} t"
                for table, pk in tables.values()
            ), list(tables))  # fmt: skip
            return dict(cursor.fetchall())
        digests = {}
        for label, (table, pk) in tables.items():
            cursor.execute(f"SELECT * FROM {quote(table)} ORDER BY {quote(pk)}")
            digests[label] = hashlib.sha256(repr(cursor.fetchall()).encode()).hexdigest()
    return digests


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(label for label in before if before[label] != after.get(label))


# --- what a response shows ---------------------------------------------------------------------

XLSX_MAGIC = b"PK\x03\x04"


def response_text(response) -> str:
    """Everything the response shows: its body, or every cell of every sheet of a workbook."""
    content = b"".join(response.streaming_content) if response.streaming else response.content
    if content.startswith(XLSX_MAGIC):
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(content), read_only=True)
        return "\n".join(
            "\t".join("" if v is None else str(v) for v in row)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
        )
    return content.decode("utf-8", errors="replace")


# --- the browser pages' cases ----------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """kwargs/query: world -> the URL kwargs / query of the object (of township A, 上蔡) the page is
    about. outsiders get 404 for it on GET and POST; refused get 403; the insider reaches it (GET,
    or POST for a POST-only page: not 404, no server error). shown: world -> texts of township A's
    rows a list page shows its insider and never its outsiders."""

    kwargs: Callable[[dict], dict] | None = None
    query: Callable[[dict], dict] | None = None
    outsiders: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    insider: str | None = None
    post_only: bool = False
    shown: Callable[[dict], set[str]] | None = None
    public: bool = False  # reachable without logging in
    body: dict | None = None  # what the insider posts (else an empty form)
    form: bool = False  # the page takes a POST besides a GET (a POST-only page does too)

    @property
    def takes_post(self) -> bool:
        return self.form or self.post_only


def page_path(name: str, world: dict, case: Page) -> str:
    path = reverse(name, kwargs=case.kwargs(world) if case.kwargs else None)
    return f"{path}?{urlencode(case.query(world))}" if case.query else path


# Who must not see township A's objects: township B, bank Y (西平), and a user with no role.
OUTSIDERS_A1 = ("township_b", "bank_y", "nobody")
# Roles the region-role create forms are not for.
NOT_EDITORS = ("township_a", "township_b", "bank_x", "bank_y", "city", "nobody")
# Who may read 上蔡's policy but not propose or review it; who may read the city's but not set it.
POLICY_READERS = ("township_a", "township_b", "village_a1", "bank_x", "city")
CITY_POLICY_READERS = ("county_staff", "township_a", "township_b", "village_a1", "bank_x", "bank_y")
# Who must not see 上蔡's subsidy pot at all (it is the city's and the county centre's money).
NOT_POT = ("township_a", "township_b", "village_a1", "bank_y", "nobody")
NOT_COUNTY = ("township_a", "township_b", "village_a1", "bank_x", "bank_y", "city", "nobody")


def _household(w):
    return {"pk": w["households"]["a1"].pk}


def _enterprise(w):
    return {"pk": w["enterprises"]["a"].pk}


def _link(w):
    enterprise = w["enterprises"]["a"]
    return {"pk": enterprise.pk, "link_id": enterprise.links.get().pk}


def _loan(w):
    return {"pk": _loan_world(w)["a1"].pk}


def _tripped_village(w):
    """Village A1's breaker, tripped (the access world has no daily job run)."""
    from loans.models import Breaker  # noqa: PLC0415

    Breaker.objects.get_or_create(
        region_id="411722100201", defaults={"level": "village", "state": Breaker.State.TRIPPED, "npl_ratio": "9.00",
                                            "threshold": "7.00"},
    )  # fmt: skip
    return {"region_code": "411722100201"}


def _claim(w):
    return {"pk": claim_world(w)["claimed"]["a1"].pk}


def _region(code):
    def query(w):
        _rollups(w)
        return {"region": code}

    return query


def _this_year(w):
    _rollups(w)
    return {"year": today().year}


def _proposal(w, level: str):
    """A policy row of 上蔡 / 驻马店市 proposed by the admin, waiting for review (made once)."""
    import datetime

    from organization import services

    key = f"{level}_proposal"
    if key not in w:
        day = today() + datetime.timedelta(days=3)
        admin = w["personas"]["admin"]
        if level == "county":
            w[key] = services.policy_propose(
                actor=admin,
                county=w["regions"]["shangcai"],
                effective_from=day,
                changes={"notice_period_days": 9},
            )
        else:
            w[key] = services.city_policy_propose(
                actor=admin,
                city=w["regions"]["city"],
                effective_from=day,
                changes={"village_npl_threshold": 6},
            )
    return w[key]


SHANGCAI = lambda w: {"county_code": "411722"}  # noqa: E731
HOUSEHOLD_A1 = lambda w: {w["households"]["a1"].household_no}  # noqa: E731

PAGES: dict[str, Page] = {
    "login": Page(public=True),
    "logout": Page(public=True),
    # Every signed-in user changes their own password (an empty form: refused, nothing written).
    "password-change": Page(insider="nobody", form=True),
    "home": Page(insider="nobody"),
    # --- reporting
    "dashboard:index": Page(
        query=_region("411722"),
        outsiders=("township_a", "township_b", "village_a1", "bank_y", "nobody"),
        insider="county_staff",
    ),
    "dashboard:assessment": Page(insider="city"),
    "dashboard:assessment-export": Page(query=_this_year, insider="city"),
    # --- households
    "households:list": Page(outsiders=OUTSIDERS_A1, insider="township_a", shown=HOUSEHOLD_A1),
    "households:export": Page(outsiders=OUTSIDERS_A1, insider="township_a", shown=HOUSEHOLD_A1),
    "households:create": Page(refused=NOT_EDITORS, insider="village_a1", form=True),
    "households:detail": Page(kwargs=_household, outsiders=OUTSIDERS_A1, insider="township_a", form=True),
    "households:edit": Page(
        kwargs=_household,
        outsiders=OUTSIDERS_A1,
        refused=("township_a", "bank_x", "city"),
        insider="village_a1",
        form=True,
    ),
    # --- imports: a job is its uploader's (county staff here) and the admins'
    "imports:list": Page(refused=("village_a1", "city", "nobody"), insider="bank_x", form=True),
    "imports:detail": Page(
        kwargs=lambda w: {"pk": _import_job(w, "county").pk},
        outsiders=("township_a", "village_a1", "bank_x", "city", "nobody"),
        insider="county_staff",
    ),
    "imports:commit": Page(
        kwargs=lambda w: {"pk": _import_job(w, "county").pk},
        post_only=True,
        outsiders=("township_a", "village_a1", "bank_x", "city", "nobody"),
        insider="county_staff",
    ),
    "imports:error-report": Page(
        kwargs=lambda w: {"pk": _import_job(w, "county").pk},
        outsiders=("township_a", "village_a1", "bank_x", "city", "nobody"),
        insider="county_staff",
    ),
    "imports:template": Page(kwargs=lambda w: {"kind": "households"}, insider="nobody"),
    # --- credit rating
    "credit_rating:list": Page(insider="township_a"),
    "credit_rating:bulk": Page(
        post_only=True, refused=NOT_COUNTY, insider="county_staff", body={"action": "submit"}
    ),
    "credit_rating:expiring": Page(insider="township_a"),
    "credit_rating:coverage": Page(insider="township_a"),
    "credit_rating:prerate": Page(refused=NOT_COUNTY, insider="county_staff", form=True),
    "credit_rating:create": Page(
        kwargs=lambda w: {"household_id": w["households"]["a1"].pk},
        outsiders=OUTSIDERS_A1,
        refused=("township_a", "bank_x", "city"),
        insider="village_a1",
        form=True,
    ),
    "credit_rating:detail": Page(
        kwargs=lambda w: {"pk": _rating_world(w)["a1"].pk},
        outsiders=OUTSIDERS_A1,
        insider="township_a",
        form=True,
    ),
    "credit_rating:edit": Page(
        kwargs=lambda w: {"pk": _rating_world(w)["a1"].pk},
        outsiders=OUTSIDERS_A1,
        insider="village_a1",
        form=True,
    ),
    # --- enterprises
    "enterprises:list": Page(
        outsiders=(*OUTSIDERS_A1, "village_a1"),
        insider="township_a",
        shown=lambda w: {w["enterprises"]["a"].credit_code},
    ),
    "enterprises:export": Page(
        outsiders=(*OUTSIDERS_A1, "village_a1"),
        insider="township_a",
        shown=lambda w: {w["enterprises"]["a"].credit_code},
    ),
    "enterprises:create": Page(refused=("bank_x", "city", "nobody"), insider="township_a", form=True),
    "enterprises:detail": Page(
        kwargs=_enterprise, outsiders=(*OUTSIDERS_A1, "village_a1"), insider="township_a"
    ),
    "enterprises:edit": Page(
        kwargs=_enterprise,
        outsiders=(*OUTSIDERS_A1, "village_a1"),
        refused=("bank_x", "city"),
        insider="township_a",
        form=True,
    ),
    **{
        f"enterprises:{name}": Page(
            kwargs=kwargs, outsiders=(*OUTSIDERS_A1, "village_a1"), post_only=True, insider="county_staff"
        )
        for name, kwargs in (
            ("recognize", _enterprise),
            ("withdraw", _enterprise),
            ("link-create", _enterprise),
            ("link-end", _link),
        )
    },
    # --- loans (the draft of A1 at bank X)
    "loans:list": Page(
        outsiders=OUTSIDERS_A1, insider="township_a", shown=lambda w: {_loan_world(w)["a1"].loan_no}
    ),
    "loans:queue": Page(insider="village_a1"),
    "loans:create": Page(
        query=lambda w: {"household": w["households"]["a1"].pk},
        outsiders=OUTSIDERS_A1,
        refused=("township_a", "bank_x", "city"),
        insider="village_a1",
        form=True,
    ),
    "loans:detail": Page(kwargs=_loan, outsiders=OUTSIDERS_A1, insider="township_a"),
    "loans:edit": Page(
        kwargs=_loan,
        outsiders=OUTSIDERS_A1,
        refused=("township_a", "bank_x", "city"),
        insider="village_a1",
        form=True,
    ),
    "loans:action": Page(
        kwargs=lambda w: {**_loan(w), "action": "submit"},
        outsiders=OUTSIDERS_A1,
        post_only=True,
        insider="village_a1",
    ),
    "loans:repayment": Page(kwargs=_loan, outsiders=OUTSIDERS_A1, post_only=True, insider="bank_x"),
    "loans:breakers": Page(insider="county_staff"),
    "loans:breaker-resume": Page(
        kwargs=_tripped_village,
        outsiders=OUTSIDERS_A1,
        refused=("township_a", "village_a1", "bank_x", "city"),
        post_only=True,
        insider="county_staff",
    ),
    "loans:check": Page(kwargs=_loan, outsiders=OUTSIDERS_A1, post_only=True, insider="township_a"),
    # --- subsidy (上蔡's batch with bank X)
    "subsidy:list": Page(insider="bank_x"),
    "subsidy:create": Page(refused=NOT_COUNTY, insider="county_staff", form=True),
    "subsidy:detail": Page(
        kwargs=lambda w: {"pk": _subsidy_world(w)["shangcai"].pk},
        outsiders=("township_a", "township_b", "village_a1", "bank_y", "nobody"),
        insider="bank_x",
    ),
    "subsidy:action": Page(
        kwargs=lambda w: {"pk": _subsidy_world(w)["shangcai"].pk, "action": "approve"},
        post_only=True,
        outsiders=("township_a", "township_b", "village_a1", "bank_y", "nobody"),
        insider="county_staff",
    ),
    # --- risk fund (上蔡's fund; A1's claim at bank X)
    "risk_fund:list": Page(insider="township_b"),
    "risk_fund:claims": Page(
        outsiders=OUTSIDERS_A1,
        insider="township_a",
        shown=lambda w: {claim_world(w)["claimed"]["a1"].loan.loan_no},
    ),
    "risk_fund:claim-create": Page(
        kwargs=lambda w: {"loan_id": claim_world(w)["free"]["a1"].pk},
        outsiders=OUTSIDERS_A1,
        insider="bank_x",
        form=True,
    ),
    "risk_fund:claim": Page(kwargs=_claim, outsiders=OUTSIDERS_A1, insider="township_a"),
    "risk_fund:claim-action": Page(
        kwargs=lambda w: {**_claim(w), "action": "verify"},
        outsiders=OUTSIDERS_A1,
        post_only=True,
        insider="county_staff",
    ),
    "risk_fund:claim-recovery": Page(kwargs=_claim, outsiders=OUTSIDERS_A1, post_only=True, insider="bank_x"),
    "risk_fund:detail": Page(kwargs=SHANGCAI, outsiders=("bank_y", "nobody"), insider="township_b"),
    "risk_fund:deposit": Page(
        kwargs=SHANGCAI,
        outsiders=("bank_y", "nobody"),
        refused=("township_b", "bank_x", "city"),
        post_only=True,
        insider="county_staff",
    ),
    "risk_fund:agreement-create": Page(
        kwargs=SHANGCAI,
        outsiders=("bank_y", "nobody"),
        refused=("township_b", "bank_x", "city"),
        post_only=True,
        insider="county_staff",
    ),
    # --- policy pages (上蔡's rows and the city's; a proposal of each, made by the admin)
    "policies:index": Page(insider="nobody"),
    "policies:county": Page(
        kwargs=lambda w: {"code": "411722"}, outsiders=("bank_y", "nobody"), insider="township_a"
    ),
    "policies:county-propose": Page(
        kwargs=lambda w: {"code": "411722"},
        outsiders=("bank_y", "nobody"),
        refused=POLICY_READERS,
        post_only=True,
        insider="county_staff",
    ),
    "policies:county-review": Page(
        kwargs=lambda w: {"pk": _proposal(w, "county").pk},
        outsiders=("bank_y", "nobody"),
        refused=POLICY_READERS,
        post_only=True,
        insider="county_staff",
    ),
    "policies:city": Page(kwargs=lambda w: {"code": "411700"}, outsiders=("nobody",), insider="county_staff"),
    "policies:city-propose": Page(
        kwargs=lambda w: {"code": "411700"},
        outsiders=("nobody",),
        refused=CITY_POLICY_READERS,
        post_only=True,
        insider="city",
    ),
    "policies:city-review": Page(
        kwargs=lambda w: {"pk": _proposal(w, "city").pk},
        outsiders=("nobody",),
        refused=CITY_POLICY_READERS,
        post_only=True,
        insider="city",
    ),
    # --- the city's subsidy pot (上蔡's): city finance deposits, county staff pay out
    "subsidy:pots": Page(insider="county_staff"),
    # bank_x may not read the pot either (403 on GET: subsidy/tests/test_pot.py)
    "subsidy:pot": Page(kwargs=lambda w: {"code": "411722"}, outsiders=NOT_POT, insider="city"),
    "subsidy:pot-deposit": Page(
        kwargs=lambda w: {"code": "411722"},
        outsiders=NOT_POT,
        refused=("county_staff", "bank_x"),
        post_only=True,
        insider="city",
    ),
    "subsidy:pot-payout": Page(
        kwargs=lambda w: {"code": "411722"},
        outsiders=NOT_POT,
        refused=("bank_x", "city"),
        post_only=True,
        insider="county_staff",
    ),
}
