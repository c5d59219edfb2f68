"""Browser pages of interest subsidies: the batches, the form that computes one, and a batch's page
(totals per payee, lines and exclusions, the workflow's buttons, the export link). Reads through
the selectors, writes through the services; a refusal is shown on the page, in its own words."""

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from common.clock import today
from common.errors import ApplicationError
from common.views import refusal_status
from organization.models import Bank, Region, Role
from organization.scoping import is_admin
from organization.selectors import bank_list

from . import selectors, services
from .basis import basis_text
from .forms import BatchFilterForm, BatchForm, CommentForm, MarkPaidForm, NoFieldsForm, ReasonForm
from .models import BatchStatus

PAGE_SIZE = 50
BUTTONS = {"recompute": "重新计算", "approve": "审批通过", "mark-paid": "标记已拨付", "cancel": "作废"}
ACTION_FORMS = {
    "recompute": NoFieldsForm,
    "approve": CommentForm,
    "mark-paid": MarkPaidForm,
    "cancel": ReasonForm,
}
EVENT_LABELS = {"create": "计算（新建）", **BUTTONS}
STATUS_LABELS = dict(BatchStatus.choices)


def managed_counties(user) -> list[Region]:
    """The counties whose batches the user runs: county staff's own, every county for an admin."""
    counties = Region.objects.filter(level=Region.Level.COUNTY).order_by("code")
    if is_admin(user):
        return list(counties)
    units = user.role_assignments.filter(role=Role.COUNTY_STAFF).values_list("unit__region_id", flat=True)
    return list(counties.filter(code__in=list(units)))


def _service_errors(exc: ApplicationError) -> dict:
    """The refusal in its own words, and what it says of each field."""
    return {None: [exc.message]} | {k: v for k, v in exc.errors.items() if k != "batch"}


def _field_errors(exc: ApplicationError) -> dict:
    """What a refusal says of the action form's fields (the message itself shows at the top)."""
    return {k: v for k, v in exc.errors.items() if k not in ("batch", "refusals")}


