"""Invariants under any sequence of deposits, claims, verifications, payments, rejections and
recoveries (a Hypothesis state machine against the database, each run rolled back): the balance
is the sum of the ledger's rows and what the model expects, never negative; a claim is paid at
most once and a loan has one live claim at most; nobody pays or gets back more than the loss."""

from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from common.clock import today
from risk_fund import selectors, services
from risk_fund.models import ClaimStatus, CompensationClaim, FundEntry, Recovery
from risk_fund.services import FundError

from .factories import agreement, fund_deposit, overdue_loan

pytestmark = pytest.mark.django_db
D = Decimal
money_in = st.integers(min_value=1, max_value=2_000_000).map(lambda n: D(n) / 100)
SPLITS = {
    "policy 80:20": None,
    "three ways, odd shares": {
        "fund_share": D("33.33"),
        "guarantee_share": D("13.37"),
        "bank_share": D("53.30"),
    },
}


def build_machine(world):
    p, loans = world["p"], world["loans"]
    clerks = [p["county_staff"], p["county2"], p["admin"]]

    class FundMachine(RuleBasedStateMachine):
        claims = Bundle("claims")

        def __init__(self):
            super().__init__()
            self.atomic = transaction.atomic()
            self.atomic.__enter__()
            self.balance = selectors.fund_balance("411722", on=today())

        def teardown(self):
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)

        @rule(amount=money_in)
        def deposit(self, amount):
            services.deposit_record(
                actor=p["county_staff"], county_code="411722", amount=amount, received_on=today()
            )
            self.balance += amount

        @rule(target=claims, i=st.integers(0, len(loans) - 1))
        def file(self, i):
            loan = loans[i]
            live = selectors.live_claim(loan)
            try:
                claim = services.claim_file(actor=p["bank_x"], loan=loan)
            except FundError as exc:
                assert exc.code == ("claim_exists" if live else "dpd_too_low"), exc.code
                return live or CompensationClaim.objects.filter(loan=loan).first()
            assert live is None
            return claim

        @rule(claim=claims, who=st.sampled_from(clerks))
        def verify(self, claim, who):
            if claim is None:
                return
            claim.refresh_from_db()
            try:
                services.claim_verify(actor=who, claim=claim)
            except FundError as exc:
                assert exc.code == "invalid_transition" and claim.status != ClaimStatus.FILED

        @rule(claim=claims, who=st.sampled_from(clerks))
        def pay(self, claim, who):
            if claim is None:
                return
            claim.refresh_from_db()
            try:
                paid = services.claim_pay(actor=who, claim=claim)
            except FundError as exc:
                expected = {
                    ClaimStatus.PAID: "already_paid",
                    ClaimStatus.VERIFIED: "same_person_checker"
                    if claim.verified_by_id == who.pk
                    else "fund_insufficient",
                }.get(claim.status, "invalid_transition")
                assert exc.code == expected, (exc.code, expected)
                if exc.code == "fund_insufficient":
                    assert self.balance < claim.fund_share
                return
            assert claim.status == ClaimStatus.VERIFIED and claim.verified_by_id != who.pk
            self.balance -= paid.fund_share

        @rule(claim=claims)
        def reject(self, claim):
            if claim is None:
                return
            claim.refresh_from_db()
            try:
                services.claim_reject(actor=p["county_staff"], claim=claim, reason="测试")
            except FundError as exc:
                assert exc.code == "invalid_transition" and claim.status in (
                    ClaimStatus.PAID,
                    ClaimStatus.REJECTED,
                )

        @rule(claim=claims, amount=money_in)
        def recover(self, claim, amount):
            if claim is not None:
                self._recover(claim.loan, amount)

        @rule(claim=claims, extra=st.sampled_from([D("0.00"), D("0.01")]))
        def recover_the_rest(self, claim, extra):
            """Right at the cap, and a fen past it."""
            paid = claim and self._paid_claim(claim.loan)
            amount = paid and paid.loss - selectors.recovered(paid)["amount"] + extra
            if amount:  # nothing left and no extra: no recovery to try
                self._recover(claim.loan, amount)

        @staticmethod
        def _paid_claim(loan):
            return CompensationClaim.objects.filter(loan=loan, status=ClaimStatus.PAID).first()

        def _recover(self, loan, amount):
            """Recoveries go to the loan's paid claim (a claim of the bundle may be a rejected one)."""
            paid = self._paid_claim(loan)
            try:
                recovery = services.recovery_record(
                    actor=p["bank_x"], loan=loan, amount=amount, received_on=today()
                )
            except FundError as exc:
                if exc.code == "not_compensated":
                    assert paid is None
                else:
                    assert (
                        exc.code == "recovery_exceeds_loss"
                        and amount > paid.loss - selectors.recovered(paid)["amount"]
                    )
                return
            assert recovery.claim == paid and amount > 0
            self.balance += recovery.fund_part

        @invariant()
        def balance_is_the_sum_of_the_rows(self):
            rows = list(FundEntry.objects.filter(county_id="411722").values_list("amount", flat=True))
            assert selectors.fund_balance("411722", on=today()) == sum(rows) == self.balance >= 0

        @invariant()
        def paid_once_and_never_more_than_the_loss(self):
            paid = CompensationClaim.objects.filter(status=ClaimStatus.PAID)
            assert FundEntry.objects.filter(kind="payout").count() == paid.count()
            for claim in CompensationClaim.objects.all():
                assert claim.fund_share + claim.guarantee_share + claim.bank_share == claim.loss
                assert 0 < claim.fund_share <= claim.loss
                if claim.status == ClaimStatus.PAID:
                    assert claim.payout.amount == -claim.fund_share
                back = selectors.recovered(claim)
                assert back["amount"] <= claim.loss and back["fund"] <= claim.fund_share
                assert back["bank"] <= claim.bank_share and back["guarantee"] <= claim.guarantee_share
            for loan in loans:
                assert (
                    CompensationClaim.objects.filter(loan=loan).exclude(status=ClaimStatus.REJECTED).count()
                    <= 1
                )
            fund_back = FundEntry.objects.filter(kind="recovery").aggregate(s=Sum("amount"))["s"] or 0
            assert fund_back == (Recovery.objects.aggregate(s=Sum("fund_part"))["s"] or 0)

    return FundMachine


@pytest.mark.parametrize("split", SPLITS.values(), ids=SPLITS.keys())
def test_any_sequence_keeps_the_invariants(regions, banks, personas, split):
    from organization.models import Role
    from organization.tests.factories import UserFactory, assign

    p = {
        **personas,
        "county2": assign(UserFactory(username="county2"), Role.COUNTY_STAFF, region=regions["shangcai"]),
    }
    fund_deposit(regions["shangcai"], actor=p["admin"], amount=D("5000.00"))
    if split:
        agreement(regions["shangcai"], banks["x"], actor=p["admin"], guarantee_agency="担保公司", **split)
    loans = []
    for days, outstanding in ((120, "10000.00"), (400, "3333.33"), (95, "0.01"), (60, "5000.00")):
        loans.append(overdue_loan(regions, banks, p, days=days, amount="10000.00", outstanding=outstanding))
    machine = build_machine({"p": p, "loans": loans})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=25, stateful_step_count=25, deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )  # fmt: skip
