"""Browser pages of loans: the list, the work queue per role, the application form with its grade,
credit line and blocking rules shown before submitting, and a loan's page (timeline, actions,
schedule, repayments, post-loan checks). Reads through the selectors, writes through the services;
a service's refusal is shown on the page, in its own words."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from common.clock import today
from common.errors import ApplicationError, Forbidden
from common.views import paginate, refusal_status
from credit_rating.selectors import available_credit_line, credit_line_frozen
from enterprises.selectors import enterprise_eligibility, enterprise_get_for_user
from households.selectors import household_get_for_user
from organization.models import Role
from organization.scoping import has_role_over
from organization.selectors import bank_list, filter_region_list

from . import daily, selectors, services
from .eligibility import Application, refusals
from .forms import (
    CheckForm,
    CommentForm,
    DisburseForm,
    ExtendForm,
    LoanApplicationForm,
    LoanFilterForm,
    ReasonForm,
    RepaymentForm,
    ServiceForm,
    WriteOffForm,
)
from .models import IN_PROGRESS_STATUSES, Breaker, Classification, LoanStatus

PAGE_SIZE = 50
QUEUE_SHOWN = 20
APPLICANTS = (Role.VILLAGE_CLERK, Role.COUNTY_STAFF)
STATUS_LABELS = dict(LoanStatus.choices)
EVENT_LABELS = {"create": "录入申请", "close": "结清"} | {k: t.label for k, t in services.TRANSITIONS.items()}
# The audit trail's actions and states: the workflow's, and the daily job's classes.
AUDIT_LABELS = EVENT_LABELS | {"repay": "还款", "classify": "五级分类", "post-loan-check": "贷后检查"}
STATE_LABELS = STATUS_LABELS | dict(Classification.choices)
QUEUE_HEADINGS = {
    "submit": "待提交的草稿和退回修改的申请",
    "township-review": "待乡镇审核",
    "county-recommend": "待县级推荐",
    "approve": "待银行审批",
    "disburse": "待放款",
    "write-off-approve": "待第二人审批的核销申请",
}
# The button of each action on a loan's page, and the form it takes.
BUTTONS = {
    "submit": "提交（村级初审）",
    "township-review": "乡镇审核通过",
    "county-recommend": "县级推荐（进入公示）",
    "approve": "银行审批通过",
    "disburse": "放款",
    "extend": "展期",
    "renew": "续贷申请",
    "return": "退回修改",
    "reject": "拒绝",
    "withdraw": "撤回申请",
    "write-off": "申请核销",
    "write-off-approve": "核销审批通过",
    "write-off-reject": "核销退回",
}
ACTION_FORMS = {
    "return": ReasonForm, "reject": ReasonForm, "write-off": WriteOffForm, "write-off-reject": ReasonForm,
    "disburse": DisburseForm, "extend": ExtendForm, "renew": ServiceForm,
}  # fmt: skip
SECONDARY = ("return", "reject", "withdraw", "write-off", "write-off-reject")


def _service_errors(exc: ApplicationError) -> dict:
    """A service's refusal for form.add_service_errors: every refused rule, else the field errors,
    else its message."""
    refused = exc.errors.get("refusals")
    if refused:
        return {None: [r["detail"] for r in refused]}
    return {k: v for k, v in exc.errors.items()} or {None: [exc.message]}


# --- the list and the queue --------------------------------------------------------------------


@login_required
@require_safe
def loan_list_view(request):
    user = request.user
    form = LoanFilterForm(
        request.GET or None, regions=filter_region_list(user=user), banks=bank_list(user=user)
    )
    filters = form.filters()
    household = None
    if request.GET.get("household"):
        household = household_get_for_user(user=user, pk=request.GET["household"])
        filters["household"] = household.pk
    loans = selectors.loan_list(user=user, filters=filters).select_related("township")
    page, query = paginate(request, loans, PAGE_SIZE)
    return render(
        request,
        "loans/list.html",
        {
            "form": form,
            "page": page,
            "query": query,
            "filtered": bool(filters),
            "household": household,
        },
    )


@login_required
@require_safe
def loan_queue_view(request):
    user = request.user
    status_of = {action: status for action, status, _ in selectors.QUEUE_STEPS}
    sections = []
    for action, loans in selectors.work_queue(user=user).items():
        loans = loans.select_related("township").order_by("updated_at", "id")
        sections.append(
            {
                "action": action,
                "heading": QUEUE_HEADINGS[action],
                "status": status_of[action],
                "count": loans.count(),
                "loans": list(loans[:QUEUE_SHOWN]),
            }
        )
    # Maker-checker: the loans the user worked on wait for someone else.
    checks = [s for s in sections if s["action"] in ("township-review", "county-recommend", "approve")]
    shown = [loan.pk for s in checks for loan in s["loans"]]
    worked = selectors.loans_worked_on(user=user, loan_ids=shown) if shown else set()
    return render(
        request,
        "loans/queue.html",
        {"sections": sections, "worked": worked, "today": today(), "shown": QUEUE_SHOWN},
    )


# --- the application form ----------------------------------------------------------------------


def _applicant(request):
    """(household, enterprise) from ?household= or ?enterprise=, scoped; 404 otherwise."""
    user, params = request.user, request.GET
    if params.get("household"):
        return household_get_for_user(user=user, pk=params["household"]), None
    if params.get("enterprise"):
        return None, enterprise_get_for_user(user=user, pk=params["enterprise"])
    raise Http404("请从户档或带贫企业页面申请贷款。")


def _application(household, enterprise, data: dict, members: dict, loan=None) -> Application:
    """What the rules need, from the form's values (or none yet: the rules of the household
    itself, such as its grade or a tripped breaker, still show)."""
    if household is not None:
        village = household.village
        borrower = members.get(data.get("borrower")) or next(
            (m for m in members.values() if m.relation == "户主"), None
        )
        codes = {
            "county_code": village.code[:6],
            "township_code": village.parent_id,
            "village_code": village.code,
        }
    else:
        borrower = None
        codes = {
            "county_code": enterprise.county_id,
            "township_code": enterprise.township_id,
            "village_code": None,
        }
    return Application(
        household=household, borrower=borrower, enterprise=enterprise, amount=data.get("amount") or 0,
        term_months=data.get("term_months") or 0, purpose=data.get("purpose") or "", **codes,
        loan_id=loan.pk if loan else None, renewed_from_id=loan.renewed_from_id if loan else None,
    )  # fmt: skip


def _save_application(request, form, *, household, enterprise, members, banks, loan=None):
    """Create the draft (or save the corrections of `loan`, a draft or returned application);
    submit it too when that button was pressed. A refused submit keeps the draft: the user lands
    on it with every refusal. Returns the loan, or None with the service's errors on the form."""
    data = form.cleaned_data
    terms = {
        "bank": banks[data["bank"]], "amount": data["amount"], "term_months": data["term_months"],
        "purpose": data["purpose"], "repayment_method": data["repayment_method"],
        "other_subsidy": data["other_subsidy"],
    }  # fmt: skip
    if household is not None:
        terms["borrower"] = members.get(data.get("borrower")) or (loan.borrower if loan else None)
    else:
        terms["rate"] = data.get("rate")
    try:
        if loan is None:
            loan = services.loan_create(
                actor=request.user, household=household, enterprise=enterprise, **terms
            )
        else:
            loan = services.loan_update(actor=request.user, loan=loan, changes=terms)
    except ApplicationError as exc:
        form.add_service_errors(_service_errors(exc))
        return None
    if request.POST.get("then") != "submit":
        messages.success(request, f"草稿已保存：{loan}。核对无误后请提交。")
        return loan
    try:
        services.loan_transition(actor=request.user, loan=loan, action="submit")
    except ApplicationError as exc:
        messages.error(request, f"草稿{loan}已保存，但未能提交：")
        for message in _service_errors(exc).get(None, [exc.message]):
            messages.error(request, message)
    else:
        messages.success(request, f"已保存并提交：{loan}，等待乡镇审核。")
    return loan


