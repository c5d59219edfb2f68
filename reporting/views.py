"""Browser pages: the home page, the dashboards and the county assessment (考核评价). It lives in
reporting, the app that may read every other app (nothing imports reporting).

- Dashboard (/dashboard/?region=&as_of=): a region's figures on a snapshot date, its child regions
  side by side (each links to its own dashboard: city → county → township → village), its
  progress against the coverage target in force with the projected date, charts of the children
  and trend charts over the snapshot dates, tripped circuit breakers in red, xlsx downloads.
- Assessment (/dashboard/assessment/?year=): the counties ranked, their indicators and flags (通报),
  and the same table as xlsx (the dashboard tables and the monthly report download from the API's
  export routes, reporting.exports).

The figures come from reporting.selectors (scope there: a region outside the user's area is a 404);
the breaker states from loans.models.Breaker (read here, below a region the selectors let through).
The charts get their data through json_script and are drawn by static/js/dashboard.js with
Chart.js (static/vendor/chartjs)."""

import datetime
import io
from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_safe
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.utils import get_column_letter

from common.clock import today
from common.spreadsheets import escape_formula
from households.selectors import household_list
from loans.models import Breaker
from organization.models import Region, code_prefix
from organization.scoping import scope_for
from organization.selectors import policy_for, region_get_for_user, region_list

from . import exports, selectors
from .models import RegionRollup

TRIPPED_SHOWN = 20  # tripped areas listed by name above the charts; the rest are counted


@login_required
@require_safe
def home(request):
    assignments = request.user.role_assignments.select_related("unit__region", "branch__bank")
    return render(
        request,
        "home.html",
        {
            "assignments": assignments,
            "household_count": household_list(user=request.user).count(),
            "counties": region_list(user=request.user, level="county"),
        },
    )


# --- small reads the selectors do not offer ---------------------------------------------------


def breakers_below(region_code: str) -> dict[str, Breaker]:
    """The breakers of the townships and villages at or below a region, by region code. The caller
    has checked that the user may see the region (the breaker states are the daily job's latest)."""
    rows = Breaker.objects.filter(region__code__startswith=code_prefix(region_code)).select_related("region")
    return {b.region_id: b for b in rows.order_by("region_id")}


def top_regions(user) -> list[Region]:
    """The highest regions of the user's area (a bank officer's served counties, an admin's city):
    the dashboards a user can switch between when there are several."""
    scope = scope_for(user)
    if scope.everything:
        return list(Region.objects.filter(level=Region.Level.CITY).order_by("code"))
    regions = Region.objects.filter(code__in={p.ljust(6, "0") for p in scope.area_prefixes})
    tops = [r for r in regions if not any(r.code != o.code and r.code.startswith(o.prefix) for o in regions)]
    return sorted(tops, key=lambda r: r.code)


def assessment_years() -> list[int]:
    """The years with county snapshots, newest first."""
    days = RegionRollup.objects.filter(level=Region.Level.COUNTY).dates("as_of", "year", order="DESC")
    return [day.year for day in days]


def sees_counties(user) -> bool:
    """Does the user's area hold a whole county (the assessment is per county)?"""
    scope = scope_for(user)
    return scope.everything or any(len(p) <= 6 for p in scope.area_prefixes)


# --- the dashboard -----------------------------------------------------------------------------


def _date_param(request, name: str) -> tuple[datetime.date | None, str]:
    """A YYYY-MM-DD query parameter: (date, "") or (None, a message when it does not read)."""
    text = request.GET.get(name, "").strip()
    if not text:
        return None, ""
    try:
        return datetime.date.fromisoformat(text), ""
    except ValueError:
        return None, f"日期“{text}”格式不正确，请用 YYYY-MM-DD；已显示最新数据。"


def _region_param(request) -> str | None:
    code = request.GET.get("region", "").strip()
    if not code:
        return None
    if not code.isdigit() or len(code) not in (6, 9, 12):
        raise Http404  # like a missing region
    return code


def _dashboard_url(code: str, as_of: datetime.date | None = None) -> str:
    query = {"region": code, **({"as_of": as_of.isoformat()} if as_of else {})}
    return f"{reverse('dashboard:index')}?{urlencode(query)}"


def _number(value) -> float | None:
    """A figure for the charts (drawing only; the tables show the Decimal)."""
    return None if value is None else float(value)


class Thresholds:
    """The county policies in force on a date (breaker thresholds, leverage warning line), read
    once per county."""

    def __init__(self, on: datetime.date):
        self.on = on
        self._policies = {}

    def policy(self, code: str):
        county = code[:6]
        if county not in self._policies:
            self._policies[county] = policy_for(county, on=self.on)
        return self._policies[county]

    def for_region(self, code: str, level: str) -> Decimal | None:
        """A township's or village's own threshold; for a county the township one, which the
        assessment also holds its NPL ratio against; None for the city."""
        if level == Region.Level.CITY:
            return None
        policy = self.policy(code)
        if level == Region.Level.VILLAGE:
            return policy.village_npl_threshold
        return policy.township_npl_threshold


