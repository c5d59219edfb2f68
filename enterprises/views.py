"""Browser pages of the enterprise registry. Reads go through the selectors, writes through the
services: the same rules as the API."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from common.clock import today
from common.errors import ApplicationError
from common.views import paginate
from organization.models import Region
from organization.scoping import scope_for
from organization.selectors import region_list

from . import selectors, services
from .exports import enterprise_workbook
from .forms import (
    EligibilityDateForm,
    EnterpriseFilterForm,
    EnterpriseForm,
    LinkEndForm,
    LinkForm,
    RecognizeForm,
    WithdrawForm,
)
from .permissions import (
    can_edit_enterprise_in,
    can_manage_links_in,
    can_recognize_in,
    can_register_enterprises,
)

PAGE_SIZE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _filter_regions(user) -> list[Region]:
    """Counties and townships of the user's own area, for the filter dropdown."""
    scope = scope_for(user)
    return [
        r
        for r in region_list(user=user)
        if r.level in ("city", "county", "township") and scope.covers_region(r.code)
    ]


def _townships(user) -> list[Region]:
    """Townships where the user may register an enterprise."""
    townships = region_list(user=user, level=Region.Level.TOWNSHIP).select_related("parent")
    return [t for t in townships if can_edit_enterprise_in(user, t.code)]


@login_required
@require_safe
def enterprise_list_view(request):
    form = EnterpriseFilterForm(request.GET or None, regions=_filter_regions(request.user))
    filters = form.filters()
    enterprises = selectors.enterprise_list(user=request.user, filters=filters)
    page, query = paginate(request, enterprises, PAGE_SIZE)
    return render(
        request,
        "enterprises/list.html",
        {
            "form": form,
            "page": page,
            "query": query,
            "filtered": bool(filters),
            "can_create": can_register_enterprises(request.user),
        },
    )


@login_required
@require_safe
def enterprise_export_view(request):
    """The filtered list (every page) as xlsx."""
    form = EnterpriseFilterForm(request.GET or None, regions=_filter_regions(request.user))
    on = today()
    enterprises = selectors.enterprise_list(user=request.user, filters=form.filters(), on=on)
    response = HttpResponse(enterprise_workbook(enterprises, on=on), content_type=XLSX)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''enterprises-{on:%Y%m%d}.xlsx"
    return response


def _detail_context(request, enterprise, **forms) -> dict:
    user = request.user
    date_form = EligibilityDateForm(request.GET or None)
    on = (date_form.cleaned_data.get("on") if date_form.is_valid() else None) or today()
    may_decide = can_recognize_in(user, enterprise.county_id)
    may_link = can_manage_links_in(user, enterprise.county_id)
    context = {
        "enterprise": enterprise,
        "eligibility": selectors.enterprise_eligibility(enterprise, on=on),
        "date_form": date_form,
        "links": selectors.link_list(enterprise=enterprise),
        "today": today(),
        "events": selectors.recognition_history(enterprise),
        "history": enterprise.history.select_related("history_user")[:20],
        "can_edit": can_edit_enterprise_in(user, enterprise.township_id),
        "can_decide": may_decide,
        "can_link": may_link,
    }
    if may_decide:
        context["recognize_form"] = forms.get("recognize_form") or RecognizeForm(
            initial={"decided_on": today()}
        )
        context["withdraw_form"] = forms.get("withdraw_form") or WithdrawForm()
    if may_link:
        context["link_form"] = forms.get("link_form") or LinkForm()
        context["end_form"] = forms.get("end_form") or LinkEndForm(initial={"end_date": today()})
        context["end_link_id"] = forms.get("end_link_id")
    return context


@login_required
@require_safe
def enterprise_detail_view(request, pk):
    enterprise = selectors.enterprise_get_for_user(user=request.user, pk=pk)
    return render(request, "enterprises/detail.html", _detail_context(request, enterprise))


