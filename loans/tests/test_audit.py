"""The audit trail (common.audit) of a loan's whole life and of the other state changes issue 9
names: a rating approval, a fund deposit, a subsidy batch, a claim payout and recovery, a breaker
trip and resumption. Each step is driven through the services, as the app drives them, on its own
day; the trail must hold every step in order, with the actor (or the system) and the time."""

import datetime
import time
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common.audit import audit_trail
from common.clock import today
from common.models import AuditEntry
from common.testing import at_once
from conftest import require_service
from credit_rating import services as rating_services
from credit_rating.models import RatingStatus
from credit_rating.tests.factories import full_scores, publish_default
from credit_rating.tests.factories import walk as walk_rating
from loans import daily, services
from loans.models import Classification, Loan, LoanStatus
from organization.models import Role
from organization.tests.factories import UserFactory, assign
from risk_fund import services as fund_services
from subsidy import services as subsidy_services

from .factories import SHANGHAI, apply, walk
from .factories_daily import make_loan, overdue_by

pytestmark = pytest.mark.django_db

D = datetime.date
SYSTEM = "系统"


def on(day: datetime.date, hour: int = 10):
    """Travel to `day` at `hour` in Shanghai; the trail's times must say so."""
    return time_machine.travel(
        datetime.datetime.combine(day, datetime.time(hour), tzinfo=SHANGHAI), tick=False
    )


def steps(obj_type: str, obj_id) -> list[tuple]:
    """The object's trail as (action, who, from, to), oldest first."""
    return [
        (e.action, e.who, e.from_state, e.to_state) for e in audit_trail(obj_type=obj_type, obj_id=obj_id)
    ]


def days(obj_type: str, obj_id) -> list[datetime.date]:
    return [e.at.astimezone(SHANGHAI).date() for e in audit_trail(obj_type=obj_type, obj_id=obj_id)]


def owed(loan, *, due_by: datetime.date | None = None) -> Decimal:
    items = loan.instalments.filter(settled=False)
    if due_by:
        items = items.filter(due_date__lte=due_by)
    return sum(
        (i.principal_due - i.principal_paid + i.interest_due - i.interest_paid for i in items), Decimal(0)
    )


def repay(loan, persona, *, due_by=None):
    return services.repayment_post(
        actor=persona, loan=loan, amount=owed(loan, due_by=due_by), paid_on=today()
    )


@pytest.fixture
def scorecard(regions):
    publish_default(regions["shangcai"])


