"""The control matrix: every guard of every workflow step, refused on every path that can take the
step, with no table changed.

It is built from the workflows' own tables (common.workflow.all_workflows()): each (object type,
action, guard) of a step must have a case in CASES below, or test_every_guard_has_a_case fails, so
a new step or a new guard cannot land without its refusal proven. A case builds an object in the
step's starting state, then breaks the one rule the guard enforces (a tripped village, an empty
fund, a lapsed rating…); the step is then tried through each path of PATHS (the API, the page's
form, the service that imports, bulk actions and jobs call). Each try must be refused with the
guard's code (the page shows its message) and leave every table as it was (tests/access.py
db_fingerprint).

Covered here: loans (submit, approve, disburse, extend, renew, write-off and its approval), breaker
resumes, compensation-claim verification and payment, a subsidy batch's payment, and the approval
of county and city policy rows. The rating workflow's guards (OTHER_APPS_CASES) are refused in
credit_rating/tests, its bulk approval included: a rating moves no money.

Paths beyond the three: no import row and no job moves a loan or a breaker (the repayment file posts
repayments through loans.services.repayment_post; the daily job trips breakers, set-based, and
classifies); test_no_code_moves_a_loan_or_a_breaker_outside_the_workflows proves that structurally.
"""

import datetime
import html
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine

from common.workflow import all_workflows
from credit_rating.models import Rating
from enterprises.tests.factories import EnterpriseFactory
from households.models import Member
from households.tests.factories import HouseholdFactory
from loans import services
from loans.daily import BREAKER_WORKFLOW
from loans.models import Breaker, Loan, LoanStatus
from loans.tests.factories import SHANGHAI, apply, fund_deposit, rate, recognise_and_link
from organization.models import Role
from organization.tests.factories import UserFactory, assign
from risk_fund.models import FundEntry
from tests.access import changed_tables, db_fingerprint

pytestmark = pytest.mark.django_db

START = datetime.datetime(2026, 3, 2, 10, tzinfo=SHANGHAI)
LATER = START + datetime.timedelta(days=12)  # every notice period over, every approval in the past


def on(moment):
    return time_machine.travel(moment, tick=False)


# --- the world ---------------------------------------------------------------------------------


@dataclass
class World:
    p: dict
    regions: dict
    banks: dict


@pytest.fixture
def world(regions, banks, personas):
    """上蔡 can lend (its fund, rated households); a second county staff member recommends what the
    first submitted (maker-checker); everything is built on START."""
    p = {
        **personas,
        "county2": assign(UserFactory(username="county2"), Role.COUNTY_STAFF, region=regions["shangcai"]),
    }
    with on(START):
        fund_deposit(regions["shangcai"], actor=p["admin"])
    return World(p, regions, banks)


# Who takes each step of an application, household (village clerk first) or enterprise (county staff).
WALK = [
    (LoanStatus.SUBMITTED, "submit", {"household": "village_a1", "enterprise": "county_staff"}),
    (
        LoanStatus.TOWNSHIP_REVIEWED,
        "township-review",
        {"household": "township_a", "enterprise": "township_a"},
    ),
    (LoanStatus.RECOMMENDED, "county-recommend", {"household": "county_staff", "enterprise": "county2"}),
    (LoanStatus.APPROVED, "approve", {"household": "bank_x", "enterprise": "bank_x"}),
]


