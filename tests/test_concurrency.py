"""Two clerks doing the same thing at the same moment, on PostgreSQL (issue 9): approving one loan,
posting one repayment, paying one compensation claim, approving one subsidy batch.

Real threads, each with its own database connection (closed when the thread ends), released
together by a barrier, each sending its request through the HTTP API with its own APIClient as an
authorized user. Every race runs ROUNDS times on fresh objects, so that a lost race is likely to
show. Exactly one request wins, the other hears a clear refusal (API.md's code, a Chinese
message), and the balances stay equal to the sums of their rows.
"""

import datetime
import re
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.db.models import Count, Sum

from common.clock import today
from common.testing import at_once
from conftest import require_service
from households.tests.factories import HouseholdFactory
from loans.models import IdempotencyRecord, Loan, LoanStatus, RepaymentAllocation
from loans.tests.factories import FUND, SHANGHAI, apply, fund_deposit, rate, walk
from organization.models import Role
from organization.tests.factories import UserFactory, assign
from risk_fund import services as fund_services
from risk_fund.models import ClaimStatus, CompensationClaim, FundEntry
from risk_fund.tests.factories import overdue_loan
from subsidy import services as subsidy_services
from subsidy.models import BatchStatus
from subsidy.tests.factories import make_loan, pay

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 5
API = "/api/v1/"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def on_postgresql(transactional_db):
    require_service(connection.vendor == "postgresql", "PostgreSQL (row locks for concurrent clerks)")


@pytest.fixture
def people(personas, regions, banks):
    """The personas, with a second officer of bank X and two more county clerks of 上蔡 (the
    clerks who race each other must each be allowed to act: not the maker of what they check)."""
    return {
        **personas,
        "bank_x2": assign(UserFactory(username="bank_x2"), Role.BANK_OFFICER, branch=banks["branch_x"]),
        "county2": assign(UserFactory(username="county2"), Role.COUNTY_STAFF, region=regions["shangcai"]),
        "county3": assign(UserFactory(username="county3"), Role.COUNTY_STAFF, region=regions["shangcai"]),
    }


@pytest.fixture
def fund(regions, people):
    """上蔡's risk fund: the approvals' leverage check and the claims' payouts need it."""
    return fund_deposit(regions["shangcai"], actor=people["admin"])


def post(api, user, path: str, body: dict | None = None, key: str = ""):
    """A POST to run in a thread: its own APIClient, authenticated as `user`."""
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return lambda: api(user).post(f"{API}{path}", body or {}, format="json", **headers)


def race(api, users, path: str):
    """The same POST by each of the users at once."""
    return at_once(*[post(api, user, path) for user in users])


def one_wins(responses, status: int, loser_code: str) -> dict:
    """Exactly one answer `status` and one 400 refusal with `loser_code` and a Chinese message;
    the winner's body."""
    winners = [r for r in responses if r.status_code == status]
    losers = [r for r in responses if r.status_code == 400]
    assert (len(winners), len(losers)) == (1, 1), [(r.status_code, r.content) for r in responses]
    refusal = losers[0].json()
    assert refusal["code"] == loser_code and CJK.search(refusal["detail"]), refusal
    return winners[0].json()


# --- 1. two bank officers approving the same loan ------------------------------------------------


def recommended_loan(people, regions, banks) -> Loan:
    """A loan of a new rated household of village A1 at bank X, recommended by the county."""
    household = HouseholdFactory(village=regions["village_a1"])
    rate(household, actor=people["county_staff"])
    loan = apply(household, actor=people["village_a1"], bank=banks["x"])
    return walk(loan, to=LoanStatus.RECOMMENDED, personas=people)


def test_two_officers_approving_one_loan_approve_it_once(api, people, regions, banks, fund):
    for _ in range(ROUNDS):
        loan = recommended_loan(people, regions, banks)
        noon = datetime.datetime.combine(loan.notice_ends_on, datetime.time(12), tzinfo=SHANGHAI)
        with time_machine.travel(noon, tick=False):  # the notice period is over
            responses = race(api, [people["bank_x"], people["bank_x2"]], f"loans/{loan.pk}/approve/")
        assert one_wins(responses, 200, "invalid_transition")["status"] == LoanStatus.APPROVED
        loan.refresh_from_db()
        assert loan.status == LoanStatus.APPROVED
        approvals = loan.events.filter(action="approve").values_list("from_status", "to_status")
        assert list(approvals) == [(LoanStatus.RECOMMENDED, LoanStatus.APPROVED)]


# --- 2. repayments posted at once ----------------------------------------------------------------


def assert_repayments_add_up(loan: Loan, *, posted: Decimal) -> None:
    """Everything posted is allocated; each instalment's paid amounts are the sums of its
    allocation rows; the principal outstanding is the principal disbursed minus the principal
    allocated. A lost update (two posts reading the same instalment) breaks one of these."""
    loan.refresh_from_db()
    allocations = RepaymentAllocation.objects.filter(repayment__loan=loan)
    sums = allocations.values("instalment").annotate(interest=Sum("interest"), principal=Sum("principal"))
    by_instalment = {row["instalment"]: (row["interest"], row["principal"]) for row in sums}
    instalments = list(loan.instalments.all())
    for item in instalments:
        paid = (item.interest_paid, item.principal_paid)
        assert paid == by_instalment.get(item.pk, (0, 0)), (item.seq, paid, by_instalment.get(item.pk))
    assert sum(i.interest_paid + i.principal_paid for i in instalments) == posted
    assert loan.repayments.aggregate(s=Sum("amount"))["s"] == posted
    assert loan.principal_outstanding == loan.amount - allocations.aggregate(s=Sum("principal"))["s"]


