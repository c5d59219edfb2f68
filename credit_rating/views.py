"""Browser pages of credit ratings: the work queue per role with bulk submit/approve, a rating's
page (score breakdown, timeline, actions), the scoring form, the expiry list, rating coverage and
batch pre-rating. Reads through the selectors, writes through the services."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from common.clock import today
from common.errors import ApplicationError, Forbidden
from common.models import Job
from common.views import paginate
from households.selectors import household_get_for_user
from organization.models import Region, Role, code_prefix
from organization.scoping import has_role_over, is_admin, roles_of, scope_for
from organization.selectors import filter_region_list, region_get_for_user, region_list

from . import selectors, services
from .forms import INDICATOR_SOURCES, PrerateForm, RatingFilterForm, ScoresForm
from .models import EDITABLE, UNDER_REVIEW, RatingStatus

PAGE_SIZE = 50
EXPIRY_DAYS = 30
MAX_REFUSALS_SHOWN = 20

ACTION_LABELS = {
    "create": "建立草稿",
    "prerate": "批量预评级",
    "rescore": "修改评分",
    "submit": "提交",
    "review": "乡镇审核通过",
    "approve": "县级审批通过",
    "return": "退回修改（退回村服务部）",
    "return-to-township": "退回修改（退回乡镇）",
    "reject": "退回",
    "supersede": "被新评级取代",
    "opinion": "银行意见",
}


# --- who may do what (the services decide again) ------------------------------------------------


def _is_county(user) -> bool:
    return is_admin(user) or Role.COUNTY_STAFF in roles_of(user)


def _may_draft(user) -> bool:
    return is_admin(user) or bool(roles_of(user) & set(services.DRAFTERS))


# Queue tabs: key, label, the statuses listed, the roles whose work it is (None: anyone who may
# read ratings). Admins and the city see every tab; bank officers see effective ratings only.
TABS = [
    ("draft", "待提交", (RatingStatus.DRAFT, RatingStatus.RETURNED), (Role.VILLAGE_CLERK, Role.COUNTY_STAFF)),
    ("submitted", "待审核", (RatingStatus.SUBMITTED,), (Role.TOWNSHIP_OFFICER, Role.COUNTY_STAFF)),
    ("reviewed", "待审批", (RatingStatus.REVIEWED,), (Role.COUNTY_STAFF,)),
    # Bank officers: the ratings of their counties under review, to give an opinion on (同步参与).
    ("review", "审核中", UNDER_REVIEW, (Role.BANK_OFFICER,)),
    ("approved", "已生效", (RatingStatus.APPROVED,), None),
    (
        "rejected",
        "已退回",
        (RatingStatus.REJECTED,),
        (Role.VILLAGE_CLERK, Role.TOWNSHIP_OFFICER, Role.COUNTY_STAFF),
    ),
    ("all", "全部", None, None),
]
# The tab a role lands on.
HOME_TAB = {Role.COUNTY_STAFF: "reviewed", Role.TOWNSHIP_OFFICER: "submitted", Role.VILLAGE_CLERK: "draft"}
# Bulk actions of the county's queue: tab -> (service action, button label).
BULK = {"draft": ("submit", "批量提交"), "reviewed": ("approve", "批量审批")}


def _tabs_for(user) -> list[tuple]:
    roles = roles_of(user)
    everything = is_admin(user) or Role.CITY_FINANCE in roles
    return [
        tab
        for tab in TABS
        if tab[3] is None
        or roles & set(tab[3])
        or (everything and tab[3] != (Role.BANK_OFFICER,))  # the others have its own tabs
    ]


def _default_tab(user, tabs) -> str:
    roles = roles_of(user)
    keys = [t[0] for t in tabs]
    for role in (Role.COUNTY_STAFF, Role.TOWNSHIP_OFFICER, Role.VILLAGE_CLERK):
        if role in roles and HOME_TAB[role] in keys:
            return HOME_TAB[role]
    return "approved"


# --- the queue ---------------------------------------------------------------------------------


@login_required
@require_safe
def rating_list_view(request):
    user = request.user
    tabs = _tabs_for(user)
    keys = [t[0] for t in tabs]
    tab = request.GET.get("tab") or ("all" if request.GET.get("household") else _default_tab(user, tabs))
    if tab not in keys:
        tab = keys[0] if keys else "all"
    form = RatingFilterForm(request.GET or None, regions=filter_region_list(user=user))
    filters = dict(form.cleaned_data) if form.is_valid() else {}
    household = None
    if request.GET.get("household"):
        household = household_get_for_user(user=user, pk=request.GET["household"])
        filters["household"] = household.pk

    base = selectors.rating_list(user=user, filters={k: v for k, v in filters.items() if v})
    counts = dict(base.order_by().values_list("status").annotate(n=Count("id")))
    statuses = next((t[2] for t in tabs if t[0] == tab), None)
    ratings = base.filter(status__in=statuses) if statuses else base
    if tab == "approved":
        ratings = ratings.order_by("valid_until", "id")
    page, query = paginate(request, ratings, PAGE_SIZE)
    opinions = selectors.opinion_summary(r.pk for r in page if r.status in UNDER_REVIEW)
    for rating in page:
        rating.opinion = opinions.get(rating.pk)
    bulk = BULK.get(tab) if _is_county(user) else None
    return render(
        request,
        "credit_rating/list.html",
        {
            "tabs": [
                {
                    "key": key,
                    "label": label,
                    "count": sum(counts.get(s, 0) for s in sts) if sts else sum(counts.values()),
                    "active": key == tab,
                }
                for key, label, sts, _ in tabs
            ],
            "tab": tab,
            "form": form,
            "page": page,
            "query": query,
            "household": household,
            "bulk": bulk,
            "today": today(),
            "subnav": _subnav(request, "list"),
        },
    )


@login_required
@require_POST
def rating_bulk_view(request):
    user = request.user
    if not _is_county(user):
        raise PermissionDenied("只有县金融扶贫服务中心可以批量操作。")
    action = request.POST.get("action")
    tab = {"submit": "draft", "approve": "reviewed"}.get(action)
    if tab is None:
        raise PermissionDenied("未知的批量操作。")
    ids = [int(pk) for pk in request.POST.getlist("ids") if pk.isdigit()]
    back = reverse("credit_rating:list") + f"?tab={tab}"
    if not ids:
        messages.error(request, "请先勾选要处理的评级。")
        return redirect(back)
    ratings = list(selectors.rating_list(user=user).filter(pk__in=ids).order_by("id"))
    outcome = services.ratings_bulk_transition(actor=user, ratings=ratings, action=action)
    label = BULK[tab][1].removeprefix("批量")
    if outcome["done"]:
        messages.success(request, f"已{label} {outcome['done']} 条。")
    names = {r.pk: str(r.household) for r in ratings}
    refused = outcome["refused"]
    for pk, message in refused[:MAX_REFUSALS_SHOWN]:
        messages.error(request, f"{names.get(pk, pk)}：{message}")
    if len(refused) > MAX_REFUSALS_SHOWN:
        messages.error(request, f"另有 {len(refused) - MAX_REFUSALS_SHOWN} 条未能{label}。")
    return redirect(back)


# --- one rating --------------------------------------------------------------------------------


def _breakdown(rating) -> list[dict]:
    rows = []
    for indicator in rating.scorecard.indicators.all():
        raw = rating.scores.get(indicator.code)
        rows.append(
            {
                "indicator": indicator,
                "source": INDICATOR_SOURCES.get(indicator.source, indicator.source),
                "raw": raw,
                "points": services.points(indicator, raw) if raw is not None else None,
            }
        )
    return rows


@login_required
def rating_detail_view(request, pk):
    user = request.user
    rating = selectors.rating_get_for_user(user=user, pk=pk)
    if request.method == "POST":
        action = request.POST.get("action", "")
        comment = request.POST.get("reason") or request.POST.get("comment") or ""
        try:
            if action == "opinion":
                agrees = request.POST.get("agrees")
                if agrees not in ("yes", "no"):
                    raise services.RatingError("invalid", "请选择同意或不同意。")
                services.rating_opinion_record(
                    actor=user, rating=rating, agrees=agrees == "yes", comment=request.POST.get("comment", "")
                )
            else:
                services.rating_transition(actor=user, rating=rating, action=action, comment=comment)
        except Forbidden as exc:  # may see the rating, may not do this to it (API.md: 403)
            raise PermissionDenied(exc.message) from None
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            labels = {
                "submit": "已提交", "review": "已审核", "approve": "已批准", "reject": "已退回",
                "return": "已退回修改", "opinion": "已记录银行意见",
            }  # fmt: skip
            messages.success(request, f"{labels.get(action, '已处理')}：{rating.household}")
        return redirect("credit_rating:detail", pk=rating.pk)
    events = [{"event": e, "label": ACTION_LABELS.get(e.action, e.action)} for e in rating.events.all()]
    actions = services.rating_actions_for(user=user, rating=rating)
    opinions = selectors.rating_opinions(rating=rating)
    return render(
        request,
        "credit_rating/detail.html",
        {
            "rating": rating,
            "opinions": opinions,
            "my_opinion": next((o for o in opinions if o.officer_id == user.pk), None),
            "disagreements": sum(1 for o in opinions if not o.agrees),
            "household": rating.household,
            "breakdown": _breakdown(rating),
            "events": events,
            "actions": actions,
            "effective": rating.status == RatingStatus.APPROVED
            and rating.valid_until
            and rating.valid_until >= today(),
            "subnav": _subnav(request, "list"),
        },
    )


def _save_scores(request, *, form, household=None, rating=None):
    """Create or rescore through the services; submit too when that button was pressed. Returns
    the rating, or None with the service's refusal on the form."""
    try:
        if rating is None:
            rating = services.rating_create(actor=request.user, household=household, scores=form.scores())
        else:
            rating = services.rating_update_scores(actor=request.user, rating=rating, scores=form.scores())
    except ApplicationError as exc:
        for message in (exc.errors or {}).get("scores", []) or [exc.message]:
            form.add_error(None, message)
        return None
    if request.POST.get("then") == "submit":
        try:
            services.rating_submit(actor=request.user, rating=rating)
        except ApplicationError as exc:
            messages.error(request, f"草稿已保存，但未能提交：{exc.message}")
        else:
            messages.success(request, f"已保存并提交：{rating.household}")
            return rating
    messages.success(request, f"草稿已保存：{rating.household}（{rating.score} 分，{rating.grade}）")
    return rating


