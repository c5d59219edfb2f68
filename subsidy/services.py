"""Every write to a settlement batch: create (compute), recompute, approve, mark paid, cancel.

Periods are the county's calendar settlement periods: they start on the first day of a month
that is a multiple of settlement_period_months from January (quarters by default: 1 January,
1 April, 1 July, 1 October), as the policy row in force on that day says, and end the day before
the next one starts. A period that has not ended yet cannot be settled. A batch whose period
overlaps a live batch of the same county and bank is refused, so two batches never count the same
repayment or the same day twice; the database holds one live batch per county, bank and period
start and one paying line per loan, kind and period start.

The steps after creation are BatchWorkflow's table (common.workflow): recompute and cancel a
draft, approve it, mark an approved batch paid. Maker-checker: the approver must not be anyone who
created or recomputed the batch.
"""

import datetime

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from common.clock import now, today
from common.dates import add_months
from common.errors import ApplicationError, Forbidden
from common.money import money
from common.workflow import Refusal, Step, Workflow
from organization.models import Bank, Region, Role
from organization.scoping import has_role_over
from organization.selectors import policy_for

from . import engine
from .models import BatchEvent, BatchStatus, SettlementBatch

S = BatchStatus
# Work on a batch that keeps the worker from approving it (maker-checker).
COMPUTING_ACTIONS = ("create", "recompute")
COUNTY = (Role.COUNTY_STAFF,)
PAID_ON_TEXT = "拨付日期须在审批日期之后、今天之前。"
STEPS = {
    "recompute": Step((S.DRAFT,), S.DRAFT, COUNTY, "重新计算"),
    "approve": Step((S.DRAFT,), S.APPROVED, COUNTY, "审批", checker=True),
    "mark-paid": Step((S.APPROVED,), S.PAID, COUNTY, "标记已拨付", guards=("paid_on_window",)),
    "cancel": Step((S.DRAFT,), S.CANCELLED, COUNTY, "作废", reason=True),
}
TRANSITIONS = STEPS  # the name pages and older callers know


class SubsidyError(ApplicationError):
    pass


def may_manage(user, county_code: str) -> bool:
    """County staff of the county (and admins) run its batches."""
    return has_role_over(user, county_code, (Role.COUNTY_STAFF,))