def test_a_loans_whole_life_from_rating_to_renewal_is_in_the_trail(personas, banks, households, scorecard):
    p, name = personas, {key: str(user) for key, user in personas.items()}
    household = households["a1"]
    with on(D(2024, 1, 2)):
        rating = rating_services.rating_create(
            actor=p["village_a1"], household=household, scores=full_scores("10")
        )
        rating = walk_rating(
            rating,
            to=RatingStatus.APPROVED,
            clerk=p["village_a1"],
            township=p["township_a"],
            county=p["county_staff"],
        )
        deposit = fund_services.deposit_record(
            actor=p["county_staff"], county_code="411722", amount=Decimal("20000000"), received_on=today()
        )
        loan = apply(household, actor=p["village_a1"], bank=banks["x"], term_months=12)
        loan = walk(loan, to=LoanStatus.ACTIVE, personas=p)  # approved and disbursed on 2024-01-07
    with on(D(2024, 4, 7)):
        repay(loan, p["bank_x"], due_by=today())  # the first quarter's interest, on time
    with on(D(2024, 7, 20)):  # the second quarter's interest is 13 days late
        daily.classify_loans(as_of=today())
    with on(D(2024, 7, 21)):
        repay(loan, p["bank_x"], due_by=today())
    with on(D(2024, 7, 22)):
        daily.classify_loans(as_of=today())
    with on(D(2024, 8, 1)):
        services.loan_extend(actor=p["bank_x"], loan=loan, months=6, reason="受灾，延后还本")
    with on(D(2024, 8, 2)):
        repay(loan, p["bank_x"])  # everything still owed: the loan closes
    with on(D(2024, 8, 3)):
        renewal = services.loan_renew(actor=p["village_a1"], loan=loan)

    assert steps("rating", rating.pk) == [
        ("create", name["village_a1"], "", "draft"),
        ("submit", name["village_a1"], "draft", "submitted"),
        ("review", name["township_a"], "submitted", "reviewed"),
        ("approve", name["county_staff"], "reviewed", "approved"),
    ]
    assert steps("fund_entry", deposit.pk) == [("deposit", name["county_staff"], "", "")]
    assert steps("loan", loan.pk) == [
        ("create", name["village_a1"], "", "draft"),
        ("submit", name["village_a1"], "draft", "submitted"),
        ("township-review", name["township_a"], "submitted", "township_reviewed"),
        ("county-recommend", name["county_staff"], "township_reviewed", "recommended"),
        ("approve", name["bank_x"], "recommended", "approved"),
        ("disburse", name["bank_x"], "approved", "active"),
        ("repay", name["bank_x"], "active", "active"),
        ("classify", SYSTEM, "normal", "special_mention"),
        ("repay", name["bank_x"], "active", "active"),
        ("classify", SYSTEM, "special_mention", "normal"),
        ("extend", name["bank_x"], "active", "active"),
        ("repay", name["bank_x"], "active", "active"),
        ("close", name["bank_x"], "active", "closed"),
        ("renew", name["village_a1"], "closed", "closed"),
    ]
    if connection.vendor == "postgresql":  # the database's clock, which time-machine does not move
        times = [e.at for e in audit_trail(obj_type="loan", obj_id=loan.pk)]
        assert times == sorted(times)
    else:
        assert days("loan", loan.pk) == [D(2024, 1, 2)] * 4 + [D(2024, 1, 7)] * 2 + [
            D(2024, 4, 7), D(2024, 7, 20), D(2024, 7, 21), D(2024, 7, 22), D(2024, 8, 1), D(2024, 8, 2),
            D(2024, 8, 2), D(2024, 8, 3),
        ]  # fmt: skip
    trail = list(audit_trail(obj_type="loan", obj_id=loan.pk))
    assert {(e.region, e.object_label) for e in trail} == {("411722100201", loan.loan_no)}
    assert [e.actor_id for e in trail if e.action == "classify"] == [None, None]
    assert trail[7].detail == {"dpd": 13, "as_of": "2024-07-20"}
    assert trail[-2].detail["comment"] == "2024-08-02还清" and trail[-3].detail["outstanding"] == "0.00"
    # Every event the loan page shows has its entry, in the same order (the trail is complete).
    events = [(e.action, str(e.actor), e.from_status, e.to_status) for e in loan.events.order_by("at", "id")]
    assert events == [s for s in steps("loan", loan.pk) if s[0] not in ("repay", "classify")]
    assert steps("loan", renewal.pk) == [("create", name["village_a1"], "", "draft")]


def test_the_classification_writes_entries_only_for_loans_whose_class_changes(regions, banks, personas):
    as_of = D(2024, 7, 20)
    make = {"area": regions["village_a1"], "bank": banks["x"], "actor": personas["admin"]}
    late = overdue_by(100, as_of, **make)
    on_time = overdue_by(0, as_of, **make)  # falls due today: not late yet
    already = overdue_by(10, as_of, classification=Classification.SPECIAL_MENTION, **make)
    xiping = overdue_by(5, as_of, regions["village_x1"], bank=banks["y"], actor=personas["admin"])

    result = daily.classify_loans(as_of=as_of, counties=["411722"])
    assert result["reclassified"] == 1
    assert steps("loan", late.pk) == [("classify", SYSTEM, "normal", "substandard")]
    assert steps("loan", on_time.pk) == steps("loan", already.pk) == steps("loan", xiping.pk) == []
    # Idempotent: the same day again changes nothing and writes nothing.
    daily.classify_loans(as_of=as_of, counties=["411722"])
    assert AuditEntry.objects.filter(action="classify").count() == 1


def test_the_classification_audit_takes_as_many_statements_however_many_loans_change(
    regions, banks, personas
):
    """Set-based: the entries are selected in one statement and inserted (hashed into the chain)
    in batches of a thousand, so the statements do not grow with the loans that change."""
    as_of = D(2024, 7, 20)
    for dpd in (5, 100, 200, 400):
        overdue_by(dpd, as_of, area=regions["village_a1"], bank=banks["x"], actor=personas["admin"])
    overdue_by(100, as_of, regions["village_x1"], bank=banks["y"], actor=personas["admin"])
    counted = []
    for county in ("411721", "411722"):
        with CaptureQueriesContext(connection) as queries:
            daily.classify_loans(as_of=as_of, counties=[county])
        counted.append(len(queries))
    assert counted[0] == counted[1] and AuditEntry.objects.filter(action="classify").count() == 5