@login_required
@require_safe
def batch_list_view(request):
    user = request.user
    counties = Region.objects.filter(
        level=Region.Level.COUNTY, code__in=selectors.batch_list(user=user).values("county_id")
    )
    form = BatchFilterForm(request.GET or None, counties=counties, banks=bank_list(user=user))
    filters = form.filters()
    page = Paginator(selectors.batch_list(user=user, filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "subsidy/list.html",
        {"form": form, "page": page, "query": query.urlencode(), "filtered": bool(filters),
         "may_create": bool(managed_counties(user))},
    )  # fmt: skip


def _last_period_start(county_code: str) -> datetime.date | None:
    """The start of the last settlement period that has ended (the form's default)."""
    day = today().replace(day=1)
    for _ in range(24):
        day = (day - datetime.timedelta(days=1)).replace(day=1)
        try:
            start, end = services.settlement_period(county_code, day)
        except services.SubsidyError:
            continue
        if end < today():
            return start
    return None


@login_required
def batch_create_view(request):
    user = request.user
    counties = managed_counties(user)
    if not counties:
        raise PermissionDenied("只有县金融扶贫服务中心可以计算贴息结算批次。")
    banks = {
        b.code: b for b in Bank.objects.filter(branches__counties__in=counties).distinct().order_by("code")
    }
    initial = {"county": counties[0].code, "period_start": _last_period_start(counties[0].code)}
    if len(banks) == 1:
        initial["bank"] = next(iter(banks))
    form = BatchForm(request.POST or None, initial=initial, counties=counties, banks=banks.values())
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        county = next(c for c in counties if c.code == data["county"])
        try:
            batch = services.batch_create(
                actor=user, county=county, bank=banks[data["bank"]], period_start=data["period_start"]
            )
        except ApplicationError as exc:
            form.add_service_errors(_service_errors(exc))
            existing = exc.errors.get("batch")
            if existing:
                messages.info(request, f"已有的批次：#{existing[0]}")
        else:
            messages.success(
                request, f"已计算：{batch.line_count}条明细，补贴合计{batch.total_amount:,}元。请由他人审批。"
            )
            return redirect("subsidy:detail", pk=batch.pk)
    return render(request, "subsidy/form.html", {"form": form})


def _actions(user, batch, bound: dict) -> list[dict]:
    """The buttons of the steps the user may take now (BatchWorkflow.actions_for)."""
    return [
        {"name": name, "label": BUTTONS[name], "secondary": name == "cancel",
         "form": bound.get(name) or ACTION_FORMS[name](prefix=name, initial={"paid_on": today()})}
        for name in services.batch_actions_for(user=user, batch=batch)
    ]  # fmt: skip


def _approval_note(user, batch, actions: list[dict]) -> str:
    """Why a county clerk who computed the draft sees no approve button."""
    if batch.status not in services.STEPS["approve"].sources:
        return ""
    if not services.may_manage(user, batch.county_id):
        return ""
    if any(a["name"] == "approve" for a in actions):
        return ""
    return "须由计算人以外的人审批（您创建或重新计算了该批次）。"


def _detail_context(request, batch, *, bound=None, failed="") -> dict:
    show = "excluded" if request.GET.get("show") == "excluded" else "paying"
    lines = selectors.batch_lines(batch, excluded=show == "excluded")
    page = Paginator(lines, PAGE_SIZE).get_page(request.GET.get("page"))
    for line in page:
        line.basis_text = basis_text(line)
    events = [
        {"event": e, "label": EVENT_LABELS.get(e.action, e.action), "from": STATUS_LABELS.get(e.from_status, ""),
         "to": STATUS_LABELS.get(e.to_status, "")}
        for e in selectors.batch_events(batch)
    ]  # fmt: skip
    actions = _actions(request.user, batch, bound or {})
    return {
        "batch": batch,
        "totals": selectors.batch_totals(batch),
        "actions": actions,
        "approval_note": _approval_note(request.user, batch, actions),
        "failed": failed,
        "show": show,
        "page": page,
        "query": f"show={show}",
        "events": events,
        "paying_count": batch.line_count - batch.excluded_count,
    }


@login_required
@require_safe
def batch_detail_view(request, pk):
    batch = selectors.batch_get_for_user(user=request.user, pk=pk)
    return render(request, "subsidy/detail.html", _detail_context(request, batch))


@login_required
@require_POST
def batch_action_view(request, pk, action):
    batch = selectors.batch_get_for_user(user=request.user, pk=pk)
    if action not in services.STEPS:
        raise Http404
    form = ACTION_FORMS[action](request.POST, prefix=action)
    user = request.user
    perform = {
        "recompute": lambda d: services.batch_recompute(actor=user, batch=batch),
        "approve": lambda d: services.batch_approve(actor=user, batch=batch, comment=d.get("comment", "")),
        "mark-paid": lambda d: services.batch_mark_paid(
            actor=user, batch=batch, paid_on=d["paid_on"], reference=d.get("reference", "")
        ),
        "cancel": lambda d: services.batch_cancel(actor=user, batch=batch, reason=d.get("reason", "")),
    }[action]
    status = 200
    if form.is_valid():
        try:
            perform(form.cleaned_data)
        except ApplicationError as exc:  # the message shows at the top of the page
            form.add_service_errors(_field_errors(exc))
            failed, status = exc.message, refusal_status(exc)
        else:
            messages.success(request, f"已办理：{BUTTONS[action]}。")
            return redirect("subsidy:detail", pk=batch.pk)
    else:
        failed = "请检查填写的内容。"
    batch.refresh_from_db()
    context = _detail_context(request, batch, bound={action: form}, failed=failed)
    return render(request, "subsidy/detail.html", context, status=status)
