"""Browser pages of the organization app: the login form, and the policy pages (/policies/) of
counties and cities: the row in force, the history, proposals and their review (maker-checker)."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.core.exceptions import PermissionDenied
from django.core.validators import MaxLengthValidator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from common.clock import today
from common.errors import ApplicationError
from common.views import refusal_status

from . import selectors, services
from .forms import CityPolicyForm, PolicyForm, ReviewForm
from .models import CITY_ONLY, CITY_OWNED, CityPolicy, CountyPolicy, PolicyStatus, Region


class LoginForm(AuthenticationForm):
    """Django's form sets the username's max_length after building the field, so the length is
    never checked on the server: a longer name would reach django-axes' failure log (255
    characters) and fail there. Checked here, it is refused with the form's own message."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        username = self.fields["username"]
        username.validators.append(MaxLengthValidator(username.max_length))


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True
    authentication_form = LoginForm


@login_required
def password_change_view(request):
    """/password/: every user changes their own password (Django's form: old, new, new again),
    through services.password_change, which also ends the user's API tokens. The session stays."""
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.password_change(
                user=request.user,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password1"],
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            update_session_auth_hash(request, user)
            messages.success(request, "密码已修改。")
            return redirect("home")
    return render(request, "registration/password_change.html", {"form": form})


# --- policy pages: the row in force, the history, proposals and their review -----------------------
# One set of views for both levels (county rows inside the city's envelope; the city's rows), read
# through organization.selectors, written through organization.services (maker-checker).


MONEY_FIELDS = ("household_loan_cap", "enterprise_cap_per_household")


@dataclass(frozen=True)
class PolicyLevel:
    level: str  # Region.Level of the page's region
    title: str
    model: type
    form: type
    fields: tuple[str, ...]  # what a proposal of this level may change
    shown_from_city: tuple[str, ...]  # shown on the page, set by the city
    may_set: object
    rows: object
    get_row: object
    propose: object
    approve: object
    reject: object
    page: str
    propose_url: str
    review_url: str

    def region(self, user, code: str) -> Region:
        region = selectors.region_get_for_user(user=user, code=code, include_ancestors=True)
        if region.level != self.level:
            raise Http404
        return region

    def in_force(self, region: Region, on: datetime.date):
        if self.level == Region.Level.COUNTY:
            return selectors.policy_for(region, on=on)
        return selectors.city_policy_for(region, on=on)

    def region_of(self, row) -> str:
        return row.county_id if isinstance(row, CountyPolicy) else row.city_id


COUNTY = PolicyLevel(
    level=Region.Level.COUNTY, title="县级政策参数", model=CountyPolicy, form=PolicyForm,
    fields=CountyPolicy.COUNTY_FIELDS, shown_from_city=CITY_OWNED + CITY_ONLY,
    may_set=services.may_set_county_policy,
    rows=lambda user, code: selectors.policy_list(user=user, county_code=code),
    get_row=selectors.policy_get_for_user, propose=services.policy_propose, approve=services.policy_approve,
    reject=services.policy_reject, page="policies:county", propose_url="policies:county-propose",
    review_url="policies:county-review",
)  # fmt: skip
CITY = PolicyLevel(
    level=Region.Level.CITY, title="市级政策参数", model=CityPolicy, form=CityPolicyForm,
    fields=CityPolicy.POLICY_FIELDS, shown_from_city=(), may_set=services.may_set_city_policy,
    rows=lambda user, code: selectors.city_policy_list(user=user, city_code=code),
    get_row=selectors.city_policy_get_for_user, propose=services.city_policy_propose,
    approve=services.city_policy_approve, reject=services.city_policy_reject, page="policies:city",
    propose_url="policies:city-propose", review_url="policies:city-review",
)  # fmt: skip


def shown_value(model, name: str, value) -> str:
    """A policy number as the page shows it: money with thousands, percentages without trailing
    zeros, a choice by its label."""
    field = model._meta.get_field(name)
    if value is None:
        return "—"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if field.get_internal_type() == "DecimalField":
        value = Decimal(value)
        if name in MONEY_FIELDS:
            return f"{value:,.2f}"
        return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:f}".rstrip("0")
    return str(value)


def _label(model, name: str) -> str:
    return str(model._meta.get_field(name).verbose_name)


def _initial(lv: PolicyLevel, current) -> dict:
    initial = {name: getattr(current, name) for name in lv.fields}
    initial["effective_from"] = today() + datetime.timedelta(days=1)
    return initial


def _envelope_help(lv: PolicyLevel, current) -> dict:
    if lv is not COUNTY:
        return {}
    return {name: selectors.envelope_note(name, current.city_policy) for name in lv.fields}