@login_required
def loan_create_view(request):
    household, enterprise = _applicant(request)
    area = household.village if household else enterprise.township
    if not has_role_over(request.user, area.code, APPLICANTS):
        raise PermissionDenied("只有本村金融扶贫服务部和县金融扶贫服务中心可以录入贷款申请。")
    return _application_page(request, household, enterprise)


@login_required
def loan_edit_view(request, pk):
    """The village corrects a draft or a returned application and submits it again."""
    loan = selectors.loan_get_for_user(user=request.user, pk=pk)
    if not services.may_edit(request.user, loan):
        raise PermissionDenied("只有本村金融扶贫服务部和县金融扶贫服务中心可以修改草稿或退回的申请。")
    return _application_page(request, loan.household, loan.enterprise, loan=loan)


def _application_page(request, household, enterprise, loan=None):
    """The application form, new (`loan` None) or the correction of `loan`."""
    user = request.user
    area = household.village if household else enterprise.township
    day = today()
    banks = {
        b.code: b for b in bank_list(user=user).filter(branches__counties__code=area.code[:6]).distinct()
    }
    members = {str(m.pk): m for m in household.members.all()} if household else {}
    head = next((pk for pk, m in members.items() if m.relation == "户主"), None)
    initial = {"borrower": head, "bank": next(iter(banks)) if len(banks) == 1 else None}
    if loan is not None:
        initial = {
            "borrower": str(loan.borrower_id or head), "bank": loan.bank.code, "amount": loan.amount,
            "term_months": loan.term_months, "purpose": loan.purpose, "repayment_method": loan.repayment_method,
            "other_subsidy": loan.other_subsidy, "rate": loan.rate if loan.enterprise_id else None,
        }  # fmt: skip
    form = LoanApplicationForm(
        request.POST or None,
        initial=initial,
        members=members.values() if household else None,
        banks=banks.values(),
    )
    if request.method == "POST" and form.is_valid() and request.POST.get("then") != "check":
        saved = _save_application(
            request, form, household=household, enterprise=enterprise, members=members, banks=banks, loan=loan
        )
        if saved is not None:
            return redirect("loans:detail", pk=saved.pk)
    values = getattr(form, "cleaned_data", {})  # what is valid of what was posted
    context = {
        "form": form,
        "household": household,
        "enterprise": enterprise,
        "loan": loan,
        "returned": loan and services.last_return(loan),
        "checked": form.is_bound and not form.errors,
        "refusals": refusals(_application(household, enterprise, values or initial, members, loan), on=day),
        "breakers": selectors.tripped_breakers_for([area.code, area.parent_id]),
        "today": day,
    }
    if household is not None:
        rating, line = available_credit_line(household.pk, on=day)
        context |= {
            "rating": rating,
            "credit_line": line,
            "frozen": rating and credit_line_frozen(household.pk),
        }
    else:
        context["eligibility"] = enterprise_eligibility(enterprise, on=day)
    return render(request, "loans/form.html", context)


