"""The loan lifecycle under any sequence of steps by several clerks, with the daily job moving the
date (a Hypothesis state machine against the database, each run rolled back; SQLite is enough).

Rules: apply and submit, township review, county recommendation, bank approval (the date moves
past the notice period and the nightly job runs), disbursement, repayments of any amount up to what
is owed, renewal, withdrawal, the date moving forward by days (the daily job classifies and trips
breakers), write-off proposal, approval and return, breaker resumption, fund deposits, and
compensation claims paid out of the fund.

Each money step's outcome is predicted from the database by the test's own sums (not the
selectors): it must pass exactly when no control refuses it, and be refused with exactly the codes
of the controls that apply. After every step:

- no loan was submitted, approved, disbursed or renewed in a village or township between a trip of
  its breaker and the next resumption (BreakerEvent times against LoanEvent times);
- the fund's leverage (principal outstanding of covered loans + approved-not-disbursed) is within
  the cap right after each approval and disbursement (asserted in those rules);
- a disbursed loan's principal outstanding = amount − principal repaid − principal written off;
- the fund's balance is the sum of its ledger rows and what the machine put in and paid out;
- a household has at most one application in progress and one loan outstanding.

The clock is time-machine's, frozen and moved by the machine (one second a step, whole days when
the date moves): no wall-clock timing. LIFECYCLE_EXAMPLES / LIFECYCLE_STEPS run it longer, LIFECYCLE_RANDOM=1 with fresh seeds
(derandomized otherwise), LIFECYCLE_STATS=1 (with -s) prints what the runs reached.
"""

import datetime
import os
from collections import Counter
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from django.db.models import Q, Sum
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from common.clock import today
from common.dates import add_months
from common.errors import ApplicationError
from common.money import money, percent
from credit_rating.models import RatingStatus, Scorecard
from credit_rating.tests.factories import RatingFactory, publish_default
from households.tests.factories import HouseholdFactory
from loans import services
from loans.daily import breaker_resume, run_daily_jobs
from loans.models import (
    APPLIED_STATUSES,
    NPL_CLASSES,
    OUTSTANDING_STATUSES,
    Breaker,
    BreakerEvent,
    Classification,
    Loan,
    LoanEvent,
    LoanStatus,
    WriteOffReason,
)  # fmt: skip
from loans.tests.factories import SHANGHAI, fund_deposit
from organization.models import Region, Role
from organization.tests.factories import UserFactory, assign
from risk_fund import selectors as fund_selectors
from risk_fund import services as fund_services
from risk_fund.models import ClaimStatus, CompensationClaim, FundEntry

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("LIFECYCLE_EXAMPLES", "30"))
STEPS = int(os.environ.get("LIFECYCLE_STEPS", "60"))
COUNTY = "411722"
START = datetime.datetime(2025, 3, 3, 9, 0, tzinfo=SHANGHAI)
LAST_DAY = datetime.date(2031, 12, 31)  # ratings and borrowers' ages stay valid up to here
LINE = Decimal("40000.00")
MULTIPLE = Decimal(10)  # the default policy's leverage multiple (no bank agreements here)
FIRST_FUND = Decimal("8000.00")  # a cap of 80,000: two or three loans, so leverage refuses often
WRITE_OFF_MIN_DPD = 360
COMPENSATION_MIN_DPD = 90
BREAKER_MONTHS = 12
THRESHOLD = {Region.Level.VILLAGE: Decimal("7.00"), Region.Level.TOWNSHIP: Decimal("5.00")}
# Steps that run the breaker rule: none of them may happen in a tripped area.
BREAKER_CHECKED = ("submit", "approve", "disburse", "renew")
METHODS = ["quarterly_interest_bullet", "monthly_interest_bullet", "equal_installment", "bullet"]

pick = st.integers(min_value=0, max_value=10_000)
amounts = st.integers(min_value=1, max_value=9).map(lambda n: Decimal(n * 5000))


# What the runs did, printed with LIFECYCLE_STATS=1 (pytest -s): that the controls were reached.
STATS: Counter = Counter()


# What the default runs must have done at least once (asserted after them), on SQLite and on
# PostgreSQL alike. A leverage refusal is reached on SQLite's run but not on PostgreSQL's (the same
# derandomized run takes another course there; why is not yet found), so it is not required here:
# the invariant itself is asserted after
# every approval, and the refusal is proven in tests/test_control_matrix.py ([approve-leverage-*])
# and under real concurrency in tests/test_concurrency_controls.py.
REACHED = (
    "write-off approved",
    "claim paid",
    "breaker resumed",
    "disburse refused by a breaker",
)


