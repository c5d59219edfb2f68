"""The lending controls under real concurrency, on PostgreSQL: two clerks taking money steps at the
same moment must not get past a rule that each of them alone would be refused by.

- two submissions of two applications of one household: the partial unique index
  one_application_per_household turns the second into `duplicate_household_loan`;
- two approvals sharing the county fund's last headroom: the fund's lock (fund_lock, a row lock on
  the county) makes the second see the first's commitment: `fund_leverage_exceeded`;
- two disbursements of one loan: the loan's row lock: `invalid_transition`, one schedule;
- a second live loan of one household: the database refuses it, whatever the services check.

Each thread calls the service directly (its own connection, closed when the thread ends), all
released together by a barrier (common.testing.at_once); every race runs ROUNDS times on fresh
objects, and the database is checked afterwards.
"""

import datetime
from decimal import Decimal
from functools import partial

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum

from common.audit import audit_trail
from common.clock import today
from common.testing import at_once
from conftest import require_service
from households.tests.factories import HouseholdFactory
from loans import services
from loans.models import APPLIED_STATUSES, OUTSTANDING_STATUSES, Instalment, Loan, LoanStatus
from loans.services import LoanError
from loans.tests.factories import SHANGHAI, apply, fund_deposit, rate, walk
from organization.models import Role
from organization.tests.factories import UserFactory, assign
from risk_fund.selectors import leverage_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 5
COUNTY = "411722"


@pytest.fixture(autouse=True)
def on_postgresql(transactional_db):
    require_service(connection.vendor == "postgresql", "PostgreSQL (row locks and unique indexes under load)")


@pytest.fixture
def people(personas, banks):
    """The personas and a second officer of bank X: two officers may each approve or disburse."""
    return {
        **personas,
        "bank_x2": assign(UserFactory(username="bank_x2"), Role.BANK_OFFICER, branch=banks["branch_x"]),
    }


def noon(day: datetime.date):
    return time_machine.travel(datetime.datetime.combine(day, datetime.time(12), tzinfo=SHANGHAI), tick=False)


def rated_household(regions, people):
    household = HouseholdFactory(village=regions["village_a1"])
    rate(household, actor=people["county_staff"])
    return household


def loan_at(status, *, regions, banks, people, amount="30000.00", household=None) -> Loan:
    household = household or rated_household(regions, people)
    loan = apply(household, actor=people["village_a1"], bank=banks["x"], amount=amount)
    return walk(loan, to=status, personas=people)


def split(results):
    """(the winners, the refusals' codes) of at_once(..., catch=(LoanError,))."""
    wins = [r for r in results if not isinstance(r, LoanError)]
    return wins, [r.code for r in results if isinstance(r, LoanError)]


def actions(loan: Loan) -> list[str]:
    return list(loan.events.order_by("id").values_list("action", flat=True))


def audited(loan: Loan) -> list[str]:
    return list(audit_trail(obj_type="loan", obj_id=loan.pk).values_list("action", flat=True))


# --- 1. two applications of one household submitted at once ------------------------------------------


def test_two_applications_of_one_household_submitted_at_once(regions, banks, people):
    fund_deposit(regions["shangcai"], actor=people["admin"])
    for _ in range(ROUNDS):
        household = rated_household(regions, people)
        drafts = [apply(household, actor=people["village_a1"], bank=banks["x"]) for _ in range(2)]
        results = at_once(
            *[partial(services.loan_transition, actor=people["village_a1"], loan=d, action="submit") for d in drafts],
            catch=(LoanError,),
        )  # fmt: skip
        wins, refused = split(results)
        assert len(wins) == 1 and refused == ["duplicate_household_loan"], results
        winner, loser = (drafts[0], drafts[1]) if results[0] is wins[0] else (drafts[1], drafts[0])
        winner.refresh_from_db()
        loser.refresh_from_db()
        assert winner.status == LoanStatus.SUBMITTED and actions(winner) == ["create", "submit"]
        # The loser stayed a draft the village can correct or withdraw, with nothing else written.
        assert (
            loser.status == LoanStatus.DRAFT and actions(loser) == ["create"] and audited(loser) == ["create"]
        )
        assert Loan.objects.filter(household=household, status__in=APPLIED_STATUSES).count() == 1


