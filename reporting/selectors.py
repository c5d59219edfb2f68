"""Reads of the dashboards, targets and the county assessment, all served from the rollup snapshots
(reporting.rollups writes them in the daily job), scoped like the regions: a region role sees its
region and everything below it, the city sees every county, a bank officer the counties its branch
serves, an admin everything. A region outside the user's scope is a 404, exactly like a missing one.

Shapes (every selector returns plain dicts of Python values; the API turns them into strings):

A *figures row* (one region on one date):
    {"region": "411722", "name": "上蔡县", "level": "county", "as_of": date,
     "households": int,                         # every household on file (rating coverage's base)
     "registered_households": int,              # status poor / lifted / monitored
     "borrowed_households_cumulative": int,     # registered households with a loan disbursed on or before as_of
     "borrowed_households_current": int,        # registered households with principal outstanding
     "coverage_cumulative": Decimal,            # percent, two places (12.50)
     "coverage_current": Decimal,
     "rated_households": int,                   # households with an effective rating on as_of
     "rating_coverage": Decimal,                # rated / households, percent
     "principal_outstanding": Decimal,          # money; household and enterprise loans
     "npl_principal": Decimal,
     "npl_ratio": Decimal,                      # percent: npl_principal / principal_outstanding
     "written_off_principal": Decimal,          # money written off (核销) on or before as_of, cumulative
     "subsidy_paid": Decimal,                   # paid subsidy batches' lines, cumulative to as_of
     "fund_balance": Decimal | None,            # county and above; None for townships and villages
     "covered_outstanding": Decimal | None,     # the fund's covered principal (county and above)
     "leverage_cap": Decimal | None,            # balance x leverage multiple, summed above county
     "leverage_used": Decimal | None}           # covered / cap, percent (100.00 with no cap)

A *target progress* dict (or None when no target row applies):
    {"indicator": "coverage_cumulative", "value": Decimal, "strict": bool (">" rather than ">="),
     "due_on": date, "actual": Decimal, "progress": Decimal (actual / value, percent, capped at 100),
     "reached": bool, "pace_per_day": Decimal | None (percentage points a day),
     "projected_on": date | None (when it reaches the value at the current pace; None if reached or
     no progress), "on_track": bool (reached, or projected on or before due_on)}
"""

import datetime
import math
from decimal import Decimal

from django.db.models import Max, Q
from django.http import Http404

from common.clock import today
from common.errors import ApplicationError
from common.money import CENT, percent
from organization.models import Region
from organization.scoping import area_q, scope_for
from organization.selectors import policy_for, region_get_for_user

from .models import AssessmentWeights, CoverageTarget, Indicator, RegionRollup


class ReportingError(ApplicationError):
    pass


LEVEL_ORDER = [Region.Level.CITY, Region.Level.COUNTY, Region.Level.TOWNSHIP, Region.Level.VILLAGE]
PACE_WINDOW_DAYS = 90
HUNDRED = Decimal("100.00")


def ancestor_codes(code: str) -> list[str]:
    """The codes above a region by the 6+3+3 rule, nearest first: 411722100201 -> 411722100,
    411722, 411700."""
    codes = [code[:n] for n in (9, 6) if len(code) > n]
    if not code.endswith("00") or len(code) > 6:
        codes.append(code[:4] + "00")
    return codes


def figures(row: RegionRollup) -> dict:
    """The figures row of a snapshot (see the module's docstring)."""
    return {
        "region": row.region_id, "name": row.region.name, "level": row.level, "as_of": row.as_of,
        "households": row.households, "registered_households": row.registered_households,
        "borrowed_households_cumulative": row.borrowed_households_cumulative,
        "borrowed_households_current": row.borrowed_households_current,
        "coverage_cumulative": row.coverage_cumulative, "coverage_current": row.coverage_current,
        "rated_households": row.rated_households, "rating_coverage": row.rating_coverage,
        "principal_outstanding": row.principal_outstanding, "npl_principal": row.npl_principal,
        "npl_ratio": row.npl_ratio, "written_off_principal": row.written_off_principal,
        "subsidy_paid": row.subsidy_paid, "fund_balance": row.fund_balance,
        "covered_outstanding": row.covered_outstanding, "leverage_cap": row.leverage_cap,
        "leverage_used": row.leverage_used,
    }  # fmt: skip


