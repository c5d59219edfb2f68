"""Hostile input (issue 9, point 5): over-long text, injection strings, NUL and invisible characters,
wrong types, absurd numbers and dates, ID numbers as people type them, formula injection in exports.

- The API: every write operation of /api/v1/schema/ with a body has a CASE (a persona allowed to
  use it, a body that succeeds); every field of the body gets each payload of its kind, one request
  each, in a savepoint rolled back afterwards, so every request starts from the same world. A
  refusal is a 400 (or the 404 of a missing object) in the API's shape that wrote nothing; accepted
  text comes back verbatim; a negative number is never accepted. Query parameters of every read too.
- The pages: every browser route is visited (or says why not); every text field of every POST
  form found gets over-long text (refused in Chinese, nothing written) and the injection string
  (never rendered unescaped).
- ID numbers, credit codes and phones with full-width characters, spaces or a lower-case x:
  normalised or refused in Chinese through the API, the forms, the import and the search boxes.
- Every xlsx download, with formula-looking names stored: no cell is a formula.
"""

import contextlib
import datetime
import functools
import importlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
import time_machine
from django.apps import apps
from django.db import connection, transaction
from django.test import Client
from django.urls import URLResolver, get_resolver, resolve
from rest_framework.test import APIClient

from common.clock import today
from common.testing import make_resident_id
from credit_rating import services as rating_services
from credit_rating.models import RatingStatus
from credit_rating.tests.factories import full_scores
from credit_rating.tests.factories import walk as walk_rating
from enterprises.services import enterprise_recognize
from enterprises.tests.factories import BenefitLinkFactory, EnterpriseFactory, credit_code_for
from households.tests.factories import HouseholdFactory
from loans import services as loan_services
from loans.models import Breaker, LoanStatus
from loans.tests.factories import SHANGHAI, apply, fund_deposit, rate, walk
from organization.models import Role
from organization.tests.factories import UserFactory, assign
from risk_fund import services as fund_services
from risk_fund.tests.factories import overdue_loan
from subsidy import services as subsidy_services
from subsidy.tests.factories import make_loan, pay

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")
HEAD_ID = make_resident_id("411722", datetime.date(1980, 5, 6), 7)
CHILD_ID = make_resident_id("411722", datetime.date(2010, 5, 6), 8)

# --- the payloads --------------------------------------------------------------------------------

# One request per field and payload class: SQL and script injection share one string.
INJECTION = (
    "'; DROP TABLE loans_loan; -- 1' OR '1'='1 <script>alert(1)</script>\"><img src=x onerror=alert(1)>"
)
TEXT = {
    "10k chars": "长" * 10_000,
    "injection": INJECTION,
    "nul": "a\x00b",
    "rtl zero-width": "\u202eabc\u200b\u200d\ufeffdef",
    "wrong type": {"a": [1]},
}
NUMBER = {
    "-1": -1,
    "0": 0,
    "1e20": 10**20,  # as a JSON integer: an integer field must not pass it to a 64-bit column
    "abc": "abc",
    "NaN": "NaN",
    "Infinity": "Infinity",
    "1.005": 1.005,
}
DATE = {
    "0000-00-00": "0000-00-00",
    "2026-02-30": "2026-02-30",
    "9999-12-31": "9999-12-31",
    "1900-01-01": "1900-01-01",
    "wrong type": 20240101,
}
BOOLEAN = {"abc": "abc", "wrong type": {"a": 1}}
CONTAINER = {"wrong type": "abc", "null": None}
PAYLOADS = {"text": TEXT, "number": NUMBER, "date": DATE, "boolean": BOOLEAN, "container": CONTAINER}
# Accepted but never shown back in full: a password, and numbers the API shows masked.
NOT_ECHOED = {"password", "head_id_number", "bank_account"}


# --- the world -----------------------------------------------------------------------------------


@pytest.fixture
def world(regions, banks, personas):
    """Something in every state a write operation starts from, all in 上蔡县 village A1 / bank X
    (this module's own world, in place of the scope matrix's of tests/conftest.py)."""
    p = {
        **personas,
        "county2": assign(UserFactory(username="county2"), Role.COUNTY_STAFF, region=regions["shangcai"]),
        "city2": assign(UserFactory(username="city2"), Role.CITY_FINANCE, region=regions["city"]),
    }
    for name in ("shangcai", "xiping"):
        fund_deposit(regions[name], actor=p["admin"])
    homes = {name: HouseholdFactory(village=regions["village_a1"]) for name in (
        "free", "draft", "submitted", "reviewed", "recommended", "approved", "unrated")}  # fmt: skip
    for name, home in homes.items():
        if name != "unrated":
            rate(home, actor=p["county_staff"])
    return {
        "p": p, "regions": regions, "banks": banks, "homes": homes, **_loans_and_claims(regions, banks, p, homes),
        "ratings": _ratings(regions, p, homes["unrated"]), "enterprises": _enterprises(regions, p, homes["free"]),
        "batches": _batches(regions, banks, p), "policies": _policies(regions, p),
    }  # fmt: skip


def _policies(regions, p) -> dict:
    """A county and a city policy change proposed, each waiting for a second person."""
    from organization import services as org_services  # noqa: PLC0415

    later = today() + datetime.timedelta(days=31)  # policies_create proposes for day 30
    return {
        "county": org_services.policy_propose(actor=p["county_staff"], county=regions["shangcai"], effective_from=later,
                                              changes={"notice_period_days": 7}),
        "city": org_services.city_policy_propose(actor=p["city"], city=regions["city"], effective_from=later,
                                                 changes={"household_loan_cap": "45000.00"}),
    }  # fmt: skip


def _loans_and_claims(regions, banks, p, homes) -> dict:
    """A loan at each step of the workflow, an active and an overdue one, a filed and a paid claim."""
    loans = {"draft": apply(homes["draft"], actor=p["village_a1"], bank=banks["x"])}
    for name, status in (("submitted", LoanStatus.SUBMITTED), ("reviewed", LoanStatus.TOWNSHIP_REVIEWED),
                         ("recommended", LoanStatus.RECOMMENDED), ("approved", LoanStatus.APPROVED)):  # fmt: skip
        loans[name] = walk(apply(homes[name], actor=p["village_a1"], bank=banks["x"]), to=status, personas=p)
    loans["active"] = make_loan(
        regions["village_a1"], bank=banks["x"], actor=p["admin"], disbursed_on=datetime.date(2024, 1, 10)
    )
    rate(loans["active"].household, actor=p["county_staff"])  # extension and renewal need a valid rating
    Breaker.objects.create(region=regions["village_a2"], level="village", state=Breaker.State.TRIPPED,
                           npl_ratio="0.00", threshold="7.00")  # resumable: the breakers page's form  # fmt: skip
    loans["loss"], loans["proposed"] = (
        make_loan(regions["village_a1"], bank=banks["x"], actor=p["admin"], disbursed_on=datetime.date(2024, 1, 10),
                  classification="loss")
        for _ in range(2)
    )  # fmt: skip
    loans["proposed"] = loan_services.loan_write_off(
        actor=p["bank_x"], loan=loans["proposed"], reason="deceased"
    )
    loans["overdue"], filed, loans["compensated"] = (overdue_loan(regions, banks, p) for _ in range(3))
    claim = fund_services.claim_file(actor=p["bank_x"], loan=loans["compensated"])
    claim = fund_services.claim_verify(actor=p["county_staff"], claim=claim)
    claims = {
        "filed": fund_services.claim_file(actor=p["bank_x"], loan=filed),
        "paid": fund_services.claim_pay(actor=p["county2"], claim=claim),
    }
    return {"loans": loans, "claims": claims}


def _ratings(regions, p, unrated) -> dict:
    """A draft, a submitted and a reviewed rating, and a household without one."""
    clerk = p["village_a1"]

    def drafted(household):
        return rating_services.rating_create(actor=clerk, household=household, scores=full_scores())

    def walked(status):
        return walk_rating(drafted(HouseholdFactory(village=regions["village_a1"])), to=status, clerk=clerk,
                           township=p["township_a"], county=p["county_staff"])  # fmt: skip

    return {
        "draft": drafted(unrated), "submitted": walked(RatingStatus.SUBMITTED),
        "reviewed": walked(RatingStatus.REVIEWED), "household": HouseholdFactory(village=regions["village_a1"]),
    }  # fmt: skip


def _enterprises(regions, p, household) -> dict:
    """One enterprise not recognised, one recognised and leading `household`."""
    plain, recognized = (
        EnterpriseFactory(township=regions["town_a"], founded_on=datetime.date(2014, 3, 1)) for _ in range(2)
    )
    enterprise_recognize(actor=p["county_staff"], enterprise=recognized, decision_no="上蔡政〔2017〕1号",
                         decided_on=datetime.date(2017, 1, 1))  # fmt: skip
    link = BenefitLinkFactory(enterprise=recognized, household=household, created_by=p["county_staff"])
    return {"plain": plain, "recognized": recognized, "link": link}