def build_loan(w: World, status: str, kind: str = "household") -> Loan:
    """A loan of 30,000 for 24 months at bank X, walked by the proper personas to `status` (draft,
    recommended, approved, active or write_off_proposed); each step on its own day from START."""
    with on(START):
        if kind == "household":
            household = HouseholdFactory(village=w.regions["village_a1"])
            rate(household, actor=w.p["county_staff"])
            loan = apply(household, actor=w.p["village_a1"], bank=w.banks["x"])
        else:
            enterprise = EnterpriseFactory(township=w.regions["town_a"])
            recognise_and_link(
                enterprise, [HouseholdFactory(village=w.regions["village_a1"])], actor=w.p["admin"]
            )
            loan = services.loan_create(
                actor=w.p["county_staff"], enterprise=enterprise, bank=w.banks["x"], amount=Decimal("30000.00"),
                term_months=24, purpose="breeding", repayment_method="quarterly_interest_bullet",
            )  # fmt: skip
    day = START
    for reached, action, who in WALK:
        if loan.status == status:
            return loan
        day = day + datetime.timedelta(days=6 if action == "approve" else 1)
        with on(day):
            loan = services.loan_transition(actor=w.p[who[kind]], loan=loan, action=action)
        assert loan.status == reached
    if status == LoanStatus.APPROVED:
        return loan
    with on(day + datetime.timedelta(days=1)):
        loan = services.loan_disburse(
            actor=w.p["bank_x"], loan=loan, disbursed_on=(day + datetime.timedelta(days=1)).date()
        )
    if status == "write_off_proposed":
        Loan.objects.filter(pk=loan.pk).update(classification="loss", dpd=400)
        with on(LATER):
            loan = services.loan_write_off(actor=w.p["bank_x"], loan=loan, reason="long_overdue")
    assert loan.status == status
    return loan


def other_active_loan(w: World, household) -> Loan:
    """An outstanding loan of the same household (as the history of a county would have it)."""
    return Loan.objects.create(
        loan_no=f"L-OTHER-{household.pk}", household=household, area=household.village,
        township=household.village.parent, county=household.village.parent.parent, bank=w.banks["x"],
        amount="10000.00", principal_outstanding="10000.00", rate="4.75", term_months=12, purpose="breeding",
        status=LoanStatus.ACTIVE, disbursed_on=START.date(), created_by=w.p["admin"],
    )  # fmt: skip


def today_on_the_clock() -> datetime.date:
    return LATER.date()


# --- how each guard is broken ------------------------------------------------------------------
#
# spoil(w, loan) changes the world so that the guard refuses the loan; it may return inputs for
# the step (what a form or a body would carry).


def _too_old(w, loan):
    Member.objects.filter(pk=loan.borrower_id).update(birth_date=datetime.date(1950, 1, 1))


def _not_poor(w, loan):
    type(loan.household).objects.filter(pk=loan.household_id).update(status="non_poor")


def _rating_lapsed(w, loan):
    Rating.objects.filter(household=loan.household_id).update(valid_until=START.date())


def _line_too_small(w, loan):
    Rating.objects.filter(household=loan.household_id).update(credit_line="1000.00")


def _term_too_long(w, loan):
    Loan.objects.filter(pk=loan.pk).update(term_months=48)


def _another_live_loan(w, loan):
    other_active_loan(w, loan.household)


def _fewer_households_led(w, loan):
    loan.enterprise.links.all().delete()


def _consumption(w, loan):
    Loan.objects.filter(pk=loan.pk).update(purpose="consumption")


def _village_tripped(w, loan):
    Breaker.objects.update_or_create(
        region=loan.area, defaults={"level": "village", "state": Breaker.State.TRIPPED, "npl_ratio": "9.00",
                                    "threshold": "7.00"},
    )  # fmt: skip


def _fund_empty(w, loan):
    balance = sum(e.amount for e in FundEntry.objects.filter(county_id=loan.county_id))
    FundEntry.objects.create(county_id=loan.county_id, kind=FundEntry.Kind.PAYOUT, amount=-balance,
                             received_on=START.date(), source="测试", created_by=w.p["admin"])  # fmt: skip


def _notice_running(w, loan):
    Loan.objects.filter(pk=loan.pk).update(notice_ends_on=LATER.date() + datetime.timedelta(days=3))


def _tomorrow(w, loan):
    return {"disbursed_on": LATER.date() + datetime.timedelta(days=1)}


def _old_loan_open(w, loan):
    Loan.objects.filter(pk=loan.pk).update(renewed_from=other_active_loan(w, loan.household))


