"""Browser pages of the risk compensation fund: the funds a user may read, a fund's page (balance,
leverage gauge, agreements, ledger, claims; deposit and agreement forms for county staff), and the
claim workflow (a bank files from its list of loans past due or from the loan; the county verifies
and pays; recoveries afterwards). Reads through the selectors, writes through the services."""

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from common.clock import today
from common.errors import ApplicationError
from common.views import refusal_status
from loans.selectors import loan_get_for_user
from loans.services import may_act
from organization.models import Role
from organization.selectors import bank_list

from . import selectors, services
from .forms import AgreementForm, ClaimFilterForm, DepositForm, ReasonForm, RecoveryForm
from .models import ClaimStatus

PAGE_SIZE = 50
CLAIMS_SHOWN = 20
CLAIM_BUTTONS = {"verify": "核实无误", "pay": "拨付代偿", "reject": "驳回"}
CLAIM_EVENT_LABELS = {"file": "银行申请", "verify": "县级核实", "pay": "拨付代偿", "reject": "驳回"}


def _form_errors(form, exc: ApplicationError) -> str:
    """The refusal on the form: its field errors, else every refused rule, else its message."""
    refused = exc.errors.get("refusals")
    found = {None: [r["detail"] for r in refused]} if refused else exc.errors
    for field, errors in (found or {None: [exc.message]}).items():
        for error in errors:
            form.add_error(field if field in form.fields else None, error)
    return exc.message


# --- the funds ---------------------------------------------------------------------------------


@login_required
@require_safe
def fund_list_view(request):
    day = today()
    counties = list(selectors.fund_list(user=request.user))
    codes = [c.code for c in counties]
    levels = selectors.leverage_by_county(on=day, counties=codes)
    written_off = selectors.written_off_by_county(codes)
    rows = [
        {"county": c, "lev": levels.get(c.code), "written_off": written_off.get(c.code, Decimal("0.00"))}
        for c in counties
    ]
    return render(request, "risk_fund/list.html", {"rows": rows, "today": day})


def _fund_context(request, county, *, deposit_form=None, agreement_form=None, failed="") -> dict:
    user, day = request.user, today()
    manager = services.may_manage_fund(user, county.code)
    in_force = {a.pk for a in selectors.agreements_in_force(county.code, on=day)}
    ledger = selectors.ledger(county.code).order_by("-received_on", "-id")
    context = {
        "county": county,
        "lev": selectors.leverage_for(county.code, on=day),
        "written_off": selectors.written_off_principal(county.code),
        "agreements": selectors.agreement_list(county.code),
        "in_force": in_force,
        "ledger": Paginator(ledger, PAGE_SIZE).get_page(request.GET.get("page")),
        "claims": selectors.claim_list(user=user, filters={"county": county.code})[:CLAIMS_SHOWN],
        "manager": manager,
        "failed": failed,
        "today": day,
    }
    if manager:
        banks = bank_list(user=user).filter(branches__counties=county.code).distinct()
        context["deposit_form"] = deposit_form or DepositForm(initial={"received_on": day, "kind": "deposit"})
        context["agreement_form"] = agreement_form or AgreementForm(banks=banks, initial={"valid_from": day})
    return context


@login_required
@require_safe
def fund_detail_view(request, county_code):
    county = selectors.fund_county_for_user(user=request.user, code=county_code)
    return render(request, "risk_fund/detail.html", _fund_context(request, county))


@login_required
@require_POST
def fund_deposit_view(request, county_code):
    county = selectors.fund_county_for_user(user=request.user, code=county_code)
    form = DepositForm(request.POST)
    failed = "请检查填写的内容。"
    if form.is_valid():
        try:
            entry = services.deposit_record(actor=request.user, county_code=county.code, **form.cleaned_data)
        except ApplicationError as exc:
            failed = _form_errors(form, exc)
        else:
            messages.success(request, f"已登记{entry.get_kind_display()} {entry.amount:,} 元。")
            return redirect("risk_fund:detail", county_code=county.code)
    context = _fund_context(request, county, deposit_form=form, failed=failed)
    return render(request, "risk_fund/detail.html", context, status=200 if context["manager"] else 403)


@login_required
@require_POST
def agreement_create_view(request, county_code):
    county = selectors.fund_county_for_user(user=request.user, code=county_code)
    banks = {
        b.code: b for b in bank_list(user=request.user).filter(branches__counties=county.code).distinct()
    }
    form = AgreementForm(request.POST, banks=banks.values())
    failed = "请检查填写的内容。"
    if form.is_valid():
        data = dict(form.cleaned_data, bank=banks[form.cleaned_data["bank"]])
        data["guarantee_fee_rate"] = data["guarantee_fee_rate"] or 0
        try:
            services.agreement_create(actor=request.user, county_code=county.code, **data)
        except ApplicationError as exc:
            failed = _form_errors(form, exc)
        else:
            messages.success(request, f"已登记与{data['bank'].name}的合作协议。")
            return redirect("risk_fund:detail", county_code=county.code)
    context = _fund_context(request, county, agreement_form=form, failed=failed)
    return render(request, "risk_fund/detail.html", context, status=200 if context["manager"] else 403)