def _batches(regions, banks, p) -> dict:
    """A draft subsidy batch (2024 Q1) and an approved one (Q2), computed by county_staff."""
    loan = make_loan(
        regions["village_a1"], bank=banks["x"], actor=p["admin"], disbursed_on=datetime.date(2023, 11, 15)
    )
    for day in (datetime.date(2024, 2, 15), datetime.date(2024, 5, 15)):
        pay(loan, on=day, actor=p["bank_x"])

    def computed(start):
        return subsidy_services.batch_create(
            actor=p["county_staff"], county=regions["shangcai"], bank=banks["x"], period_start=start
        )

    draft, second = computed(datetime.date(2024, 1, 1)), computed(datetime.date(2024, 4, 1))
    return {"draft": draft, "approved": subsidy_services.batch_approve(actor=p["county2"], batch=second)}


# --- one case per write operation ----------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    persona: str | None  # None: anonymous
    body: Callable[[dict], dict] = lambda w: {}
    path: Callable[[dict], dict] = lambda w: {}
    headers: dict = field(default_factory=dict)
    multipart: bool = False
    travel: Callable[[dict], datetime.date] | None = None  # the day the request is made on
    logs: tuple[str, ...] = ()  # tables (prefixes) a refused request may still write: a security log
    not_kept: tuple[str, ...] = ()  # body fields the operation accepts but has no use for (not stored)


def _loan(name):
    return lambda w: {"id": w["loans"][name].pk}


def _comment(w):
    return {"comment": "同意"}


def _iso(day: datetime.date) -> str:
    return day.isoformat()


def _template() -> bytes:
    from imports.registry import template  # noqa: PLC0415
    from imports.templates_xlsx import build_template  # noqa: PLC0415

    return build_template(template("households"))


# This module's credit codes lie far past EnterpriseFactory's sequence, so the two never collide
# however many enterprises a worker has made before.
HOSTILE_CODES = 10**9


CASES: dict[str, Case] = {
    "auth_token_create": Case(None, lambda w: {"username": "village_a1", "password": "correct-horse-battery"},
                              logs=("axes_",)),
    # A password is stored hashed, never shown back: any text the validators accept is fine.
    "auth_password_create": Case("village_a1", lambda w: {"old_password": "correct-horse-battery",
                                                          "new_password": "Another-long-Pass-2026"},
                                 not_kept=("old_password", "new_password")),
    "users_create": Case("admin", lambda w: {"username": "new_clerk", "password": "Zx9-long-enough-pass",
                                             "full_name": "新用户",
                                             "roles": [{"role": "village_clerk", "region_code": "411722100201"}]},
                        not_kept=("roles.0.bank_code",)),  # a village clerk's role has no bank
    "policies_reject": Case("county2", lambda w: {"reason": "暂不调整"},
                            lambda w: {"id": w["policies"]["county"].pk}),
    "city_policies_create": Case("city", lambda w: {"city": "411700",
                                                    "effective_from": _iso(today() + datetime.timedelta(days=40)),
                                                    "household_loan_cap": "45000.00"}),
    "city_policies_reject": Case("city2", lambda w: {"reason": "暂不调整"}, lambda w: {"id": w["policies"]["city"].pk}),
    "policies_create": Case("county_staff", lambda w: {"county": "411722",
                                                       "effective_from": _iso(today() + datetime.timedelta(days=30)),
                                                       "notice_period_days": 7, "household_loan_cap": "40000.00"}),
    "households_create": Case("village_a1", lambda w: {
        "household_no": "H4117221002019999", "village_code": "411722100201", "head_name": "李四",
        "head_id_number": HEAD_ID, "phone": "13912345678", "member_count": 3, "labor_count": 2,
        "status": "poor", "attribute": "general", "identification_standard": "national",
        "poverty_causes": ["illness"], "per_capita_income": "2800.00", "bank_name": "邮储银行",
        "bank_account": "6228480000000000123",
        # The schema's fields of a list are fuzzed in its first item: a child, not the head.
        "members": [{"name": "李小四", "relation": "子女", "id_number": CHILD_ID, "gender": "male"},
                    {"name": "李四", "relation": "户主", "id_number": HEAD_ID, "gender": "male"}],
    }),
    "households_partial_update": Case("village_a1", lambda w: {"head_name": "王五", "phone": "13800138000",
                                                               "bank_name": "农商银行", "member_count": 4},
                                      lambda w: {"id": w["homes"]["free"].pk}),
    "imports_create": Case("county_staff", lambda w: {"kind": "households", "dry_run": "true"}, multipart=True),
    "ratings_create": Case("village_a1", lambda w: {"household": w["ratings"]["household"].pk,
                                                    "scores": full_scores()}),
    "ratings_partial_update": Case("village_a1", lambda w: {"scores": full_scores("7")},
                                   lambda w: {"id": w["ratings"]["draft"].pk}),
    "ratings_review_create": Case("township_a", _comment, lambda w: {"id": w["ratings"]["submitted"].pk}),
    "ratings_approve_create": Case("county_staff", _comment, lambda w: {"id": w["ratings"]["reviewed"].pk}),
    "ratings_reject_create": Case("township_a", lambda w: {"reason": "评分依据不足"},
                                  lambda w: {"id": w["ratings"]["submitted"].pk}),
    "ratings_return_create": Case("township_a", lambda w: {"reason": "评分依据不足"},
                                  lambda w: {"id": w["ratings"]["submitted"].pk}),
    "ratings_opinions_create": Case("bank_x", lambda w: {"agrees": False, "comment": "收入偏高"},
                                    lambda w: {"id": w["ratings"]["submitted"].pk}),
    "ratings_prerate_create": Case("county_staff", lambda w: {"region": "411722100201"}),
    "enterprises_create": Case("county_staff", lambda w: {
        "name": "上蔡县甲镇绿源种植专业合作社", "credit_code": credit_code_for(HOSTILE_CODES + 800), "kind": "cooperative",
        "founded_on": "2015-03-01", "township_code": "411722100", "legal_rep": "王大山", "contact_name": "王小山",
        "contact_phone": "13912345678",
    }),
    "enterprises_partial_update": Case("county_staff", lambda w: {"name": "新名称合作社", "legal_rep": "赵六",
                                                                  "contact_name": "钱七",
                                                                  "contact_phone": "13912345678"},
                                       lambda w: {"id": w["enterprises"]["plain"].pk}),
    "enterprises_recognize_create": Case("county_staff", lambda w: {"decision_no": "上蔡政〔2018〕2号",
                                                                    "decided_on": "2018-01-01"},
                                         lambda w: {"id": w["enterprises"]["plain"].pk}),
    "enterprises_withdraw_recognition_create": Case(
        "county_staff", lambda w: {"reason": "不再带贫", "decided_on": "2019-01-01", "decision_no": "上蔡政〔2019〕3号"},
        lambda w: {"id": w["enterprises"]["recognized"].pk},
    ),
    "enterprises_links_create": Case("county_staff", lambda w: {
        "household": w["homes"]["draft"].pk, "mode": "production", "start_date": "2018-01-01",
        "end_date": "2018-12-31", "annual_benefit": "3000.00",
    }, lambda w: {"id": w["enterprises"]["recognized"].pk}),
    "enterprises_links_end_create": Case("county_staff", lambda w: {"end_date": "2019-06-30", "reason": "协议到期"},
                                         lambda w: {"id": w["enterprises"]["recognized"].pk,
                                                    "link_id": w["enterprises"]["link"].pk}),
    "loans_create": Case("village_a1", lambda w: {
        "household": w["homes"]["free"].pk, "bank": "PSBC", "amount": "30000.00", "term_months": 24,
        "purpose": "breeding", "repayment_method": "quarterly_interest_bullet", "other_subsidy": False,
    }, not_kept=("rate",)),  # a household loan's rate is the benchmark (an enterprise's: see below)
    "loans_submit": Case("village_a1", _comment, _loan("draft")),
    "loans_withdraw": Case("village_a1", _comment, _loan("draft")),
    "loans_township_review": Case("township_a", _comment, _loan("submitted")),
    "loans_county_recommend": Case("county_staff", _comment, _loan("reviewed")),
    "loans_approve": Case("bank_x", _comment, _loan("recommended"),
                          travel=lambda w: w["loans"]["recommended"].notice_ends_on),
    "loans_reject": Case("bank_x", lambda w: {"reason": "资料不全"}, _loan("recommended")),
    "loans_disburse": Case("bank_x", lambda w: {"disbursed_on": _iso(w["loans"]["approved"].notice_ends_on)},
                           _loan("approved"), travel=lambda w: w["loans"]["approved"].notice_ends_on),
    "loans_extend": Case("bank_x", lambda w: {"months": 6, "reason": "受灾减产"}, _loan("active")),
    "loans_renew": Case("village_a1", _comment, _loan("active")),
    "loans_partial_update": Case("village_a1", lambda w: {"amount": "20000.00", "term_months": 12,
                                                          "purpose": "planting"}, _loan("draft")),
    "loans_return": Case("township_a", lambda w: {"reason": "资料不全，请补充"}, _loan("submitted")),
    "loans_write_off": Case("bank_x", lambda w: {"reason": "deceased", "comment": "户主病故"}, _loan("loss")),
    "loans_write_off_approve": Case("county_staff", _comment, _loan("proposed")),
    "loans_write_off_reject": Case("county_staff", lambda w: {"reason": "请先追偿"}, _loan("proposed")),
    "loans_repayments_create": Case("bank_x", lambda w: {"amount": "100.00", "paid_on": _iso(today()),
                                                         "reference": "R-1"},
                                    _loan("active"), headers={"Idempotency-Key": "key-1"}),
    "loans_checks_create": Case("township_a", lambda w: {"tier": "township", "checked_on": _iso(today()),
                                                         "finding": "normal", "note": "用于养殖"},
                                _loan("active")),
    "loans_recoveries_create": Case("bank_x", lambda w: {"amount": "100.00", "received_on": _iso(today())},
                                    _loan("compensated")),
    "compensation_claims_create": Case("bank_x", lambda w: {"loan": w["loans"]["overdue"].pk}),
    "compensation_claims_reject": Case("county_staff", lambda w: {"reason": "材料不全"},
                                       lambda w: {"id": w["claims"]["filed"].pk}),
    "risk_funds_deposits_create": Case("county_staff", lambda w: {
        "amount": "1000.00", "source": "县财政", "received_on": _iso(today()), "reference": "P-1",
        "kind": "deposit",
    }, lambda w: {"county_code": "411722"}),
    "subsidy_batches_create": Case("county_staff", lambda w: {"county": "411722", "bank": "PSBC",
                                                              "period_start": "2024-07-01",
                                                              "period_end": "2024-09-30"}),
    "subsidy_batches_approve": Case("county2", _comment, lambda w: {"id": w["batches"]["draft"].pk}),
    "subsidy_batches_cancel": Case("county_staff", lambda w: {"reason": "银行选错"},
                                   lambda w: {"id": w["batches"]["draft"].pk}),
    "subsidy_batches_mark_paid": Case("county_staff", lambda w: {"paid_on": _iso(today()), "reference": "ZF-1"},
                                      lambda w: {"id": w["batches"]["approved"].pk}),
    "jobs_daily_create": Case("county_staff", lambda w: {"as_of": _iso(today()), "county": "411722"}),
}  # fmt: skip