def _extended_once(w, loan):
    Loan.objects.filter(pk=loan.pk).update(extension_count=1)


def _renewed_once(w, loan):
    Loan.objects.filter(pk=loan.pk).update(renewal_count=1)


def _reason_not_listed(w, loan):
    return {"reason": "测试"}


def _healthy(w, loan):
    Loan.objects.filter(pk=loan.pk).update(classification="normal", dpd=0)


@dataclass(frozen=True)
class Case:
    spoil: object
    codes: tuple[str, ...]  # the refusal's code (API): the guard's own, or the body's check before it
    kind: str = "household"


GUARD_CASES = {
    "age": Case(_too_old, ("age_out_of_range",)),
    "household_status": Case(_not_poor, ("ineligible_status",)),
    "rating": Case(_rating_lapsed, ("no_effective_rating",)),
    "credit_line": Case(_line_too_small, ("exceeds_credit_line",)),
    "product_cap": Case(_term_too_long, ("term_too_long",)),
    "one_live_loan": Case(_another_live_loan, ("duplicate_household_loan",)),
    "enterprise": Case(_fewer_households_led, ("exceeds_linkage_cap",), kind="enterprise"),
    "purpose": Case(_consumption, ("non_productive_purpose",)),
    "breaker": Case(_village_tripped, ("breaker_tripped",)),
    "leverage": Case(_fund_empty, ("fund_leverage_exceeded",)),
    "notice_period": Case(_notice_running, ("notice_period_not_over",)),
    "disbursement_date": Case(_tomorrow, ("invalid",)),
    "renewed_loan_closed": Case(_old_loan_open, ("invalid_transition",)),
    "extension_limit": Case(_extended_once, ("extension_limit",)),
    "renewal_limit": Case(_renewed_once, ("renewal_limit",)),
    # The API's body check names the fixed list first (400 invalid); the page's form lets the
    # service answer with its own code.
    "write_off_reason": Case(_reason_not_listed, ("invalid_reason", "invalid")),
    "write_off_eligible": Case(_healthy, ("write_off_not_allowed",)),
}

# Each loan step: the state it starts from, who takes it, and a body that would be accepted.
STEP_SETUP = {
    "submit": (LoanStatus.DRAFT, "village_a1", {}),
    "approve": (LoanStatus.RECOMMENDED, "bank_x", {}),
    "disburse": (LoanStatus.APPROVED, "bank_x", {"disbursed_on": LATER.date()}),
    "extend": (LoanStatus.ACTIVE, "bank_x", {"months": 3, "reason": "受灾减产"}),
    "renew": (LoanStatus.ACTIVE, "village_a1", {}),
    "write-off": ("active-loss", "bank_x", {"reason": "long_overdue"}),
    "write-off-approve": ("write_off_proposed", "county_staff", {}),
}
# Who takes a step of an enterprise loan, when it is not the household's persona.
ENTERPRISE_ACTOR = {"submit": "county_staff"}

CASES = {("loan", action, guard): GUARD_CASES[guard] for action in STEP_SETUP
         for guard in services.LOAN_WORKFLOW.steps[action].guards}  # fmt: skip
CASES[("breaker", "resume", "back_under_threshold")] = Case(None, ("breaker_still_over",))


def _claim_line_raised(w, claim):
    """The county's compensation line moved past the loan's days overdue (a stricter policy row)."""
    from organization.tests.factories import approved_policy  # noqa: PLC0415

    approved_policy(county=w.regions["shangcai"], effective_from=START.date() - datetime.timedelta(days=400),
                    compensation_min_dpd=3000)  # fmt: skip


