"""The loan endpoints (API.md "Loans"): the application, every refusal code with its 400 shape,
each workflow route by its persona, the detail, schedule and list shapes, constant queries for the
list, and Idempotency-Key on repayments, including two requests at once on PostgreSQL."""

import datetime
import threading
import time
from dataclasses import dataclass
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common.clock import today
from common.identity import parse_resident_id
from common.testing import at_once, make_resident_id
from conftest import require_service
from enterprises.services import enterprise_recognize
from enterprises.tests.factories import BenefitLinkFactory, EnterpriseFactory
from households.models import HouseholdStatus
from households.services import member_instance
from households.tests.factories import HouseholdFactory
from loans.models import Breaker, IdempotencyRecord, Loan, LoanStatus, Repayment

from .factories import SHANGHAI, apply, fund_deposit, rate, recognise_and_link, walk

pytestmark = pytest.mark.django_db

LOANS = "/api/v1/loans/"
EVENT_FIELDS = {"action", "actor", "at", "from_status", "to_status", "comment"}
DETAIL_FIELDS = {
    "id", "status", "household", "enterprise", "bank", "amount", "rate", "term_months", "purpose",
    "notice_ends_on", "disbursed_on", "maturity_date", "principal_outstanding", "dpd", "classification", "events",
}  # fmt: skip
SCHEDULE_FIELDS = {"seq", "due_date", "principal_due", "interest_due", "principal_paid", "interest_paid"}


def noon(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(12), tzinfo=SHANGHAI)


def chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def money_text(value) -> bool:
    whole, _, cents = str(value).partition(".")
    return isinstance(value, str) and whole.lstrip("-").isdigit() and len(cents) == 2 and cents.isdigit()