def _household_body(**changes) -> dict:
    """The households_create case's body without its members (the head becomes the one member)."""
    body = {k: v for k, v in CASES["households_create"].body({}).items() if k != "members"}
    return {**body, **changes}


# --- the schema ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    id: str
    method: str
    path: str
    fields: tuple[tuple[tuple, str], ...]  # (where in the body, kind)
    headers: tuple[str, ...]
    reads: tuple[str, ...]  # GET paths of the schema that may show what was written


def _schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator  # noqa: PLC0415

    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(node: dict, components: dict) -> dict:
    while "$ref" in node:
        node = components[node["$ref"].rsplit("/", 1)[1]]
    for key in ("allOf", "oneOf", "anyOf"):
        if key in node:
            options = [_resolve(o, components) for o in node[key]]
            return next((o for o in options if o.get("type") != "null" and o), {})
    return node


def _kind(node: dict) -> str | None:
    kind, fmt = node.get("type"), node.get("format")
    if "enum" in node or kind == "string" and fmt not in ("date", "decimal", "binary", "date-time"):
        return "text"
    if fmt == "date":
        return "date"
    if kind in ("integer", "number") or fmt == "decimal":
        return "number"
    if kind == "boolean":
        return "boolean"
    return None


def _fields(node: dict, components: dict, where: tuple = ()) -> list[tuple[tuple, str]]:
    """(where, kind) of every writable leaf of a request body, containers included."""
    node = _resolve(node, components)
    found = []
    for name, prop in node.get("properties", {}).items():
        if prop.get("readOnly"):
            continue
        resolved = _resolve(prop, components)
        here = (*where, name)
        if resolved.get("type") == "array":
            found.append((here, "container"))
            found += _fields_of_item(resolved.get("items", {}), components, (*here, 0))
        elif resolved.get("type") == "object":
            found.append((here, "container"))
            extra = resolved.get("additionalProperties")
            if isinstance(extra, dict):
                found.append(((*here, "*"), _kind(_resolve(extra, components)) or "number"))
            found += _fields(resolved, components, here)
        elif _kind(resolved):
            found.append((here, _kind(resolved)))
    return found


def _fields_of_item(item: dict, components: dict, where: tuple) -> list[tuple[tuple, str]]:
    item = _resolve(item, components)
    if item.get("properties"):
        return _fields(item, components, where)
    kind = _kind(item)
    return [(where, kind)] if kind else []


def write_operations() -> dict[str, Operation]:
    schema = _schema()
    components = schema["components"]["schemas"]
    gets = [path for path, ops in schema["paths"].items() if "get" in ops]
    found = {}
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            if method not in ("post", "put", "patch"):
                continue
            content = op.get("requestBody", {}).get("content", {})
            body = next(iter(content.values()), {}).get("schema") if content else None
            fields = tuple(_fields(body, components)) if body else ()
            headers = tuple(p["name"] for p in op.get("parameters", []) if p["in"] == "header")
            reads = tuple(g for g in gets if path.startswith(g.rsplit("{", 1)[0]) or g.startswith(path))
            found[op["operationId"]] = Operation(op["operationId"], method, path, fields, headers, reads)
    return found


OPERATIONS = write_operations()


def test_every_write_operation_with_a_body_has_a_case():
    with_body = {name for name, op in OPERATIONS.items() if op.fields or op.headers}
    assert with_body - set(CASES) == set(), "a write operation without a case below"
    assert set(CASES) - with_body == set(), "a case for an operation the schema no longer has"


# --- sending -------------------------------------------------------------------------------------


def _client(world, persona):
    client = APIClient()
    if persona:
        client.force_authenticate(world["p"][persona])
    return client


def _url(op: Operation, kwargs: dict) -> str:
    return re.sub(r"{(\w+)}", lambda m: str(kwargs[m.group(1)]), op.path)


def _set(body: dict, where: tuple, value) -> bool:
    """Put value at `where` in body (a copy made by the caller); False when the body has no place
    there (no such item or object). "*" is any key of a free-form object: its first."""
    node = body
    for step in where[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return False
    last = where[-1]
    if last == "*":
        if not isinstance(node, dict) or not node:
            return False
        last = next(iter(node))
    if isinstance(node, list) and last >= len(node):
        return False
    node[last] = value
    return True


def travelling(day: datetime.date | None):
    """Noon of `day` (Shanghai) for what runs inside; today when day is None."""
    if day is None:
        return contextlib.nullcontext()
    return time_machine.travel(datetime.datetime.combine(day, datetime.time(12), tzinfo=SHANGHAI), tick=False)


def send(world, name: str, *, body: dict | None = None, headers: dict | None = None):
    op, case = OPERATIONS[name], CASES[name]
    body = case.body(world) if body is None else body
    url = _url(op, case.path(world))
    headers = {**case.headers, **(headers or {})}
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    client = _client(world, case.persona)
    if case.multipart:
        body = {**body, "file": io.BytesIO(_template())}
        body["file"].name = "households.xlsx"
    with travelling(case.travel(world) if case.travel else None):
        return getattr(client, op.method)(
            url, body, format="multipart" if case.multipart else "json", **extra
        )


class _Rollback(Exception):
    pass


def _tables() -> list[str]:
    return sorted(
        m._meta.db_table
        for m in apps.get_models(include_auto_created=True)
        if m._meta.managed and not m._meta.proxy
    )


def table_counts() -> dict[str, int]:
    """Every table's row count, in one query (a refused request must leave all of them alone)."""
    tables = _tables()
    quote = connection.ops.quote_name
    sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(t)})" for t in tables)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return dict(zip(tables, cursor.fetchone(), strict=True))