CLAIM_CASES = {
    ("verify", "claimable"): Case(_claim_line_raised, ("dpd_too_low",)),
    ("pay", "fund_covers"): Case(lambda w, claim: _fund_empty(w, claim.loan), ("fund_insufficient",)),
}
CASES.update({("claim", action, guard): case for (action, guard), case in CLAIM_CASES.items()})
# A second live claim on a loan is refused by the database itself (one_live_claim_per_loan), so the
# verify guard behind it is only reached by a race: test_a_second_live_claim_is_refused_by_the_database.
CASES[("claim", "verify", "no_other_live_claim")] = Case(None, ("claim_exists",))

# Policy rows: a stricter city row approved after the county's proposal (its cap now over the
# envelope), or the proposal's date already come (approval would change a row in force).
POLICY_CASES = {
    ("county_policy", "envelope"): Case(None, ("outside_city_envelope",)),
    ("county_policy", "not_started"): Case(None, ("too_late",)),
    ("city_policy", "not_started"): Case(None, ("too_late",)),
}
CASES.update({(obj, "approve", guard): case for (obj, guard), case in POLICY_CASES.items()})

# A subsidy batch marked paid on a day after today (money out is recorded when it happens).
CASES[("subsidy_batch", "mark-paid", "paid_on_window")] = Case(None, ("invalid",))

# A rating whose scores are not all entered cannot go a step further (its credit line would rest on
# them): tried through the county's bulk submit and approve too.
RATING_STEPS = {"submit": ("draft", "village_a1"), "review": ("submitted", "township_a"),
                "approve": ("reviewed", "county_staff")}  # fmt: skip
CASES.update(
    {("rating", action, "scores_complete"): Case(None, ("incomplete_scores",)) for action in RATING_STEPS}
)
OTHER_APPS_CASES: dict[str, str] = {}  # every workflow's guards have their cases here


def test_every_guard_has_a_case():
    """A step or a guard added to a workflow table without its case here fails this test."""
    tables = {
        (wf.obj_type, action, guard)
        for wf in all_workflows()
        if wf.obj_type not in OTHER_APPS_CASES
        for action, step in wf.steps.items()
        for guard in step.guards
    }
    assert tables == set(CASES), "a guard without a case in CASES (or a case of no guard)"
    assert {wf.obj_type for wf in all_workflows()} >= {"loan", "breaker"}


# --- the paths -----------------------------------------------------------------------------------


def _form_value(value) -> str:
    return value.isoformat() if isinstance(value, datetime.date) else str(value)


def take_step(path: str, loan: Loan, action: str, actor, inputs: dict, client):
    """(status code, refusal codes, page text) of the step taken through `path` (`client`: the
    API's or the browser's, logged in beforehand, since a login writes the user's last_login)."""
    if path == "service":
        try:
            if action == "disburse":
                services.loan_disburse(actor=actor, loan=loan, disbursed_on=inputs["disbursed_on"])
            elif action == "extend":
                services.loan_extend(actor=actor, loan=loan, months=inputs["months"], reason=inputs["reason"])
            elif action == "renew":
                services.loan_renew(actor=actor, loan=loan)
            elif action == "write-off":
                services.loan_write_off(actor=actor, loan=loan, reason=inputs["reason"])
            else:
                services.loan_transition(actor=actor, loan=loan, action=action)
        except services.LoanError as exc:
            refused = [r["code"] for r in exc.errors.get("refusals", [])]
            return 400, {exc.code, *refused}, exc.message
        return 200, set(), ""
    if path == "api":
        body = {k: _form_value(v) for k, v in inputs.items()}
        response = client.post(f"/api/v1/loans/{loan.pk}/{action}/", body, format="json")
        payload = response.json()
        refused = [r["code"] for r in (payload.get("errors") or {}).get("refusals", [])]
        return response.status_code, {payload.get("code"), *refused}, ""
    body = {f"{action}-{k}": _form_value(v) for k, v in inputs.items()}
    response = client.post(f"/loans/{loan.pk}/do/{action}/", body)
    text = html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode()))
    return response.status_code, set(), text


PATHS = ("service", "api", "page")


