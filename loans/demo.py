"""Demo loans for `manage.py seed_demo`: a risk fund in every county, a loan history for about one
rated household in three, and in each county's demo village a loan waiting at every step.

- History (bulk, set-based): loans disbursed over the last 2½ years to households with an
  effective rating of grade A or better, amount within the credit line, at the benchmark rate.
  Schedules come from loans.schedules; instalments due before today are paid on their due date
  (one repayment each) unless the loan's borrower stopped paying, which makes it overdue. Matured
  loans paid in full are closed. One village of 上蔡县 (BAD_VILLAGE) lends badly, so that the daily
  job trips its circuit breaker.
- Work in progress (through the services, as the demo users): in the demo village of each county
  a draft, a submitted, a township-reviewed and a recommended loan (notice running), and one
  recommended loan whose notice period is over, for the bank demo user to approve and disburse.

Deterministic and idempotent: households that already have a loan are skipped, so a second run
adds nothing. The daily job runs at the end to classify the loans and compute the breakers.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from common.audit import audit_entry, audit_record_many
from common.clock import today
from credit_rating.models import Rating, RatingStatus
from households.models import HEAD_RELATION, Member
from organization.demo_data import ALL_COUNTY_CODES, SEED
from organization.models import Bank, User
from risk_fund.models import FundEntry

from . import schedules, services
from .eligibility import GRADE_RANK, age_on
from .models import Instalment, Loan, LoanEvent, LoanStatus, Purpose, Repayment, RepaymentAllocation

FUND_DEPOSIT = Decimal("20000000.00")  # the first tranche for a poor county (DOMAIN.md)
SHARE_WITH_LOANS = 3  # about one rated household in three has a loan
BAD_VILLAGE = "411722101203"
PRODUCTIVE = [p for p in Purpose.values if p not in {"house_building", "house_buying", "car", "wedding",
                                                       "wealth_management", "consumption"}]  # fmt: skip
TERMS = (12, 24, 36)
BATCH = 500


@dataclass
class LoanSeedResult:
    loans_created: int = 0
    in_progress_created: int = 0
    repayments_created: int = 0
    deposits_created: int = 0
    classified: dict | None = None

    def summary(self) -> str:
        return (
            f"贷款：本次新增历史贷款 {self.loans_created} 笔、在办申请 {self.in_progress_created} 笔、"
            f"还款 {self.repayments_created} 笔、风险补偿金存入 {self.deposits_created} 笔。"
        )


class _Actors:
    """The demo users of a county, by role."""

    def __init__(self, county: str):
        users = {u.username: u for u in User.objects.filter(username__endswith=county)}
        self.clerk, self.township = users.get(f"village_{county}"), users.get(f"township_{county}")
        self.county, self.bank_officer = users.get(f"county_{county}"), users.get(f"bank_{county}")
        branch = self.bank_officer.role_assignments.first().branch if self.bank_officer else None
        self.bank = branch.bank if branch else Bank.objects.filter(branches__counties=county).first()

    @property
    def complete(self) -> bool:
        return all((self.clerk, self.township, self.county, self.bank_officer))


def seed() -> LoanSeedResult:
    result = LoanSeedResult()
    day = today()
    with transaction.atomic():
        for county in ALL_COUNTY_CODES:
            actors = _Actors(county)
            if not actors.complete:
                continue
            _seed_fund(county, actors, result)
            _seed_history(county, actors, day, result)
            _seed_in_progress(county, actors, day, result)
    from .daily import run_daily_jobs

    result.classified = run_daily_jobs(as_of=day)
    with transaction.atomic():
        _seed_controls(day, result)
    return result


# --- the controls at work (上蔡县) ------------------------------------------------------------------

CONTROLS_COUNTY = "411722"
RETURN_REASON = "请补充养殖场地租赁合同，并核实借款人联系电话后重新提交。"


def _seed_controls(day: datetime.date, result: LoanSeedResult) -> None:
    """After the daily job: an application the township returned for correction, a loan approved
    in BAD_VILLAGE before it tripped (the bank's disbursement is refused until the county resumes
    the breaker), and a loss loan's write-off proposed by the bank, waiting for a second person."""
    actors = _Actors(CONTROLS_COUNTY)
    if not actors.complete or Loan.objects.filter(status=LoanStatus.RETURNED).exists():
        return  # seeded before
    # Households whose head may borrow (18-65), so that only the control shown refuses.
    candidates = [
        (r, h) for r, h in _candidates(CONTROLS_COUNTY, day) if 18 <= age_on(h.birth_date, day) <= 60
    ]
    # The demo township's officer returns it: a household of the demo village, else of its township.
    demo_township = [c for c in candidates if c[0].household.village.parent_id == f"{CONTROLS_COUNTY}100"]
    demo_township.sort(key=lambda c: c[0].household.village_id != f"{CONTROLS_COUNTY}100201")
    if demo_township:
        rating, head = demo_township[0]
        loan = services.loan_create(
            actor=actors.county, household=rating.household, borrower=head, bank=actors.bank,
            amount=min(Decimal("30000.00"), rating.credit_line), term_months=24, purpose=Purpose.PLANTING,
            repayment_method="quarterly_interest_bullet",
        )  # fmt: skip
        loan = services.loan_transition(actor=actors.county, loan=loan, action="submit")
        services.loan_transition(actor=actors.township, loan=loan, action="return", comment=RETURN_REASON)
        result.in_progress_created += 1
    # Approved yesterday in BAD_VILLAGE's township, which the daily job has just tripped.
    tripped_township = [c for c in candidates if c[0].household.village.parent_id == BAD_VILLAGE[:9]]
    tripped_township.sort(key=lambda c: c[0].household.village_id != BAD_VILLAGE)
    if tripped_township:
        _seed_ready_for_approval(*tripped_township[0], actors, day, approved=True)
        result.in_progress_created += 1
    _seed_write_off_proposal()