def _computed_rows(scorecard, household) -> list[dict]:
    return [
        {
            "indicator": i,
            "raw": (raw := services.computed_raw_score(i, household)),
            "points": services.points(i, raw),
        }
        for i in scorecard.indicators.all()
        if i.is_computed
    ]


@login_required
def rating_create_view(request, household_id):
    user = request.user
    household = household_get_for_user(user=user, pk=household_id)
    if not has_role_over(user, household.village_id, services.DRAFTERS):
        raise PermissionDenied("只有本村金融扶贫服务部或县中心可以评分。")
    summary = selectors.household_rating(household=household, user=user, on=today())
    if summary["in_progress"] is not None:
        messages.error(request, "该户已有一条进行中的评级，请在原评级上修改或提交。")
        return redirect("credit_rating:detail", pk=summary["in_progress"].pk)
    scorecard = selectors.scorecard_current(household.village_id[:6], on=today())
    if scorecard is None:
        messages.error(request, "本县尚未发布评分卡，请联系县金融扶贫服务中心。")
        return redirect("households:detail", pk=household.pk)
    form = ScoresForm(request.POST or None, scorecard=scorecard)
    if request.method == "POST" and form.is_valid():
        rating = _save_scores(request, form=form, household=household)
        if rating is not None:
            return redirect("credit_rating:detail", pk=rating.pk)
    return render(
        request,
        "credit_rating/form.html",
        {
            "form": form,
            "household": household,
            "scorecard": scorecard,
            "computed": _computed_rows(scorecard, household),
            "title": f"信用评级：{household.head_name}",
            "current": summary["effective"],
            "subnav": _subnav(request, "list"),
        },
    )