def loan_cases():
    return sorted((action, guard) for (obj, action, guard) in CASES if obj == "loan")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("action", "guard"), loan_cases(), ids=[f"{a}-{g}" for a, g in loan_cases()])
def test_a_broken_rule_refuses_the_step_and_writes_nothing(world, api, client_for, action, guard, path):
    case = GUARD_CASES[guard]
    status, actor_name, body = STEP_SETUP[action]
    if status == "active-loss":
        loan = build_loan(world, LoanStatus.ACTIVE, case.kind)
        Loan.objects.filter(pk=loan.pk).update(classification="loss", dpd=400)
    else:
        loan = build_loan(world, status, case.kind)
    actor = world.p[ENTERPRISE_ACTOR.get(action, actor_name) if case.kind == "enterprise" else actor_name]
    with on(LATER):
        inputs = {**body, **(case.spoil(world, loan) or {})}
        loan.refresh_from_db()
        # The guard itself finds the broken rule (so a refusal below is this guard's).
        found = services.LOAN_WORKFLOW.refusals(loan, actor=actor, action=action, inputs=inputs,
                                                on=inputs.get("disbursed_on") or LATER.date())  # fmt: skip
        assert guard == "write_off_reason" or set(case.codes) & {r.code for r in found}, found
        client = {"service": None, "api": api(actor), "page": client_for(actor)}[path]
        before = db_fingerprint()
        code, codes, text = take_step(path, loan, action, actor, inputs, client)
        after = db_fingerprint()
    assert changed_tables(before, after) == [], f"{path} {action} wrote while refused"
    if path == "page":
        assert code == 200 and "未能办理" in text, text[:500]
        messages = [r.message for r in found if r.code in case.codes] or ["核销事由"]
        assert any(m in text for m in messages), (messages, text[:800])
    else:
        assert code == 400 and set(case.codes) & codes, (code, codes)


@pytest.mark.parametrize("path", PATHS)
def test_a_breaker_over_its_line_is_not_resumed(world, api, client_for, path):
    """The area's ratio, recomputed from its loans, still over the threshold: no resumption."""
    from loans.tests.factories_daily import overdue_by

    with on(LATER):
        overdue_by(200, LATER.date(), world.regions["village_a1"], bank=world.banks["x"], actor=world.p["admin"],
                   classification="doubtful")  # fmt: skip
        breaker = Breaker.objects.create(region=world.regions["village_a1"], level="village",
                                         state=Breaker.State.TRIPPED, npl_ratio="100.00", threshold="7.00")  # fmt: skip
        staff = world.p["county_staff"]
        client = {"service": None, "api": api(staff), "page": client_for(staff)}[path]
        before = db_fingerprint()
        if path == "service":
            with pytest.raises(services.LoanError) as refused:
                BREAKER_WORKFLOW.run(actor=staff, obj=breaker, action="resume")
            code, codes = 400, {refused.value.code}
        elif path == "api":
            response = client.post(f"/api/v1/breakers/{breaker.region_id}/resume/", {}, format="json")
            code, codes = response.status_code, {response.json().get("code")}
        else:
            response = client.post(f"/loans/breakers/{breaker.region_id}/resume/")
            code, codes = response.status_code, set()
            assert "仍高于" in response.content.decode() or code == 302
        after = db_fingerprint()
    assert changed_tables(before, after) == []
    assert path == "page" or (code == 400 and "breaker_still_over" in codes)
    assert Breaker.objects.get(pk=breaker.pk).state == Breaker.State.TRIPPED


# --- compensation claims: money out of the fund ---------------------------------------------------


def build_claim(w: World, status: str):
    """A claim of bank X on a loan 120 days overdue: filed by bank X, verified by the county staff."""
    from risk_fund import services as fund_services  # noqa: PLC0415
    from risk_fund.tests.factories import overdue_loan  # noqa: PLC0415

    loan = overdue_loan(w.regions, w.banks, w.p)
    claim = fund_services.claim_file(actor=w.p["bank_x"], loan=loan)
    if status == "verified":
        claim = fund_services.claim_verify(actor=w.p["county_staff"], claim=claim)
    return claim