def _strings(data) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for v in data.values() for s in _strings(v)]
    if isinstance(data, list):
        return [s for v in data for s in _strings(v)]
    return []


def _json(response):
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def shown_back(world, op: Operation, case: Case, response, value: str) -> bool:
    """Does `value` come back verbatim: in the response, or else in a GET that may show it?"""
    data = _json(response)
    if any(value in s for s in _strings(data)):
        return True
    kwargs = {**case.path(world)}
    if isinstance(data, dict) and "id" in data:
        kwargs.setdefault("id", data["id"])
    client = _client(world, case.persona)
    for path in op.reads:
        try:
            url = re.sub(r"{(\w+)}", lambda m: str(kwargs[m.group(1)]), path)
        except KeyError:
            continue
        read = client.get(url)
        if read.status_code == 200 and read["Content-Type"].startswith("application/json"):
            if any(value in s for s in _strings(_json(read))):
                return True
    return False


def check_refusal(response, before: dict, case: Case) -> str | None:
    """A 400 (or the 404 of a missing or out-of-scope object) in the API's error shape, with
    nothing written."""
    body = _json(response)
    if not isinstance(body, dict) or not {"code", "detail"} <= set(body):
        return f"400 without the error shape: {response.content[:200]!r}"
    if not isinstance(body["detail"], str) or not CJK.search(body["detail"]):
        return f"400 without a Chinese detail: {body['detail']!r}"
    after = table_counts()
    changed = {
        t: (before[t], after[t]) for t in before if before[t] != after[t] and not t.startswith(case.logs)
    }
    return f"refused but wrote {changed}" if changed else None


def attempt(world, name, where, value, *, kind="text", header=None, before: dict) -> str | None:
    """One hostile request (the caller rolls it back, so `before`, the counts of the world, hold
    for every request). Returns what went wrong, or None."""
    case = CASES[name]
    body = json.loads(json.dumps(case.body(world)))
    headers = {}
    if case.multipart and isinstance(value, dict | list):
        return None  # a form field is text: no other type can be sent
    if header:
        headers[header] = value
    elif not _set(body, where, value):
        return None
    response = send(world, name, body=body, headers=headers)
    if response.status_code >= 500:
        return f"{response.status_code}"
    not_found = response.status_code == 404 and (_json(response) or {}).get("code") == "not_found"
    if response.status_code == 400 or not_found:
        return check_refusal(response, before, case)
    if response.status_code >= 300:
        return f"{response.status_code} {response.content.decode()[:200]}"
    return check_accepted(world, name, where, value, kind, header, response)


def check_accepted(world, name, where, value, kind, header, response) -> str | None:
    """Never a negative number; text the operation keeps comes back verbatim."""
    op, case = OPERATIONS[name], CASES[name]
    dotted = ".".join(map(str, where))
    if dotted in case.not_kept or header:
        return None
    if kind == "number" and value == -1:
        return f"accepted a negative number ({response.status_code})"
    kept = kind == "text" and isinstance(value, str) and where[-1] not in NOT_ECHOED
    if kept and not shown_back(world, op, case, response, value):
        return f"accepted ({response.status_code}) but not shown back verbatim"
    return None


def _attempt_rolled_back(world, name, where, value, kind="text", header=None, *, before) -> str | None:
    outcome = None
    try:
        with transaction.atomic():
            outcome = attempt(world, name, where, value, kind=kind, header=header, before=before)
            raise _Rollback
    except _Rollback:
        return outcome
    except Exception as exc:  # a crash is the finding
        return f"raised {type(exc).__name__}: {str(exc)[:200]}"


def test_every_case_succeeds_as_written(world):
    """The bodies above are valid, so a hostile value in one field is the only thing wrong."""
    failures = {}
    for name in CASES:
        try:
            with transaction.atomic():
                response = send(world, name)
                if response.status_code >= 300:
                    failures[name] = f"{response.status_code} {response.content.decode()[:300]}"
                raise _Rollback
        except _Rollback:
            pass
    assert failures == {}


def _attempts(op: Operation):
    """(what, where, value, kind, header) of each hostile request of an operation."""
    for where, kind in op.fields:
        for label, value in PAYLOADS[kind].items():
            yield f"{'.'.join(map(str, where))} = {label}", where, value, kind, None
    for header in op.headers:  # a header carries text only, and never a NUL
        for label, value in TEXT.items():
            if isinstance(value, str) and "\x00" not in value:
                yield f"header {header} = {label}", (), value, "text", header


def test_hostile_values_in_every_field_of_every_write_operation(world):
    failures = []
    before = table_counts()
    for name in CASES:
        for what, where, value, kind, header in _attempts(OPERATIONS[name]):
            outcome = _attempt_rolled_back(world, name, where, value, kind, header, before=before)
            if outcome:
                failures.append(f"{name} {what}: {outcome}")
    assert table_counts()["loans_loan"] > 0  # the table is still there
    assert failures == [], "\n".join(failures)


def test_an_enterprise_loan_takes_a_positive_rate_only(world):
    """The one rate a caller gives (an enterprise loan's): zero or less is refused, not stored."""
    client = _client(world, "county_staff")
    body = {k: v for k, v in CASES["loans_create"].body(world).items() if k != "household"}
    body["enterprise"] = world["enterprises"]["recognized"].pk
    before = table_counts()
    for rate_given in ("-1.00", "0"):
        response = client.post("/api/v1/loans/", {**body, "rate": rate_given}, format="json")
        assert response.status_code == 400 and response.json()["errors"]["rate"] == ["须大于0。"], (
            response.content
        )
    assert table_counts() == before
    response = client.post("/api/v1/loans/", {**body, "rate": "4.50"}, format="json")
    assert response.status_code == 201 and response.json()["rate"] == "4.50", response.content


def test_identifiers_with_invisible_characters_are_refused(world):
    """A zero-width space or a direction mark would make a second 户编号 or bank serial number that
    looks like the first one and passes its uniqueness check; full-width ones are normalised."""
    api = _client(world, "village_a1")
    existing = world["homes"]["free"].household_no
    sneaky = existing[:3] + "\u200b" + existing[3:]
    response = api.post("/api/v1/households/", _household_body(household_no=sneaky), format="json")
    assert response.status_code == 400 and "不可见字符" in response.json()["errors"]["household_no"][0]
    full_width = existing.translate(str.maketrans("0123456789H", "０１２３４５６７８９Ｈ"))
    response = api.post("/api/v1/households/", _household_body(household_no=full_width), format="json")
    assert response.status_code == 400 and "已存在" in response.json()["errors"]["household_no"][0]

    bank = _client(world, "bank_x")
    url = f"/api/v1/loans/{world['loans']['active'].pk}/repayments/"
    first = bank.post(
        url, {"amount": "10.00", "paid_on": _iso(today()), "reference": "BANK-001"}, format="json"
    )
    assert first.status_code == 201, first.content
    for again in ("BANK-001\u200b", "\u202eBANK-001", "ＢＡＮＫ－００１"):
        response = bank.post(
            url, {"amount": "10.00", "paid_on": _iso(today()), "reference": again}, format="json"
        )
        assert response.status_code == 400, (again, response.content)
        assert response.json()["code"] in ("invalid", "duplicate_reference"), response.json()


def test_a_bank_file_with_an_invisible_character_in_a_serial_number(world, settings, tmp_path):
    from loans.tests.test_importers import line, run  # noqa: PLC0415

    settings.MEDIA_ROOT = tmp_path
    loan = world["loans"]["active"]
    job = run(
        world["p"]["bank_x"], line(loan, paid_on=_iso(today()), amount="10.00", reference="BANK-\u200b002")
    )
    assert job.status == "failed"
    assert [(e["column"], "不可见字符" in e["message"]) for e in job.errors] == [("流水号", True)]


# --- pages and forms -----------------------------------------------------------------------------
#
# Every browser route is in PAGES (visited as a persona who may use it: the POST forms of its HTML
# are found and fuzzed), in POST_ONLY (reached through a form of a page above) or in NOT_VISITED
# (with the reason). Every text field of every POST form found gets the over-long text and the
# injection string: the long one must be refused with a Chinese message and write nothing; an
# injection string that is stored must render escaped.

UNESCAPED = ("<script>alert(1)", "<img src=x onerror")
FORM_PAYLOADS = {"10k chars": TEXT["10k chars"], "injection": INJECTION}
TEXT_INPUTS = ("text", "search", "email", "tel", "url", "password")
ERROR_TEXT = re.compile(r'class="(?:msg )?error"[^>]*>([^<]+)')


@dataclass(frozen=True)
class Page:
    persona: str | None
    url: Callable[[dict], str]
    fill: Callable[[dict], dict] = lambda w: {}  # values for the fields the page leaves empty
    travel: Callable[[dict], datetime.date] | None = None