@login_required
def rating_edit_view(request, pk):
    user = request.user
    rating = selectors.rating_get_for_user(user=user, pk=pk)
    household = rating.household
    if not has_role_over(user, household.village_id, services.DRAFTERS):
        raise PermissionDenied("只有本村金融扶贫服务部或县中心可以评分。")
    if rating.status not in EDITABLE:
        messages.error(request, "只有草稿或退回修改的评级可以修改评分。")
        return redirect("credit_rating:detail", pk=rating.pk)
    initial = {code: value for code, value in rating.scores.items()}
    form = ScoresForm(request.POST or None, scorecard=rating.scorecard, initial=initial)
    if request.method == "POST" and form.is_valid():
        if _save_scores(request, form=form, rating=rating) is not None:
            return redirect("credit_rating:detail", pk=rating.pk)
    computed = [
        {
            "indicator": i,
            "raw": rating.scores.get(i.code),
            "points": services.points(i, rating.scores.get(i.code, 0)),
        }
        for i in rating.scorecard.indicators.all()
        if i.is_computed
    ]
    return render(
        request,
        "credit_rating/form.html",
        {
            "form": form,
            "household": household,
            "scorecard": rating.scorecard,
            "computed": computed,
            "rating": rating,
            "title": f"修改评分：{household.head_name}",
            "subnav": _subnav(request, "list"),
        },
    )