CLAIM_STEP = {"verify": ("filed", "county_staff"), "pay": ("verified", "county2")}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("action", "guard"), sorted(CLAIM_CASES), ids=[f"{a}-{g}" for a, g in sorted(CLAIM_CASES)]
)
def test_a_claim_step_that_breaks_a_rule_writes_nothing(world, api, client_for, action, guard, path):
    from risk_fund import services as fund_services  # noqa: PLC0415

    case = CLAIM_CASES[(action, guard)]
    status, who = CLAIM_STEP[action]
    with on(LATER):
        claim = build_claim(world, status)
        case.spoil(world, claim)
        actor = world.p[who]
        client = {"service": None, "api": api(actor), "page": client_for(actor)}[path]
        before = db_fingerprint()
        if path == "service":
            with pytest.raises(fund_services.FundError) as refused:
                {"verify": fund_services.claim_verify, "pay": fund_services.claim_pay}[action](
                    actor=actor, claim=claim
                )
            code, codes = 400, {refused.value.code}
        elif path == "api":
            response = client.post(f"/api/v1/compensation-claims/{claim.pk}/{action}/", {}, format="json")
            code, codes = response.status_code, {response.json().get("code")}
        else:
            response = client.post(f"/risk-fund/claims/{claim.pk}/do/{action}/", {})
            code, codes = response.status_code, set()
            assert "未能办理" in response.content.decode() or response.status_code == 400
        after = db_fingerprint()
    assert changed_tables(before, after) == [], f"{path} {action} wrote while refused"
    assert path == "page" or (code == 400 and set(case.codes) & codes), (code, codes)
    claim.refresh_from_db()
    assert claim.status == status


def test_a_second_live_claim_is_refused_by_the_database(world):
    from django.db import IntegrityError, transaction  # noqa: PLC0415

    from risk_fund.models import CompensationClaim  # noqa: PLC0415

    with on(LATER):
        claim = build_claim(world, "filed")
        fields = {
            f.attname: getattr(claim, f.attname)
            for f in CompensationClaim._meta.concrete_fields
            if not f.primary_key
        }
        with pytest.raises(IntegrityError), transaction.atomic():
            CompensationClaim.objects.create(**fields)


# --- ratings: the bulk path too ----------------------------------------------------------------------


def build_rating(w: World, status: str):
    from credit_rating.models import Scorecard  # noqa: PLC0415
    from credit_rating.tests.factories import RatingFactory, publish_default  # noqa: PLC0415

    county = w.regions["shangcai"]
    card = Scorecard.objects.filter(county=county).first() or publish_default(county)
    household = HouseholdFactory(village=w.regions["village_a1"])
    return RatingFactory(household=household, scorecard=card, drafted_by=w.p["village_a1"], status=status,
                         scores={})  # fmt: skip


BULK_PATHS = {"submit": "county_staff", "approve": "county_staff"}


RATING_PATHS = [(a, p) for a in sorted(RATING_STEPS) for p in PATHS] + [
    (a, "bulk") for a in sorted(BULK_PATHS)
]


