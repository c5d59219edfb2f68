"""The batch workflow: calendar settlement periods, one live batch per county, bank and period,
no overlapping periods, maker-checker on approval, approved batches frozen, paid, cancelled; and
the database constraints that make paying twice impossible whatever the services do."""

import datetime
import time
from decimal import Decimal

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction

from common.errors import Forbidden
from common.testing import at_once
from conftest import require_service
from organization.tests.factories import approved_policy
from subsidy import engine, services
from subsidy.models import BatchEvent, SettlementBatch, SubsidyLine

from .factories import Q1_2024, make_loan, pay

pytestmark = pytest.mark.django_db

D = datetime.date


@pytest.fixture
def paid_loan(regions, banks, personas):
    item = make_loan(regions["village_a1"], bank=banks["x"], actor=personas["admin"])
    pay(item, on=D(2024, 2, 15), actor=personas["bank_x"])
    return item


def create(personas, regions, banks, start=Q1_2024[0], who="county_staff", **kwargs):
    return services.batch_create(
        actor=personas[who], county=regions["shangcai"], bank=banks["x"], period_start=start, **kwargs
    )


def refused(code, fn, *args, **kwargs):
    with pytest.raises(services.SubsidyError) as caught:
        fn(*args, **kwargs)
    assert caught.value.code == code, caught.value.message
    return caught.value


# --- periods -----------------------------------------------------------------------------------


def test_periods_are_the_countys_calendar_settlement_periods(regions, banks, personas, paid_loan):
    assert services.settlement_period("411722", D(2024, 4, 1)) == (D(2024, 4, 1), D(2024, 6, 30))
    assert services.settlement_period("411722", D(2024, 10, 1)) == (D(2024, 10, 1), D(2024, 12, 31))
    for wrong in (D(2024, 2, 1), D(2024, 1, 15)):
        refused("invalid_period", services.settlement_period, "411722", wrong)
    refused("invalid_period", create, personas, regions, banks, period_end=D(2024, 2, 29))
    batch = create(personas, regions, banks, period_end=D(2024, 3, 31))
    assert (batch.period_start, batch.period_end, batch.status) == (*Q1_2024, "draft")


@time_machine.travel(datetime.datetime(2024, 3, 31, 12, tzinfo=datetime.UTC), tick=False)
def test_a_period_that_has_not_ended_cannot_be_settled(regions, banks, personas):
    refused("period_not_over", create, personas, regions, banks)


def test_the_settlement_period_follows_the_policy_row(regions, banks, personas):
    approved_policy(county=regions["shangcai"], effective_from=D(2017, 1, 1), settlement_period_months=6)
    assert services.settlement_period("411722", D(2024, 1, 1)) == (D(2024, 1, 1), D(2024, 6, 30))
    refused("invalid_period", services.settlement_period, "411722", D(2024, 4, 1))


def test_overlapping_periods_are_refused(regions, banks, personas, paid_loan):
    """Half-yearly until April 2024, quarterly from then: the first half-year and the second quarter
    overlap. The second batch would count April to June twice: refused."""
    approved_policy(county=regions["shangcai"], effective_from=D(2017, 1, 1), settlement_period_months=6)
    approved_policy(county=regions["shangcai"], effective_from=D(2024, 4, 1), settlement_period_months=3)
    half = create(personas, regions, banks, start=D(2024, 1, 1))
    assert half.period_end == D(2024, 6, 30)
    error = refused("period_overlap", create, personas, regions, banks, start=D(2024, 4, 1))
    assert error.errors == {"batch": [half.pk]}
    assert create(personas, regions, banks, start=D(2024, 7, 1)).period_end == D(2024, 9, 30)


# --- one batch per period, and the database behind it ------------------------------------------


def test_a_second_batch_for_the_same_period_is_refused_even_after_approval(
    regions, banks, personas, checker, paid_loan
):
    first = create(personas, regions, banks)
    refused("batch_exists", create, personas, regions, banks)
    services.batch_approve(actor=checker, batch=first)
    refused("batch_exists", create, personas | {"checker": checker}, regions, banks, who="checker")
    assert SettlementBatch.objects.count() == 1 and SubsidyLine.objects.count() == 1


def test_the_database_refuses_a_second_live_batch_and_a_second_paying_line(
    regions, banks, personas, paid_loan
):
    batch = create(personas, regions, banks)
    line = batch.lines.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        SettlementBatch.objects.create(county=regions["shangcai"], bank=banks["x"], period_start=Q1_2024[0],
                                       period_end=Q1_2024[1], created_by=personas["admin"])  # fmt: skip
    # Whatever batch it sits in (here one of another bank, made by hand), a loan's interest for a
    # period is paid once: one paying line per loan, kind and period start.
    other = SettlementBatch.objects.create(county=regions["shangcai"], bank=banks["y"], period_start=Q1_2024[0],
                                           period_end=Q1_2024[1], created_by=personas["admin"])  # fmt: skip
    duplicate = {"loan": line.loan, "kind": line.kind, "period_start": line.period_start, "payee": "x"}
    with pytest.raises(IntegrityError), transaction.atomic():
        SubsidyLine.objects.create(batch=other, amount=Decimal("1.00"), **duplicate)
    SubsidyLine.objects.create(
        batch=other, amount=0, excluded_reason="overdue", **duplicate
    )  # information only
    SubsidyLine.objects.create(batch=other, amount=Decimal("1.00"), **(duplicate | {"kind": "guarantee_fee"}))
    with pytest.raises(IntegrityError), transaction.atomic():
        SubsidyLine.objects.create(batch=other, amount=Decimal("1.00"), excluded_reason="overdue",
                                   **(duplicate | {"kind": "guarantee_fee", "loan": make_loan(
                                       regions["village_a1"], bank=banks["x"], actor=personas["admin"])}))  # fmt: skip


