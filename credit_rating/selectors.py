"""Reads of credit ratings, scoped like the households they belong to."""

import datetime
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Substr
from django.http import Http404

from common.identity import search_term
from common.money import percent
from households.models import Household
from organization.models import Region, code_prefix
from organization.scoping import area_q, prefix_q, scope_for

from .models import IN_PROGRESS, CreditLineFreeze, Rating, RatingOpinion, RatingStatus, Scorecard


def scorecard_current(county_code: str, *, on: datetime.date) -> Scorecard | None:
    """The county's latest scorecard version in force on `on`."""
    return (
        Scorecard.objects.filter(county_id=county_code, effective_from__lte=on)
        .prefetch_related("indicators", "grades")
        .order_by("-version")
        .first()
    )


# What a bank officer sees of the counties its branch serves: ratings that are or were effective
# (mutual recognition) and those under review, on which it may give an opinion (同步参与); not the
# village's drafts and returned ratings, nor the refusals.
BANK_VISIBLE = (RatingStatus.APPROVED, RatingStatus.SUPERSEDED, RatingStatus.SUBMITTED, RatingStatus.REVIEWED)


def ratings_scope_q(user, field: str = "household__village__code") -> Q:
    """Ratings the user may read: everything below a region role's unit, the effective (and
    superseded) ratings of the counties a bank officer's branch serves, all for an admin."""
    scope = scope_for(user)
    if scope.everything:
        return Q()
    return prefix_q(field, scope.region_prefixes) | (
        prefix_q(field, scope.served_county_codes) & Q(status__in=BANK_VISIBLE)
    )


def rating_list(*, user, filters: dict | None = None) -> QuerySet[Rating]:
    """filters: status (one or a list), region (code; its subtree), household, q (head name or
    户编号, prefix)."""
    filters = filters or {}
    qs = Rating.objects.filter(ratings_scope_q(user)).select_related(
        "household__village", "drafted_by", "scorecard"
    )
    status = filters.get("status")
    if status:
        qs = qs.filter(status__in=[status] if isinstance(status, str) else status)
    if filters.get("region"):
        qs = qs.filter(household__village__code__startswith=code_prefix(filters["region"]))
    if filters.get("household"):
        qs = qs.filter(household_id=filters["household"])
    if filters.get("q"):
        term = search_term(filters["q"])
        qs = qs.filter(Q(household__head_name__startswith=term) | Q(household__household_no__startswith=term))
    return qs.order_by("-created_at", "-id")


