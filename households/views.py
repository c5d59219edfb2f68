"""Browser pages of the household file. Reads go through the selectors, writes through the
services: the same rules as the API."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_safe

from common.errors import ApplicationError, Forbidden
from common.security import no_store
from common.views import paginate
from organization.models import Region
from organization.permissions import can_create_households, can_edit_households_in, can_view_full_pii
from organization.selectors import filter_region_list, region_list

from . import exports, selectors, services
from .forms import HouseholdFilterForm, HouseholdForm

PAGE_SIZE = 50


def _villages(user):
    return region_list(user=user, level=Region.Level.VILLAGE).select_related("parent")


@login_required
@require_safe
def household_list_view(request):
    form = HouseholdFilterForm(request.GET or None, regions=filter_region_list(user=request.user))
    filters = form.cleaned_data if form.is_valid() else {}
    households = selectors.household_list(user=request.user, filters=filters)
    page, query = paginate(request, households, PAGE_SIZE)
    return render(
        request,
        "households/list.html",
        {
            "form": form,
            "page": page,
            "query": query,
            "filtered": bool(filters and any(filters.values())),
            "can_create": can_create_households(request.user),
        },
    )


@login_required
@require_safe
def household_export_view(request):
    """The list as xlsx, with the same filters (an invalid filter exports the whole list, as the
    page then shows it)."""
    form = HouseholdFilterForm(request.GET or None, regions=filter_region_list(user=request.user))
    filters = form.cleaned_data if form.is_valid() else {}
    try:
        output = exports.export_households(
            user=request.user, filters=filters, channel="web", ip_address=request.META.get("REMOTE_ADDR")
        )
    except exports.ExportError as exc:
        messages.error(request, exc.message)
        return redirect(f"{reverse('households:list')}?{request.GET.urlencode()}")
    return no_store(FileResponse(output, as_attachment=True, filename=exports.export_filename()))


@login_required
def household_detail_view(request, pk):
    household = selectors.household_get_for_user(user=request.user, pk=pk)
    revealed, status = None, 200
    if request.method == "POST" and request.POST.get("action") == "reveal":
        try:
            revealed = services.household_reveal_pii(
                actor=request.user,
                household=household,
                channel="web",
                ip_address=request.META.get("REMOTE_ADDR"),
            )
        except Forbidden as exc:
            messages.error(request, exc.message)
            status = 403
    full_pii = can_view_full_pii(request.user, household)
    response = render(
        request,
        "households/detail.html",
        {
            "household": household,
            "revealed": revealed,
            "can_edit": can_edit_households_in(request.user, household.village_id),
            "can_reveal": full_pii,
            "history": selectors.household_history(household=household, full_pii=full_pii),
        },
        status=status,
    )
    return no_store(response) if request.method == "POST" else response  # the reveal: full numbers


@login_required
def household_create_view(request):
    if not can_create_households(request.user):
        raise PermissionDenied("您没有新建户档的权限。")
    form = HouseholdForm(request.POST or None, villages=_villages(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            household = services.household_create(actor=request.user, data=form.service_data())
        except ApplicationError as exc:
            form.add_service_errors(exc.errors or {None: [exc.message]})
        else:
            messages.success(request, f"已建档：{household}")
            return redirect("households:detail", pk=household.pk)
    return render(request, "households/form.html", {"form": form, "title": "新建户档"})


@login_required
def household_edit_view(request, pk):
    household = selectors.household_get_for_user(user=request.user, pk=pk)
    if not can_edit_households_in(request.user, household.village_id):
        raise PermissionDenied("您没有修改该户档案的权限。")
    initial = {
        "household_no": household.household_no, "village_code": household.village_id,
        "head_name": household.head_name, "phone": household.phone, "member_count": household.member_count,
        "labor_count": household.labor_count, "status": household.status, "attribute": household.attribute,
        "identification_standard": household.identification_standard,
        "poverty_causes": household.poverty_causes, "per_capita_income": household.per_capita_income,
        "bank_name": household.bank_name,
    }  # fmt: skip
    masked = {"head_id_number": household.head_id_masked, "bank_account": household.bank_account_masked}
    form = HouseholdForm(
        request.POST or None, initial=initial, villages=_villages(request.user), editing=True, masked=masked
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.household_update(actor=request.user, household=household, data=form.service_data())
        except ApplicationError as exc:
            form.add_service_errors(exc.errors or {None: [exc.message]})
        else:
            messages.success(request, "已保存。")
            return redirect("households:detail", pk=household.pk)
    return render(
        request,
        "households/form.html",
        {"form": form, "title": f"修改户档：{household}", "household": household},
    )