# --- 2. two approvals for the fund's last headroom ------------------------------------------------------


def test_two_approvals_for_the_last_headroom_approve_one(regions, banks, people):
    """A fund of 5,000 yuan: cap 50,000 (10×). Two recommended loans of 30,000 of two households:
    each fits, both do not. Two bank officers approve them at once."""
    fund_deposit(regions["shangcai"], actor=people["admin"], amount=Decimal("5000.00"))
    for _ in range(ROUNDS):
        loans = [
            loan_at(LoanStatus.RECOMMENDED, regions=regions, banks=banks, people=people) for _ in range(2)
        ]
        assert loans[0].household_id != loans[1].household_id
        with noon(max(loan.notice_ends_on for loan in loans)):
            lev = leverage_for(COUNTY, on=today())
            assert lev.used + Decimal("30000.00") <= lev.cap < lev.used + Decimal("60000.00")
            results = at_once(
                partial(services.loan_transition, actor=people["bank_x"], loan=loans[0], action="approve"),
                partial(services.loan_transition, actor=people["bank_x2"], loan=loans[1], action="approve"),
                catch=(LoanError,),
            )
            wins, refused = split(results)
            assert len(wins) == 1 and refused == ["fund_leverage_exceeded"], results
            for loan in loans:
                loan.refresh_from_db()
            approved = [loan for loan in loans if loan.status == LoanStatus.APPROVED]
            waiting = [loan for loan in loans if loan.status == LoanStatus.RECOMMENDED]
            assert len(approved) == len(waiting) == 1
            assert "approve" not in actions(waiting[0]) and "approve" not in audited(waiting[0])
            after = leverage_for(COUNTY, on=today())
            assert after.committed == Decimal("30000.00") and after.used <= after.cap
            # Free the headroom for the next round: the village withdraws both.
            for loan in loans:
                services.loan_transition(actor=people["village_a1"], loan=loan, action="withdraw")


# --- 3. two disbursements of one loan -------------------------------------------------------------------


def test_two_disbursements_of_one_loan_disburse_it_once(regions, banks, people):
    fund_deposit(regions["shangcai"], actor=people["admin"])
    for _ in range(ROUNDS):
        loan = loan_at(LoanStatus.APPROVED, regions=regions, banks=banks, people=people)
        day = loan.notice_ends_on
        with noon(day):
            results = at_once(
                partial(services.loan_disburse, actor=people["bank_x"], loan=loan, disbursed_on=day),
                partial(services.loan_disburse, actor=people["bank_x2"], loan=loan, disbursed_on=day),
                catch=(LoanError,),
            )
        wins, refused = split(results)
        assert len(wins) == 1 and refused == ["invalid_transition"], results
        loan.refresh_from_db()
        assert loan.status == LoanStatus.ACTIVE and loan.principal_outstanding == loan.amount
        assert actions(loan).count("disburse") == 1 and audited(loan).count("disburse") == 1
        instalments = Instalment.objects.filter(loan=loan)
        seqs = list(instalments.order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) == 8  # 24 months, quarterly
        assert instalments.aggregate(s=Sum("principal_due"))["s"] == loan.amount


# --- 4. two live loans of one household -----------------------------------------------------------------


def copy_of(loan: Loan, **changes) -> Loan:
    fields = {
        f.attname: getattr(loan, f.attname)
        for f in Loan._meta.concrete_fields
        if f.attname not in ("id", "loan_no", "created_at", "updated_at")
    }
    return Loan(**{**fields, **changes})


def test_the_database_refuses_a_second_live_loan_of_a_household(regions, banks, people):
    """Two approved loans of one household cannot exist, so two disbursements of two of them cannot
    be raced: whatever a service forgets, the indexes refuse a second application in progress and
    a second outstanding loan."""
    fund_deposit(regions["shangcai"], actor=people["admin"])
    approved = loan_at(LoanStatus.APPROVED, regions=regions, banks=banks, people=people)
    for status in APPLIED_STATUSES:
        with pytest.raises(IntegrityError, match="one_application_per_household"), transaction.atomic():
            copy_of(approved, status=status).save()
    active = loan_at(LoanStatus.ACTIVE, regions=regions, banks=banks, people=people)
    for status in OUTSTANDING_STATUSES:
        with pytest.raises(IntegrityError, match="one_outstanding_loan_per_household"), transaction.atomic():
            copy_of(active, status=status).save()