# --- one loan ----------------------------------------------------------------------------------


def _schedule(loan) -> tuple[list, dict]:
    day = today()
    rows = list(selectors.loan_schedule(loan))
    totals = {"principal": 0, "interest": 0, "paid": 0}
    for row in rows:
        row.paid = row.principal_paid + row.interest_paid
        if row.settled:
            row.state, row.css = "已还清", "settled"
        elif row.due_date < day:
            row.state, row.css = "逾期", "overdue"
        else:
            row.state, row.css = ("部分已还" if row.paid else "未到期"), ""
        totals["principal"] += row.principal_due
        totals["interest"] += row.interest_due
        totals["paid"] += row.paid
    return rows, totals


def _check_tiers(user, loan) -> list[str]:
    if loan.status not in (LoanStatus.ACTIVE, LoanStatus.CLOSED, LoanStatus.WRITTEN_OFF):
        return []
    return [tier for tier, role in services.CHECK_ROLE.items() if services.may_act(user, loan, role)]


def _detail_context(request, loan, *, bound=None, failed="") -> dict:
    """The loan's page; `bound` is the form just posted, shown again with its errors."""
    user, day = request.user, today()
    bound = bound or {}
    actions = []
    for action in services.loan_actions_for(user=user, loan=loan):
        form_class = ACTION_FORMS.get(action, CommentForm)
        form = bound.get(action) or form_class(prefix=action, initial={"disbursed_on": day})
        actions.append(
            {"name": action, "label": BUTTONS[action], "form": form, "secondary": action in SECONDARY}
        )
    schedule, totals = _schedule(loan)
    tiers = _check_tiers(user, loan)
    may_repay = loan.status == LoanStatus.ACTIVE and services.may_post_repayment(user, loan)
    events = [
        {"event": e, "label": EVENT_LABELS.get(e.action, e.action), "from": STATUS_LABELS.get(e.from_status, ""),
         "to": STATUS_LABELS.get(e.to_status, "")}
        for e in selectors.loan_events(loan)
    ]  # fmt: skip
    audit = [
        {"entry": e, "label": AUDIT_LABELS.get(e.action, e.action), "from": STATE_LABELS.get(e.from_state, ""),
         "to": STATE_LABELS.get(e.to_state, "")}
        for e in selectors.loan_audit_trail(loan)
    ]  # fmt: skip
    context = {
        "loan": loan,
        "may_edit": services.may_edit(user, loan),
        "returned": services.last_return(loan),
        "write_off_grounds": services.write_off_grounds(loan, on=day)
        if loan.status == LoanStatus.WRITE_OFF_PROPOSED
        else None,
        "failed": failed,
        "actions": actions,
        "events": events,
        "audit": audit,
        "schedule": schedule,
        "totals": totals,
        "repayments": selectors.loan_repayments(loan),
        "checks": selectors.loan_checks(loan),
        "breakers": selectors.tripped_breakers_for({loan.area_id, loan.township_id}),
        "today": day,
        "repayment_form": bound.get("repayment") if may_repay else None,
        "check_form": bound.get("check") if tiers else None,
    }
    if may_repay and context["repayment_form"] is None:
        context["repayment_form"] = RepaymentForm(initial={"paid_on": day})
    if tiers and context["check_form"] is None:
        context["check_form"] = CheckForm(tiers=tiers, initial={"checked_on": day, "finding": "normal"})
    if loan.status in IN_PROGRESS_STATUSES and loan.status != LoanStatus.APPROVED:
        context["refusals"] = refusals(Application.of(loan), on=day)
    return context