def rating_get_for_user(*, user, pk) -> Rating:
    try:
        return (
            Rating.objects.filter(ratings_scope_q(user))
            .select_related("household__village__parent__parent", "scorecard", "drafted_by")
            .prefetch_related(
                "events__actor",
                "scorecard__indicators",
                "scorecard__grades",
                Prefetch("opinions", queryset=_opinions()),
            )
            .get(pk=pk)
        )
    except (Rating.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def _opinions() -> QuerySet[RatingOpinion]:
    return RatingOpinion.objects.select_related("officer", "branch", "bank").order_by("at", "id")


def rating_opinions(*, rating: Rating) -> list[RatingOpinion]:
    """The banks' opinions on a rating the caller may read (rating_get_for_user), oldest first
    (prefetched by rating_get_for_user)."""
    return (
        list(rating.opinions.all())
        if _prefetched(rating, "opinions")
        else list(_opinions().filter(rating=rating))
    )


def _prefetched(obj, name: str) -> bool:
    return name in getattr(obj, "_prefetched_objects_cache", {})


def opinion_summary(rating_ids) -> dict[int, dict]:
    """{rating id: {"agree": n, "disagree": n, "disagreeing": [(branch name, comment), ...]}} for
    the ratings of a queue page, in one query (ratings without an opinion are left out)."""
    summary: dict[int, dict] = {}
    rows = (
        RatingOpinion.objects.filter(rating_id__in=list(rating_ids))
        .order_by("at", "id")
        .values_list("rating_id", "agrees", "branch__name", "comment")
    )
    for rating_id, agrees, branch, comment in rows:
        entry = summary.setdefault(rating_id, {"agree": 0, "disagree": 0, "disagreeing": []})
        if agrees:
            entry["agree"] += 1
        else:
            entry["disagree"] += 1
            entry["disagreeing"].append((branch, comment))
    return summary


def scorecard_get(county_code: str, *, on: datetime.date) -> Scorecard | None:
    return scorecard_current(county_code, on=on)


def household_rating(*, household, user, on: datetime.date) -> dict:
    """The household's rating as banks and the household page see it: the effective rating (or
    None), the ratings the user may read, newest first, and whether its credit line is frozen.
    The caller has already checked that the user may see the household."""
    history = list(
        Rating.objects.filter(ratings_scope_q(user), household_id=household.pk)
        .select_related("scorecard", "drafted_by")
        .order_by("-created_at", "-id")
    )
    effective = next(
        (
            r
            for r in history
            if r.status == RatingStatus.APPROVED and r.valid_until is not None and r.valid_until >= on
        ),
        None,
    )
    freeze = CreditLineFreeze.objects.filter(household_id=household.pk, lifted_at__isnull=True).first()
    in_progress = next((r for r in history if r.status in IN_PROGRESS), None)
    return {
        "effective": effective,
        "history": history,
        "frozen": freeze is not None,
        "freeze": freeze,
        "in_progress": in_progress,
    }


def effective_rating(household_id: int, *, on: datetime.date) -> Rating | None:
    """The approved rating still valid on `on`: the one every bank recognises."""
    return (
        Rating.objects.filter(household_id=household_id, status=RatingStatus.APPROVED, valid_until__gte=on)
        .select_related("scorecard")
        .first()
    )


def effective_ratings_q(*, on: datetime.date, household_ref: str = "pk") -> Exists:
    """An Exists() for annotating or filtering households by 'has an effective rating on `on`'."""
    return Exists(
        Rating.objects.filter(
            household_id=OuterRef(household_ref), status=RatingStatus.APPROVED, valid_until__gte=on
        )
    )


def credit_line_frozen(household_id: int) -> bool:
    return CreditLineFreeze.objects.filter(household_id=household_id, lifted_at__isnull=True).exists()


def available_credit_line(household_id: int, *, on: datetime.date):
    """(rating, credit line) the loans app may lend against: the effective rating's line, or 0 when
    there is none or the line is frozen."""
    rating = effective_rating(household_id, on=on)
    if rating is None or credit_line_frozen(household_id):
        return rating, Decimal("0.00")
    return rating, rating.credit_line


def effective_credit_lines(household_ids, *, on: datetime.date) -> dict[int, tuple[str, "Decimal"]]:
    """{household id: (grade, available credit line)} for many households in two queries (a frozen
    line counts as 0): for lists such as the loans app's."""
    rows = Rating.objects.filter(
        household_id__in=household_ids, status=RatingStatus.APPROVED, valid_until__gte=on
    ).values_list("household_id", "grade", "credit_line")
    frozen = set(
        CreditLineFreeze.objects.filter(household_id__in=household_ids, lifted_at__isnull=True).values_list(
            "household_id", flat=True
        )
    )
    return {hid: (grade, Decimal("0.00") if hid in frozen else line) for hid, grade, line in rows}


def ratings_in_progress(*, user) -> QuerySet[Rating]:
    return rating_list(user=user, filters={"status": list(IN_PROGRESS)})


def ratings_expiring(*, user, on: datetime.date, within_days: int = 30) -> QuerySet[Rating]:
    """Approved ratings that lapse within `within_days` of `on`."""
    return (
        rating_list(user=user, filters={"status": RatingStatus.APPROVED})
        .filter(valid_until__gte=on, valid_until__lte=on + datetime.timedelta(days=within_days))
        .order_by("valid_until")
    )


def rating_coverage(*, user, region_code: str, on: datetime.date, group_length: int) -> list[dict]:
    """Rating coverage (评级授信面) below a region, grouped by the first `group_length` digits of
    the village code (6 county, 9 township, 12 village): households, rated households and the
    coverage as a percentage with two places. One aggregate query."""
    rows = (
        Household.objects.filter(
            area_q(user, "village__code"), village__code__startswith=code_prefix(region_code)
        )
        .annotate(region=Substr("village_id", 1, group_length), rated=effective_ratings_q(on=on))
        .values("region")
        .annotate(households=Count("id"), rated_households=Count("id", filter=Q(rated=True)))
        .order_by("region")
    )
    return [
        {
            "region": row["region"],
            "households": row["households"],
            "rated_households": row["rated_households"],
            "rating_coverage": percent(row["rated_households"], row["households"]),
        }
        for row in rows
    ]


CHILD_LEVEL = {
    Region.Level.PROVINCE: Region.Level.COUNTY,
    Region.Level.CITY: Region.Level.COUNTY,
    Region.Level.COUNTY: Region.Level.TOWNSHIP,
    Region.Level.TOWNSHIP: Region.Level.VILLAGE,
}
CODE_LENGTH = {Region.Level.COUNTY: 6, Region.Level.TOWNSHIP: 9, Region.Level.VILLAGE: 12}


def rating_coverage_by_child(*, user, region: Region, on: datetime.date) -> dict:
    """Rating coverage (评级授信面) of a region and of each of its child regions (counties of a
    city, townships of a county, villages of a township; a village has no children): for the
    coverage page and the dashboards (a province's rows are its counties). Two queries: the aggregate and the child regions' names.
    Children the user cannot see are left out; a child with no households shows 0 / 0.

    {"region", "households", "rated_households", "rating_coverage", "children": [{"code", "name",
    "level", "households", "rated_households", "rating_coverage"}, ...]}"""
    child_level = CHILD_LEVEL.get(region.level)
    scope = scope_for(user)
    if child_level is None:  # a village: itself only
        rows = rating_coverage(user=user, region_code=region.code, on=on, group_length=12)
        children = []
    else:
        rows = rating_coverage(
            user=user, region_code=region.code, on=on, group_length=CODE_LENGTH[child_level]
        )
        by_code = {row["region"]: row for row in rows}
        children = []
        for child in Region.objects.filter(level=child_level, code__startswith=region.prefix).order_by(
            "code"
        ):
            if not (scope.everything or scope.covers_region(child.code)):
                continue
            row = by_code.get(child.code, {"households": 0, "rated_households": 0})
            children.append(
                {
                    "code": child.code,
                    "name": child.name,
                    "level": child.level,
                    "households": row["households"],
                    "rated_households": row["rated_households"],
                    "rating_coverage": percent(row["rated_households"], row["households"]),
                }
            )
    households = sum(row["households"] for row in rows)
    rated = sum(row["rated_households"] for row in rows)
    return {
        "region": region,
        "households": households,
        "rated_households": rated,
        "rating_coverage": percent(rated, households),
        "children": children,
    }