def _no_snapshot(as_of: datetime.date | None) -> ReportingError:
    when = f"{as_of:%Y-%m-%d}及以前" if as_of else ""
    return ReportingError(
        "no_snapshot",
        f"{when}没有区域汇总数据。汇总由每日日终任务生成，请先运行日终任务。",
        {"as_of": [when or "无"]},
    )


def _row_on(region_code: str, as_of: datetime.date | None) -> RegionRollup:
    rows = RegionRollup.objects.filter(region_id=region_code).select_related("region").order_by("-as_of")
    row = (rows.filter(as_of__lte=as_of) if as_of else rows).first()
    if row is None:
        raise _no_snapshot(as_of)
    return row


def home_region(*, user) -> Region:
    """The region a user's dashboard opens on: the city for the city office and an admin, the
    unit's region for the other region roles (the broadest one if several), the first county a
    bank officer's branch serves. 404 when the user can see no region."""
    scope = scope_for(user)
    if scope.everything:
        region = Region.objects.filter(level=Region.Level.CITY).order_by("code").first()
    else:
        codes = {prefix.ljust(6, "0") for prefix in scope.area_prefixes}  # 4117 -> 411700
        region = min(
            Region.objects.filter(code__in=codes), key=lambda r: (len(r.prefix), r.code), default=None
        )
    if region is None:
        raise Http404
    return region


def snapshot_dates(*, user, region_code: str) -> list[datetime.date]:
    """Every date with a rollup snapshot of the region, newest first (404 outside scope): for the
    date picker."""
    region_get_for_user(user=user, code=region_code)
    return list(
        RegionRollup.objects.filter(region_id=region_code).order_by("-as_of").values_list("as_of", flat=True)
    )


def snapshot_date(*, region_code: str, as_of: datetime.date | None = None) -> datetime.date:
    """The snapshot date that answers `as_of` for the region: the latest on or before it (the
    latest of all when as_of is None). ReportingError("no_snapshot", ...) when there is none."""
    rows = (
        RegionRollup.objects.filter(region_id=region_code).order_by("-as_of").values_list("as_of", flat=True)
    )
    day = (rows.filter(as_of__lte=as_of) if as_of else rows).first()
    if day is None:
        raise _no_snapshot(as_of)
    return day


def dashboard_version(*, user, region_code: str | None = None, as_of: datetime.date | None = None) -> tuple:
    """Which snapshot row a region's dashboard shows, as (region code, row id, as_of, computed_at):
    one small query, so that the API can key its cache by it (a recomputed date gets a new row).
    region_code None: home_region(user); as_of None: the latest snapshot, else the latest on or
    before it. 404 outside scope or for a missing region; ReportingError("no_snapshot") (a 400)
    when there is none."""
    if region_code is None:
        region_code = home_region(user=user).code
    if not scope_for(user).covers_region(region_code):
        raise Http404
    rows = RegionRollup.objects.filter(region_id=region_code).order_by("-as_of")
    version = (
        (rows.filter(as_of__lte=as_of) if as_of else rows).values_list("pk", "as_of", "computed_at").first()
    )
    if version is None:
        region_get_for_user(user=user, code=region_code)  # a missing region is a 404, not a 400
        raise _no_snapshot(as_of)
    return (region_code, *version)


def dashboard_row(
    *, user, region_code: str | None = None, as_of: datetime.date | None = None
) -> RegionRollup:
    """The snapshot row a region's dashboard shows, with its region (see dashboard_version)."""
    _code, pk, _day, _computed = dashboard_version(user=user, region_code=region_code, as_of=as_of)
    return RegionRollup.objects.select_related("region").get(pk=pk)