def refused(response, code: str) -> dict:
    """400 {"code", "detail" (Chinese), "errors"} with this code; the body."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"code", "detail", "errors"} and body["code"] == code, body
    assert chinese(body["detail"]) and isinstance(body["errors"], dict)
    return body


@dataclass
class World:
    """The personas, households and banks of the root conftest.py, and the API as each persona."""

    api: object  # the root conftest's api(user) -> APIClient
    p: dict  # personas
    households: dict
    banks: dict
    regions: dict

    def client(self, persona: str):
        return self.api(self.p[persona])

    def apply(self, persona: str = "village_a1", **fields) -> dict:
        """POST /loans/ (household A1, bank X, 30,000 for 24 months unless told) → the 201 body."""
        body = {
            "bank": "PSBC", "amount": "30000.00", "term_months": 24, "purpose": "breeding",
            "repayment_method": "quarterly_interest_bullet", "other_subsidy": False,
        }  # fmt: skip
        if "enterprise" not in fields:
            body["household"] = self.households["a1"].pk
        body.update(fields)
        response = self.client(persona).post(LOANS, body, format="json")
        assert response.status_code == 201, response.content
        return response.json()

    def act(self, persona: str, loan: dict | int, action: str, **body):
        loan_id = loan if isinstance(loan, int) else loan["id"]
        return self.client(persona).post(f"{LOANS}{loan_id}/{action}/", body, format="json")

    def step(self, persona: str, loan, action: str, **body) -> dict:
        """An action that must succeed: 200 (201 for renew) → the loan."""
        response = self.act(persona, loan, action, **body)
        assert response.status_code == (201 if action == "renew" else 200), response.content
        return response.json()

    def submit(self, persona: str = "village_a1", **fields):
        """Apply and submit as the same persona → the submit response."""
        return self.act(persona, self.apply(persona, **fields), "submit")

    def get(self, persona: str, path: str, **params):
        response = self.client(persona).get(f"{LOANS}{path}", params)
        assert response.status_code == 200, response.content
        return response.json()


@pytest.fixture
def w(api, personas, lending, banks, regions):
    return World(api, personas, lending, banks, regions)


def change_rating(w: World, **changes):
    rating = w.households["a1"].ratings.get()
    for name, value in changes.items():
        setattr(rating, name, value)
    rating.save()


def active_loan(w: World, amount: str = "10000.00", term_months: int = 6, household=None) -> Loan:
    """A loan of household A1 (or another of village A1) at bank X walked to active by the
    services, disbursed the day the notice period ends."""
    household = household or w.households["a1"]
    loan = apply(
        household, actor=w.p["village_a1"], bank=w.banks["x"], amount=amount, term_months=term_months
    )
    return walk(loan, to=LoanStatus.ACTIVE, personas=w.p)


def owed(loan: Loan) -> Decimal:
    return sum(
        (
            i.principal_due - i.principal_paid + i.interest_due - i.interest_paid
            for i in loan.instalments.all()
        ),
        Decimal(0),
    )


def pay(
    w: World,
    loan: Loan,
    amount,
    key: str | None = None,
    persona: str = "bank_x",
    paid_on=None,
    travel=True,
    reference="",
):
    """POST /loans/{id}/repayments/ (paid on the disbursement day unless told), with the
    Idempotency-Key header when a key is given."""
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    paid_on = paid_on or loan.disbursed_on
    body = {"amount": f"{amount}", "paid_on": f"{paid_on}", **({"reference": reference} if reference else {})}
    if not travel:  # the caller moved the clock (threads must not each move it)
        return w.client(persona).post(f"{LOANS}{loan.pk}/repayments/", body, format="json", **headers)
    with on_or_after(paid_on):
        return w.client(persona).post(f"{LOANS}{loan.pk}/repayments/", body, format="json", **headers)


def on_or_after(day: datetime.date):
    """The clock at noon of `day` when that is in the future: a repayment is never dated ahead of today."""
    return time_machine.travel(noon(max(day, datetime.date.today())), tick=False)


# --- the application ------------------------------------------------------------------------


def test_apply_answers_201_with_a_draft_at_the_benchmark_rate(w):
    body = w.apply()
    assert body["status"] == "draft" and body["rate"] == "4.75"  # 24 months: the 1-5 year benchmark
    assert (body["amount"], body["term_months"], body["bank"]) == ("30000.00", 24, "PSBC")
    assert body["household"] == w.households["a1"].pk and body["enterprise"] is None
    assert [(e["action"], e["to_status"], e["actor"]) for e in body["events"]] == [
        ("create", "draft", "village_a1")
    ]
    assert w.apply(term_months=12)["rate"] == "4.35"


def test_apply_refuses_bad_input_and_other_areas(w):
    response = w.client("village_a1").post(LOANS, {"bank": "PSBC", "amount": "1"}, format="json")
    assert refused(response, "invalid")["errors"].keys() >= {"term_months", "purpose"}
    outside = w.client("village_a1").post(
        LOANS, {"household": w.households["b1"].pk, "bank": "PSBC", "amount": "100", "term_months": 12,
                "purpose": "breeding"}, format="json",
    )  # fmt: skip
    assert outside.status_code == 404


# --- every refusal code through the API -----------------------------------------------------------


def _old_borrower(w):
    old = member_instance(
        household=w.households["a1"], name="老人", relation="父亲", labor_capable=False,
        resident=parse_resident_id(make_resident_id("411722", datetime.date(1950, 5, 1), 7)),
    )  # fmt: skip
    old.save()
    return w.submit(borrower=old.pk)


def _non_poor(w):
    household = w.households["a1"]
    household.status = HouseholdStatus.NON_POOR
    household.save()
    return w.submit()


def _expired_rating(w):
    change_rating(w, valid_until=today() - datetime.timedelta(days=1))
    return w.submit()


def _grade_b(w):
    change_rating(w, grade="B")
    return w.submit()


def _above_product_cap(w):
    change_rating(w, credit_line=Decimal("60000.00"))
    return w.submit(amount="55000.00")


def _second_loan(w):
    assert w.submit().status_code == 200
    return w.submit(amount="1000.00")


def _tripped_village(w):
    Breaker.objects.create(
        region=w.regions["village_a1"], level="village", state="tripped", npl_ratio=9, threshold=7
    )
    return w.submit()


def _small_fund(w):
    fund_deposit(w.regions["shangcai"], actor=w.p["admin"], amount=Decimal("-19997000.00"))  # cap 30,000
    return w.submit(amount="35000.00")


def _enterprise_loan(w, enterprise, amount="100000.00"):
    return w.submit(
        "county_staff", enterprise=enterprise.pk, amount=amount, term_months=12, purpose="processing",
        repayment_method="bullet",
    )  # fmt: skip


def _unrecognised(w):
    company = EnterpriseFactory(kind="company", township=w.regions["town_a"])
    return _enterprise_loan(w, company)


def _young_cooperative(w):
    founded = today() - datetime.timedelta(days=365)
    coop = EnterpriseFactory(kind="cooperative", township=w.regions["town_a"], founded_on=founded)
    decided = founded + datetime.timedelta(days=30)
    enterprise_recognize(
        actor=w.p["county_staff"], enterprise=coop, decision_no="上蔡政〔2026〕1号", decided_on=decided
    )
    BenefitLinkFactory(
        enterprise=coop, household=w.households["a1"], created_by=w.p["county_staff"], start_date=decided
    )
    return _enterprise_loan(w, coop)


def _beyond_linkage(w):
    company = EnterpriseFactory(kind="company", township=w.regions["town_a"])
    recognise_and_link(company, [w.households["a1"]], actor=w.p["county_staff"])
    return _enterprise_loan(w, company, amount="100000.01")


def _own_submission(w):
    loan = w.apply("county_staff")
    w.step("county_staff", loan, "submit")
    w.step("township_a", loan, "township-review")
    return w.act("county_staff", loan, "county-recommend")


def _review_a_draft(w):
    return w.act("township_a", w.apply(), "township-review")


def _pay_too_much(w):
    loan = active_loan(w)
    return pay(w, loan, owed(loan) + Decimal("0.01"))


# code -> what gets it refused. The eligibility rules answer with every broken rule in "refusals".
REFUSALS = {
    "age_out_of_range": _old_borrower,
    "ineligible_status": _non_poor,
    "no_effective_rating": _expired_rating,
    "grade_too_low": _grade_b,
    "exceeds_credit_line": lambda w: w.submit(amount="45000.00"),
    "exceeds_product_cap": _above_product_cap,
    "term_too_long": lambda w: w.submit(term_months=48),
    "non_productive_purpose": lambda w: w.submit(purpose="wedding"),
    "duplicate_household_loan": _second_loan,
    "breaker_tripped": _tripped_village,
    "fund_leverage_exceeded": _small_fund,
    "enterprise_not_recognized": _unrecognised,
    "cooperative_too_young": _young_cooperative,
    "exceeds_linkage_cap": _beyond_linkage,
    "same_person_checker": _own_submission,
    "invalid_transition": _review_a_draft,
    "overpayment": _pay_too_much,
}
NOT_ELIGIBILITY = {"same_person_checker", "invalid_transition", "overpayment"}


def test_every_refusal_code_of_api_md_is_covered():
    listed = (
        "age_out_of_range, ineligible_status, no_effective_rating, grade_too_low, exceeds_credit_line, "
        "exceeds_product_cap, term_too_long, non_productive_purpose, duplicate_household_loan, breaker_tripped, "
        "fund_leverage_exceeded, enterprise_not_recognized, cooperative_too_young, exceeds_linkage_cap, "
        "same_person_checker, invalid_transition, overpayment"
    )
    assert set(REFUSALS) == set(listed.split(", "))


@pytest.mark.parametrize("code", list(REFUSALS))
def test_each_refusal_answers_400_with_its_code(w, code):
    body = refused(REFUSALS[code](w), code)
    if code not in NOT_ELIGIBILITY:
        codes = [r["code"] for r in body["errors"]["refusals"]]
        assert codes[0] == code and all(chinese(r["detail"]) for r in body["errors"]["refusals"])
        assert body["detail"] == body["errors"]["refusals"][0]["detail"]
    if code == "overpayment":
        assert not Repayment.objects.exists()


def test_an_enterprise_that_breaks_several_rules_hears_of_each(w):
    coop = EnterpriseFactory(kind="cooperative", township=w.regions["town_a"], founded_on=today())
    body = refused(_enterprise_loan(w, coop), "enterprise_not_recognized")
    assert [r["code"] for r in body["errors"]["refusals"]] == [
        "enterprise_not_recognized", "cooperative_too_young", "exceeds_linkage_cap",
    ]  # fmt: skip


# --- the workflow's routes, each by its persona -----------------------------------------------


def test_the_five_steps_and_what_follows_disbursement(w):
    loan = w.apply()
    for persona, action, status in (
        ("village_a1", "submit", "submitted"),
        ("township_a", "township-review", "township_reviewed"),
        ("county_staff", "county-recommend", "recommended"),
    ):
        loan = w.step(persona, loan, action, comment=f"{action}意见")
        assert loan["status"] == status
    notice_ends_on = datetime.date.fromisoformat(loan["notice_ends_on"])
    with time_machine.travel(noon(notice_ends_on), tick=False):
        assert w.step("bank_x", loan, "approve")["status"] == "approved"
        loan = w.step("bank_x", loan, "disburse", disbursed_on=f"{notice_ends_on}")
        assert (loan["status"], loan["disbursed_on"], loan["principal_outstanding"]) == (
            "active", f"{notice_ends_on}", "30000.00",
        )  # fmt: skip
        maturity = datetime.date.fromisoformat(loan["maturity_date"])
        loan = w.step("bank_x", loan, "extend", months=3, reason="受灾延期")
        assert (
            loan["status"] == "active"
            and loan["extension_count"] == 1
            and loan["maturity_date"] > f"{maturity}"
        )
        renewal = w.step("village_a1", loan, "renew")
        assert renewal["status"] == "draft" and renewal["renewed_from"] == loan["id"]
        refused(w.act("bank_x", loan, "write-off", reason="deceased"), "write_off_not_allowed")
        Loan.objects.filter(pk=loan["id"]).update(classification="loss")
        loan = w.step("bank_x", loan, "write-off", reason="deceased", comment="户主病故")
        assert loan["status"] == "write_off_proposed"
        refused(w.act("bank_x", loan, "write-off-approve"), "same_person_checker")
        loan = w.step("county_staff", loan, "write-off-approve")
    assert (loan["status"], loan["principal_outstanding"], loan["written_off_principal"]) == (
        "written_off", "0.00", "30000.00",
    )  # fmt: skip
    assert [(e["action"], e["actor"], e["from_status"], e["to_status"]) for e in loan["events"]] == [
        ("create", "village_a1", "", "draft"),
        ("submit", "village_a1", "draft", "submitted"),
        ("township-review", "town_a", "submitted", "township_reviewed"),
        ("county-recommend", "county", "township_reviewed", "recommended"),
        ("approve", "bank_x", "recommended", "approved"),
        ("disburse", "bank_x", "approved", "active"),
        ("extend", "bank_x", "active", "active"),
        ("renew", "village_a1", "active", "active"),
        ("write-off", "bank_x", "active", "write_off_proposed"),
        ("write-off-approve", "county", "write_off_proposed", "written_off"),
    ]
    assert loan["events"][1]["comment"] == "submit意见" and "受灾延期" in loan["events"][6]["comment"]


def test_reject_and_withdraw(w):
    loan = w.apply()
    w.step("village_a1", loan, "submit")
    refused(w.act("township_a", loan, "reject"), "reason_required")
    loan = w.step("township_a", loan, "reject", reason="项目不实")
    assert loan["status"] == "rejected" and loan["events"][-1]["comment"] == "项目不实"
    other = w.apply(amount="1000.00")
    assert w.step("village_a1", other, "withdraw")["status"] == "withdrawn"


def test_a_persona_without_the_step_gets_403_and_one_outside_the_scope_404(w):
    loan = w.apply()
    response = w.act("township_a", loan, "submit")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert w.act("township_b", loan, "submit").status_code == 404  # another township: not even seen
    assert w.act("bank_y", loan, "approve").status_code == 404  # another bank's loan
    assert w.client("bank_x").get(f"{LOANS}{loan['id']}/").status_code == 200


# --- detail, schedule, list -----------------------------------------------------------------------


def test_detail_shape(w):
    change_rating(w, credit_line=Decimal("50000.00"))
    loan = active_loan(w, amount="50000.00", term_months=24)
    body = w.get("county_staff", f"{loan.pk}/")
    assert DETAIL_FIELDS <= set(body)
    assert {name: body[name] for name in ("status", "amount", "principal_outstanding", "rate", "bank")} == {
        "status": "active", "amount": "50000.00", "principal_outstanding": "50000.00", "rate": "4.75",
        "bank": "PSBC",
    }  # fmt: skip
    assert (body["classification"], body["dpd"], body["enterprise"]) == ("normal", 0, None)
    assert body["disbursed_on"] == f"{loan.disbursed_on}" and body["maturity_date"] == f"{loan.maturity_date}"
    assert all(set(e) == EVENT_FIELDS for e in body["events"])
    assert body["events"][0] == {
        "action": "create", "actor": "village_a1", "at": body["events"][0]["at"], "from_status": "",
        "to_status": "draft", "comment": "",
    }  # fmt: skip
    assert all(datetime.datetime.fromisoformat(e["at"]) for e in body["events"])
    assert [e["action"] for e in body["events"]][-1] == "disburse"


def test_schedule_shape_and_a_repayment_in_it(w):
    loan = active_loan(w)
    rows = w.get("bank_x", f"{loan.pk}/schedule/")
    assert [r["seq"] for r in rows] == [1, 2] and all(SCHEDULE_FIELDS <= set(r) for r in rows)
    assert all(money_text(r[f]) for r in rows for f in SCHEDULE_FIELDS - {"seq", "due_date"})
    assert sum(Decimal(r["principal_due"]) for r in rows) == Decimal("10000.00")
    assert rows[-1]["due_date"] == f"{loan.maturity_date}"
    first_interest = rows[0]["interest_due"]
    assert pay(w, loan, first_interest).status_code == 201
    rows = w.get("bank_x", f"{loan.pk}/schedule/")
    assert (rows[0]["interest_paid"], rows[0]["principal_paid"]) == (first_interest, "0.00")


@pytest.fixture
def three_loans(w):
    """A draft in village A1 (bank X), an active substandard loan in B1 (bank X), a draft in 西平
    (bank Y)."""
    p, b = w.p, w.banks
    a1 = apply(w.households["a1"], actor=p["village_a1"], bank=b["x"])
    b1 = apply(w.households["b1"], actor=p["county_staff"], bank=b["x"])
    Loan.objects.filter(pk=b1.pk).update(status=LoanStatus.ACTIVE, classification="substandard", dpd=100)
    x1 = apply(w.households["x1"], actor=p["admin"], bank=b["y"])
    return {"a1": a1.pk, "b1": b1.pk, "x1": x1.pk}


@pytest.mark.parametrize(
    ("persona", "params", "expected"),
    [
        ("admin", {}, ["x1", "b1", "a1"]),
        ("admin", {"region": "411722"}, ["b1", "a1"]),
        ("admin", {"region": "411722100"}, ["a1"]),
        ("admin", {"region": "411721100201"}, ["x1"]),
        ("admin", {"status": "active"}, ["b1"]),
        ("admin", {"status": "draft"}, ["x1", "a1"]),
        ("admin", {"bank": "ZYRCB"}, ["x1"]),
        ("admin", {"bank": "PSBC", "status": "draft"}, ["a1"]),
        ("admin", {"classification": "substandard"}, ["b1"]),
        ("admin", {"classification": "normal"}, []),  # only active loans are classified
        ("county_staff", {}, ["b1", "a1"]),
        ("township_a", {}, ["a1"]),
        ("bank_y", {}, ["x1"]),
        ("bank_x", {"region": "411721"}, []),
    ],
)
def test_list_filters(w, three_loans, persona, params, expected):
    body = w.get(persona, "", **params)
    assert [r["id"] for r in body["results"]] == [three_loans[name] for name in expected]
    assert body["count"] == len(expected) and {"next", "previous"} <= set(body)


def test_list_rejects_an_unknown_status(w):
    response = w.client("admin").get(LOANS, {"status": "flying"})
    assert refused(response, "invalid")["errors"].keys() == {"status"}


def test_the_list_takes_the_same_number_of_queries_for_1_and_20_loans(w, django_assert_num_queries):
    cases = [
        ("admin", {}),
        ("county_staff", {"region": "411722100", "status": "draft"}),
        ("bank_x", {"bank": "PSBC"}),
    ]

    def listed(persona, params) -> int:
        fresh = get_user_model().objects.get(pk=w.p[persona].pk)  # no scope cached by an earlier request
        response = w.api(fresh).get(LOANS, {"page_size": 50, **params})
        assert response.status_code == 200
        return len(response.json()["results"])

    def queries(persona, params) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert listed(persona, params) == 1
        return len(captured)

    apply(w.households["a1"], actor=w.p["village_a1"], bank=w.banks["x"])
    once = {persona: queries(persona, params) for persona, params in cases}
    for _ in range(19):
        apply(w.households["a1"], actor=w.p["village_a1"], bank=w.banks["x"], amount="1000.00")
    for persona, params in cases:
        with django_assert_num_queries(once[persona]):
            assert listed(persona, params) == 20


# --- repayments with Idempotency-Key ---------------------------------------------------------------


def test_the_same_key_replays_the_first_answer_and_posts_nothing_more(w):
    loan = active_loan(w)
    first = pay(w, loan, "100.00", key="K-1")
    assert first.status_code == 201 and first.json()["amount"] == "100.00"
    again = pay(w, loan, "100.00", key="K-1")
    assert (again.status_code, again.json()) == (201, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert loan.repayments.count() == 1 and IdempotencyRecord.objects.count() == 1
    assert pay(w, loan, "100.00", key="K-2").status_code == 201  # another key: another repayment
    assert loan.repayments.count() == 2


def test_the_same_key_with_another_body_is_refused(w):
    loan = active_loan(w)
    assert pay(w, loan, "100.00", key="K-1").status_code == 201
    refused(pay(w, loan, "200.00", key="K-1"), "idempotency_key_reused")
    assert loan.repayments.count() == 1


def test_a_refused_request_stores_nothing_and_its_key_can_be_used_again(w):
    loan = active_loan(w)
    refused(pay(w, loan, owed(loan) + Decimal("0.01"), key="K-1"), "overpayment")
    assert not IdempotencyRecord.objects.exists() and not loan.repayments.exists()
    response = pay(w, loan, owed(loan), key="K-1")
    assert response.status_code == 201 and response.json()["loan_status"] == "closed"
    assert loan.repayments.count() == 1


def test_keys_are_per_user(w):
    loan = active_loan(w)
    assert pay(w, loan, "100.00", key="K-1").status_code == 201
    assert pay(w, loan, "100.00", key="K-1", persona="admin").status_code == 201  # not a replay
    assert loan.repayments.count() == 2


# --- two requests at once (PostgreSQL: real row locks) ---------------------------------------------


@pytest.fixture
def on_postgresql():
    require_service(connection.vendor == "postgresql", "PostgreSQL (row locks for concurrent requests)")


def before_saving_a_repayment(monkeypatch, wait) -> None:
    """Run wait() just before a repayment row is inserted, so that the other request is sure to
    arrive while the first is still in its transaction."""
    original = Repayment.save

    def save(self, *args, **kwargs):
        wait()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Repayment, "save", save)


# The same key twice at once, and two different repayments at once, are raced in
# tests/test_concurrency.py.


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("short_by", "loser_code"),
    [
        (Decimal("1.00"), "overpayment"),  # each alone fits, both together do not
        (Decimal("0"), "invalid_transition"),  # the winner closed the loan
    ],
)
def test_two_keys_at_once_for_the_last_instalment_one_wins(
    on_postgresql, w, monkeypatch, short_by, loser_code
):
    loan = active_loan(w)
    first, last = loan.instalments.order_by("seq")
    pay(w, loan, first.interest_due, key="FIRST")
    amount = owed(loan) - short_by
    before_saving_a_repayment(monkeypatch, lambda: time.sleep(0.3))
    with on_or_after(loan.disbursed_on):
        responses = at_once(
            lambda: pay(w, loan, amount, key="A", travel=False),
            lambda: pay(w, loan, amount, key="B", travel=False),
        )
    assert sorted(r.status_code for r in responses) == [201, 400]
    loser = next(r for r in responses if r.status_code == 400)
    refused(loser, loser_code)
    assert loan.repayments.count() == 2 and IdempotencyRecord.objects.count() == 2
    loan.refresh_from_db()
    assert loan.status == ("closed" if short_by == 0 else "active")


@pytest.mark.django_db(transaction=True)
def test_one_reference_posted_to_two_loans_at_once_is_taken_once(on_postgresql, w, monkeypatch):
    """Different loans lock different rows: both requests find the 流水号 unused, then the unique
    (bank, 流水号) index decides, and the loser hears duplicate_reference, not a server error."""
    neighbour = HouseholdFactory(village=w.regions["village_a1"])
    rate(neighbour, actor=w.p["county_staff"])
    loans = [active_loan(w), active_loan(w, household=neighbour)]
    both_checked = threading.Barrier(2)
    before_saving_a_repayment(monkeypatch, lambda: both_checked.wait(timeout=10))
    with on_or_after(max(loan.disbursed_on for loan in loans)):
        responses = at_once(
            *[lambda loan=loan: pay(w, loan, "100.00", travel=False, reference="PSBC-0001") for loan in loans]
        )
    assert sorted(r.status_code for r in responses) == [201, 400]
    refused(next(r for r in responses if r.status_code == 400), "duplicate_reference")
    assert Repayment.objects.filter(reference="PSBC-0001").count() == 1