def _home(w, name="free"):
    return f"/households/{w['homes'][name].pk}/"


def _loan_page(name):
    return lambda w: f"/loans/{w['loans'][name].pk}/"


PAGES: dict[str, list[Page]] = {
    "login": [Page(None, lambda w: "/login/",
                   lambda w: {"username": "village_a1", "password": "correct-horse-battery"})],
    "home": [Page("county_staff", lambda w: "/")],
    "dashboard:index": [Page("city", lambda w: "/dashboard/")],
    "dashboard:assessment": [Page("city", lambda w: "/dashboard/assessment/")],
    "households:list": [Page("county_staff", lambda w: "/households/")],
    "households:create": [Page("village_a1", lambda w: "/households/new/", lambda w: {
        "household_no": "H-HOSTILE-1", "head_name": "李四", "head_id_number": HEAD_ID, "status": "poor",
    })],
    "households:detail": [Page("county_staff", _home)],
    "households:edit": [Page("village_a1", lambda w: _home(w) + "edit/")],
    "imports:list": [Page("county_staff", lambda w: "/imports/")],
    "credit_rating:list": [Page("county_staff", lambda w: "/ratings/")],
    "credit_rating:expiring": [Page("county_staff", lambda w: "/ratings/expiring/")],
    "credit_rating:coverage": [Page("county_staff", lambda w: "/ratings/coverage/")],
    "credit_rating:prerate": [Page("county_staff", lambda w: "/ratings/prerate/")],
    "credit_rating:create": [Page("village_a1", lambda w: f"/ratings/new/{w['ratings']['household'].pk}/")],
    "credit_rating:detail": [
        Page("township_a", lambda w: f"/ratings/{w['ratings']['submitted'].pk}/", lambda w: {"reason": "依据不足"}),
        Page("county_staff", lambda w: f"/ratings/{w['ratings']['reviewed'].pk}/", lambda w: {"reason": "依据不足"}),
    ],
    "credit_rating:edit": [Page("village_a1", lambda w: f"/ratings/{w['ratings']['draft'].pk}/edit/")],
    "enterprises:list": [Page("county_staff", lambda w: "/enterprises/")],
    "enterprises:create": [Page("county_staff", lambda w: "/enterprises/new/", lambda w: {
        "name": "绿源合作社", "credit_code": credit_code_for(HOSTILE_CODES + 801), "founded_on": "2015-03-01", "legal_rep": "王大山",
    })],
    "enterprises:detail": [
        Page("county_staff", lambda w: f"/enterprises/{w['enterprises']['plain'].pk}/", lambda w: {
            "decision_no": "上蔡政〔2018〕2号", "decided_on": "2018-01-01", "household_no": w["homes"]["draft"].household_no,
            "start_date": "2018-01-01",
        }),
        Page("county_staff", lambda w: f"/enterprises/{w['enterprises']['recognized'].pk}/", lambda w: {
            "household_no": w["homes"]["draft"].household_no, "start_date": "2018-01-01", "end_date": "2018-12-31",
            "annual_benefit": "3000", "reason": "协议到期", "decided_on": "2019-01-01", "decision_no": "上蔡政〔2019〕3号",
        }),
    ],
    "enterprises:edit": [Page("county_staff", lambda w: f"/enterprises/{w['enterprises']['plain'].pk}/edit/")],
    "loans:list": [Page("county_staff", lambda w: "/loans/")],
    "loans:queue": [Page("county_staff", lambda w: "/loans/queue/")],
    "loans:breakers": [Page("county_staff", lambda w: "/loans/breakers/")],
    "policies:index": [Page("county_staff", lambda w: "/policies/")],
    "policies:county": [Page("county2", lambda w: "/policies/county/411722/", lambda w: {
        "effective_from": _iso(today() + datetime.timedelta(days=60)), "reason": "暂不调整"})],
    "policies:city": [Page("city2", lambda w: "/policies/city/411700/", lambda w: {
        "effective_from": _iso(today() + datetime.timedelta(days=60)), "reason": "暂不调整"})],
    "subsidy:pots": [Page("city", lambda w: "/subsidy/pot/")],
    "subsidy:pot": [Page("city", lambda w: "/subsidy/pot/411722/", lambda w: {
        "amount": "1000", "entry_date": _iso(today()), "source": "市级贴息资金"})],
    "loans:create": [Page("village_a1", lambda w: f"/loans/new/?household={w['homes']['free'].pk}",
                          lambda w: {"amount": "30000", "term_months": "24"})],
    "loans:edit": [Page("village_a1", lambda w: f"/loans/{w['loans']['draft'].pk}/edit/")],
    "loans:detail": [
        Page("village_a1", _loan_page("draft")),
        Page("township_a", _loan_page("submitted"), lambda w: {"reject-reason": "资料不全", "return-reason": "请补充资料"}),
        Page("county_staff", _loan_page("reviewed"), lambda w: {"reject-reason": "资料不全", "return-reason": "请补充资料"}),
        Page("bank_x", _loan_page("recommended"), lambda w: {"reject-reason": "资料不全", "return-reason": "请补充资料"},
             travel=lambda w: w["loans"]["recommended"].notice_ends_on),
        Page("bank_x", _loan_page("active"), lambda w: {
            "extend-months": "6", "extend-reason": "受灾减产", "amount": "100",
            "reference": "R-1",
        }),
        Page("township_a", _loan_page("active"), lambda w: {"note": "用于养殖"}),
    ],
    "subsidy:list": [Page("county_staff", lambda w: "/subsidy/")],
    "subsidy:create": [Page("county_staff", lambda w: "/subsidy/new/")],
    "subsidy:detail": [
        Page("county2", lambda w: f"/subsidy/{w['batches']['draft'].pk}/", lambda w: {"cancel-reason": "银行选错"}),
        Page("county_staff", lambda w: f"/subsidy/{w['batches']['approved'].pk}/"),
    ],
    "risk_fund:list": [Page("county_staff", lambda w: "/risk-fund/")],
    "risk_fund:claims": [Page("county_staff", lambda w: "/risk-fund/claims/")],
    "risk_fund:claim-create": [Page("bank_x", lambda w: f"/risk-fund/claims/new/{w['loans']['overdue'].pk}/")],
    "risk_fund:claim": [
        Page("county_staff", lambda w: f"/risk-fund/claims/{w['claims']['filed'].pk}/",
             lambda w: {"reject-reason": "材料不全"}),
        Page("bank_x", lambda w: f"/risk-fund/claims/{w['claims']['paid'].pk}/", lambda w: {"amount": "100"}),
    ],
    "risk_fund:detail": [Page("county_staff", lambda w: "/risk-fund/411722/", lambda w: {
        "amount": "1000", "source": "县财政", "reference": "P-1", "valid_from": _iso(today()),
    })],
}  # fmt: skip
POST_ONLY = {
    "enterprises:recognize", "enterprises:withdraw", "enterprises:link-create", "enterprises:link-end",
    "loans:action", "loans:repayment", "loans:check", "loans:breaker-resume", "subsidy:action",
    "policies:county-propose", "policies:county-review", "policies:city-propose", "policies:city-review",
    "subsidy:pot-deposit", "risk_fund:claim-action",
    "risk_fund:claim-recovery", "risk_fund:deposit", "risk_fund:agreement-create",
}  # fmt: skip
NOT_VISITED = {
    "password-change": "changing the persona's own password would end its session mid-crawl "
    "(organization/tests/test_tokens.py)",
    "subsidy:pot-payout": "a county's payout form needs a paid batch not yet paid out (subsidy/tests/test_pot.py)",
    "logout": "a button without fields",
    "dashboard:assessment-export": "a download (the exports' test below)",
    "households:export": "a download (the exports' test below)",
    "enterprises:export": "a download (the exports' test below)",
    "imports:template": "a blank template",
    "imports:error-report": "a download (the exports' test below)",
    "imports:detail": "an import's progress; its one form (commit) has no fields",
    "imports:commit": "a button without fields, on a finished dry run",
    "credit_rating:bulk": "check boxes of the queue, no text",
}