@login_required
@require_safe
def loan_detail_view(request, pk):
    loan = selectors.loan_get_for_user(user=request.user, pk=pk)
    return render(request, "loans/detail.html", _detail_context(request, loan))


def _post(request, loan, key: str, form, perform, success: str):
    """A small form of the loan's page: call the service, then back to the page (to the loan the
    service answers with); a refusal shows the page again with the form and its messages (403
    when the user's role may not do it)."""
    status = 200
    if form.is_valid():
        try:
            result = perform(form.cleaned_data)
        except ApplicationError as exc:
            form.add_service_errors(_service_errors(exc))
            failed, status = exc.message, refusal_status(exc)
        else:
            messages.success(request, success)
            return redirect("loans:detail", pk=getattr(result, "loan_id", None) or result.pk)
    else:
        failed = "请检查填写的内容。"
    context = _detail_context(request, loan, bound={key: form}, failed=failed)
    return render(request, "loans/detail.html", context, status=status)


@login_required
@require_POST
def loan_action_view(request, pk, action):
    loan = selectors.loan_get_for_user(user=request.user, pk=pk)
    if action not in services.TRANSITIONS:
        raise Http404
    try:  # who may take the step is answered before what the form says
        services.LOAN_WORKFLOW.check(request.user, loan, action)
    except Forbidden as exc:
        return render(
            request, "loans/detail.html", _detail_context(request, loan, failed=exc.message), status=403
        )
    except ApplicationError:
        pass  # the wrong state: the page shows the service's message below
    form = ACTION_FORMS.get(action, CommentForm)(request.POST, prefix=action)
    user = request.user

    def perform(data):
        if action == "disburse":
            return services.loan_disburse(actor=user, loan=loan, disbursed_on=data["disbursed_on"])
        if action == "extend":
            return services.loan_extend(actor=user, loan=loan, months=data["months"], reason=data["reason"])
        if action == "renew":
            return services.loan_renew(actor=user, loan=loan, comment=data.get("comment", ""))
        if action == "write-off":
            return services.loan_write_off(actor=user, loan=loan, reason=data.get("reason", ""),
                                           comment=data.get("comment", ""))  # fmt: skip
        comment = data.get("reason") or data.get("comment") or ""
        return services.loan_transition(actor=user, loan=loan, action=action, comment=comment)

    success = (
        "已提交续贷申请（草稿），请核对后提交。" if action == "renew" else f"已办理：{BUTTONS[action]}。"
    )
    return _post(request, loan, action, form, perform, success)