def note(what: str) -> None:
    event(what)
    STATS[what] += 1


def codes_of(exc: ApplicationError) -> set[str]:
    return {r["code"] for r in exc.errors.get("refusals", [])} or {exc.code}


def chosen(queryset, index: int):
    """The index-th (modulo) of the queryset's rows by id, or None when there are none."""
    rows = list(queryset.order_by("pk"))
    return rows[index % len(rows)] if rows else None


# --- the test's own figures (sums over the rows, not the selectors) -------------------------------


def balance(on: datetime.date) -> Decimal:
    rows = FundEntry.objects.filter(county_id=COUNTY, received_on__lte=on).values_list("amount", flat=True)
    return money(sum(rows, Decimal(0)))


def leverage_used() -> Decimal:
    paid = CompensationClaim.objects.filter(status=ClaimStatus.PAID).values("loan_id")
    county = Loan.objects.filter(county_id=COUNTY)
    covered = county.filter(status__in=OUTSTANDING_STATUSES).exclude(pk__in=paid)
    committed = county.filter(status=LoanStatus.APPROVED)
    return money(
        sum(covered.values_list("principal_outstanding", flat=True), Decimal(0))
        + sum(committed.values_list("amount", flat=True), Decimal(0))
    )


def leverage_refused(loan: Loan, on: datetime.date) -> bool:
    fund = balance(on)
    own = loan.amount if loan.status == LoanStatus.APPROVED else Decimal(0)
    return fund <= 0 or leverage_used() - own + loan.amount > money(fund * MULTIPLE)


def tripped_areas(loan: Loan) -> list[str]:
    return list(
        Breaker.objects.filter(region_id__in=[loan.area_id, loan.township_id], state=Breaker.State.TRIPPED)
        .values_list("region_id", flat=True)
    )  # fmt: skip


def other_live_loan(loan: Loan) -> bool:
    others = Loan.objects.filter(
        household=loan.household, status__in=(*APPLIED_STATUSES, *OUTSTANDING_STATUSES)
    )
    return others.exclude(pk__in=[loan.pk, loan.renewed_from_id]).exists()


def money_step_refusals(loan: Loan, on: datetime.date) -> set[str]:
    """The codes the lending rules must give for the loan on `on` in this world (every household is
    poor, rated AA with a 40,000 line valid to 2040, its head of age; purposes are productive)."""
    found = set()
    if loan.amount > LINE:
        found.add("exceeds_credit_line")
    if other_live_loan(loan):
        found.add("duplicate_household_loan")
    if tripped_areas(loan):
        found.add("breaker_tripped")
    if leverage_refused(loan, on):
        found.add("fund_leverage_exceeded")
    return found


def live_ratio(breaker: Breaker, on: datetime.date) -> Decimal:
    field = "area_id" if breaker.level == Region.Level.VILLAGE else "township_id"
    recent = Q(status=LoanStatus.WRITTEN_OFF, written_off_on__gt=add_months(on, -BREAKER_MONTHS))
    loans = Loan.objects.filter(Q(status__in=OUTSTANDING_STATUSES) | recent, **{field: breaker.region_id})
    total = npl = Decimal(0)
    for loan in loans:
        total += loan.principal_outstanding + loan.written_off_principal
        npl += loan.written_off_principal
        if loan.classification in NPL_CLASSES:
            npl += loan.principal_outstanding
    return percent(npl, total)


def owed(loan: Loan) -> Decimal:
    return sum(
        (i.principal_due - i.principal_paid + i.interest_due - i.interest_paid for i in loan.instalments.all()),
        Decimal(0),
    )  # fmt: skip


def overdue(loan: Loan, on: datetime.date) -> Decimal:
    """What the loan owes of the instalments fallen due by `on` (paying it brings its DPD to 0)."""
    items = loan.instalments.filter(settled=False, due_date__lte=on)
    return sum(
        (i.principal_due - i.principal_paid + i.interest_due - i.interest_paid for i in items), Decimal(0)
    )


def loans_of(breaker: Breaker):
    field = "area_id" if breaker.level == Region.Level.VILLAGE else "township_id"
    return Loan.objects.filter(**{field: breaker.region_id})


def payable_claims():
    """Outstanding loans at least COMPENSATION_MIN_DPD days past due today with no live claim."""
    live = CompensationClaim.objects.exclude(status=ClaimStatus.REJECTED).values("loan_id")
    candidates = Loan.objects.filter(status__in=OUTSTANDING_STATUSES, dpd__gt=0).exclude(pk__in=live)
    return [
        loan.pk
        for loan in candidates.order_by("pk")
        if fund_selectors.loss_of(loan, on=today()).dpd >= COMPENSATION_MIN_DPD
    ]