def test_repayments_posted_at_once_are_posted_once_each(api, people, regions, banks):
    """On each round's loan (12,000 yuan, 等额本息 over 12 months, so every repayment reaches
    principal): the same Idempotency-Key twice at once, the same bank reference under two keys at
    once, then two different repayments at once."""
    bank_x, bank_x2 = people["bank_x"], people["bank_x2"]
    disbursed_on = today() - datetime.timedelta(days=40)
    for n in range(ROUNDS):
        loan = make_loan(
            regions["village_a1"], bank=banks["x"], actor=people["admin"], amount="12000.00",
            term_months=12, method="equal_installment", disbursed_on=disbursed_on,
        )  # fmt: skip
        path, body = f"loans/{loan.pk}/repayments/", {"amount": "1500.00", "paid_on": f"{today()}"}

        # The same key twice: one repayment, and both hear its 201 (the second as a replay).
        same = at_once(*[post(api, bank_x, path, body, key=f"SAME-{n}")] * 2)
        assert [r.status_code for r in same] == [201, 201] and same[0].json() == same[1].json()
        assert sorted(r.get("Idempotent-Replayed", "") for r in same) == ["", "true"]
        assert IdempotencyRecord.objects.filter(key=f"SAME-{n}").count() == 1
        assert_repayments_add_up(loan, posted=Decimal("1500.00"))

        # One bank reference (流水号) under two keys: taken once, the other refused.
        with_reference = {**body, "reference": f"PSBC-{n}"}
        responses = at_once(
            post(api, bank_x, path, with_reference, key=f"REF-A-{n}"),
            post(api, bank_x2, path, with_reference, key=f"REF-B-{n}"),
        )
        one_wins(responses, 201, "duplicate_reference")
        assert_repayments_add_up(loan, posted=Decimal("3000.00"))

        # Two different repayments: both posted, neither overwrites the other's allocation.
        responses = at_once(
            post(api, bank_x, path, body, key=f"ONE-{n}"),
            post(api, bank_x2, path, {**body, "amount": "2500.00"}, key=f"TWO-{n}"),
        )
        assert [r.status_code for r in responses] == [201, 201], [r.content for r in responses]
        assert loan.repayments.count() == 4
        assert_repayments_add_up(loan, posted=Decimal("7000.00"))


# --- 3. two county clerks paying the same compensation claim ---------------------------------------


def verified_claim(people, regions, banks) -> CompensationClaim:
    """A claim on a loan 120 days past due: filed by bank X, verified by county_staff."""
    loan = overdue_loan(regions, banks, people)
    claim = fund_services.claim_file(actor=people["bank_x"], loan=loan)
    return fund_services.claim_verify(actor=people["county_staff"], claim=claim)


def test_two_clerks_paying_one_claim_pay_it_once(api, people, regions, banks, fund):
    clerks = [people["county2"], people["county3"]]  # county_staff verified: may not pay
    for n in range(1, ROUNDS + 1):
        claim = verified_claim(people, regions, banks)
        responses = race(api, clerks, f"compensation-claims/{claim.pk}/pay/")
        assert one_wins(responses, 200, "already_paid")["status"] == ClaimStatus.PAID
        claim.refresh_from_db()
        assert claim.payout.amount == -claim.fund_share
        assert FundEntry.objects.filter(kind=FundEntry.Kind.PAYOUT).count() == n
    ledger = FundEntry.objects.filter(county_id="411722").aggregate(s=Sum("amount"))["s"]
    paid = CompensationClaim.objects.filter(status=ClaimStatus.PAID).aggregate(s=Sum("fund_share"))["s"]
    assert ledger == FUND - paid
    shown = api(people["county_staff"]).get(f"{API}risk-funds/411722/").json()
    assert Decimal(shown["balance"]) == ledger == sum(Decimal(row["amount"]) for row in shown["ledger"])


# --- 4. two county clerks approving the same subsidy batch -----------------------------------------


def test_two_clerks_approving_one_batch_approve_it_once(api, people, regions, banks):
    """One loan repaid each quarter, and each round a draft batch of one of those quarters computed
    by county_staff; two other county clerks approve it at once."""
    loan = make_loan(
        regions["village_a1"], bank=banks["x"], actor=people["admin"], disbursed_on=datetime.date(2025, 1, 15)
    )
    periods = [datetime.date(2025, 4, 1), datetime.date(2025, 7, 1), datetime.date(2025, 10, 1),
               datetime.date(2026, 1, 1), datetime.date(2026, 4, 1)][:ROUNDS]  # fmt: skip
    for item in loan.instalments.order_by("seq")[: len(periods)]:  # each paid on its due date
        pay(loan, on=item.due_date, actor=people["bank_x"], seq=item.seq)
    clerks = [people["county2"], people["county3"]]  # county_staff computed: may not approve
    for start in periods:
        batch = subsidy_services.batch_create(
            actor=people["county_staff"], county=regions["shangcai"], bank=banks["x"], period_start=start
        )
        responses = race(api, clerks, f"subsidy/batches/{batch.pk}/approve/")
        shown = one_wins(responses, 200, "invalid_transition")
        batch.refresh_from_db()
        assert batch.status == shown["status"] == BatchStatus.APPROVED
        assert list(batch.events.filter(action="approve").values_list("from_status", "to_status")) == [
            (BatchStatus.DRAFT, BatchStatus.APPROVED)
        ]
        lines = batch.lines.aggregate(total=Sum("amount"), count=Count("id"))
        assert batch.line_count >= 1 and batch.total_amount > 0
        assert (batch.total_amount, batch.line_count) == (lines["total"], lines["count"])
        assert (Decimal(shown["total_amount"]), shown["line_count"]) == (lines["total"], lines["count"])