def test_a_cancelled_draft_claims_nothing(regions, banks, personas, paid_loan):
    batch = create(personas, regions, banks)
    refused("reason_required", services.batch_cancel, actor=personas["county_staff"], batch=batch, reason=" ")
    services.batch_cancel(actor=personas["county_staff"], batch=batch, reason="银行选错")
    batch.refresh_from_db()
    assert (batch.status, batch.total_amount, batch.lines.count()) == ("cancelled", 0, 0)
    again = create(personas, regions, banks)
    assert again.total_amount == Decimal("364.17")


# --- maker-checker, approval, payment -----------------------------------------------------------


def test_maker_checker_the_approver_is_not_who_created_or_recomputed(
    regions, banks, personas, checker, paid_loan
):
    batch = create(personas, regions, banks)
    refused("same_person_checker", services.batch_approve, actor=personas["county_staff"], batch=batch)
    services.batch_recompute(actor=checker, batch=batch)
    refused("same_person_checker", services.batch_approve, actor=checker, batch=batch)
    services.batch_approve(actor=personas["admin"], batch=batch, comment="同意")
    batch.refresh_from_db()
    assert batch.status == "approved" and batch.approved_at is not None
    actions = list(
        BatchEvent.objects.filter(batch=batch).values_list("action", "actor__username", "to_status")
    )
    assert actions == [("create", "county", "draft"), ("recompute", "county_checker", "draft"),
                       ("approve", "admin", "approved")]  # fmt: skip


def test_only_county_staff_of_the_county_run_batches(regions, banks, personas, checker, paid_loan):
    for who in ("bank_x", "city", "township_a", "bank_y", "nobody"):
        with pytest.raises(Forbidden):
            create(personas, regions, banks, who=who)
    batch = create(personas, regions, banks)
    for who in ("bank_x", "city", "township_a"):
        with pytest.raises(Forbidden):
            services.batch_approve(actor=personas[who], batch=batch)
    assert SettlementBatch.objects.get().status == "draft"


def test_an_approved_batch_is_frozen_then_marked_paid(regions, banks, personas, checker, paid_loan):
    batch = create(personas, regions, banks)
    services.batch_approve(actor=checker, batch=batch)
    before = list(batch.lines.values_list("loan_id", "amount"))
    pay(make_loan(regions["village_a1"], bank=banks["x"], actor=personas["admin"]), on=D(2024, 2, 15),
        actor=personas["bank_x"])  # fmt: skip
    for action in (services.batch_recompute, services.batch_approve):
        refused("invalid_transition", action, actor=checker, batch=batch)
    refused("invalid_transition", services.batch_cancel, actor=checker, batch=batch, reason="x")
    assert list(batch.lines.values_list("loan_id", "amount")) == before
    refused(
        "invalid",
        services.batch_mark_paid,
        actor=personas["county_staff"],
        batch=batch,
        paid_on=D(2024, 1, 1),
    )
    services.batch_mark_paid(actor=personas["county_staff"], batch=batch, reference="国库支付 2024-118")
    batch.refresh_from_db()
    assert (batch.status, batch.payment_reference) == ("paid", "国库支付 2024-118")
    refused("invalid_transition", services.batch_mark_paid, actor=personas["county_staff"], batch=batch)


def test_mark_paid_needs_an_approved_batch(regions, banks, personas, paid_loan):
    batch = create(personas, regions, banks)
    refused("invalid_transition", services.batch_mark_paid, actor=personas["county_staff"], batch=batch)


@pytest.mark.django_db(transaction=True)
def test_two_batches_computed_at_once_pay_once(regions, banks, personas, checker, paid_loan, monkeypatch):
    """PostgreSQL, real row locks: two county staff compute the same period at the same moment.
    The second waits for the first's lock on the county and then finds its batch."""
    require_service(connection.vendor == "postgresql", "PostgreSQL (row locks for concurrent requests)")
    original = engine.compute_lines
    monkeypatch.setattr(engine, "compute_lines", lambda batch: (time.sleep(0.3), original(batch))[1])
    outcomes = at_once(
        *[lambda who=who: create(personas | {"checker": checker}, regions, banks, who=who).pk
          for who in ("county_staff", "checker")],
        catch=(services.SubsidyError,),
    )  # fmt: skip
    results = sorted(o.code if isinstance(o, services.SubsidyError) else str(o) for o in outcomes)
    assert results[1] == "batch_exists" and results[0].isdigit(), results
    assert SettlementBatch.objects.count() == 1 and SubsidyLine.objects.count() == 1