def dashboard(
    *,
    user,
    region_code: str | None = None,
    as_of: datetime.date | None = None,
    version: tuple | None = None,
) -> dict:
    """The dashboard of a region: its figures row, the rows of its child regions (ordered by code;
    scope is a prefix, so whoever sees a region sees all its children), and its progress against
    the coverage target in force.

    region_code None: home_region(user). as_of None: the latest snapshot; a date without a
    snapshot: the latest on or before it; ReportingError("no_snapshot") if none (a 400). `version`:
    the dashboard_version, if the caller has it.

    {**figures row, "as_of": date (the snapshot's), "requested_as_of": date | None,
     "children": [figures row, ...], "target": target progress | None,
     "ancestors": [{"code", "name", "level"}, ...] (from the top region the user may see, for
     breadcrumbs)}"""
    version = version or dashboard_version(user=user, region_code=region_code, as_of=as_of)
    row = RegionRollup.objects.select_related("region").get(pk=version[1])
    scope = scope_for(user)
    children = (
        RegionRollup.objects.filter(parent_code=row.region_id, as_of=row.as_of)
        .select_related("region")
        .order_by("region_id")
    )
    above = Region.objects.filter(code__in=ancestor_codes(row.region_id)).order_by("code")
    return {
        **figures(row),
        "requested_as_of": as_of,
        "children": [figures(child) for child in children if scope.covers_region(child.region_id)],
        "target": target_progress(region_code=row.region_id, as_of=row.as_of, row=row),
        "ancestors": [
            {"code": r.code, "name": r.name, "level": r.level} for r in above if scope.covers_region(r.code)
        ],
    }


def dashboard_trend(
    *, user, region_code: str, start: datetime.date | None = None, end: datetime.date | None = None
) -> list[dict]:
    """The region's figures rows over time (one per snapshot date between start and end, both
    included; all when omitted), oldest first, for the trend charts. 404 outside scope."""
    region_get_for_user(user=user, code=region_code)
    rows = RegionRollup.objects.filter(region_id=region_code).select_related("region").order_by("as_of")
    if start:
        rows = rows.filter(as_of__gte=start)
    if end:
        rows = rows.filter(as_of__lte=end)
    return [figures(row) for row in rows]


def levels_below(level: str) -> list[str]:
    """The level and those under it, top down: the sheets of an export."""
    return LEVEL_ORDER[LEVEL_ORDER.index(level) :] if level in LEVEL_ORDER else [Region.Level.VILLAGE]


def dashboard_table(*, user, region_code: str, as_of: datetime.date, level: str) -> list[dict]:
    """Figures rows of every region of `level` at or below the region on the snapshot date
    `as_of` (use snapshot_date first), that the user may see, ordered by code: one sheet of the
    export. 404 outside scope."""
    region = region_get_for_user(user=user, code=region_code)
    rows = (
        RegionRollup.objects.filter(
            area_q(user, "region__code"), as_of=as_of, level=level, region__code__startswith=region.prefix
        )
        .select_related("region")
        .order_by("region_id")
    )
    return [figures(row) for row in rows]


# --- targets -----------------------------------------------------------------------------------


def target_in_force(
    region_code: str, *, as_of: datetime.date, indicator: str = Indicator.COVERAGE_CUMULATIVE
) -> CoverageTarget | None:
    """The target row of the region or its nearest ancestor with one (else the city-wide rows)
    with the earliest due date on or after as_of; after the last due date, the last one."""
    codes = [region_code, *ancestor_codes(region_code)]
    rows = list(
        CoverageTarget.objects.filter(Q(region=None) | Q(region_id__in=codes), indicator=indicator).order_by(
            "due_on"
        )
    )
    for code in [*codes, None]:
        mine = [t for t in rows if t.region_id == code]
        if mine:
            return next((t for t in mine if t.due_on >= as_of), mine[-1])
    return None


