"""Every write to a settlement batch: create (compute), recompute, approve, mark paid, cancel.

Periods are the county's calendar settlement periods: they start on the first day of a month
that is a multiple of settlement_period_months from January (quarters by default: 1 January,
1 April, 1 July, 1 October), as the policy row in force on that day says, and end the day before
the next one starts. A period that has not ended yet cannot be settled. A batch whose period
overlaps a live batch of the same county and bank is refused, so two batches never count the same
repayment or the same day twice; the database holds one live batch per county, bank and period
start and one paying line per loan, kind and period start.

Maker-checker: the approver must not be anyone who created or recomputed the batch.
"""

import datetime

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from common.audit import audit_record
from common.clock import now, today
from common.dates import add_months
from common.errors import ApplicationError, Forbidden
from common.money import money
from organization.models import Bank, Region, Role
from organization.scoping import has_role_over
from organization.selectors import policy_for

from . import engine
from .models import BatchEvent, BatchStatus, SettlementBatch

S = BatchStatus
# action -> (from statuses, to status, label)
TRANSITIONS = {
    "recompute": ((S.DRAFT,), S.DRAFT, "重新计算"),
    "approve": ((S.DRAFT,), S.APPROVED, "审批"),
    "mark-paid": ((S.APPROVED,), S.PAID, "标记已拨付"),
    "cancel": ((S.DRAFT,), S.CANCELLED, "作废"),
}
COMPUTING_ACTIONS = ("create", "recompute")


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


def _record(batch, action: str, actor, from_status: str, comment: str = "") -> None:
    """The batch's own event and the audit entry of the change, with the batch's totals."""
    BatchEvent.objects.create(
        batch=batch, action=action, actor=actor, from_status=from_status, to_status=batch.status,
        comment=comment[:500],
    )  # fmt: skip
    audit_record(
        actor=actor, action=action, obj_type="subsidy_batch", obj_id=batch.pk,
        label=f"{batch} {batch.period_start:%Y-%m-%d}", region=batch.county_id, from_state=from_status,
        to_state=batch.status, detail={"total_amount": batch.total_amount, "lines": batch.line_count,
                                       "comment": comment[:200]},
    )  # fmt: skip


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
    _record(batch, "create", actor, "", f"{start:%Y-%m-%d}至{end:%Y-%m-%d}")
    return batch


def _lock(batch: SettlementBatch, actor, action: str) -> SettlementBatch:
    batch = (
        SettlementBatch.objects.select_for_update(of=("self",))
        .select_related("county", "bank")
        .get(pk=batch.pk)
    )
    sources, _, label = TRANSITIONS[action]
    if not may_manage(actor, batch.county_id):
        raise Forbidden(f"只有本县金融扶贫服务中心可以{label}贴息结算批次。")
    if batch.status not in sources:
        raise SubsidyError("invalid_transition", f"该批次当前为“{batch.get_status_display()}”，不能{label}。")
    return batch


def has_computed(batch: SettlementBatch, actor) -> bool:
    return (
        batch.created_by_id == actor.pk
        or batch.events.filter(actor=actor, action__in=COMPUTING_ACTIONS).exists()
    )


@transaction.atomic
def batch_recompute(*, actor, batch: SettlementBatch) -> SettlementBatch:
    """A draft's lines computed again from today's data (repayments posted since)."""
    batch = _lock(batch, actor, "recompute")
    _compute(batch)
    _record(batch, "recompute", actor, S.DRAFT, f"合计{batch.total_amount:,}元，{batch.line_count}条")
    return batch


@transaction.atomic
def batch_approve(*, actor, batch: SettlementBatch, comment: str = "") -> SettlementBatch:
    batch = _lock(batch, actor, "approve")
    if has_computed(batch, actor):
        raise SubsidyError(
            "same_person_checker", "贴息批次须由计算人以外的人审批：您创建或重新计算了该批次。"
        )
    batch.status, batch.approved_at = S.APPROVED, now()
    batch.save(update_fields=["status", "approved_at"])
    _record(batch, "approve", actor, S.DRAFT, (comment or "").strip())
    return batch


@transaction.atomic
def batch_mark_paid(
    *, actor, batch: SettlementBatch, paid_on: datetime.date | None = None, reference: str = ""
) -> SettlementBatch:
    batch = _lock(batch, actor, "mark-paid")
    paid_on = paid_on or today()
    if paid_on > today() or paid_on < timezone.localdate(batch.approved_at):
        raise SubsidyError(
            "invalid", "拨付日期须在审批日期之后、今天之前。", {"paid_on": ["日期不在审批日至今天之间。"]}
        )
    batch.status, batch.paid_on, batch.payment_reference = S.PAID, paid_on, (reference or "").strip()[:100]
    batch.save(update_fields=["status", "paid_on", "payment_reference"])
    _record(batch, "mark-paid", actor, S.APPROVED, f"{paid_on:%Y-%m-%d} {batch.payment_reference}".strip())
    return batch


@transaction.atomic
def batch_cancel(*, actor, batch: SettlementBatch, reason: str) -> SettlementBatch:
    """A draft set aside (e.g. the wrong bank): its lines go, so it claims nothing."""
    reason = (reason or "").strip()
    if not reason:
        raise SubsidyError("reason_required", "作废须填写原因。", {"reason": ["请填写原因。"]})
    batch = _lock(batch, actor, "cancel")
    engine.delete_lines(batch)
    batch.status, batch.total_amount, batch.line_count, batch.excluded_count = S.CANCELLED, 0, 0, 0
    batch.save(update_fields=["status", "total_amount", "line_count", "excluded_count"])
    _record(batch, "cancel", actor, S.DRAFT, reason)
    return batch