class _FormParser(HTMLParser):
    """The POST forms of a page: action, and each field's name, kind and value."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._form = self._select = self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"action": a.get("action") or "", "post": (a.get("method") or "").lower() == "post",
                          "fields": []}  # fmt: skip
            self.forms.append(self._form)
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if "selected" in a or self._select[2] in (None, "") and value:
                self._select[2] = value
        elif self._form is None or not a.get("name"):
            return
        elif tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self._form["fields"].append([a["name"], kind, a.get("value") or ""])
        elif tag == "button" and (a.get("type") or "submit") == "submit":
            self._form["fields"].append([a["name"], "button", a.get("value") or ""])
        elif tag == "textarea":
            self._textarea = [a["name"], "textarea", ""]
            self._form["fields"].append(self._textarea)
        elif tag == "select":
            self._select = [a["name"], "select", None]
            self._form["fields"].append(self._select)

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[2] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def post_forms(html: str, page_path: str) -> list[dict]:
    parser = _FormParser()
    parser.feed(html)
    forms = []
    for form in parser.forms:
        if form["post"]:
            form["action"] = urlsplit(urljoin(page_path, form["action"] or page_path)).path
            forms.append(form)
    return forms


def form_data(form: dict, fill: dict) -> dict:
    """What the browser would send (the first submit button pressed), with `fill` on top."""
    data: dict = {}
    pressed = False
    for name, kind, value in form["fields"]:
        if kind == "button":
            if pressed or name in data:
                continue
            pressed = True
        if kind == "file":
            continue
        if name in data and kind == "checkbox":
            data[name] = [*data[name], value] if isinstance(data[name], list) else [data[name], value]
        else:
            data.setdefault(name, value or "")
    return {**data, **{k: v for k, v in fill.items() if k in data}}


def text_fields(form: dict) -> list[str]:
    return [name for name, kind, _ in form["fields"] if kind in TEXT_INPUTS or kind == "textarea"]


def _on(page: Page, world):
    return travelling(page.travel(world) if page.travel else None)


class _Browser:
    """One logged-in test client per persona and day (logged in outside the rolled-back requests,
    and on the page's day: the session's idle clock would log out a client that jumps days)."""

    def __init__(self, world):
        self.world, self.clients = world, {}

    def __call__(self, page: Page):
        key = (page.persona, page.travel is not None)
        if key not in self.clients:
            client = Client()
            if page.persona:
                with _on(page, self.world):
                    client.force_login(self.world["p"][page.persona])
            self.clients[key] = client
        return self.clients[key]


def _route(path: str) -> str:
    return resolve(path).view_name


def _page_text_after(client, response) -> str:
    """The page the user sees: the response, or where it redirects to."""
    if response.status_code in (301, 302, 303):
        response = client.get(response["Location"])
    return response.content.decode()


def post_as_filled(client, form, data) -> str | None:
    """The form with the page's own values (and the page's fill) must go through: else a hostile
    value in one field would be refused for another field's sake."""
    response = client.post(form["action"], data)
    errors = ERROR_TEXT.findall(_page_text_after(client, response))
    if response.status_code != 302 or errors:
        return f"refused as filled ({response.status_code}): {errors[:3]}"
    return None


def post_hostile(client, form, data, field_name, label, value, before) -> str | None:
    """One hostile POST (the caller rolls it back). Returns what went wrong, or None."""
    response = client.post(form["action"], {**data, field_name: value})
    if response.status_code >= 500:
        return f"{response.status_code}"
    html = _page_text_after(client, response)
    if any(raw in html for raw in UNESCAPED):
        return "the injection string is rendered unescaped"
    if label == "10k chars":
        after = table_counts()
        changed = [
            t for t in before if before[t] != after[t] and not t.startswith(("axes_", "django_session"))
        ]
        if changed:
            return f"the over-long text was accepted (wrote {changed})"
        if not any(CJK.search(message) for message in ERROR_TEXT.findall(html)):
            return "the over-long text was refused without a Chinese message"
    return None


def fuzz_form(browser, page: Page, form: dict, before: dict) -> list[str]:
    world, client = browser.world, browser(page)
    data = form_data(form, page.fill(world))
    attempts = [("as filled", lambda: post_as_filled(client, form, data))] + [
        (f"{name} = {label}", functools.partial(post_hostile, client, form, data, name, label, value, before))
        for name in text_fields(form)
        for label, value in FORM_PAYLOADS.items()
    ]
    failures = []
    for what, attempt_once in attempts:
        outcome = None
        try:
            with transaction.atomic(), _on(page, world):
                outcome = attempt_once()
                raise _Rollback
        except _Rollback:
            pass
        except Exception as exc:  # a crash is the finding
            outcome = f"raised {type(exc).__name__}: {str(exc)[:200]}"
        if outcome:
            failures.append(f"{page.persona} {form['action']} {what}: {outcome}")
    return failures


def routes(patterns=None, prefix="", namespace=None):
    """(pattern, name) of every URL route, names with their namespaces."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, (namespace, entry.namespace))) or None
            yield from routes(entry.url_patterns, prefix + str(entry.pattern), inner)
        else:
            yield prefix + str(entry.pattern), ":".join(filter(None, (namespace, entry.name)))


def browser_routes() -> set[str]:
    return {name for pattern, name in routes() if not pattern.startswith(("api/", "admin/"))}


def test_every_browser_route_is_visited_or_explained():
    listed = set(PAGES) | POST_ONLY | set(NOT_VISITED)
    assert browser_routes() - listed == set(), "a page the hostile test does not visit"
    assert listed - browser_routes() == set(), "a route that no longer exists"


def test_hostile_text_in_every_text_field_of_every_form(world):
    browser, failures, fuzzed, seen = _Browser(world), [], set(), set()
    before = table_counts()
    for route, pages in PAGES.items():
        for page in pages:
            client = browser(page)
            with _on(page, world):
                response = client.get(page.url(world))
            if response.status_code != 200:
                failures.append(
                    f"{route} as {page.persona}: GET {page.url(world)} answered {response.status_code}"
                )
                continue
            for form in post_forms(response.content.decode(), page.url(world)):
                key = (page.persona, form["action"], tuple(text_fields(form)))
                fuzzed.add(_route(form["action"]))
                if key in seen or not text_fields(form):
                    continue
                seen.add(key)
                failures += fuzz_form(browser, page, form, before)
    assert failures == [], "\n".join(failures)
    assert POST_ONLY - fuzzed == set(), "a POST-only route that no page's form reached"


# --- ID numbers, credit codes and phones as people type them -------------------------------------

FULL_WIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")
ID_SPELLINGS = {
    "full-width digits and Ｘ": lambda n: n.translate(FULL_WIDTH),
    "spaces": lambda n: f" {n[:6]} {n[6:14]} {n[14:]} ",
    "lower-case x": lambda n: n.lower(),
    "full-width, ideographic space, lower-case": lambda n: f"{n[:6]}\u3000{n[6:]}".lower().translate(
        FULL_WIDTH
    ),
}
BAD_ID_SPELLINGS = {
    "full-width, wrong check character": lambda n: (n[:17] + "0").translate(FULL_WIDTH),
    "full-width letter": lambda n: n[:17] + "Ａ",
    "hyphens": lambda n: f"{n[:6]}-{n[6:14]}-{n[14:]}",
    "zero-width space": lambda n: n[:9] + "\u200b" + n[9:],
}
PHONES = ("１３９１２３４５６７８", "139 1234 5678", "139\u30001234\u30005678", "")
CODE = credit_code_for(HOSTILE_CODES + 802)
CODE_SPELLINGS = {
    "full-width": CODE.translate(str.maketrans("0123456789ABCDEFGHJKLMNPQRTUWXY",
                                               "０１２３４５６７８９ＡＢＣＤＥＦＧＨＪＫＬＭＮＰＱＲＴＵＷＸＹ")),
    "lower-case": CODE.lower(),
    "spaces and hyphens": f"{CODE[:2]} {CODE[2:8]}-{CODE[8:]}",
}  # fmt: skip


def ids_ending_in_x(count: int) -> list[str]:
    """Valid ID numbers whose check character is X (so that a lower-case x matters), born in 1985:
    HouseholdFactory's numbers are born from 1970 on, a day per 400 households, so never collide."""
    found = []
    for day in range(1, 400):
        number = make_resident_id("411722", datetime.date(1985, 1, 1) + datetime.timedelta(days=day), day)
        if number.endswith("X"):
            found.append(number)
            if len(found) == count:
                return found
    raise AssertionError("no ID numbers ending in X")


ID_X = ids_ending_in_x(1)[0]


def _stored_head_id(**lookup) -> str:
    """The head's ID number as stored (decrypted), checked against its lookup hash."""
    from common import pii  # noqa: PLC0415
    from households.models import Household  # noqa: PLC0415

    household = Household.objects.get(**lookup)
    number = pii.decrypt(household.head_id_enc)
    assert household.head_id_hash == pii.lookup_hash(number)
    return number


def _rolled_back(check: Callable[[], None]) -> None:
    try:
        with transaction.atomic():
            check()
            raise _Rollback
    except _Rollback:
        pass