def renewal_approved(regions, banks, people) -> tuple[Loan, Loan]:
    """An active loan and its renewal, approved while the old loan is still outstanding (allowed:
    the two indexes are separate; the renewal may be disbursed only once the old one is closed)."""
    old = loan_at(LoanStatus.ACTIVE, regions=regions, banks=banks, people=people)
    with noon(old.disbursed_on):
        renewal = services.loan_renew(actor=people["village_a1"], loan=old)
        renewal = walk(renewal, to=LoanStatus.RECOMMENDED, personas=people)
    with noon(renewal.notice_ends_on):
        renewal = services.loan_transition(actor=people["bank_x"], loan=renewal, action="approve")
    return old, renewal


def owed(loan: Loan) -> Decimal:
    return sum(
        (
            i.principal_due - i.principal_paid + i.interest_due - i.interest_paid
            for i in loan.instalments.all()
        ),
        Decimal(0),
    )


def test_a_renewal_disbursed_while_its_old_loan_is_repaid(regions, banks, people):
    """The bank closes the old loan (repays all it owes) while another officer disburses the
    renewal: the renewal goes out only after the old loan is closed, never beside it."""
    fund_deposit(regions["shangcai"], actor=people["admin"])
    outcomes = set()
    for _ in range(ROUNDS):
        old, renewal = renewal_approved(regions, banks, people)
        day = renewal.notice_ends_on
        with noon(day):
            results = at_once(
                partial(
                    services.repayment_post, actor=people["bank_x"], loan=old, amount=owed(old), paid_on=day
                ),
                partial(services.loan_disburse, actor=people["bank_x2"], loan=renewal, disbursed_on=day),
                catch=(LoanError,),
            )
        old.refresh_from_db()
        renewal.refresh_from_db()
        assert old.status == LoanStatus.CLOSED and not isinstance(results[0], LoanError)
        household_outstanding = Loan.objects.filter(household=old.household, status__in=OUTSTANDING_STATUSES)
        assert household_outstanding.count() <= 1
        if isinstance(results[1], LoanError):  # it read the old loan before the repayment committed
            assert results[1].code == "invalid_transition", results[1].message
            assert renewal.status == LoanStatus.APPROVED and not renewal.instalments.exists()
            assert "disburse" not in actions(renewal)
            outcomes.add("refused")
        else:
            assert renewal.status == LoanStatus.ACTIVE and list(household_outstanding) == [renewal]
            outcomes.add("disbursed")
    assert outcomes  # either order is right; which one happened depends on the scheduler


def test_the_index_refuses_a_renewal_disbursed_beside_its_old_loan(regions, banks, people, monkeypatch):
    """Without the rule that the old loan must be closed first (patched out here), the database
    still refuses the second outstanding loan, as the refusal the rule would give, and nothing of
    the disbursement is written. Raced against a repayment that leaves the old loan open."""
    monkeypatch.setitem(
        services.LoanWorkflow.guards, "renewed_loan_closed", lambda workflow, loan, context: []
    )
    fund_deposit(regions["shangcai"], actor=people["admin"])
    for _ in range(ROUNDS):
        old, renewal = renewal_approved(regions, banks, people)
        day = renewal.notice_ends_on
        with noon(day):
            results = at_once(
                partial(
                    services.repayment_post, actor=people["bank_x"], loan=old, amount="100.00", paid_on=day
                ),
                partial(services.loan_disburse, actor=people["bank_x2"], loan=renewal, disbursed_on=day),
                catch=(LoanError,),
            )
        assert isinstance(results[1], LoanError) and results[1].code == "duplicate_household_loan", results
        renewal.refresh_from_db()
        assert renewal.status == LoanStatus.APPROVED and renewal.disbursed_on is None
        assert not renewal.instalments.exists() and "disburse" not in actions(renewal)
        assert "disburse" not in audited(renewal)
        assert Loan.objects.filter(household=old.household, status__in=OUTSTANDING_STATUSES).count() == 1
