"""Browser pages of the city's subsidy pot (贴息资金池): the pots a user may read with their
balances, and a pot's page (balance, ledger, the deposit form for city finance, the payout form
for county staff). Reads through subsidy.pot_selectors, writes through subsidy.pot_services."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from common.clock import today
from common.errors import ApplicationError
from common.views import refusal_status

from . import pot_selectors as selectors
from . import pot_services as services
from .forms import PotDepositForm, PotPayoutForm

PAGE_SIZE = 50


@login_required
@require_safe
def pot_list_view(request):
    regions = selectors.pot_regions(user=request.user)
    balances = selectors.pot_balances([r.code for r in regions])
    rows = [{"region": r, "balance": balances.get(r.code, 0)} for r in regions]
    return render(request, "subsidy/pot_list.html", {"rows": rows})


def _pot_context(request, region, *, deposit_form=None, payout_form=None, failed="") -> dict:
    user, day = request.user, today()
    context = {
        "region": region,
        "balance": selectors.pot_balance(region.code),
        "ledger": Paginator(selectors.pot_ledger(region.code), PAGE_SIZE).get_page(request.GET.get("page")),
        "failed": failed,
        "today": day,
    }
    if services.may_deposit(user, region.code):
        context["deposit_form"] = deposit_form or PotDepositForm(initial={"entry_date": day})
    if services.may_pay_out(user, region.code):
        batches = selectors.payable_batches(region.code)
        context["payout_form"] = payout_form or PotPayoutForm(batches=batches)
    return context


@login_required
@require_safe
def pot_detail_view(request, code):
    region = selectors.pot_region_for_user(user=request.user, code=code)
    return render(request, "subsidy/pot_detail.html", _pot_context(request, region))


@login_required
@require_POST
def pot_deposit_view(request, code):
    region = selectors.pot_region_for_user(user=request.user, code=code)
    if not services.may_deposit(request.user, region.code):
        raise PermissionDenied
    form = PotDepositForm(request.POST)
    failed, status = "请检查填写的内容。", 200
    if form.is_valid():
        try:
            entry = services.pot_deposit_record(actor=request.user, region=region, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_service_errors(exc.errors or {None: [exc.message]})
            failed, status = exc.message, refusal_status(exc)
        else:
            messages.success(request, f"已登记贴息资金拨入 {entry.amount:,} 元。")
            return redirect("subsidy:pot", code=region.code)
    context = _pot_context(request, region, deposit_form=form, failed=failed)
    return render(request, "subsidy/pot_detail.html", context, status=status)


@login_required
@require_POST
def pot_payout_view(request, code):
    region = selectors.pot_region_for_user(user=request.user, code=code)
    if not services.may_pay_out(request.user, region.code):
        raise PermissionDenied
    batches = {str(b.pk): b for b in selectors.payable_batches(region.code)}
    form = PotPayoutForm(request.POST, batches=batches.values())
    failed, status = "请检查填写的内容。", 200
    if form.is_valid():
        data = dict(form.cleaned_data, batch=batches.get(form.cleaned_data["batch"]))
        try:
            entry = services.pot_payout_record(actor=request.user, county=region, **data)
        except ApplicationError as exc:
            form.add_service_errors(exc.errors or {None: [exc.message]})
            failed, status = exc.message, refusal_status(exc)
        else:
            messages.success(request, f"已登记贴息资金支出 {-entry.amount:,} 元。")
            return redirect("subsidy:pot", code=region.code)
    context = _pot_context(request, region, payout_form=form, failed=failed)
    return render(request, "subsidy/pot_detail.html", context, status=status)