def _seed_write_off_proposal() -> None:
    """A loss loan's write-off proposed by its bank, waiting for a second person: in the first
    county after 上蔡 with one (上蔡's most overdue loans are the fund's demo claims)."""
    for county in ALL_COUNTY_CODES:
        actors = _Actors(county)
        if county == CONTROLS_COUNTY or not actors.complete:
            continue
        loss = (
            Loan.objects.filter(
                county_id=county, bank=actors.bank, status=LoanStatus.ACTIVE, classification="loss"
            )
            .order_by("dpd", "id")
            .first()
        )
        if loss is not None:
            services.loan_write_off(
                actor=actors.bank_officer, loan=loss, reason="long_overdue", comment="多次催收无果"
            )
            return


def _seed_fund(county: str, actors: _Actors, result: LoanSeedResult) -> None:
    from risk_fund.services import deposit_record  # a later app's service: its ledger and audit entry

    if not FundEntry.objects.filter(county_id=county).exists():
        deposit_record(
            actor=actors.county, county_code=county, amount=FUND_DEPOSIT, received_on=datetime.date(2017, 8, 1),
            source="县级财政预算", reference=f"{county}-2017-风险补偿金",
        )  # fmt: skip
        result.deposits_created += 1


def _candidates(county: str, day: datetime.date):
    """(rating, head) of the county's households rated A or better today, without any loan."""
    ratings = (
        Rating.objects.filter(
            household__village__code__startswith=county, status=RatingStatus.APPROVED, valid_until__gte=day,
            household__status__in=("poor", "lifted", "monitored"), household__loans__isnull=True,
        )
        .select_related("household__village")
        .order_by("household__household_no")
    )  # fmt: skip
    good = [r for r in ratings if GRADE_RANK[r.grade] >= GRADE_RANK["A"]]
    heads = {
        m.household_id: m
        for m in Member.objects.filter(
            household_id__in=[r.household_id for r in good], relation=HEAD_RELATION
        )
    }
    return [(r, heads[r.household_id]) for r in good if r.household_id in heads]


# --- history -----------------------------------------------------------------------------------


def _seed_history(county: str, actors: _Actors, day: datetime.date, result: LoanSeedResult) -> None:
    demo_village = f"{county}100201"
    chosen = []
    for rating, head in _candidates(county, day):
        rng = random.Random(f"{SEED}:loan:{rating.household.household_no}")
        bad = rating.household.village_id == BAD_VILLAGE
        if rating.household.village_id == demo_village:
            continue  # kept for the work in progress
        if bad or rng.randrange(SHARE_WITH_LOANS) == 0:
            chosen.append((rating, head, rng, bad))
    for start in range(0, len(chosen), BATCH):
        _write_history(chosen[start : start + BATCH], actors, day, result)