def test_id_numbers_and_phones_through_the_api_are_normalised_or_refused(world):
    client = _client(world, "village_a1")

    def accepted(number, phone):
        body = _household_body(head_id_number=number, phone=phone)
        response = client.post("/api/v1/households/", body, format="json")
        assert response.status_code == 201, (number, response.json())
        assert _stored_head_id(pk=response.json()["id"]) == ID_X
        assert response.json()["phone"] == ("13912345678" if phone else "")

    def refused(number):
        before = table_counts()
        response = client.post("/api/v1/households/", _household_body(head_id_number=number), format="json")
        assert response.status_code == 400, (number, response.content)
        assert "身份证号" in response.json()["errors"]["head_id_number"][0]
        assert table_counts() == before

    for spell, phone in zip(ID_SPELLINGS.values(), PHONES, strict=True):
        _rolled_back(functools.partial(accepted, spell(ID_X), phone))
    for spell in BAD_ID_SPELLINGS.values():
        _rolled_back(functools.partial(refused, spell(ID_X)))


def test_id_numbers_and_phones_through_the_form_are_normalised_or_refused(world):
    from households.models import Household  # noqa: PLC0415

    client = _Browser(world)(PAGES["households:create"][0])
    fill = {**PAGES["households:create"][0].fill(world), "village_code": "411722100201", "member_count": "1",
            "labor_count": "1"}  # fmt: skip

    def accepted(number, phone):
        response = client.post("/households/new/", {**fill, "head_id_number": number, "phone": phone})
        assert response.status_code == 302, ERROR_TEXT.findall(response.content.decode())
        household_id = int(response["Location"].rstrip("/").rsplit("/", 1)[1])
        assert _stored_head_id(pk=household_id) == ID_X
        assert Household.objects.get(pk=household_id).phone == ("13912345678" if phone else "")

    def refused(number):
        response = client.post("/households/new/", {**fill, "head_id_number": number})
        assert response.status_code == 200
        assert any("身份证号" in message for message in ERROR_TEXT.findall(response.content.decode()))

    for spell, phone in zip(ID_SPELLINGS.values(), PHONES, strict=True):
        _rolled_back(functools.partial(accepted, spell(ID_X), phone))
    for spell in BAD_ID_SPELLINGS.values():
        _rolled_back(functools.partial(refused, spell(ID_X)))


def test_id_numbers_and_phones_through_the_household_import(world, settings, tmp_path):
    """One file with every accepted spelling (one household each) goes in normalised; one with
    every refused spelling commits nothing and names each row's ID number in Chinese."""
    from households.models import Household  # noqa: PLC0415
    from households.tests.test_importer import person, run  # noqa: PLC0415

    settings.MEDIA_ROOT = tmp_path
    county = world["p"]["county_staff"]
    numbers = ids_ending_in_x(len(ID_SPELLINGS))
    rows = [
        person(户编号=f"H-IMP-{i}", 证件号码=spell(number), 联系电话=phone, 人数=1)
        for i, (spell, number, phone) in enumerate(zip(ID_SPELLINGS.values(), numbers, PHONES, strict=True))
    ]
    job = run(county, rows)
    assert job.status == "succeeded", job.errors
    assert [_stored_head_id(household_no=f"H-IMP-{i}") for i in range(len(numbers))] == numbers
    assert Household.objects.get(household_no="H-IMP-0").phone == "13912345678"

    bad = [
        person(户编号=f"H-BAD-{i}", 证件号码=spell(ID_X), 人数=1)
        for i, spell in enumerate(BAD_ID_SPELLINGS.values())
    ]
    invisible = person(户编号="H-BAD-\u200b9", 证件号码=numbers[0], 人数=1)
    job = run(county, [*bad, invisible])
    assert job.status == "failed"
    rows_refused = {e["row"] for e in job.errors if e["column"] == "证件号码" and "身份证号" in e["message"]}
    assert len(rows_refused) == len(bad), job.errors
    assert any(e["column"] == "户编号" and "不可见字符" in e["message"] for e in job.errors), job.errors
    assert not Household.objects.filter(household_no__startswith="H-BAD-").exists()


def test_credit_codes_through_the_api_and_the_form_are_normalised_or_refused(world):
    from enterprises.models import Enterprise  # noqa: PLC0415

    api = _client(world, "county_staff")
    page = PAGES["enterprises:create"][0]
    browser = _Browser(world)(page)
    form = {**page.fill(world), "kind": "cooperative", "township_code": "411722100"}

    def accepted(code):
        response = api.post("/api/v1/enterprises/", {**CASES["enterprises_create"].body(world), "credit_code": code},
                            format="json")  # fmt: skip
        assert response.status_code == 201, response.content
        assert Enterprise.objects.get(pk=response.json()["id"]).credit_code == CODE
        Enterprise.objects.filter(pk=response.json()["id"]).delete()
        response = browser.post("/enterprises/new/", {**form, "credit_code": code})
        assert response.status_code == 302, ERROR_TEXT.findall(response.content.decode())
        assert Enterprise.objects.filter(credit_code=CODE).count() == 1

    def refused(code):
        response = api.post("/api/v1/enterprises/", {**CASES["enterprises_create"].body(world), "credit_code": code},
                            format="json")  # fmt: skip
        assert (
            response.status_code == 400 and "统一社会信用代码" in response.json()["errors"]["credit_code"][0]
        )
        response = browser.post("/enterprises/new/", {**form, "credit_code": code})
        assert any("统一社会信用代码" in m for m in ERROR_TEXT.findall(response.content.decode()))

    for code in CODE_SPELLINGS.values():
        _rolled_back(functools.partial(accepted, code))
    for code in (
        CODE[:17] + ("0" if CODE[-1] != "0" else "1"),
        CODE[:9] + "\u200b" + CODE[9:],
        "Ｏ" + CODE[1:],
    ):
        _rolled_back(functools.partial(refused, code))


TO_FULL_WIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}  # ASCII "!" to "~" as typed full-width
# name -> (page, API list, the field a row shows, the row wanted: its value of that field)
SEARCH_BOXES = {
    "households": ("/households/", "/api/v1/households/", "household_no", lambda w: w["homes"]["free"].household_no),
    "enterprises": ("/enterprises/", "/api/v1/enterprises/", "credit_code",
                    lambda w: w["enterprises"]["plain"].credit_code),
    "ratings": ("/ratings/?tab=all", "/api/v1/ratings/", "household_no",
                lambda w: w["ratings"]["draft"].household.household_no),
    "loans": ("/loans/", "/api/v1/loans/", "loan_no", lambda w: w["loans"]["draft"].loan_no),
}  # fmt: skip


def _search(client, url: str, term: str):
    """GET `url` (which may hold other parameters) with q=term."""
    path, _, query = url.partition("?")
    return client.get(path, {**dict(parse_qsl(query)), "q": term})


ODD_SEARCHES = {"NUL": "H41\x00", **{k: TEXT[k] for k in ("10k chars", "injection", "rtl zero-width")}}


def test_search_boxes_take_any_text(world):
    """A number or code typed full-width finds its row, on the page and in the API; odd text
    never breaks a search box, and comes back escaped."""
    page, api = _Browser(world)(PAGES["households:list"][0]), _client(world, "county_staff")
    failures = []
    for name, (page_url, api_url, key, wanted) in SEARCH_BOXES.items():
        value = wanted(world)
        found = _search(api, api_url, value.translate(TO_FULL_WIDTH)).json()["results"]
        if [row[key] for row in found] != [value]:
            failures.append(f"{name}: the API did not find {value} typed full-width")
        if value not in _search(page, page_url, value.translate(TO_FULL_WIDTH)).content.decode():
            failures.append(f"{name}: the page did not find {value} typed full-width")
        for label, term in ODD_SEARCHES.items():
            html, listed = _search(page, page_url, term), _search(api, api_url, term)
            if html.status_code != 200 or any(raw in html.content.decode() for raw in UNESCAPED):
                failures.append(f"{name} page q={label}: {html.status_code}")
            if listed.status_code not in (200, 400):
                failures.append(f"{name} API q={label}: {listed.status_code}")
    assert failures == [], "\n".join(failures)


QUERY_PAYLOADS = {
    "text": {k: TEXT[k] for k in ("10k chars", "injection", "nul")},
    "date": {k: DATE[k] for k in ("0000-00-00", "9999-12-31", "1900-01-01")},
    "number": {"-1": "-1", "1e20": str(10**20), "abc": "abc"},
    "boolean": {"abc": "abc"},
}
# The reads with a query and a path parameter: where their path parameters come from.
QUERY_PATHS = {
    "/api/v1/enterprises/{id}/eligibility/": lambda w: {"id": w["enterprises"]["plain"].pk},
    "/api/v1/risk-funds/{county_code}/": lambda w: {"county_code": "411722"},
    "/api/v1/subsidy/batches/{id}/lines/": lambda w: {"id": w["batches"]["draft"].pk},
}