def target_progress(
    *, region_code: str, as_of: datetime.date, row: RegionRollup | None = None
) -> dict | None:
    """Progress of the region against the coverage target in force on `as_of` (target_in_force).
    The pace is the change of coverage_cumulative per day between the snapshot of as_of and the
    latest snapshot at least 90 days earlier (the earliest earlier snapshot if none is that old).
    Shape: target progress above. `row`: the region's snapshot of as_of, if the caller has it."""
    target = target_in_force(region_code, as_of=as_of)
    if target is None:
        return None
    row = row or _row_on(region_code, as_of)
    actual = getattr(row, target.indicator)
    reached = target.met_by(actual)
    earlier = RegionRollup.objects.filter(region_id=region_code, as_of__lt=row.as_of)
    before = (
        earlier.filter(as_of__lte=row.as_of - datetime.timedelta(days=PACE_WINDOW_DAYS))
        .order_by("-as_of")
        .first()
        or earlier.order_by("as_of").first()
    )
    pace = projected = None
    if before is not None:
        pace = (actual - getattr(before, target.indicator)) / (row.as_of - before.as_of).days
        pace = pace.quantize(Decimal("0.0001"))
    if not reached and pace and pace > 0:
        gap = target.value - actual + (CENT if target.strict else 0)
        projected = row.as_of + datetime.timedelta(days=math.ceil(gap / pace))
    return {
        "indicator": target.indicator, "value": target.value, "strict": target.strict, "due_on": target.due_on,
        "actual": actual, "progress": min(percent(actual, target.value), HUNDRED) if target.value else HUNDRED,
        "reached": reached, "pace_per_day": pace, "projected_on": projected,
        "on_track": reached or (projected is not None and projected <= target.due_on),
    }  # fmt: skip


# --- the county assessment ---------------------------------------------------------------------


def weights_for(on: datetime.date) -> AssessmentWeights:
    """The weights row in force on `on`; the model's defaults before any row."""
    row = AssessmentWeights.objects.filter(effective_from__lte=on).order_by("-effective_from").first()
    return row or AssessmentWeights(effective_from=on)


def subsidy_timeliness(year: int, *, days: int, on: datetime.date) -> dict[str, Decimal]:
    """Per county: the share (percent) of its settlement batches whose period ended in `year` (not
    cancelled) that were paid within `days` days of the period end. A batch still unpaid within
    those days on `on` is not yet due and left out; a county with no batch due is absent."""
    from subsidy.models import BatchStatus, SettlementBatch

    batches = SettlementBatch.objects.filter(period_end__year=year).exclude(status=BatchStatus.CANCELLED)
    due, on_time = {}, {}
    for county, status, period_end, paid_on in batches.values_list(
        "county_id", "status", "period_end", "paid_on"
    ):
        deadline = period_end + datetime.timedelta(days=days)
        paid = status == BatchStatus.PAID and paid_on is not None
        if not paid and deadline >= on:
            continue
        due[county] = due.get(county, 0) + 1
        on_time[county] = on_time.get(county, 0) + (1 if paid and paid_on <= deadline else 0)
    return {county: percent(on_time[county], n) for county, n in due.items()}


def _scores(indicators: dict[str, Decimal]) -> dict[str, Decimal]:
    return {
        "coverage": min(indicators["coverage"], HUNDRED),
        "rating_coverage": min(indicators["rating_coverage"], HUNDRED),
        "npl_ratio": max(HUNDRED - 10 * indicators["npl_ratio"], Decimal("0.00")),
        "fund_use": min(indicators["fund_use"], HUNDRED),
        "subsidy_timeliness": indicators["subsidy_timeliness"],
    }