def test_a_subsidy_batch_moves_through_the_trail(regions, banks, personas):
    from subsidy.tests.factories import Q1_2024, make_loan, pay

    checker = assign(UserFactory(username="county_checker"), Role.COUNTY_STAFF, region=regions["shangcai"])
    loan = make_loan(regions["village_a1"], bank=banks["x"], actor=personas["admin"])
    pay(loan, on=D(2024, 2, 15), actor=personas["bank_x"])
    staff = personas["county_staff"]
    batch = subsidy_services.batch_create(
        actor=staff, county=regions["shangcai"], bank=banks["x"], period_start=Q1_2024[0]
    )
    subsidy_services.batch_recompute(actor=staff, batch=batch)
    subsidy_services.batch_approve(actor=checker, batch=batch)
    batch = subsidy_services.batch_mark_paid(actor=checker, batch=batch, reference="贴息拨付001")
    assert steps("subsidy_batch", batch.pk) == [
        ("create", str(staff), "", "draft"),
        ("recompute", str(staff), "draft", "draft"),
        ("approve", str(checker), "draft", "approved"),
        ("mark-paid", str(checker), "approved", "paid"),
    ]
    last = audit_trail(obj_type="subsidy_batch", obj_id=batch.pk).last()
    assert last.region == "411722" and Decimal(last.detail["total_amount"]) == batch.total_amount > 0


def test_a_claim_payout_and_recovery_are_in_the_trail(regions, banks, personas):
    from risk_fund.tests.factories import overdue_loan

    p = {
        **personas,
        "county2": assign(UserFactory(username="county2"), Role.COUNTY_STAFF, region=regions["shangcai"]),
    }
    fund_services.deposit_record(
        actor=p["county_staff"], county_code="411722", amount=Decimal("20000000"), received_on=today()
    )
    loan = overdue_loan(regions, banks, p)
    claim = fund_services.claim_file(actor=p["bank_x"], loan=loan)
    claim = fund_services.claim_verify(actor=p["county_staff"], claim=claim)
    claim = fund_services.claim_pay(actor=p["county2"], claim=claim)
    recovery = fund_services.recovery_record(
        actor=p["bank_x"], loan=loan, amount=Decimal("1000"), received_on=today()
    )

    assert steps("claim", claim.pk) == [
        ("file", str(p["bank_x"]), "", "filed"),
        ("verify", str(p["county_staff"]), "filed", "verified"),
        ("pay", str(p["county2"]), "verified", "paid"),
    ]
    ledger = AuditEntry.objects.filter(object_type="fund_entry").order_by("at", "id")
    assert [(e.action, e.who, e.detail["amount"]) for e in ledger] == [
        ("deposit", str(p["county_staff"]), "20000000.00"),
        ("payout", str(p["county2"]), str(-claim.fund_share)),
        ("recovery", str(p["bank_x"]), str(recovery.fund_part)),
    ]
    assert steps("recovery", recovery.pk) == [("create", str(p["bank_x"]), "", "")]


def test_a_breaker_trip_by_the_daily_job_and_its_resumption_are_in_the_trail(regions, banks, personas):
    as_of = today()
    bad = overdue_by(400, as_of, regions["village_b1"], bank=banks["x"], actor=personas["admin"])
    daily.classify_loans(as_of=as_of)
    daily.compute_breakers(as_of=as_of)
    services.loan_write_off(actor=personas["bank_x"], loan=bad, reason="long_overdue")
    services.loan_transition(actor=personas["county_staff"], loan=bad, action="write-off-approve")
    with pytest.raises(services.LoanError) as still:  # the write-off still counts for 12 months
        daily.breaker_resume(actor=personas["county_staff"], region_code="411722101201")
    assert still.value.code == "breaker_still_over"
    make_loan(regions["village_b1"], bank=banks["x"], actor=personas["admin"], amount="200000.00")
    daily.breaker_resume(actor=personas["county_staff"], region_code="411722101201")

    staff = str(personas["county_staff"])
    assert steps("breaker", "411722101201") == [
        ("trip", SYSTEM, "normal", "tripped"),
        ("resume", staff, "tripped", "normal"),
    ]
    assert steps("breaker", "411722101") == [("trip", SYSTEM, "normal", "tripped")]  # the township stays
    trip = audit_trail(obj_type="breaker", obj_id="411722101201").first()
    assert trip.object_label == "乙一村" and trip.detail == {"npl_ratio": "100.00", "threshold": "7.00",
                                                             "as_of": as_of.isoformat()}  # fmt: skip
    assert steps("loan", bad.pk)[-2:] == [
        ("write-off", str(personas["bank_x"]), "active", "write_off_proposed"),
        ("write-off-approve", staff, "write_off_proposed", "written_off"),
    ]