def _child_rows(board: dict, breakers: dict[str, Breaker], thresholds: Thresholds) -> list[dict]:
    """The children's figures with what the table shows beside them: the drill-down link, the
    breaker (township, village) or the tripped areas below (county), the threshold, the target."""
    tripped = [code for code, b in breakers.items() if b.state == Breaker.State.TRIPPED]
    rows = []
    for child in board["children"]:
        code = child["region"]
        breaker = breakers.get(code)
        threshold = breaker.threshold if breaker else thresholds.for_region(code, child["level"])
        rows.append({
            **child,
            "url": _dashboard_url(code, board["requested_as_of"]),
            "breaker": breaker,
            "is_tripped": breaker is not None and breaker.state == Breaker.State.TRIPPED,
            "tripped_below": sum(1 for t in tripped if t != code and t.startswith(code_prefix(code))),
            "threshold": threshold,
            "over_threshold": threshold is not None and child["npl_ratio"] > threshold,
            "leverage_warning": (
                thresholds.policy(code).leverage_warning_ratio if child["fund_balance"] is not None else None
            ),
            "target": selectors.target_progress(region_code=code, as_of=board["as_of"]),
        })  # fmt: skip
    return rows


def _chart_data(board: dict, rows: list[dict], trend: list[dict]) -> dict:
    """What static/js/dashboard.js draws (json_script "dashboard-data")."""
    target = board["target"]
    return {
        "children": {
            "labels": [r["name"] for r in rows],
            "urls": [r["url"] for r in rows],
            "coverage_cumulative": [_number(r["coverage_cumulative"]) for r in rows],
            "coverage_current": [_number(r["coverage_current"]) for r in rows],
            "rating_coverage": [_number(r["rating_coverage"]) for r in rows],
            "target": [_number(r["target"]["value"]) if r["target"] else None for r in rows],
            "npl_ratio": [_number(r["npl_ratio"]) for r in rows],
            "threshold": [_number(r["threshold"]) for r in rows],
            "alarm": [r["is_tripped"] or r["over_threshold"] for r in rows],
            "leverage_used": [_number(r["leverage_used"]) for r in rows],
            "leverage_warning": [_number(r["leverage_warning"]) for r in rows],
        },
        "trend": {
            "dates": [t["as_of"].isoformat() for t in trend],
            "coverage_cumulative": [_number(t["coverage_cumulative"]) for t in trend],
            "coverage_current": [_number(t["coverage_current"]) for t in trend],
            "rating_coverage": [_number(t["rating_coverage"]) for t in trend],
            "npl_ratio": [_number(t["npl_ratio"]) for t in trend],
        },
        "target": _number(target["value"]) if target else None,
        "threshold": _number(board["threshold"]),
    }


@login_required
@require_safe
def dashboard_view(request):
    """A region's dashboard (the user's own top region by default) on a snapshot date."""
    user = request.user
    code = _region_param(request)
    as_of, date_error = _date_param(request, "as_of")
    tops = top_regions(user)
    context = {
        "tops": tops if len(tops) > 1 else [],
        "date_error": date_error,
        "subnav": _subnav(user, "index"),
    }
    try:
        board = selectors.dashboard(user=user, region_code=code, as_of=as_of)
    except selectors.ReportingError as exc:  # no snapshot yet (or none that early)
        region = (
            selectors.home_region(user=user) if code is None else region_get_for_user(user=user, code=code)
        )
        context.update({"no_data": exc.message, "region": region})
        return render(request, "reporting/dashboard.html", context)

    region_code, level, day = board["region"], board["level"], board["as_of"]
    breakers = breakers_below(region_code)
    thresholds = Thresholds(day)
    rows = _child_rows(board, breakers, thresholds)
    own_breaker = breakers.get(region_code)
    board["threshold"] = own_breaker.threshold if own_breaker else thresholds.for_region(region_code, level)
    board["leverage_warning"] = (
        thresholds.policy(region_code).leverage_warning_ratio if level == Region.Level.COUNTY else None
    )
    trend = selectors.dashboard_trend(user=user, region_code=region_code, end=day)
    tripped = [b for b in breakers.values() if b.state == Breaker.State.TRIPPED]
    latest = selectors.snapshot_date(region_code=region_code)
    context.update({
        "board": board,
        "rows": rows,
        "own_breaker": own_breaker,
        "level_label": Region.Level(level).label,
        "child_level_label": Region.Level(rows[0]["level"]).label if rows else "",
        "tripped": [{"breaker": b, "url": _dashboard_url(b.region_id)} for b in tripped[:TRIPPED_SHOWN]],
        "tripped_count": len(tripped),
        "tripped_more": max(len(tripped) - TRIPPED_SHOWN, 0),
        "has_fund": board["fund_balance"] is not None,
        "children_have_fund": any(r["fund_balance"] is not None for r in rows),
        "is_latest": day == latest,
        "latest": latest,
        "trend_count": len(trend),
        "chart_data": _chart_data(board, rows, trend),
        "export_url": f"{reverse('dashboard-export')}?{urlencode({'region': region_code, 'as_of': day})}",
        "monthly_url": reverse("report-monthly") if level == Region.Level.CITY else None,
        "month": f"{day:%Y-%m}",
        "ancestors": [{**a, "url": _dashboard_url(a["code"], board["requested_as_of"])} for a in board["ancestors"]],
    })  # fmt: skip
    return render(request, "reporting/dashboard.html", context)