def _flags(row: RegionRollup, target: dict | None, threshold: Decimal) -> list[dict]:
    flags = []
    if target is not None and not target["on_track"]:
        when = (
            f"按当前进度预计{target['projected_on']:%Y年%m月%d日}达到"
            if target["projected_on"]
            else "按当前进度无法达到"
        )
        flags.append({
            "code": "behind_target",
            "detail": f"累计获贷率{target['actual']}%，落后于{target['due_on']:%Y年%m月%d日}前"
                      f"{'超过' if target['strict'] else '达到'}{target['value']}%的目标，{when}。",
        })  # fmt: skip
    if row.npl_ratio > threshold:
        flags.append(
            {"code": "npl_over_threshold", "detail": f"不良贷款率{row.npl_ratio}%，高于{threshold}%。"}
        )
    return flags


def assessment(*, user, year: int) -> dict:
    """The county assessment (考核评价) of `year` from each county's snapshot of the latest date on
    or before 31 December of that year (ReportingError("no_snapshot") if none).

    Indicators, each scored 0-100, combined with the weights of the AssessmentWeights row in
    force on that date:
      coverage            coverage_cumulative (percent);
      rating_coverage     rating_coverage (percent);
      npl_ratio           lower is better: score = max(0, 100 - 10 x NPL ratio) (10 % scores 0);
      fund_use            covered principal outstanding / leverage cap (percent, at most 100; 0 when
                          the county has no fund);
      subsidy_timeliness  share of the county's settlement batches whose period ended in the year
                          (not cancelled) that were paid within `timeliness_days` of the period end
                          (a batch unpaid but not yet that late is left out); 0 when it has none.
    score = Σ weight x indicator score / Σ weights, two places. Ranked by score (ties by code).
    Flags (通报): "behind_target" when its coverage is not on track for the target in force;
    "npl_over_threshold" when its NPL ratio is over its township breaker threshold.

    {"year": int, "as_of": date, "weights": {"coverage", "rating_coverage", "npl_ratio", "fund_use",
     "subsidy_timeliness": Decimal, "timeliness_days": int},
     "results": [{"rank": int, "county": code, "name", "score": Decimal,
                  "indicators": {"coverage", "rating_coverage", "npl_ratio", "fund_use",
                                 "subsidy_timeliness": Decimal},
                  "scores": {same keys: Decimal 0-100},
                  "target": target progress | None,
                  "flags": [{"code", "detail"}], "flagged": bool}, ...]}
    Ranks are among all counties; results hold the counties the user may see."""
    end = datetime.date(year, 12, 31)
    counties = RegionRollup.objects.filter(level=Region.Level.COUNTY)
    day = counties.filter(as_of__lte=end).aggregate(day=Max("as_of"))["day"]
    if day is None:
        raise _no_snapshot(end)
    weights = weights_for(day)
    timeliness = subsidy_timeliness(year, days=weights.timeliness_days, on=today())
    total_weight = sum(weights.weights.values()) or Decimal(1)
    results = []
    for row in counties.filter(as_of=day).select_related("region").order_by("region_id"):
        indicators = {
            "coverage": row.coverage_cumulative, "rating_coverage": row.rating_coverage, "npl_ratio": row.npl_ratio,
            "fund_use": min(row.leverage_used, HUNDRED) if row.leverage_cap else Decimal("0.00"),
            "subsidy_timeliness": timeliness.get(row.region_id, Decimal("0.00")),
        }  # fmt: skip
        scores = _scores(indicators)
        score = sum(weights.weights[k] * v for k, v in scores.items()) / total_weight
        target = target_progress(region_code=row.region_id, as_of=day, row=row)
        flags = _flags(row, target, policy_for(row.region_id, on=day).township_npl_threshold)
        results.append({
            "county": row.region_id, "name": row.region.name, "score": score.quantize(CENT),
            "indicators": indicators, "scores": scores, "target": target, "flags": flags, "flagged": bool(flags),
        })  # fmt: skip
    results.sort(key=lambda r: (-r["score"], r["county"]))
    for rank, result in enumerate(results, start=1):
        result["rank"] = rank
    scope = scope_for(user)
    return {
        "year": year, "as_of": day,
        "weights": {**weights.weights, "timeliness_days": weights.timeliness_days},
        "results": [r for r in results if scope.covers_region(r["county"])],
    }  # fmt: skip