def test_the_loan_page_shows_its_audit_trail(client_for, regions, banks, personas):
    as_of = today()
    loan = overdue_by(10, as_of, regions["village_a1"], bank=banks["x"], actor=personas["admin"])
    daily.classify_loans(as_of=as_of)
    services.repayment_post(actor=personas["bank_x"], loan=loan, amount=Decimal("100.00"), paid_on=as_of)
    page = client_for(personas["township_a"]).get(f"/loans/{loan.pk}/").content.decode()
    section = page.split('id="audit"')[1].split("</section>")[0]
    rows = section.split("<tr>")[2:]  # after the heading row
    assert len(rows) == 2
    assert "五级分类" in rows[0] and "正常 → 关注" in rows[0] and SYSTEM in rows[0]
    assert "还款" in rows[1] and str(personas["bank_x"]) in rows[1]


@pytest.mark.django_db(transaction=True)
def test_two_classification_runs_at_once_write_each_change_once(regions, banks, personas, monkeypatch):
    """PostgreSQL: the nightly run and a county's run at the same moment. Without the lock both
    would read the loan's old class and both write its entry before either updates the loan.
    (Its DPD is already current, as after a change of the policy's bands: a DPD write would have
    made the second run wait on the row.)"""
    require_service(connection.vendor == "postgresql", "PostgreSQL (concurrent classification runs)")
    as_of = D(2024, 7, 20)
    late = overdue_by(100, as_of, regions["village_a1"], bank=banks["x"], actor=personas["admin"])
    Loan.objects.filter(pk=late.pk).update(dpd=100)
    original = daily._audit_reclassification
    monkeypatch.setattr(
        daily, "_audit_reclassification", lambda *args: (original(*args), time.sleep(0.3))[0]
    )  # the first run holds on between its audit entry and its UPDATE
    runs = at_once(*[lambda c=c: daily.classify_loans(as_of=as_of, counties=c) for c in (None, ["411722"])])
    assert sorted(run["reclassified"] for run in runs) == [0, 1]
    assert steps("loan", late.pk) == [("classify", SYSTEM, "normal", "substandard")]


def test_the_demo_city_has_the_trail_of_what_it_creates():
    from credit_rating.models import RatingEvent
    from loans import demo
    from loans.models import BreakerEvent, LoanEvent, Repayment
    from organization import demo_data
    from risk_fund import demo as fund_demo
    from risk_fund.models import FundEntry
    from subsidy import demo as subsidy_demo
    from subsidy.models import BatchEvent

    demo_data.seed(households=800)
    demo.seed()
    fund_demo.seed()
    subsidy_demo.seed()

    def entries(obj_type, **filters) -> int:
        return AuditEntry.objects.filter(object_type=obj_type, **filters).count()

    not_normal = Loan.objects.exclude(classification=Classification.NORMAL).count()
    assert not_normal > 0 and entries("loan", action="classify", actor__isnull=True) == not_normal
    assert entries("loan", action="repay") == Repayment.objects.count() > 0
    assert entries("loan") == LoanEvent.objects.count() + Repayment.objects.count() + not_normal
    assert entries("rating") == RatingEvent.objects.count() > 0
    assert entries("fund_entry") == FundEntry.objects.count() > 0
    assert entries("subsidy_batch") == BatchEvent.objects.count() > 0
    assert entries("breaker", action="trip") == BreakerEvent.objects.count() > 0
    assert entries("claim") > 0 and entries("credit_freeze") == 1
    # The seeded history keeps its times: a loan's entries read in the order of its events.
    loan = LoanEvent.objects.filter(action="close").first().loan
    trail = [e.action for e in audit_trail(obj_type="loan", obj_id=loan.pk)]
    assert trail[:6] == ["create", "submit", "township-review", "county-recommend", "approve", "disburse"]
    assert trail[-1] == "close" and set(trail[6:-1]) == {"repay"}
    # A second run adds nothing, to the data or to the trail.
    before = AuditEntry.objects.count()
    demo.seed()
    fund_demo.seed()
    subsidy_demo.seed()
    assert AuditEntry.objects.count() == before