def long_overdue():
    """Active loans a write-off may be proposed for on their days past due alone."""
    grounds = Q(classification=Classification.LOSS) | Q(dpd__gte=WRITE_OFF_MIN_DPD)
    return Loan.objects.filter(grounds, status=LoanStatus.ACTIVE)


def write_off_allowed(loan: Loan) -> bool:
    paid = CompensationClaim.objects.filter(loan=loan, status=ClaimStatus.PAID).exists()
    return loan.classification == Classification.LOSS or loan.dpd >= WRITE_OFF_MIN_DPD or paid


# --- the machine -----------------------------------------------------------------------------------


def build_machine(world):
    p, households = world["people"], world["households"]
    clerk = world["clerks"]  # village code -> its village clerk
    township = {"411722100": p["township_a"], "411722101": p["township_b"]}

    class LifecycleMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.clock = time_machine.travel(START, tick=False)
            self.coordinates = self.clock.start()
            self.atomic = transaction.atomic()
            self.atomic.__enter__()
            self.put_in = FIRST_FUND
            fund_deposit(world["shangcai"], actor=p["admin"], amount=FIRST_FUND, on=today())

        def teardown(self):
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)
            self.clock.stop()

        # --- the clock -------------------------------------------------------------------------

        def tick(self):
            """One second a step, so that every step's events have their own time."""
            self.coordinates.shift(datetime.timedelta(seconds=1))

        def move_to(self, day: datetime.date, before_the_job=None):
            """A later business day, and the nightly job run for it (after `before_the_job`)."""
            day = min(day, LAST_DAY)
            if day > today():
                self.coordinates.move_to(datetime.datetime.combine(day, datetime.time(9), tzinfo=SHANGHAI))
                if before_the_job is not None:
                    before_the_job()
                self.daily_job()
            self.tick()

        def daily_job(self):
            result = run_daily_jobs(as_of=today())
            if result["breakers"]["tripped_now"]:
                note("breaker tripped")

        # --- applications ----------------------------------------------------------------------

        def submit(self, loan: Loan) -> Loan | None:
            """Submit, predicting the refusals; the loan (None when refused)."""
            expected = money_step_refusals(loan, today())
            try:
                loan = services.loan_transition(actor=clerk[loan.area_id], loan=loan, action="submit")
            except ApplicationError as exc:
                assert codes_of(exc) == expected, (codes_of(exc), expected)
                note(f"submit refused: {sorted(expected)}")
                return None
            assert not expected, expected
            assert loan.status == LoanStatus.SUBMITTED
            return loan

        def review_and_recommend(self, loan: Loan) -> Loan:
            loan = services.loan_transition(
                actor=township[loan.township_id], loan=loan, action="township-review"
            )
            return services.loan_transition(actor=p["county_staff"], loan=loan, action="county-recommend")

        def approve(self, loan: Loan, officer) -> Loan | None:
            self.move_to(loan.notice_ends_on)  # the notice period is over; the nightly job has run
            loan.refresh_from_db()
            if loan.status != LoanStatus.RECOMMENDED:
                return None
            expected = money_step_refusals(loan, today())
            if today() < loan.notice_ends_on:  # past LAST_DAY: the clock stops there
                expected.add("notice_period_not_over")
            try:
                loan = services.loan_transition(actor=officer, loan=loan, action="approve")
            except ApplicationError as exc:
                assert codes_of(exc) == expected, (codes_of(exc), expected)
                note(f"approve refused: {sorted(expected)}")
                if "fund_leverage_exceeded" in expected:
                    note("approve refused by leverage")
                return None
            assert not expected, expected
            self.within_cap()
            note("approved")
            return loan

        def disburse(self, loan: Loan, officer) -> Loan | None:
            expected = money_step_refusals(loan, today())
            if loan.renewed_from_id and loan.renewed_from.status != LoanStatus.CLOSED:
                expected.add("invalid_transition")
            try:
                loan = services.loan_disburse(actor=officer, loan=loan, disbursed_on=today())
            except ApplicationError as exc:
                assert codes_of(exc) == expected, (codes_of(exc), expected)
                note(f"disburse refused: {sorted(expected)}")
                if "breaker_tripped" in expected:
                    note("disburse refused by a breaker")
                return None
            assert not expected, expected
            note("disbursed")
            assert loan.status == LoanStatus.ACTIVE and loan.principal_outstanding == loan.amount
            self.within_cap()
            return loan

        def within_cap(self):
            used, fund = leverage_used(), balance(today())
            assert used <= money(fund * MULTIPLE), (used, fund)

        @initialize()
        def loans_on_the_books(self):
            """Every run starts with two loans paid out (villages A1 and B1) and one approved and
            waiting for its money (A2), so that loans can fall behind and areas trip from the start."""
            for h, amount, to in (
                (0, Decimal(20000), "active"),
                (4, Decimal(20000), "active"),
                (2, Decimal(15000), "approved"),
            ):
                self.open_loan(h, amount, 12, METHODS[h % len(METHODS)], to, "bank_x")

        @rule(
            h=st.integers(0, len(households) - 1), amount=amounts, term=st.sampled_from([12, 24, 36]),
            method=st.sampled_from(METHODS), to=st.sampled_from(["submitted", "recommended", "approved", "active"]),
            officer=st.sampled_from(["bank_x", "bank_x2"]),
        )  # fmt: skip
        def apply(self, h, amount, term, method, to, officer):
            """A new application, taken as far as `to` allows."""
            self.open_loan(h, amount, term, method, to, officer)

        def open_loan(self, h, amount, term, method, to, officer):
            self.tick()
            household = households[h]
            loan = services.loan_create(
                actor=clerk[household.village_id], household=household, bank=world["bank"], amount=amount,
                term_months=term, purpose="breeding", repayment_method=method,
            )  # fmt: skip
            loan = self.submit(loan)
            if loan is None or to == "submitted":
                return
            loan = self.review_and_recommend(loan)
            if to == "recommended":
                return
            loan = self.approve(loan, p[officer])
            if loan is None or to == "approved":
                return
            self.disburse(loan, p[officer])

        @rule(i=pick)
        def submit_draft(self, i):
            """A draft refused before, or a renewal, submitted (again)."""
            self.tick()
            loan = chosen(Loan.objects.filter(status__in=(LoanStatus.DRAFT, LoanStatus.RETURNED)), i)
            if loan is not None:
                self.submit(loan)

        @rule(i=pick)
        def review(self, i):
            self.tick()
            loan = chosen(Loan.objects.filter(status=LoanStatus.SUBMITTED), i)
            if loan is not None:
                self.review_and_recommend(loan)

        @rule(i=pick, officer=st.sampled_from(["bank_x", "bank_x2"]))
        def approve_one(self, i, officer):
            self.tick()
            loan = chosen(Loan.objects.filter(status=LoanStatus.RECOMMENDED), i)
            if loan is not None:
                self.approve(loan, p[officer])

        @rule(amount=st.sampled_from([Decimal(15000), Decimal(20000), Decimal(30000)]))
        def season_rush(self, amount):
            """Every household without a loan applies for `amount` at once, and the applications
            pass the township and the county: each fits under the fund's cap alone (submit), not
            all of them together (approve_in_turn)."""
            self.tick()
            live = Loan.objects.filter(status__in=(*APPLIED_STATUSES, *OUTSTANDING_STATUSES)).values(
                "household_id"
            )
            for household in households:
                if household.pk in {row["household_id"] for row in live}:
                    continue
                loan = services.loan_create(
                    actor=clerk[household.village_id], household=household, bank=world["bank"], amount=amount,
                    term_months=12, purpose="breeding", repayment_method=METHODS[household.pk % len(METHODS)],
                )  # fmt: skip
                loan = self.submit(loan)
                if loan is not None:
                    self.review_and_recommend(loan)
                self.tick()

        @precondition(lambda self: Loan.objects.filter(status=LoanStatus.RECOMMENDED).exists())
        @rule(officer=st.sampled_from(["bank_x", "bank_x2"]), pay_out=st.booleans())
        def approve_in_turn(self, officer, pay_out):
            """The bank approves the recommended applications one after another, and pays them out
            at once or not (an area may trip before the money goes out)."""
            self.tick()
            for loan in Loan.objects.filter(status=LoanStatus.RECOMMENDED).order_by("pk"):
                loan = self.approve(loan, p[officer])
                self.tick()
                if loan is not None and pay_out:
                    self.disburse(loan, p[officer])
                    self.tick()

        @precondition(lambda self: Loan.objects.filter(status=LoanStatus.APPROVED).exists())
        @rule(officer=st.sampled_from(["bank_x", "bank_x2"]))
        def disburse_in_turn(self, officer):
            """The bank pays out the approved loans one after another (refused where an area has
            tripped since the approval)."""
            self.tick()
            for loan in Loan.objects.filter(status=LoanStatus.APPROVED).order_by("pk"):
                self.disburse(loan, p[officer])
                self.tick()

        @rule(i=pick, officer=st.sampled_from(["bank_x", "bank_x2"]))
        def disburse_one(self, i, officer):
            self.tick()
            loan = chosen(Loan.objects.filter(status=LoanStatus.APPROVED), i)
            if loan is not None:
                self.disburse(loan, p[officer])

        @rule(i=pick)
        def withdraw(self, i):
            self.tick()
            loan = chosen(Loan.objects.filter(status__in=services.BEFORE_DISBURSEMENT), i)
            if loan is not None:
                loan = services.loan_transition(actor=clerk[loan.area_id], loan=loan, action="withdraw")
                assert loan.status == LoanStatus.WITHDRAWN

        @rule(i=pick)
        def renew(self, i):
            self.tick()
            loan = chosen(Loan.objects.filter(status__in=(LoanStatus.ACTIVE, LoanStatus.CLOSED)), i)
            if loan is None:
                return
            expected = {"breaker_tripped"} if tripped_areas(loan) else set()
            if (
                loan.renewal_count >= 1
                or loan.renewals.exclude(status__in=("rejected", "withdrawn")).exists()
            ):
                expected.add("renewal_limit")
            try:
                renewal = services.loan_renew(actor=clerk[loan.area_id], loan=loan)
            except ApplicationError as exc:
                assert codes_of(exc) == expected, (codes_of(exc), expected)
                return
            assert not expected, expected
            assert renewal.status == LoanStatus.DRAFT and renewal.renewed_from_id == loan.pk

        # --- money back --------------------------------------------------------------------------

        @rule(i=pick, share=st.one_of(st.just(100), st.integers(1, 100)))
        def repay(self, i, share):
            """A repayment of `share` percent of what is owed (100: the loan closes)."""
            self.tick()
            loan = chosen(Loan.objects.filter(status__in=OUTSTANDING_STATUSES), i)
            if loan is None:
                return
            total = owed(loan)
            amount = total if share == 100 else max(money(total * share / 100), Decimal("0.01"))
            before = loan.principal_outstanding
            repayment = services.repayment_post(actor=p["bank_x"], loan=loan, amount=amount, paid_on=today())
            loan.refresh_from_db()
            assert loan.principal_outstanding == before - repayment.principal_part
            assert (loan.status == LoanStatus.CLOSED) == (amount == total)
            note("repaid in full" if amount == total else "repaid in part")

        # --- the date and the daily job ------------------------------------------------------------

        @rule(days=st.one_of(st.integers(1, 40), st.integers(41, 400)))
        def days_pass(self, days):
            self.move_to(today() + datetime.timedelta(days=days))

        @precondition(lambda self: Loan.objects.filter(status=LoanStatus.ACTIVE).exists())
        @rule(i=pick, days=st.one_of(st.integers(360, 450), st.integers(100, 450)), pay_out=st.booleans())
        def stops_paying(self, i, days, pay_out):
            """A chosen active loan stops paying while the others pay every instalment as it falls
            due; the date moves on by `days` (mostly a year or more: the loss class, a write-off)
            and the nightly job runs. With `pay_out` the bank then pays out the loans it approved
            before (refused where the loan's area has tripped meanwhile)."""
            loan = chosen(Loan.objects.filter(status=LoanStatus.ACTIVE), i)

            def the_others_pay():
                others = Loan.objects.filter(status__in=OUTSTANDING_STATUSES).exclude(pk=loan.pk)
                for other in others.order_by("pk"):
                    amount = overdue(other, today())
                    if amount > 0:
                        services.repayment_post(actor=p["bank_x"], loan=other, amount=amount, paid_on=today())

            self.move_to(today() + datetime.timedelta(days=days), before_the_job=the_others_pay)
            loan.refresh_from_db()
            if pay_out:
                for approved in Loan.objects.filter(status=LoanStatus.APPROVED).order_by("pk"):
                    self.disburse(approved, p["bank_x"])
                    self.tick()
            band = ">= 360" if loan.dpd >= WRITE_OFF_MIN_DPD else ">= 90" if loan.dpd >= 90 else "< 90"
            note(f"stopped paying: dpd {band}")

        @rule(i=pick)
        def resume(self, i):
            self.tick()
            breaker = chosen(Breaker.objects.filter(state=Breaker.State.TRIPPED), i)
            if breaker is not None:
                self.try_resume(breaker)

        def try_resume(self, breaker: Breaker) -> bool:
            """County staff resume the breaker: it must resume exactly when the area's ratio,
            recounted by the test (write-offs of the last 12 months included), is back at or
            under its threshold."""
            ratio = live_ratio(breaker, today())
            try:
                breaker_resume(actor=p["county_staff"], region_code=breaker.region_id)
            except ApplicationError as exc:
                assert exc.code == "breaker_still_over" and ratio > THRESHOLD[breaker.level], (
                    exc.code,
                    ratio,
                )
                note("resume refused: still over")
                return False
            assert ratio <= THRESHOLD[breaker.level], ratio
            breaker.refresh_from_db()
            assert breaker.state == Breaker.State.NORMAL
            note("breaker resumed")
            return True

        @precondition(lambda self: Breaker.objects.filter(state=Breaker.State.TRIPPED).exists())
        @rule(i=pick, wait=st.booleans())
        def area_catches_up(self, i, wait):
            """Every loan of a tripped area repays what it owes of the instalments fallen due; after
            the nightly job reclassifies them the area may lend again, unless loans written off in
            the last 12 months keep its ratio over the threshold. With `wait`, the county waits
            out those 12 months (the area's loans keeping up) and then it may."""
            self.tick()
            breaker = chosen(Breaker.objects.filter(state=Breaker.State.TRIPPED), i)

            def the_area_pays():
                for loan in loans_of(breaker).filter(status__in=OUTSTANDING_STATUSES).order_by("pk"):
                    amount = overdue(loan, today())
                    if amount > 0:
                        services.repayment_post(actor=p["bank_x"], loan=loan, amount=amount, paid_on=today())

            the_area_pays()
            self.daily_job()  # again today: the DPD and classes after the repayments
            overdue_left = loans_of(breaker).filter(status__in=OUTSTANDING_STATUSES, dpd__gt=0)
            assert not overdue_left.exists(), list(overdue_left.values_list("loan_no", "dpd"))
            written_off = loans_of(breaker).filter(status=LoanStatus.WRITTEN_OFF)
            last = written_off.order_by("-written_off_on").values_list("written_off_on", flat=True).first()
            if self.try_resume(breaker):
                return
            assert last is not None and today() <= add_months(last, BREAKER_MONTHS), (breaker.region_id, last)
            note("resume refused: a write-off of the last 12 months")
            if not wait:
                return
            self.move_to(add_months(last, BREAKER_MONTHS) + datetime.timedelta(days=1), the_area_pays)
            if today() > add_months(last, BREAKER_MONTHS):  # not stopped at LAST_DAY
                breaker.refresh_from_db()
                assert self.try_resume(breaker), breaker.region_id
                note("breaker resumed 12 months after a write-off")

        # --- write-off -------------------------------------------------------------------------------

        @rule(i=pick)
        def propose_write_off(self, i):
            self.tick()
            loan = chosen(Loan.objects.filter(status=LoanStatus.ACTIVE), i)
            if loan is None:
                return
            allowed = write_off_allowed(loan)
            try:
                services.loan_write_off(actor=p["bank_x"], loan=loan, reason=WriteOffReason.LONG_OVERDUE)
            except ApplicationError as exc:
                assert exc.code == "write_off_not_allowed" and not allowed, exc.code
                note("write-off refused")
                return
            assert allowed
            note("write-off proposed")

        @rule(i=pick, who=st.sampled_from(["bank_x2", "county_staff"]), approve=st.booleans())
        def decide_write_off(self, i, who, approve):
            self.tick()
            loan = chosen(Loan.objects.filter(status=LoanStatus.WRITE_OFF_PROPOSED), i)
            if loan is None:
                return
            before, allowed = loan.principal_outstanding, write_off_allowed(loan)
            action = "write-off-approve" if approve else "write-off-reject"
            try:
                loan = services.loan_transition(actor=p[who], loan=loan, action=action, comment="复核")
            except ApplicationError as exc:
                assert approve and exc.code == "write_off_not_allowed" and not allowed, exc.code
                return
            note(action)
            if approve:
                assert allowed and loan.status == LoanStatus.WRITTEN_OFF
                assert (loan.principal_outstanding, loan.written_off_principal) == (Decimal(0), before)
            else:
                assert loan.status == LoanStatus.ACTIVE and loan.principal_outstanding == before

        @precondition(lambda self: long_overdue().exists())
        @rule(i=pick, who=st.sampled_from(["bank_x2", "county_staff"]))
        def write_off_long_overdue(self, i, who):
            """A loan in the loss class is proposed for write-off by the bank and approved by a second
            person. The written-off principal still counts in its areas' ratios: a breaker over its
            threshold before the write-off is not resumed by it."""
            self.tick()
            loan = chosen(long_overdue(), i)
            breakers = list(Breaker.objects.filter(region_id__in=[loan.area_id, loan.township_id]))
            before = {b.region_id: live_ratio(b, today()) for b in breakers}
            principal = loan.principal_outstanding
            loan = services.loan_write_off(actor=p["bank_x"], loan=loan, reason=WriteOffReason.LONG_OVERDUE)
            note("write-off proposed")
            loan = services.loan_transition(
                actor=p[who], loan=loan, action="write-off-approve", comment="复核"
            )
            assert loan.status == LoanStatus.WRITTEN_OFF and loan.written_off_principal == principal
            note("write-off approved")
            self.tick()
            for breaker in breakers:
                assert live_ratio(breaker, today()) >= before[breaker.region_id], breaker.region_id
                if (
                    breaker.state == Breaker.State.TRIPPED
                    and before[breaker.region_id] > THRESHOLD[breaker.level]
                ):
                    assert not self.try_resume(breaker), breaker.region_id
                    note("write-off kept a breaker tripped")

        # --- the fund ----------------------------------------------------------------------------------

        @rule(amount=st.integers(1, 40).map(lambda n: Decimal(n * 500)))
        def deposit(self, amount):
            self.tick()
            fund_services.deposit_record(
                actor=p["county_staff"], county_code=COUNTY, amount=amount, received_on=today()
            )
            self.put_in += amount

        @rule(i=pick)
        def compensate(self, i):
            """A claim filed by the bank, verified by one county clerk and paid by another."""
            self.tick()
            loan = chosen(Loan.objects.filter(status__in=(LoanStatus.ACTIVE, LoanStatus.WRITTEN_OFF)), i)
            if loan is None:
                return
            dpd = fund_selectors.loss_of(loan, on=today()).dpd
            live = CompensationClaim.objects.filter(loan=loan).exclude(status=ClaimStatus.REJECTED).exists()
            try:
                claim = fund_services.claim_file(actor=p["bank_x"], loan=loan)
            except ApplicationError as exc:
                expected = (
                    "claim_exists"
                    if live
                    else "dpd_too_low"
                    if dpd < COMPENSATION_MIN_DPD
                    else "nothing_to_claim"
                )
                assert exc.code == expected, (exc.code, expected)
                note(f"claim refused: {expected}")
                return
            assert not live and dpd >= COMPENSATION_MIN_DPD
            claim = fund_services.claim_verify(actor=p["county_staff"], claim=claim)
            money_in_fund = balance(today())
            try:
                claim = fund_services.claim_pay(actor=p["county2"], claim=claim)
            except ApplicationError as exc:
                assert exc.code == "fund_insufficient" and money_in_fund < claim.fund_share, exc.code
                fund_services.claim_reject(actor=p["county_staff"], claim=claim, reason="余额不足，待补充")
                return
            assert balance(today()) == money_in_fund - claim.fund_share
            note("claim paid")

        @precondition(lambda self: bool(payable_claims()))
        @rule(i=pick)
        def claim_when_payable(self, i):
            """A loan 90 days or more past due: the bank files a claim, one county clerk verifies
            it and another pays it (the county tops the fund up first if it is short)."""
            self.tick()
            loans = payable_claims()
            loan = Loan.objects.get(pk=loans[i % len(loans)])
            claim = fund_services.claim_file(actor=p["bank_x"], loan=loan)
            claim = fund_services.claim_verify(actor=p["county_staff"], claim=claim)
            short = claim.fund_share - balance(today())
            if short > 0:
                fund_services.deposit_record(
                    actor=p["county_staff"], county_code=COUNTY, amount=short, received_on=today()
                )
                self.put_in += short
                note("fund topped up for a claim")
            before = balance(today())
            claim = fund_services.claim_pay(actor=p["county2"], claim=claim)
            assert claim.status == ClaimStatus.PAID
            assert len({claim.filed_by_id, claim.verified_by_id, claim.paid_by_id}) == 3
            assert balance(today()) == before - claim.fund_share
            assert fund_selectors.fund_balance(COUNTY, on=today()) == balance(today())
            note("claim paid")

        # --- invariants --------------------------------------------------------------------------------

        @invariant()
        def nothing_lent_in_a_tripped_area(self):
            events = list(BreakerEvent.objects.order_by("at", "id").values_list("region_id", "kind", "at"))
            for region, kind, tripped_at in events:
                if kind != BreakerEvent.Kind.TRIP:
                    continue
                resumed = [
                    at
                    for r, k, at in events
                    if r == region and k == BreakerEvent.Kind.RESUME and at > tripped_at
                ]
                during = LoanEvent.objects.filter(
                    Q(loan__area_id=region) | Q(loan__township_id=region), action__in=BREAKER_CHECKED,
                    at__gte=tripped_at,
                )  # fmt: skip
                if resumed:
                    during = during.filter(at__lt=resumed[0])
                assert not during.exists(), (
                    region,
                    tripped_at,
                    list(during.values_list("loan_id", "action", "at")),
                )
            for breaker in Breaker.objects.all():  # the state is the last event's
                last = BreakerEvent.objects.filter(region_id=breaker.region_id).order_by("-at", "-id").first()
                tripped = last is not None and last.kind == BreakerEvent.Kind.TRIP
                assert (breaker.state == Breaker.State.TRIPPED) == tripped, breaker.region_id

        @invariant()
        def principal_outstanding_is_what_is_left(self):
            for loan in Loan.objects.filter(disbursed_on__isnull=False):
                repaid = loan.instalments.aggregate(s=Sum("principal_paid"))["s"] or Decimal(0)
                expected = money(loan.amount - repaid - loan.written_off_principal)
                assert loan.principal_outstanding == expected, (
                    loan.loan_no,
                    loan.status,
                    loan.principal_outstanding,
                    expected,
                )
                if loan.status in (LoanStatus.CLOSED, LoanStatus.WRITTEN_OFF):
                    assert loan.principal_outstanding == 0

        @invariant()
        def the_fund_is_its_ledger(self):
            rows = FundEntry.objects.filter(county_id=COUNTY)
            paid = CompensationClaim.objects.filter(status=ClaimStatus.PAID).aggregate(s=Sum("fund_share"))[
                "s"
            ]
            assert fund_selectors.fund_balance(COUNTY, on=today()) == balance(today())
            assert balance(today()) == money(sum(rows.values_list("amount", flat=True), Decimal(0)))
            assert balance(today()) == self.put_in - money(paid or 0)

        @invariant()
        def one_live_loan_per_household(self):
            for household in households:
                loans = Loan.objects.filter(household=household)
                assert loans.filter(status__in=APPLIED_STATUSES).count() <= 1
                assert loans.filter(status__in=OUTSTANDING_STATUSES).count() <= 1

    return LifecycleMachine