# --- claims ------------------------------------------------------------------------------------


@login_required
@require_safe
def claim_list_view(request):
    user, day = request.user, today()
    form = ClaimFilterForm(request.GET or None, counties=selectors.fund_list(user=user))
    claims = selectors.claim_list(user=user, filters=form.filters())
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "risk_fund/claims.html",
        {
            "form": form,
            "page": Paginator(claims, PAGE_SIZE).get_page(request.GET.get("page")),
            "query": query.urlencode(),
            "claimable": selectors.claimable_loans(user=user, on=day)[:PAGE_SIZE],
            "today": day,
        },
    )


@login_required
def claim_create_view(request, loan_id):
    """The bank's claim for a loan: the figures as they would be filed, then the button."""
    loan = loan_get_for_user(user=request.user, pk=loan_id)
    status = 200
    if request.method == "POST":
        try:
            claim = services.claim_file(actor=request.user, loan=loan)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            status = refusal_status(exc)
        else:
            messages.success(request, f"已提交{claim}，等待县金融扶贫服务中心核实。")
            return redirect("risk_fund:claim", pk=claim.pk)
    figures, refusal = services.claim_preview(loan=loan, on=today())
    return render(
        request,
        "risk_fund/claim_new.html",
        {
            "loan": loan,
            "figures": figures,
            "refusal": refusal,
            "may_file": may_act(request.user, loan, Role.BANK_OFFICER),
        },
        status=status,
    )


def _claim_context(request, claim, *, bound=None, failed="") -> dict:
    user, bound = request.user, bound or {}
    actions = [
        {"name": a, "label": CLAIM_BUTTONS[a], "form": bound.get(a) or (ReasonForm(prefix=a) if a == "reject" else None)}
        for a in services.claim_actions_for(user=user, claim=claim)
    ]  # fmt: skip
    may_recover = claim.status == ClaimStatus.PAID and services.may_record_recovery(user, claim.loan)
    return {
        "claim": claim,
        "actions": actions,
        "history": [
            {
                "at": e.at,
                "label": CLAIM_EVENT_LABELS.get(e.action, e.action),
                "who": e.who,
                "comment": e.detail.get("reason", "") if e.action == "reject" else "",
            }
            for e in selectors.claim_history(claim)
        ],
        "recovered": selectors.recovered(claim),
        "recoveries": selectors.recoveries_of(claim),
        "recovery_form": (bound.get("recovery") or RecoveryForm(initial={"received_on": today()}))
        if may_recover
        else None,
        "failed": failed,
    }


@login_required
@require_safe
def claim_detail_view(request, pk):
    claim = selectors.claim_get_for_user(user=request.user, pk=pk)
    return render(request, "risk_fund/claim_detail.html", _claim_context(request, claim))


@login_required
@require_POST
def claim_action_view(request, pk, action):
    claim = selectors.claim_get_for_user(user=request.user, pk=pk)
    if action not in CLAIM_BUTTONS:
        raise Http404
    form = ReasonForm(request.POST, prefix=action)
    failed, status = "请检查填写的内容。", 200
    if form.is_valid():
        try:
            if action == "reject":
                services.claim_reject(actor=request.user, claim=claim, reason=form.cleaned_data["reason"])
            else:
                getattr(services, f"claim_{action}")(actor=request.user, claim=claim)
        except ApplicationError as exc:
            failed, status = _form_errors(form, exc), refusal_status(exc)
        else:
            messages.success(request, f"已办理：{CLAIM_BUTTONS[action]}。")
            return redirect("risk_fund:claim", pk=claim.pk)
    claim.refresh_from_db()
    context = _claim_context(request, claim, bound={action: form}, failed=failed)
    return render(request, "risk_fund/claim_detail.html", context, status=status)


@login_required
@require_POST
def claim_recovery_view(request, pk):
    claim = selectors.claim_get_for_user(user=request.user, pk=pk)
    form = RecoveryForm(request.POST)
    failed, status = "请检查填写的内容。", 200
    if form.is_valid():
        try:
            recovery = services.recovery_record(actor=request.user, loan=claim.loan, **form.cleaned_data)
        except ApplicationError as exc:
            failed, status = _form_errors(form, exc), refusal_status(exc)
        else:
            messages.success(
                request, f"已登记追偿收回 {recovery.amount:,} 元，其中归补偿金 {recovery.fund_part:,} 元。"
            )
            return redirect("risk_fund:claim", pk=claim.pk)
    return render(
        request,
        "risk_fund/claim_detail.html",
        _claim_context(request, claim, bound={"recovery": form}, failed=failed),
        status=status,
    )