def _query_operations() -> list[tuple[str, list[tuple[str, str]]]]:
    schema = _schema()
    found = []
    for path, ops in schema["paths"].items():
        params = [p for p in ops.get("get", {}).get("parameters", []) if p["in"] == "query"]
        kinds = [
            (p["name"], _kind(p["schema"]) or "text")
            for p in params
            if p["name"] not in ("page", "page_size")
        ]
        if kinds:
            found.append((path, kinds))
    return found


def test_hostile_query_parameters_of_every_read(world):
    """The search boxes and filters of the API: any text, date or number in any query parameter is
    answered (or refused in the error shape), never with a server error."""
    client = _client(world, "admin")
    failures = []
    for path, params in _query_operations():
        kwargs = QUERY_PATHS.get(path, lambda w: {})(world)
        url = re.sub(r"{(\w+)}", lambda m, kw=kwargs: str(kw[m.group(1)]), path)
        for name, kind in params:
            for label, value in QUERY_PAYLOADS[kind].items():
                try:
                    response = client.get(url, {name: value})
                except Exception as exc:  # a crash is the finding
                    failures.append(f"{path}?{name}={label}: raised {type(exc).__name__}: {str(exc)[:150]}")
                    continue
                if response.status_code >= 500:
                    failures.append(f"{path}?{name}={label}: {response.status_code}")
                elif response.status_code == 400 and not {"code", "detail"} <= set(_json(response) or {}):
                    failures.append(f"{path}?{name}={label}: 400 without the error shape")
    assert failures == [], "\n".join(failures)


# --- formula injection in every export -----------------------------------------------------------
#
# Text the exports write is set directly (as old data, an import or the admin may leave it) to
# strings a spreadsheet would run; every workbook is downloaded and opened. The project's helper
# (common.spreadsheets.escape_formula) puts an apostrophe before them; the import error report
# instead writes the uploaded value back as a text cell with Excel's quote prefix, so the user can
# correct the file and upload it again unchanged. Either way no cell may be a formula.

FORMULAS = ('=HYPERLINK("http://x","y")', "@SUM(1)", "+1+1", "-2+3", "\t=1+1", "\r=1+1")


@pytest.fixture
def hostile_names(world):
    """Formula-looking names in every text the exports write."""
    from enterprises.models import Enterprise  # noqa: PLC0415
    from households.models import Household, Member  # noqa: PLC0415
    from organization.models import Bank, Region  # noqa: PLC0415

    cycle = iter(FORMULAS * 40)
    for code in ("411722", "411722100", "411722100201", "411721"):
        Region.objects.filter(code=code).update(name=next(cycle))
    Bank.objects.filter(code="PSBC").update(name=FORMULAS[0])
    for household in Household.objects.all():
        Household.objects.filter(pk=household.pk).update(
            head_name=next(cycle), bank_name=next(cycle), household_no=f"{next(cycle)}#{household.pk}"
        )
        Member.objects.filter(household=household).update(name=next(cycle))
    for enterprise in Enterprise.objects.all():
        Enterprise.objects.filter(pk=enterprise.pk).update(
            name=next(cycle), legal_rep=next(cycle), contact_name=next(cycle), decision_no=next(cycle)
        )
    return world


def _rollups(world):
    """Snapshots of today and of last month's end, when 上蔡 had a million more outstanding: the
    monthly report's change since last month is a negative number."""
    from django.db.models import F  # noqa: PLC0415

    from reporting.models import RegionRollup  # noqa: PLC0415
    from reporting.rollups import compute_rollups  # noqa: PLC0415

    importlib.import_module("reporting.migrations.0002_seed_targets_and_weights").add_rows(apps, None)
    last_month = today().replace(day=1) - datetime.timedelta(days=1)
    for day in (last_month, today()):
        compute_rollups(as_of=day)
    RegionRollup.objects.filter(as_of=last_month, region_id="411722").update(
        principal_outstanding=F("principal_outstanding") + 1_000_000
    )


def _error_report(world, settings, tmp_path) -> str:
    """A household file with formula-looking text (typed as text, not formulas: those the importer
    refuses by name) and bad ID numbers, imported: its error report's URL."""
    from django.core.files.base import ContentFile  # noqa: PLC0415
    from openpyxl import Workbook  # noqa: PLC0415

    from households.tests.test_importer import HEADER, person  # noqa: PLC0415
    from imports.models import ImportJob  # noqa: PLC0415
    from imports.services import import_run  # noqa: PLC0415

    settings.MEDIA_ROOT = tmp_path
    book = Workbook()
    book.active.append(HEADER)
    for i, formula in enumerate(FORMULAS):
        row = person(
            户编号=f"{formula}#{i}", 姓名=formula, 开户银行=formula, 证件号码=ID_X[:17] + "0", 人数=1
        )
        book.active.append([row.get(h, "") for h in HEADER])
    for cell in (c for row in book.active.iter_rows() for c in row if c.data_type == "f"):
        cell.data_type = "s"  # as typed with a leading apostrophe
    buffer = io.BytesIO()
    book.save(buffer)
    job = ImportJob(
        kind="households", dry_run=False, created_by=world["p"]["county_staff"], original_name="户档.xlsx"
    )
    job.file.save("户档.xlsx", ContentFile(buffer.getvalue()), save=False)
    job.save()
    import_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed"
    return f"/imports/{job.pk}/error-report.xlsx"


# route name -> (persona, URL); the blank templates hold no data.
EXPORTS: dict[str, tuple[str, Callable[[dict], str]]] = {
    "households:export": ("county_staff", lambda w: "/households/export.xlsx"),
    "household-export": ("county_staff", lambda w: "/api/v1/households/export.xlsx"),
    "enterprises:export": ("county_staff", lambda w: "/enterprises/export.xlsx"),
    "subsidy-batch-export": ("county_staff", lambda w: f"/api/v1/subsidy/batches/{w['batches']['approved'].pk}/export.xlsx"),
    "dashboard-export": ("city", lambda w: "/api/v1/dashboard/export.xlsx?region=411700"),
    "report-monthly": ("city", lambda w: f"/api/v1/reports/monthly.xlsx?month={today():%Y-%m}"),
    "dashboard:assessment-export": ("city", lambda w: f"/dashboard/assessment/export.xlsx?year={today().year}"),
    "imports:error-report": ("county_staff", lambda w: w["error_report"]),
    "import-error-report": ("county_staff", lambda w: "/api/v1" + w["error_report"]),
}  # fmt: skip
NOT_EXPORTED = {"imports:template": "a blank template", "import-template": "a blank template"}


def xlsx_routes() -> set[str]:
    return {name for pattern, name in routes() if pattern.endswith(".xlsx")}


def test_every_download_is_checked():
    assert xlsx_routes() == set(EXPORTS) | set(NOT_EXPORTED)


def _cells(response):
    from openpyxl import load_workbook  # noqa: PLC0415

    content = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200, content[:300]
    book = load_workbook(io.BytesIO(content))
    return [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]


def test_no_export_writes_a_formula(hostile_names, settings, tmp_path):
    from common.spreadsheets import looks_like_formula  # noqa: PLC0415

    world = hostile_names
    _rollups(world)
    world["error_report"] = _error_report(world, settings, tmp_path)
    clients = {persona: _Browser(world)(Page(persona, lambda w: "")) for persona in ("county_staff", "city")}
    for route, (persona, url) in EXPORTS.items():
        cells = _cells(clients[persona].get(url(world)))
        assert [c.coordinate for c in cells if c.data_type == "f"] == [], route
        texts = [c.value for c in cells if isinstance(c.value, str)]
        if route.endswith("error-report"):  # the uploaded values, as text cells that Excel shows as text
            read_back = [f.replace("\r", "\n") for f in FORMULAS]  # XML reads a CR as a line feed
            shown = [c for c in cells if c.value in read_back]
            assert {c.value for c in shown} == set(read_back), route
            assert all(c.data_type == "s" for c in shown), route
            assert all(c.quotePrefix for c in shown if c.value.startswith("=")), route
        else:
            assert [t for t in texts if looks_like_formula(t)] == [], route
            escaped = {t[1:] for t in texts if t.startswith("'")}
            assert any(formula in t for t in escaped for formula in FORMULAS), (route, texts[:20])
    cells = _cells(clients["city"].get(EXPORTS["report-monthly"][1](world)))
    negative = [c.value for c in cells if isinstance(c.value, int | float) and c.value <= -1_000_000]
    assert negative, "the change since last month is written as a number"