def _form_post(request, pk, form_class, form_name, action, success):
    """Shared by the detail page's small forms: bind, call the service, redirect on success, else
    show the detail page again with the service's messages on the form."""
    enterprise = selectors.enterprise_get_for_user(user=request.user, pk=pk)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            action(enterprise, form)
        except ApplicationError as exc:
            if exc.code == "permission_denied":
                raise PermissionDenied(exc.message) from None
            form.add_service_errors(exc.errors or {None: [exc.message]})
        else:
            messages.success(request, success)
            return redirect("enterprises:detail", pk=enterprise.pk)
    context = _detail_context(request, enterprise, **{form_name: form})
    return render(request, "enterprises/detail.html", context)


@login_required
@require_POST
def enterprise_recognize_view(request, pk):
    def action(enterprise, form):
        services.enterprise_recognize(actor=request.user, enterprise=enterprise, **form.cleaned_data)

    return _form_post(request, pk, RecognizeForm, "recognize_form", action, "已认定为带贫企业。")


@login_required
@require_POST
def enterprise_withdraw_view(request, pk):
    def action(enterprise, form):
        services.enterprise_withdraw_recognition(
            actor=request.user, enterprise=enterprise, **form.service_data()
        )

    return _form_post(request, pk, WithdrawForm, "withdraw_form", action, "已撤销带贫企业认定。")


@login_required
@require_POST
def link_create_view(request, pk):
    def action(enterprise, form):
        services.link_create(actor=request.user, enterprise=enterprise, data=form.cleaned_data)

    return _form_post(request, pk, LinkForm, "link_form", action, "已登记利益联结。")


@login_required
@require_POST
def link_end_view(request, pk, link_id):
    link = selectors.link_get_for_user(user=request.user, enterprise_pk=pk, pk=link_id)
    form = LinkEndForm(request.POST)
    if form.is_valid():
        try:
            services.link_end(actor=request.user, link=link, **form.cleaned_data)
        except ApplicationError as exc:
            if exc.code == "permission_denied":
                raise PermissionDenied(exc.message) from None
            form.add_service_errors(exc.errors or {None: [exc.message]})
        else:
            messages.success(request, f"已终止与{link.household.head_name}的利益联结。")
            return redirect("enterprises:detail", pk=pk)
    enterprise = selectors.enterprise_get_for_user(user=request.user, pk=pk)
    context = _detail_context(request, enterprise, end_form=form, end_link_id=link.pk)
    return render(request, "enterprises/detail.html", context)


@login_required
def enterprise_create_view(request):
    if not can_register_enterprises(request.user):
        raise PermissionDenied("您没有登记带贫企业的权限。")
    form = EnterpriseForm(request.POST or None, townships=_townships(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            enterprise = services.enterprise_create(actor=request.user, data=form.service_data())
        except ApplicationError as exc:
            form.add_service_errors(exc.errors or {None: [exc.message]})
        else:
            messages.success(request, f"已登记：{enterprise}")
            return redirect("enterprises:detail", pk=enterprise.pk)
    return render(request, "enterprises/form.html", {"form": form, "title": "登记带贫企业"})


@login_required
def enterprise_edit_view(request, pk):
    enterprise = selectors.enterprise_get_for_user(user=request.user, pk=pk)
    if not can_edit_enterprise_in(request.user, enterprise.township_id):
        raise PermissionDenied("您没有修改该企业信息的权限。")
    initial = {
        "name": enterprise.name, "credit_code": enterprise.credit_code, "kind": enterprise.kind,
        "founded_on": enterprise.founded_on, "township_code": enterprise.township_id,
        "legal_rep": enterprise.legal_rep, "contact_name": enterprise.contact_name,
        "contact_phone": enterprise.contact_phone,
    }  # fmt: skip
    form = EnterpriseForm(request.POST or None, initial=initial, townships=_townships(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            services.enterprise_update(actor=request.user, enterprise=enterprise, data=form.service_data())
        except ApplicationError as exc:
            form.add_service_errors(exc.errors or {None: [exc.message]})
        else:
            messages.success(request, "已保存。")
            return redirect("enterprises:detail", pk=enterprise.pk)
    return render(
        request,
        "enterprises/form.html",
        {"form": form, "title": f"修改企业信息：{enterprise}", "enterprise": enterprise},
    )