# --- the assessment ----------------------------------------------------------------------------

INDICATORS = [
    ("coverage", "累计获贷率"),
    ("rating_coverage", "评级授信面"),
    ("npl_ratio", "不良率"),
    ("fund_use", "补偿金使用率"),
    ("subsidy_timeliness", "贴息及时率"),
]


@login_required
@require_safe
def assessment_view(request):
    """The counties ranked for a year (default: the latest year with snapshots)."""
    user = request.user
    years = assessment_years()
    text = request.GET.get("year", "").strip()
    if text and not (text.isdigit() and 2000 <= int(text) <= 2100):
        raise Http404
    year = int(text) if text else (years[0] if years else today().year)
    context = {
        "year": year,
        "years": [{"year": y, "url": f"?year={y}", "active": y == year} for y in years],
        "indicators": INDICATORS,
        "subnav": _subnav(user, "assessment"),
    }
    try:
        result = selectors.assessment(user=user, year=year)
    except selectors.ReportingError as exc:
        context["no_data"] = exc.message
        return render(request, "reporting/assessment.html", context)
    rows = []
    for r in result["results"]:
        rows.append({
            **r,
            "url": _dashboard_url(r["county"], result["as_of"]),
            "cells": [(key, r["indicators"][key], r["scores"][key]) for key, _label in INDICATORS],
            "npl_flag": any(f["code"] == "npl_over_threshold" for f in r["flags"]),
        })  # fmt: skip
    weights = result["weights"]
    context.update({
        "result": result,
        "rows": rows,
        "export_url": f"{reverse('dashboard:assessment-export')}?{urlencode({'year': year})}",
        "flagged": [r for r in rows if r["flagged"]],
        "weights": [(label, weights[key]) for key, label in INDICATORS],
        "timeliness_days": weights["timeliness_days"],
        "chart_data": {
            "labels": [r["name"] for r in rows],
            "urls": [r["url"] for r in rows],
            "score": [_number(r["score"]) for r in rows],
            "alarm": [r["flagged"] for r in rows],
        },
    })  # fmt: skip
    return render(request, "reporting/assessment.html", context)


ASSESSMENT_COLUMNS = [
    ("名次", 6, "0"), ("区划代码", 10, "@"), ("县（区）", 12, None), ("综合得分", 10, "0.00"),
    *[(f"{label}（%）", 14, "0.00") for _key, label in INDICATORS],
    *[(f"{label}得分", 12, "0.00") for _key, label in INDICATORS],
    ("获贷率目标（%）", 14, "0.00"), ("目标期限", 12, "yyyy-mm-dd"), ("预计达标日期", 14, "yyyy-mm-dd"),
    ("通报", 60, None),
]  # fmt: skip


@login_required
@require_safe
def assessment_export_view(request):
    """The assessment table of a year as xlsx (the rows the page shows)."""
    text = request.GET.get("year", "")
    if not (text.isdigit() and 2000 <= int(text) <= 2100):
        raise Http404
    try:
        result = selectors.assessment(user=request.user, year=int(text))
    except selectors.ReportingError:
        raise Http404 from None  # no snapshot that year: nothing to download
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("考核评价")
    for index, (_header, width, _format) in enumerate(ASSESSMENT_COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.append([f"{text}年县区扶贫小额信贷考核评价（数据日期 {result['as_of']:%Y-%m-%d}）"])
    sheet.append([header for header, _width, _format in ASSESSMENT_COLUMNS])
    for r in result["results"]:
        t = r["target"] or {}
        values = [
            r["rank"], r["county"], r["name"], r["score"],
            *[r["indicators"][key] for key, _label in INDICATORS], *[r["scores"][key] for key, _label in INDICATORS],
            t.get("value"), t.get("due_on"), t.get("projected_on"), "".join(f["detail"] for f in r["flags"]),
        ]  # fmt: skip
        row = []
        for value, (_header, _width, number_format) in zip(values, ASSESSMENT_COLUMNS, strict=True):
            cell = WriteOnlyCell(sheet, value=escape_formula(value) if isinstance(value, str) else value)
            if number_format and value is not None:
                cell.number_format = number_format
            row.append(cell)
        sheet.append(row)
    output = io.BytesIO()
    workbook.save(output)
    output.seek(0)
    return FileResponse(
        output, as_attachment=True, filename=f"县区考核评价-{text}.xlsx", content_type=exports.XLSX
    )


def _subnav(user, current: str) -> list[dict]:
    items = [("index", "区域统计", "dashboard:index")]
    if sees_counties(user):
        items.append(("assessment", "县区考核评价", "dashboard:assessment"))
    return [{"label": label, "url": reverse(name), "active": key == current} for key, label, name in items]