@pytest.mark.parametrize(("action", "path"), RATING_PATHS, ids=[f"{a}-{p}" for a, p in RATING_PATHS])
def test_a_rating_with_scores_missing_goes_no_further(world, api, client_for, action, path):
    from credit_rating import services as rating_services  # noqa: PLC0415

    status, who = RATING_STEPS[action]
    with on(LATER):
        rating = build_rating(world, status)
        actor = world.p[BULK_PATHS[action] if path == "bulk" else who]
        client = None if path == "service" else (api(actor) if path == "api" else client_for(actor))
        before = db_fingerprint()
        if path == "service":
            with pytest.raises(rating_services.RatingError) as refused:
                rating_services.rating_transition(actor=actor, rating=rating, action=action)
            codes = {refused.value.code}
        elif path == "api":
            response = client.post(f"/api/v1/ratings/{rating.pk}/{action}/", {}, format="json")
            assert response.status_code == 400
            codes = {response.json().get("code")}
        elif path == "page":
            response = client.post(f"/ratings/{rating.pk}/", {"action": action}, follow=True)
            assert "未评分" in html.unescape(response.content.decode())
            codes = {"incomplete_scores"}
        else:
            response = client.post("/ratings/bulk/", {"action": action, "ids": [rating.pk]}, follow=True)
            assert "未评分" in html.unescape(response.content.decode())
            codes = {"incomplete_scores"}
        after = db_fingerprint()
    assert changed_tables(before, after) == []
    assert "incomplete_scores" in codes
    rating.refresh_from_db()
    assert rating.status == status


# --- subsidy batches: the county's payment ---------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_a_subsidy_payment_dated_tomorrow_writes_nothing(world, api, client_for, path):
    from subsidy import services as subsidy_services  # noqa: PLC0415
    from subsidy.tests.factories import Q1_2024, make_loan, pay  # noqa: PLC0415

    p = world.p
    with on(LATER):
        loan = make_loan(world.regions["village_a1"], bank=world.banks["x"], actor=p["admin"])
        pay(loan, on=datetime.date(2024, 2, 15), actor=p["bank_x"])
        batch = subsidy_services.batch_create(actor=p["county_staff"], county=world.regions["shangcai"],
                                              bank=world.banks["x"], period_start=Q1_2024[0])  # fmt: skip
        batch = subsidy_services.batch_approve(actor=p["county2"], batch=batch)
        tomorrow = LATER.date() + datetime.timedelta(days=1)
        client = {"service": None, "api": api(p["county_staff"]), "page": client_for(p["county_staff"])}[path]
        before = db_fingerprint()
        if path == "service":
            with pytest.raises(subsidy_services.SubsidyError) as refused:
                subsidy_services.batch_mark_paid(actor=p["county_staff"], batch=batch, paid_on=tomorrow)
            code, codes = 400, {refused.value.code}
        elif path == "api":
            response = client.post(f"/api/v1/subsidy/batches/{batch.pk}/mark-paid/",
                                   {"paid_on": tomorrow.isoformat(), "reference": "ZF-1"}, format="json")  # fmt: skip
            code, codes = response.status_code, {response.json().get("code")}
        else:
            response = client.post(f"/subsidy/{batch.pk}/do/mark-paid/",
                                   {"mark-paid-paid_on": tomorrow.isoformat(), "mark-paid-reference": "ZF-1"})  # fmt: skip
            code, codes = response.status_code, set()
            assert "拨付日期" in response.content.decode()
        after = db_fingerprint()
    assert changed_tables(before, after) == []
    assert path == "page" or (code == 400 and "invalid" in codes), (code, codes)
    batch.refresh_from_db()
    assert batch.status == "approved"


# --- policy rows: the second person's approval ----------------------------------------------------


def build_proposal(w: World, obj: str, guard: str):
    """A proposal made on START for a date after it, broken as the case says, on LATER."""
    from organization import services as org_services  # noqa: PLC0415
    from organization.tests.factories import approved_city_policy  # noqa: PLC0415

    due = (
        LATER.date() + datetime.timedelta(days=30)
        if guard == "envelope"
        else START.date() + datetime.timedelta(days=5)
    )
    with on(START):
        if obj == "city_policy":
            return org_services.city_policy_propose(actor=w.p["city"], city=w.regions["city"], effective_from=due,
                                                    changes={"household_loan_cap": "45000.00"})  # fmt: skip
        row = org_services.policy_propose(actor=w.p["county_staff"], county=w.regions["shangcai"],
                                          effective_from=due, changes={"household_loan_cap": "48000.00"})  # fmt: skip
    if guard == "envelope":
        approved_city_policy(
            city=w.regions["city"], effective_from=START.date(), household_loan_cap="40000.00"
        )
    return row