# --- lists for the county and above ------------------------------------------------------------


@login_required
@require_safe
def rating_expiring_view(request):
    day = today()
    form = RatingFilterForm(request.GET or None, regions=filter_region_list(user=request.user))
    filters = {k: v for k, v in (form.cleaned_data if form.is_valid() else {}).items() if v}
    ratings = selectors.ratings_expiring(user=request.user, on=day, within_days=EXPIRY_DAYS)
    if filters.get("region"):
        ratings = ratings.filter(household__village__code__startswith=code_prefix(filters["region"]))
    if filters.get("q"):
        term = filters["q"].strip()
        ratings = ratings.filter(
            Q(household__head_name__startswith=term) | Q(household__household_no__startswith=term)
        )
    page, query = paginate(request, ratings, PAGE_SIZE)
    for rating in page:
        rating.days_left = (rating.valid_until - day).days
    return render(
        request,
        "credit_rating/expiring.html",
        {
            "page": page,
            "form": form,
            "query": query,
            "days": EXPIRY_DAYS,
            "today": day,
            "may_draft": _may_draft(request.user),
            "subnav": _subnav(request, "expiring"),
        },
    )


def _top_regions(user) -> list[Region]:
    """The highest regions of the user's area: where the coverage page starts."""
    scope = scope_for(user)
    regions = [r for r in region_list(user=user) if scope.everything or scope.covers_region(r.code)]
    if not regions:
        return []
    codes = {r.code for r in regions}
    return [r for r in regions if r.parent_id not in codes]


@login_required
@require_safe
def rating_coverage_view(request):
    user = request.user
    tops = _top_regions(user)
    code = request.GET.get("region")
    if code:
        region = region_get_for_user(user=user, code=code)
    elif tops:
        region = tops[0]
    else:
        region = None
    coverage = selectors.rating_coverage_by_child(user=user, region=region, on=today()) if region else None
    up = None
    if region is not None and region.parent_id and scope_for(user).covers_region(region.parent_id):
        up = region.parent
    return render(
        request,
        "credit_rating/coverage.html",
        {
            "region": region,
            "coverage": coverage,
            "up": up,
            "tops": tops if len(tops) > 1 else [],
            "today": today(),
            "subnav": _subnav(request, "coverage"),
        },
    )


@login_required
def rating_prerate_view(request):
    user = request.user
    if not _is_county(user):
        raise PermissionDenied("只有县金融扶贫服务中心可以批量预评级。")
    scope = scope_for(user)
    regions = [
        r
        for r in region_list(user=user)
        if r.level in ("county", "township", "village") and (scope.everything or scope.covers_region(r.code))
    ]
    if scope.everything:  # an admin: counties only, a county's villages would be thousands of options
        regions = [r for r in regions if r.level == "county"]
    form = PrerateForm(request.POST or None, regions=regions)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.prerate_start(actor=user, region_code=form.cleaned_data["region"])
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            return redirect(reverse("credit_rating:prerate") + f"?job={job.pk}")
    job = None
    if request.GET.get("job"):
        job = Job.objects.filter(
            pk=request.GET["job"] if request.GET["job"].isdigit() else 0, created_by=user
        ).first()
        if job is None:
            raise Http404
    recent = Job.objects.filter(kind="prerate", created_by=user).order_by("-created_at", "-id")[:10]
    return render(
        request,
        "credit_rating/prerate.html",
        {"form": form, "job": job, "recent": recent, "subnav": _subnav(request, "prerate")},
    )


def _subnav(request, current: str) -> list[dict]:
    items = [
        ("list", "评级工作台", "credit_rating:list"),
        ("expiring", f"{EXPIRY_DAYS}天内到期", "credit_rating:expiring"),
        ("coverage", "评级授信面", "credit_rating:coverage"),
    ]
    if _is_county(request.user):
        items.append(("prerate", "批量预评级", "credit_rating:prerate"))
    return [{"label": label, "url": reverse(name), "active": key == current} for key, label, name in items]