def test_any_sequence_keeps_the_lending_controls(regions, banks, personas):
    people = {
        **personas,
        "bank_x2": assign(UserFactory(username="bank_x2"), Role.BANK_OFFICER, branch=banks["branch_x"]),
        "county2": assign(UserFactory(username="county2"), Role.COUNTY_STAFF, region=regions["shangcai"]),
    }
    clerks = {
        regions["village_a1"].code: people["village_a1"],
        regions["village_a2"].code: assign(UserFactory(username="village_a2"), Role.VILLAGE_CLERK, region=regions["village_a2"]),
        regions["village_b1"].code: assign(UserFactory(username="village_b1"), Role.VILLAGE_CLERK, region=regions["village_b1"]),
    }  # fmt: skip
    card = Scorecard.objects.filter(county=regions["shangcai"]).first() or publish_default(
        regions["shangcai"]
    )
    households = []
    for village in ("village_a1", "village_a1", "village_a2", "village_a2", "village_b1", "village_b1"):
        household = HouseholdFactory(village=regions[village])
        RatingFactory(
            household=household, scorecard=card, drafted_by=people["county_staff"], status=RatingStatus.APPROVED,
            grade="AA", credit_line=LINE, approved_on=datetime.date(2025, 1, 1), valid_until=datetime.date(2040, 1, 1),
        )  # fmt: skip
        households.append(household)
    world = {
        "people": people, "clerks": clerks, "households": households, "bank": banks["x"],
        "shangcai": regions["shangcai"],
    }  # fmt: skip
    STATS.clear()
    run_state_machine_as_test(
        build_machine(world),
        settings=settings(
            max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, derandomize=not os.environ.get("LIFECYCLE_RANDOM"),
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )  # fmt: skip
    if os.environ.get("LIFECYCLE_STATS"):
        print("\n".join(f"{n:6d}  {what}" for what, n in sorted(STATS.items())))
    if EXAMPLES * STEPS >= 30 * 60:  # the runs reached every control (shorter runs may not)
        missing = [what for what in REACHED if not STATS[what]]
        assert not missing, (missing, dict(STATS))