POLICY_PATHS = {
    "county_policy": ("policies", "county-rows", "county2"),
    "city_policy": ("city-policies", "city-rows", "city2"),
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("obj", "guard"), sorted(POLICY_CASES), ids=[f"{o}-{g}" for o, g in sorted(POLICY_CASES)]
)
def test_a_policy_approval_that_breaks_a_rule_writes_nothing(world, api, client_for, obj, guard, path):
    from organization import services as org_services  # noqa: PLC0415

    world.p["city2"] = assign(UserFactory(username="city2"), Role.CITY_FINANCE, region=world.regions["city"])
    row = build_proposal(world, obj, guard)
    api_base, page_base, who = POLICY_PATHS[obj]
    actor = world.p[who]
    with on(LATER):
        client = {"service": None, "api": api(actor), "page": client_for(actor)}[path]
        before = db_fingerprint()
        if path == "service":
            approve = (
                org_services.city_policy_approve if obj == "city_policy" else org_services.policy_approve
            )
            with pytest.raises(org_services.OrganizationError) as refused:
                approve(actor=actor, policy=row)
            code, codes = 400, {refused.value.code}
        elif path == "api":
            response = client.post(f"/api/v1/{api_base}/{row.pk}/approve/", {}, format="json")
            code, codes = response.status_code, {response.json().get("code")}
        else:
            response = client.post(
                f"/policies/{page_base}/{row.pk}/review/", {f"r{row.pk}-decision": "approve"}
            )
            code, codes = response.status_code, set()
            assert "未能" in response.content.decode() or "不能" in response.content.decode()
        after = db_fingerprint()
    assert changed_tables(before, after) == []
    assert path == "page" or (code == 400 and set(POLICY_CASES[(obj, guard)].codes) & codes), (code, codes)
    row.refresh_from_db()
    assert row.status == "proposed"


# --- the structure -----------------------------------------------------------------------------

# Who may write a workflow object's state: the engine (common/workflow.py) and, outside a step,
# creation, the repayment that closes a loan, the daily job's trips, and the demo's history.
STATE_WRITERS = {
    "common/workflow.py",
    "loans/services.py",  # the close on the last repayment (a recorded event, not a step)
    "loans/daily.py",  # breaker trips, set-based
    "loans/demo.py", "credit_rating/demo_data.py", "subsidy/demo.py", "risk_fund/demo.py", "reporting/demo.py",
}  # fmt: skip
STATE_WRITE = re.compile(r"\.(status|state)\s*=[^=]|\.update\([^)]*\b(status|state)\s*=")


def test_no_code_moves_a_loan_or_a_breaker_outside_the_workflows():
    """A path that sets a loan's status or a breaker's state itself would skip the guards."""
    root = Path(__file__).resolve().parent.parent
    offenders = []
    for app in ("loans", "risk_fund", "subsidy", "reporting", "imports", "households", "common"):
        for source in (root / app).rglob("*.py"):
            relative = source.relative_to(root).as_posix()
            if "/tests/" in relative or "/migrations/" in relative or relative in STATE_WRITERS:
                continue
            for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
                if "Loan" in line or "loan" in line or "breaker" in line.lower():
                    if STATE_WRITE.search(line):
                        offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []


def test_the_fingerprint_sees_every_kind_of_write(world):
    """What 'nothing written' rests on: an insert, an update and a delete each change the digest."""
    before = db_fingerprint()
    household = HouseholdFactory(village=world.regions["village_a1"])
    inserted = db_fingerprint()
    type(household).objects.filter(pk=household.pk).update(head_name="改名")
    updated = db_fingerprint()
    Member.objects.filter(household=household).delete()
    deleted = db_fingerprint()
    assert "households.household" in changed_tables(before, inserted)
    assert changed_tables(inserted, updated) == ["households.household"]
    assert "households.member" in changed_tables(updated, deleted)