def _write_history(chosen, actors: _Actors, day: datetime.date, result: LoanSeedResult) -> None:
    loans, plans = [], []
    for rating, head, rng, bad in chosen:
        household = rating.household
        term = rng.choice(TERMS)
        disbursed = day - datetime.timedelta(days=rng.randint(200 if bad else 40, 900))
        amount = Decimal(min(int(rating.credit_line), 50000) // 1000 * rng.choice((6, 8, 10)) * 100)
        rate = services.benchmark_rate(term, on=disbursed)
        plan = schedules.build_schedule(
            method="quarterly_interest_bullet",
            principal=amount,
            annual_rate=rate,
            start=disbursed,
            term_months=term,
        )
        paid = _paid_instalments(plan, day, rng, bad)
        closed = len(paid) == len(plan)
        loans.append(Loan(
            loan_no=None, household=household, borrower=head, area=household.village,
            township_id=household.village.parent_id, county_id=household.village_id[:6], bank=actors.bank,
            amount=amount, rate=rate, term_months=term, purpose=rng.choice(PRODUCTIVE),
            status=LoanStatus.CLOSED if closed else LoanStatus.ACTIVE,
            notice_ends_on=disbursed - datetime.timedelta(days=3), disbursed_on=disbursed,
            maturity_date=schedules.maturity_date(disbursed, term),
            closed_on=plan[-1].due_date if closed else None,
            principal_outstanding=amount - sum(p.principal_due for p in paid), created_by=actors.clerk,
        ))  # fmt: skip
        plans.append((plan, paid, disbursed, closed))
    Loan.objects.bulk_create(loans)
    for loan in loans:
        loan.loan_no = f"L{loan.county_id}{loan.pk:07d}"
    Loan.objects.bulk_update(loans, ["loan_no"])

    events, instalments, repayments = [], [], []
    for loan, (plan, paid, disbursed, closed) in zip(loans, plans, strict=True):
        events += _history_events(loan, actors, disbursed, closed)
        paid_seqs = {p.seq for p in paid}
        for p in plan:
            done = p.seq in paid_seqs
            instalments.append(Instalment(
                loan=loan, seq=p.seq, start_date=p.start_date, due_date=p.due_date, principal_due=p.principal_due,
                interest_due=p.interest_due, principal_paid=p.principal_due if done else 0,
                interest_paid=p.interest_due if done else 0, settled=done,
            ))  # fmt: skip
        for p in paid:
            repayments.append(Repayment(
                loan=loan, bank_id=loan.bank_id, paid_on=p.due_date, amount=p.principal_due + p.interest_due,
                interest_part=p.interest_due, principal_part=p.principal_due, reference=f"{loan.loan_no}-{p.seq:02d}",
                channel=Repayment.Channel.FILE, posted_by=actors.bank_officer, posted_at=_moment(p.due_date),
            ))  # fmt: skip
    LoanEvent.objects.bulk_create(events)
    Instalment.objects.bulk_create(instalments)
    Repayment.objects.bulk_create(repayments)
    audit_record_many([*_event_entries(events), *_repayment_entries(loans, repayments)])
    by_key = {(i.loan_id, i.seq): i for i in instalments}
    RepaymentAllocation.objects.bulk_create(
        RepaymentAllocation(repayment=r, instalment=by_key[(r.loan_id, int(r.reference[-2:]))],
                            interest=r.interest_part, principal=r.principal_part)
        for r in repayments
    )  # fmt: skip
    result.loans_created += len(loans)
    result.repayments_created += len(repayments)


def _event_entries(events: list[LoanEvent]):
    """The audit entries of events written as history (as services._record would write them)."""
    for e in events:
        yield audit_entry(
            actor=e.actor, action=e.action, **services.loan_subject(e.loan), from_state=e.from_status,
            to_state=e.to_status, detail={"comment": e.comment} if e.comment else None, at=e.at,
        )  # fmt: skip


def _repayment_entries(loans: list[Loan], repayments: list[Repayment]):
    """The audit entries of repayments written as history, with the outstanding after each."""
    outstanding = {loan.pk: loan.amount for loan in loans}
    by_pk = {loan.pk: loan for loan in loans}
    for r in repayments:  # in each loan's order of payment
        outstanding[r.loan_id] -= r.principal_part
        yield audit_entry(
            actor=r.posted_by, action="repay", **services.loan_subject(by_pk[r.loan_id]), from_state="active",
            to_state="active", at=r.posted_at,
            detail={"repayment": r.pk, "paid_on": r.paid_on, "amount": r.amount, "interest": r.interest_part,
                    "principal": r.principal_part, "outstanding": outstanding[r.loan_id], "reference": r.reference,
                    "channel": r.channel},
        )  # fmt: skip


def _paid_instalments(plan, day: datetime.date, rng: random.Random, bad: bool) -> list:
    """The instalments due before today that the borrower paid (on their due dates): all of them
    for most; a late payer missed the last one (关注); a defaulter stopped at some instalment
    (mostly non-performing by now). The bad village defaults often."""
    due = [p for p in plan if p.due_date < day]
    behaviour = rng.random()
    if behaviour < (0.6 if bad else 0.005):
        stops_at = 1 if bad else rng.randint(1, len(plan))
        return [p for p in due if p.seq < stops_at]
    if behaviour > 0.97 and due:
        return due[:-1]
    return due


def _moment(day: datetime.date, hour: int = 10) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


def _history_events(loan: Loan, actors: _Actors, disbursed: datetime.date, closed: bool) -> list[LoanEvent]:
    """The five steps as they happened, a few days apart before disbursement."""
    steps = [
        ("create", actors.clerk, "", "draft", 20), ("submit", actors.clerk, "draft", "submitted", 19),
        ("township-review", actors.township, "submitted", "township_reviewed", 15),
        ("county-recommend", actors.county, "township_reviewed", "recommended", 12),
        ("approve", actors.bank_officer, "recommended", "approved", 3),
        ("disburse", actors.bank_officer, "approved", "active", 0),
    ]  # fmt: skip
    events = [
        LoanEvent(loan=loan, action=action, actor=actor, from_status=src, to_status=dst,
                  at=_moment(disbursed - datetime.timedelta(days=days_before)))
        for action, actor, src, dst, days_before in steps
    ]  # fmt: skip
    if closed:
        events.append(LoanEvent(loan=loan, action="close", actor=actors.bank_officer, from_status="active",
                                to_status="closed", at=_moment(loan.closed_on, 16), comment="按期还清"))  # fmt: skip
    return events


# --- work in progress --------------------------------------------------------------------------

# (status to leave it in, amount): one of each in the county's demo village.
IN_PROGRESS = [
    (LoanStatus.DRAFT, "20000.00"), (LoanStatus.SUBMITTED, "30000.00"),
    (LoanStatus.TOWNSHIP_REVIEWED, "25000.00"), (LoanStatus.RECOMMENDED, "30000.00"),
]  # fmt: skip
STEPS = [("submit", "clerk"), ("township-review", "township"), ("county-recommend", "county")]


def _seed_in_progress(county: str, actors: _Actors, day: datetime.date, result: LoanSeedResult) -> None:
    demo_village = f"{county}100201"
    if Loan.objects.filter(area_id=demo_village).exists():
        return  # seeded before
    candidates = [(r, h) for r, h in _candidates(county, day) if r.household.village_id == demo_village]
    for (status, amount), (rating, head) in zip(IN_PROGRESS, candidates, strict=False):
        amount = min(Decimal(amount), rating.credit_line)
        loan = services.loan_create(
            actor=actors.clerk, household=rating.household, borrower=head, bank=actors.bank, amount=amount,
            term_months=24, purpose=Purpose.BREEDING, repayment_method="quarterly_interest_bullet",
        )  # fmt: skip
        for action, who in STEPS[: [s for s, _ in IN_PROGRESS].index(status)]:
            try:
                loan = services.loan_transition(actor=getattr(actors, who), loan=loan, action=action)
            except services.LoanError:
                break  # a rule refuses it (e.g. a tripped breaker): it stays where it is
        result.in_progress_created += 1
    # The last candidate: recommended a week ago, so its notice is over and the bank can approve.
    if len(candidates) > len(IN_PROGRESS):
        rating, head = candidates[len(IN_PROGRESS)]
        _seed_ready_for_approval(rating, head, actors, day)
        result.in_progress_created += 1


def _seed_ready_for_approval(
    rating, head, actors: _Actors, day: datetime.date, approved: bool = False
) -> None:
    """Written as history (the services would date the recommendation today); `approved`: the
    bank approved it yesterday, and it waits for disbursement."""
    household = rating.household
    amount = min(Decimal("40000.00"), rating.credit_line)
    loan = Loan.objects.create(
        household=household, borrower=head, area=household.village, township_id=household.village.parent_id,
        county_id=household.village_id[:6], bank=actors.bank, amount=amount, term_months=36,
        rate=services.benchmark_rate(36, on=day), purpose=Purpose.PLANTING,
        status=LoanStatus.APPROVED if approved else LoanStatus.RECOMMENDED,
        notice_ends_on=day - datetime.timedelta(days=2), created_by=actors.clerk,
    )  # fmt: skip
    loan.loan_no = f"L{loan.county_id}{loan.pk:07d}"
    loan.save(update_fields=["loan_no"])
    # The history of a loan that would be disbursed in 5 days (recommended 7 days ago), or of one
    # approved yesterday (due to be disbursed today).
    if approved:
        events = _history_events(loan, actors, day + datetime.timedelta(days=2), False)[:5]
    else:
        events = _history_events(loan, actors, day + datetime.timedelta(days=5), False)[:4]
    LoanEvent.objects.bulk_create(events)
    audit_record_many(_event_entries(events))


def describe(result: LoanSeedResult) -> str:
    """What the daily job found, and where to look in the demo."""
    from .daily import summary_lines

    lines = summary_lines(result.classified) if result.classified else []
    lines.append(
        f"演示：各县演示村（如上蔡县 411722100201）有草稿、已提交、乡镇已审核、公示中的申请和一笔公示期满待银行审批的贷款；"
        f"村 {BAD_VILLAGE} 不良率高，日终任务将其熔断；该村一笔熔断前已审批的贷款不能放款，须县级确认恢复后再办理。"
        f"上蔡县还有一笔乡镇退回修改的申请；另有一县一笔银行已申请核销、待第二人审批的损失类贷款（贷款台账按状态“核销待审批”筛选）。"
    )
    return "\n".join(lines)