def _policy_context(request, lv: PolicyLevel, region, *, form=None, failed="", review=None) -> dict:
    user, day = request.user, today()
    current = lv.in_force(region, day)
    may_set = lv.may_set(user, region.code)
    city = getattr(current, "city_policy", None)
    figures = [
        {
            "label": _label(CityPolicy if name in CITY_ONLY else lv.model, name),
            "value": shown_value(CityPolicy if name in CITY_ONLY else lv.model, name, getattr(current, name)),
            "envelope": selectors.envelope_note(name, city) if city is not None else "",
            "clamped": name in getattr(current, "clamped", ()),
            "from_city": name in lv.shown_from_city,
        }
        for name in (*lv.fields, *lv.shown_from_city)
    ]
    history = list(lv.rows(user, region.code))
    pending = []
    for row in history:
        if row.status != PolicyStatus.PROPOSED:
            continue
        changes = [
            {"label": _label(lv.model, name), "old": shown_value(lv.model, name, getattr(current, name)),
             "new": shown_value(lv.model, name, getattr(row, name))}
            for name in lv.fields
            if getattr(row, name) != getattr(current, name)
        ]  # fmt: skip
        bound = review[1] if review and review[0] == row.pk else None
        pending.append({
            "row": row, "changes": changes, "own": row.created_by_id == user.pk,
            "form": bound or ReviewForm(prefix=f"r{row.pk}"),
        })  # fmt: skip
    context = {
        "lv": lv,
        "region": region,
        "current": current,
        "in_force_saved": current.pk is not None,
        "city_row": city,
        "figures": figures,
        "history": history,
        "pending": pending,
        "may_set": may_set,
        "failed": failed,
        "today": day,
    }
    if may_set:
        context["form"] = form or lv.form(
            initial=_initial(lv, current), envelope_help=_envelope_help(lv, current)
        )
    return context


def _page(request, lv: PolicyLevel, code: str):
    region = lv.region(request.user, code)
    return render(request, "organization/policy.html", _policy_context(request, lv, region))


def _propose(request, lv: PolicyLevel, code: str):
    region = lv.region(request.user, code)
    if not lv.may_set(request.user, region.code):
        raise PermissionDenied
    current = lv.in_force(region, today())
    form = lv.form(request.POST, initial=_initial(lv, current), envelope_help=_envelope_help(lv, current))
    failed, status = "请检查填写的内容。", 200
    if form.is_valid():
        changes = form.changes()
        if not changes:
            form.add_error(None, "没有修改任何参数：请改动要调整的数值。")
        else:
            where = {"county": region} if lv is COUNTY else {"city": region}
            try:
                row = lv.propose(actor=request.user, effective_from=form.cleaned_data["effective_from"],
                                 changes=changes, **where)  # fmt: skip
            except ApplicationError as exc:
                form.add_service_errors(exc.errors or {None: [exc.message]})
                failed, status = exc.message, refusal_status(exc)
            else:
                messages.success(
                    request,
                    f"已提出 {row.effective_from:%Y-%m-%d} 起的调整，待本级另一位工作人员复核后生效。",
                )
                return redirect(lv.page, code=region.code)
    context = _policy_context(request, lv, region, form=form, failed=failed)
    return render(request, "organization/policy.html", context, status=status)


def _review(request, lv: PolicyLevel, pk: int):
    row = lv.get_row(user=request.user, pk=pk)
    code = lv.region_of(row)
    if not lv.may_set(request.user, code):
        raise PermissionDenied
    form = ReviewForm(request.POST, prefix=f"r{row.pk}")
    failed, status = "请检查填写的内容。", 200
    if form.is_valid():
        decision = form.cleaned_data["decision"]
        try:
            if decision == "approve":
                lv.approve(actor=request.user, policy=row)
            else:
                lv.reject(actor=request.user, policy=row, reason=form.cleaned_data["reason"])
        except ApplicationError as exc:
            form.add_service_errors(exc.errors or {None: [exc.message]})
            failed, status = exc.message, refusal_status(exc)
        else:
            done = "批准，自生效日起执行" if decision == "approve" else "驳回，不会生效"
            messages.success(request, f"{row.effective_from:%Y-%m-%d} 起的调整已{done}。")
            return redirect(lv.page, code=code)
    region = lv.region(request.user, code)
    context = _policy_context(request, lv, region, failed=failed, review=(row.pk, form))
    return render(request, "organization/policy.html", context, status=status)


@login_required
@require_safe
def policy_index_view(request):
    """The city and the counties whose policy the user may read, each linking to its page."""
    user = request.user
    regions = [
        {"region": r, "url": CITY.page if r.level == Region.Level.CITY else COUNTY.page,
         "may_set": (CITY if r.level == Region.Level.CITY else COUNTY).may_set(user, r.code)}
        for r in selectors.region_list(user=user).filter(level__in=(Region.Level.CITY, Region.Level.COUNTY))
    ]  # fmt: skip
    return render(request, "organization/policy_index.html", {"regions": regions})


@login_required
@require_safe
def county_policy_view(request, code):
    return _page(request, COUNTY, code)


@login_required
@require_POST
def county_policy_propose_view(request, code):
    return _propose(request, COUNTY, code)


@login_required
@require_POST
def county_policy_review_view(request, pk):
    return _review(request, COUNTY, pk)


@login_required
@require_safe
def city_policy_view(request, code):
    return _page(request, CITY, code)


@login_required
@require_POST
def city_policy_propose_view(request, code):
    return _propose(request, CITY, code)


@login_required
@require_POST
def city_policy_review_view(request, pk):
    return _review(request, CITY, pk)
