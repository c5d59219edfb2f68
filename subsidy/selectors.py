"""Reads of settlement batches, already scoped. A batch is a county's: region roles whose area
covers the whole county (county staff, the city) and the officers of its bank at a branch serving
the county read it; a township or village, another county or another bank gets 404, exactly as for
a missing one."""

from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404

from organization.scoping import bank_loans_q, prefix_q, scope_for

from .models import BatchEvent, LineKind, SettlementBatch, SubsidyLine


def batch_scope_q(user, prefix: str = "") -> Q:
    scope = scope_for(user)
    if scope.everything:
        return Q()
    # A county code starts with the prefix of the county itself and of the city above it only.
    covering = {p for p in scope.region_prefixes if len(p) <= 6}
    return prefix_q(f"{prefix}county__code", covering) | bank_loans_q(
        scope, f"{prefix}bank_id", f"{prefix}county_id"
    )


def batch_list(*, user, filters: dict | None = None) -> QuerySet[SettlementBatch]:
    """filters: county (code), bank (code), status, period_start."""
    filters = filters or {}
    batches = SettlementBatch.objects.filter(batch_scope_q(user)).select_related("county", "bank")
    if filters.get("county"):
        batches = batches.filter(county_id=filters["county"])
    if filters.get("bank"):
        batches = batches.filter(bank__code=filters["bank"])
    if filters.get("status"):
        batches = batches.filter(status=filters["status"])
    if filters.get("period_start"):
        batches = batches.filter(period_start=filters["period_start"])
    return batches.order_by("-period_start", "county_id", "bank__code", "-id")


def batch_get_for_user(*, user, pk) -> SettlementBatch:
    try:
        return batch_list(user=user).get(pk=pk)
    except (SettlementBatch.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def batch_lines(batch: SettlementBatch, *, excluded: bool | None = None, kind: str | None = None):
    """The lines of a batch the caller already got through batch_get_for_user, with what the
    pages and the export name: the loan number, the borrower and the village or township."""
    lines = batch.lines.select_related("loan__household", "loan__borrower", "loan__enterprise", "loan__area")
    if excluded is not None:
        lines = lines.exclude(excluded_reason="") if excluded else lines.filter(excluded_reason="")
    if kind:
        lines = lines.filter(kind=kind)
    return lines.order_by("id")


def batch_totals(batch: SettlementBatch) -> list[dict]:
    """Per kind and payee: paying lines and their sum, excluded lines; one query."""
    rows = (
        batch.lines.values("kind", "payee")
        .annotate(
            amount=Sum("amount", filter=Q(excluded_reason="")),
            paying=Count("id", filter=Q(excluded_reason="")),
            excluded=Count("id", filter=~Q(excluded_reason="")),
        )
        .order_by("kind", "payee")
    )
    labels = dict(LineKind.choices)
    return [row | {"kind_label": labels.get(row["kind"], row["kind"])} for row in rows]


def batch_events(batch: SettlementBatch) -> QuerySet[BatchEvent]:
    return batch.events.select_related("actor").order_by("at", "id")


def lines_sum(batch: SettlementBatch):
    """The ledger figure the cached batch.total_amount must equal."""
    return SubsidyLine.objects.filter(batch=batch).aggregate(s=Sum("amount"))["s"] or 0
