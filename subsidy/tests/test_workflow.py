"""BatchWorkflow (common.workflow): every step writes the batch's event and exactly one audit entry
with the batch's totals, maker-checker on approval, the payment date's guard, and the buttons each
persona gets from actions_for."""

import datetime

import pytest

from common.audit import audit_trail
from common.clock import today
from common.models import AuditEntry
from common.workflow import all_workflows
from subsidy import services
from subsidy.models import BatchEvent

from .factories import Q1_2024, make_loan, pay

pytestmark = pytest.mark.django_db

D = datetime.date


@pytest.fixture
def batch(regions, banks, personas):
    loan = make_loan(regions["village_a1"], bank=banks["x"], actor=personas["admin"])
    pay(loan, on=D(2024, 2, 15), actor=personas["bank_x"])
    return services.batch_create(
        actor=personas["county_staff"], county=regions["shangcai"], bank=banks["x"], period_start=Q1_2024[0]
    )


def counts(batch) -> tuple[int, int]:
    return (
        BatchEvent.objects.filter(batch=batch).count(),
        AuditEntry.objects.filter(object_type="subsidy_batch", object_id=str(batch.pk)).count(),
    )


def last_entry(batch):
    return audit_trail(obj_type="subsidy_batch", obj_id=batch.pk).last()


def test_the_workflow_is_listed():
    assert "subsidy_batch" in [w.obj_type for w in all_workflows()]
    assert set(services.BatchWorkflow.steps) == {"recompute", "approve", "mark-paid", "cancel"}


def test_each_step_writes_its_event_and_one_audit_entry(batch, personas, checker):
    assert counts(batch) == (1, 1)  # the creation
    steps = [
        ("recompute", lambda: services.batch_recompute(actor=personas["county_staff"], batch=batch), "draft"),
        ("approve", lambda: services.batch_approve(actor=checker, batch=batch, comment="同意"), "approved"),
        ("mark-paid", lambda: services.batch_mark_paid(actor=checker, batch=batch, reference="ZF-1"), "paid"),
    ]
    for n, (action, step, to_state) in enumerate(steps, start=2):
        done = step()
        assert done.status == to_state and counts(batch) == (n, n), action
        event = BatchEvent.objects.filter(batch=batch).last()
        entry = last_entry(batch)
        assert (event.action, event.to_status) == (entry.action, entry.to_state) == (action, to_state)
        assert (
            entry.detail["total_amount"] == str(done.total_amount)
            and entry.detail["lines"] == done.line_count
        )
    assert last_entry(batch).detail["comment"] == f"{today():%Y-%m-%d} ZF-1"


def test_cancel_writes_one_event_and_one_entry_with_its_reason(batch, personas):
    services.batch_cancel(actor=personas["county_staff"], batch=batch, reason="银行选错")
    assert counts(batch) == (2, 2)
    entry = last_entry(batch)
    assert (entry.action, entry.from_state, entry.to_state) == ("cancel", "draft", "cancelled")
    assert entry.detail == {"total_amount": "0.00", "lines": 0, "comment": "银行选错"}


def test_a_refused_step_writes_nothing(batch, personas, checker):
    with pytest.raises(services.SubsidyError):
        services.batch_approve(actor=personas["county_staff"], batch=batch)
    with pytest.raises(services.SubsidyError):
        services.batch_cancel(actor=personas["county_staff"], batch=batch, reason="")
    services.batch_approve(actor=checker, batch=batch)
    with pytest.raises(services.SubsidyError) as caught:
        services.batch_mark_paid(actor=checker, batch=batch, paid_on=today() + datetime.timedelta(days=1))
    assert caught.value.code == "invalid" and "paid_on" in caught.value.errors
    assert counts(batch) == (2, 2)
    batch.refresh_from_db()
    assert batch.status == "approved" and batch.paid_on is None


def test_the_approver_is_not_who_created_or_recomputed(batch, personas, checker):
    workflow = services.BATCH_WORKFLOW
    assert "approve" not in workflow.actions_for(personas["county_staff"], batch)
    assert "approve" in workflow.actions_for(checker, batch)
    services.batch_recompute(actor=checker, batch=batch)
    assert "approve" not in workflow.actions_for(checker, batch)
    with pytest.raises(services.SubsidyError) as caught:
        services.batch_approve(actor=checker, batch=batch)
    assert caught.value.code == "same_person_checker"
    assert services.batch_approve(actor=personas["admin"], batch=batch).status == "approved"


@pytest.mark.parametrize(
    ("persona", "draft", "approved"),
    [
        ("county_staff", ["recompute", "cancel"], ["mark-paid"]),  # computed it: no approval
        ("checker", ["recompute", "approve", "cancel"], ["mark-paid"]),
        ("admin", ["recompute", "approve", "cancel"], ["mark-paid"]),
        ("bank_x", [], []),
        ("city", [], []),
        ("township_a", [], []),
        ("village_a1", [], []),
        ("bank_y", [], []),
        ("nobody", [], []),
    ],
)
def test_actions_for_shows_exactly_the_permitted_buttons(batch, personas, checker, persona, draft, approved):
    user = checker if persona == "checker" else personas[persona]
    assert services.batch_actions_for(user=user, batch=batch) == draft
    services.batch_approve(actor=personas["admin"], batch=batch)
    batch.refresh_from_db()
    assert services.batch_actions_for(user=user, batch=batch) == approved
    services.batch_mark_paid(actor=personas["admin"], batch=batch)
    batch.refresh_from_db()
    assert services.batch_actions_for(user=user, batch=batch) == []


def test_the_page_shows_the_buttons_of_actions_for(batch, client_for, personas, checker):
    page = client_for(personas["county_staff"]).get(f"/subsidy/{batch.pk}/").content.decode()
    assert 'id="do-recompute"' in page and 'id="do-cancel"' in page and 'id="do-approve"' not in page
    assert 'id="approval-note"' in page
    page = client_for(checker).get(f"/subsidy/{batch.pk}/").content.decode()
    assert 'id="do-approve"' in page and 'id="approval-note"' not in page