def settlement_period(county_code: str, period_start: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The settlement period starting on `period_start`, or SubsidyError if none does."""
    months = policy_for(county_code, on=period_start).settlement_period_months
    if period_start.day != 1 or (period_start.month - 1) % months:
        starts = "、".join(f"{m}月1日" for m in range(1, 13, months))
        raise SubsidyError(
            "invalid_period",
            f"结算期按{months}个月一期，须从{starts}开始。",
            {"period_start": [f"须为{starts}之一。"]},
        )
    return period_start, add_months(period_start, months) - datetime.timedelta(days=1)


def _compute(batch: SettlementBatch) -> None:
    engine.compute_lines(batch)
    totals = batch.lines.aggregate(
        total=Sum("amount"), count=Count("id"), excluded=Count("id", filter=~Q(excluded_reason=""))
    )
    batch.total_amount = money(totals["total"] or 0)
    batch.line_count, batch.excluded_count = totals["count"], totals["excluded"]
    batch.computed_at = now()
    batch.save(update_fields=["total_amount", "line_count", "excluded_count", "computed_at"])


@transaction.atomic
def batch_create(
    *, actor, county: Region, bank: Bank, period_start: datetime.date, period_end: datetime.date | None = None
) -> SettlementBatch:
    """A draft batch with its lines computed."""
    if not may_manage(actor, county.code):
        raise Forbidden("只有本县金融扶贫服务中心可以计算贴息结算批次。")
    if county.level != Region.Level.COUNTY:
        raise SubsidyError("invalid", "请选择县区。", {"county": ["须为县区。"]})
    if not bank.branches.filter(counties=county).exists():
        raise SubsidyError(
            "invalid", f"{bank.name}不在{county.name}开展扶贫小额信贷业务。", {"bank": ["非本县合作银行。"]}
        )
    start, end = settlement_period(county.code, period_start)
    if period_end is not None and period_end != end:
        raise SubsidyError(
            "invalid_period",
            f"自{start:%Y-%m-%d}起的结算期止于{end:%Y-%m-%d}。",
            {"period_end": [f"应为{end:%Y-%m-%d}。"]},
        )
    if end >= today():
        raise SubsidyError(
            "period_not_over",
            f"结算期至{end:%Y-%m-%d}尚未结束，结束后方可结算。",
            {"period_end": ["结算期未结束。"]},
        )
    Region.objects.select_for_update().get(pk=county.pk)  # one batch creation per county at a time
    live = SettlementBatch.objects.filter(county=county, bank=bank).exclude(status=S.CANCELLED)
    clash = live.filter(period_start__lte=end, period_end__gte=start).first()
    if clash is not None:
        code = "batch_exists" if clash.period_start == start else "period_overlap"
        raise SubsidyError(
            code,
            f"{county.name}{bank.name} {clash.period_start:%Y-%m-%d}至{clash.period_end:%Y-%m-%d}已有结算批次"
            f"#{clash.pk}（{clash.get_status_display()}）。草稿可重新计算，不能重复结算。",
            {"batch": [clash.pk]},
        )
    try:
        with transaction.atomic():
            batch = SettlementBatch.objects.create(
                county=county, bank=bank, period_start=start, period_end=end, created_by=actor
            )
    except IntegrityError:  # created meanwhile (the lock above makes this rare)
        raise SubsidyError("batch_exists", "该县、该银行本结算期已有结算批次，不能重复结算。") from None
    _compute(batch)
    BATCH_WORKFLOW.record(batch, action="create", actor=actor, from_state="", to_state=batch.status,
                          comment=f"{start:%Y-%m-%d}至{end:%Y-%m-%d}")  # fmt: skip
    return batch


# --- the workflow ------------------------------------------------------------------------------


def has_computed(batch: SettlementBatch, actor) -> bool:
    return (
        batch.created_by_id == actor.pk
        or batch.events.filter(actor=actor, action__in=COMPUTING_ACTIONS).exists()
    )


def _paid_on_window_guard(workflow, batch: SettlementBatch, context) -> list[Refusal]:
    """The money went out between the approval and today (the step's date is the payment's)."""
    approved_on = timezone.localdate(batch.approved_at) if batch.approved_at else None
    if context.on > today() or (approved_on is not None and context.on < approved_on):
        return [Refusal("invalid", PAID_ON_TEXT)]
    return []


class BatchWorkflow(Workflow):
    """A settlement batch after it was computed: STEPS is the whole table; creation is
    batch_create's (recorded through `record`)."""

    obj_type = "subsidy_batch"
    model = SettlementBatch
    steps = STEPS
    guards = {"paid_on_window": _paid_on_window_guard}
    error = SubsidyError
    forbidden_text = "只有本县金融扶贫服务中心可以{label}贴息结算批次。"
    state_text = "该批次当前为“{state}”，不能{label}。"
    checker_text = "贴息批次须由计算人以外的人审批：您创建或重新计算了该批次。"

    def lock(self, obj):
        return (
            SettlementBatch.objects.select_for_update(of=("self",))
            .select_related("county", "bank")
            .get(pk=obj.pk)
        )

    def holds_role(self, user, obj, role):
        return has_role_over(user, obj.county_id, (role,))

    def worked_on(self, obj, user, action):
        return has_computed(obj, user)

    def subject(self, obj):
        return {"obj_type": "subsidy_batch", "obj_id": obj.pk, "label": f"{obj} {obj.period_start:%Y-%m-%d}",
                "region": obj.county_id}  # fmt: skip

    def write_event(self, obj, *, action, actor, from_state, to_state, comment):
        BatchEvent.objects.create(
            batch=obj, action=action, actor=actor, from_status=from_state, to_status=to_state,
            comment=comment[:500],
        )  # fmt: skip

    def audit_detail(self, obj, *, action, comment, detail):
        """The batch's totals after the step, whatever the step."""
        return {"total_amount": obj.total_amount, "lines": obj.line_count, "comment": comment[:200]}

    def raise_refusals(self, found):
        found = list(found)
        if found and found[0].message == PAID_ON_TEXT:  # the form's field says which date is wrong
            raise SubsidyError("invalid", PAID_ON_TEXT, {"paid_on": ["日期不在审批日至今天之间。"]})
        super().raise_refusals(found)


BATCH_WORKFLOW = BatchWorkflow()


def batch_actions_for(*, user, batch: SettlementBatch) -> list[str]:
    """The steps the user may take on the batch now, for its page's buttons."""
    return BATCH_WORKFLOW.actions_for(user, batch)


def batch_recompute(*, actor, batch: SettlementBatch) -> SettlementBatch:
    """A draft's lines computed again from today's data (repayments posted since)."""

    def change(batch: SettlementBatch) -> str:
        _compute(batch)
        return f"合计{batch.total_amount:,}元，{batch.line_count}条"

    return BATCH_WORKFLOW.run(actor=actor, obj=batch, action="recompute", change=change)


def batch_approve(*, actor, batch: SettlementBatch, comment: str = "") -> SettlementBatch:
    def change(batch: SettlementBatch) -> None:
        batch.approved_at = now()

    return BATCH_WORKFLOW.run(actor=actor, obj=batch, action="approve", comment=comment, change=change)


def batch_mark_paid(
    *, actor, batch: SettlementBatch, paid_on: datetime.date | None = None, reference: str = ""
) -> SettlementBatch:
    """The county's payment of an approved batch, on `paid_on` (today by default)."""
    paid_on = paid_on or today()
    reference = (reference or "").strip()[:100]

    def change(batch: SettlementBatch) -> str:
        batch.paid_on, batch.payment_reference = paid_on, reference
        return f"{paid_on:%Y-%m-%d} {reference}".strip()

    return BATCH_WORKFLOW.run(actor=actor, obj=batch, action="mark-paid", on=paid_on, change=change)


def batch_cancel(*, actor, batch: SettlementBatch, reason: str) -> SettlementBatch:
    """A draft set aside (e.g. the wrong bank): its lines go, so it claims nothing."""

    def change(batch: SettlementBatch) -> None:
        engine.delete_lines(batch)
        batch.total_amount, batch.line_count, batch.excluded_count = money(0), 0, 0

    return BATCH_WORKFLOW.run(actor=actor, obj=batch, action="cancel", comment=reason, change=change)