@login_required
@require_POST
def loan_repayment_view(request, pk):
    loan = selectors.loan_get_for_user(user=request.user, pk=pk)
    form = RepaymentForm(request.POST)

    def perform(data):
        return services.repayment_post(actor=request.user, loan=loan, channel="manual", **data)

    return _post(request, loan, "repayment", form, perform, "还款已入账。")


@login_required
@require_POST
def loan_check_view(request, pk):
    loan = selectors.loan_get_for_user(user=request.user, pk=pk)
    if not any(services.may_act(request.user, loan, role) for role in services.CHECK_ROLE.values()):
        # Without a check role there is no tier to choose: refuse, not a form error.
        raise PermissionDenied("乡镇检查由乡镇服务站、县级检查由县级服务中心进行。")
    form = CheckForm(request.POST, tiers=_check_tiers(request.user, loan))

    def perform(data):
        return services.post_loan_check_record(actor=request.user, loan=loan, **data)

    return _post(request, loan, "check", form, perform, "贷后检查已记录。")


# --- circuit breakers ----------------------------------------------------------------------------


def _breaker_rows(user) -> list[dict]:
    """The tripped breakers in the user's area first, then those near their line (over half of it)."""
    rows = []
    for breaker in daily.breaker_list(user=user).exclude(principal_outstanding=0, state=Breaker.State.NORMAL):
        tripped = breaker.state == Breaker.State.TRIPPED
        if not tripped and breaker.npl_ratio * 2 <= breaker.threshold:
            continue
        rows.append({
            "breaker": breaker, "tripped": tripped,
            "may_resume": tripped and "resume" in daily.BREAKER_WORKFLOW.actions_for(user, breaker),
            "used": min(int(breaker.npl_ratio * 100 / breaker.threshold), 100) if breaker.threshold else 100,
        })  # fmt: skip
    rows.sort(key=lambda r: (not r["tripped"], -r["breaker"].npl_ratio))
    return rows


@login_required
@require_safe
def breaker_list_view(request):
    return render(request, "loans/breakers.html", {"rows": _breaker_rows(request.user), "failed": ""})


@login_required
@require_POST
def breaker_resume_view(request, region_code):
    """County staff confirm that a tripped area may lend again (the ratio is recomputed now)."""
    breaker = daily.breaker_get_for_user(user=request.user, region_code=region_code)
    try:
        daily.breaker_resume(actor=request.user, region_code=breaker.region_id)
    except ApplicationError as exc:
        context = {"rows": _breaker_rows(request.user), "failed": exc.message}
        return render(request, "loans/breakers.html", context, status=refusal_status(exc))
    messages.success(request, f"已确认恢复{breaker.region.name}的贷款业务。")
    return redirect("loans:breakers")
