"""The daily job (API.md "Daily jobs and circuit breakers"): days past due and the five-category
classification, the village and township circuit breakers, fund leverage and maturity warnings.

Everything is set-based: the classification is two UPDATE statements (plus one per group of counties
whose policy moves the DPD bands), the breakers one GROUP BY over the loans. Each step is
idempotent: running the same day twice writes nothing the second time and records no second trip.

`counties` (a list of county codes, or None for all) limits a run to the counties of the county staff
member who started it.
"""

import datetime
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import NotSupportedError, connection, transaction
from django.db.models import (
    Case,
    Count,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, JSONObject
from django.http import Http404

from common.audit import audit_entry, audit_insert_select, audit_record_many
from common.clock import now, today
from common.dates import add_months
from common.errors import Forbidden
from common.money import money, percent
from common.workflow import Refusal, Step, Workflow
from organization.models import CityPolicy, CountyPolicy, PolicyStatus, Region, Role
from organization.scoping import area_q, has_role_over, is_admin, prefix_q
from organization.selectors import policy_for

from .models import (
    NPL_CLASSES,
    OUTSTANDING_STATUSES,
    Breaker,
    BreakerEvent,
    Classification,
    Instalment,
    Loan,
    LoanStatus,
)  # fmt: skip
from .selectors import loan_scope_q
from .services import LoanError

C = Classification


# --- policy lookups --------------------------------------------------------------------------------


def _county_filter(field: str, counties: Iterable[str] | None) -> Q:
    return Q() if counties is None else Q(**{f"{field}__in": list(counties)})


def _policy_groups(as_of: datetime.date, fields: tuple[str, ...], counties=None) -> list[tuple[tuple, Q]]:
    """The values of the policy `fields` in force on `as_of`, with the counties that have them:
    [(values, Q on county_id)], the defaults first as "every other county" so that a loan in any
    county is covered. A county without approved rows of its own or of its city has the defaults
    (policy_for gives it the model's defaults), so only counties with such rows are looked up, and a caller's SQL stays one
    statement per distinct set of values however many counties there are."""
    defaults = tuple(getattr(CountyPolicy(), f) for f in fields)
    approved = {"effective_from__lte": as_of, "status": PolicyStatus.APPROVED}
    with_rows = set(
        CountyPolicy.objects.filter(_county_filter("county_id", counties), **approved)
        .values_list("county_id", flat=True)
        .distinct()
    )
    # A city row can change its counties' numbers too (policy_for clamps to it).
    cities = {code[:4] for code in CityPolicy.objects.filter(**approved).values_list("city_id", flat=True)}
    if cities:
        with_rows |= set(
            Region.objects.filter(
                prefix_q("code", cities), _county_filter("code", counties), level="county"
            ).values_list("code", flat=True)
        )
    groups = defaultdict(list)
    for code in sorted(set(with_rows)):
        values = tuple(getattr(policy_for(code, on=as_of), f) for f in fields)
        if values != defaults:
            groups[values].append(code)
    special = [code for codes in groups.values() for code in codes]
    return [(defaults, ~Q(county_id__in=special))] + [
        (v, Q(county_id__in=codes)) for v, codes in groups.items()
    ]


# --- days past due and classification ----------------------------------------------------------


class DaysBetween(Func):
    """end − start in whole days, both dates. PostgreSQL subtracts dates natively; SQLite through
    julianday() (both at midnight, so the difference is exact)."""

    arity = 2
    output_field = IntegerField()

    def _parts(self, compiler, connection):
        end_sql, end_params = compiler.compile(self.source_expressions[0])
        start_sql, start_params = compiler.compile(self.source_expressions[1])
        return end_sql, start_sql, (*end_params, *start_params)

    def as_postgresql(self, compiler, connection, **extra):
        end, start, params = self._parts(compiler, connection)
        return f"(CAST({end} AS date) - {start})", params

    def as_sqlite(self, compiler, connection, **extra):
        end, start, params = self._parts(compiler, connection)
        return f"CAST(julianday({end}) - julianday({start}) AS INTEGER)", params

    def as_sql(self, compiler, connection, **extra):
        raise NotSupportedError("DaysBetween: PostgreSQL or SQLite only")


def dpd_expression(as_of: datetime.date):
    """Days past due on `as_of` of the loan in the outer query: from the due date of its oldest
    instalment not settled and already due (the partial index unsettled_due answers it), else 0."""
    oldest = (
        Instalment.objects.filter(loan=OuterRef("pk"), settled=False, due_date__lt=as_of)
        .order_by("due_date")
        .values("due_date")[:1]
    )
    return Coalesce(DaysBetween(Value(as_of), Subquery(oldest)), 0)


def _band(substandard: int, doubtful: int, loss: int):
    return Case(
        When(dpd__gte=loss, then=Value(C.LOSS)),
        When(dpd__gte=doubtful, then=Value(C.DOUBTFUL)),
        When(dpd__gte=substandard, then=Value(C.SUBSTANDARD)),
        When(dpd__gte=1, then=Value(C.SPECIAL_MENTION)),
        default=Value(C.NORMAL),
    )


BAND_FIELDS = ("substandard_min_dpd", "doubtful_min_dpd", "loss_min_dpd")
CLASSIFICATION_LOCK = 411_700_001  # any number of our own, for pg_advisory_xact_lock


def _one_classification_at_a_time() -> None:
    """Two runs at once (the nightly one and a county's) would both see a loan's old class and
    both write its audit entry before either updates it: on PostgreSQL the second run waits here
    until the first commits. (SQLite runs one writing transaction at a time anyway.)"""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CLASSIFICATION_LOCK])


def _audit_reclassification(changing: QuerySet[Loan], band, as_of: datetime.date) -> int:
    """One audit entry per loan whose class changes (before the UPDATE, which loses the old
    class), by the system, in one INSERT ... SELECT: the job runs over a million loans."""
    return audit_insert_select(
        changing, action="classify", obj_type="loan", obj_id=F("pk"), label=Coalesce("loan_no", Value("")),
        region=F("area_id"), from_state=F("classification"), to_state=band,
        detail=JSONObject(dpd=F("dpd"), as_of=Value(as_of.isoformat())),
    )  # fmt: skip


@transaction.atomic
def classify_loans(*, as_of: datetime.date, counties: list[str] | None = None) -> dict:
    """DPD and classification of every outstanding loan on `as_of`: two UPDATEs, the DPD, then the
    class from the DPD by the bands of each county's policy (one UPDATE per distinct set of bands).

    Only rows whose DPD or class changes are written, and they get classified_on = as_of (so it
    says since when the figures stand; a loan that never fell behind keeps None; the run's as-of is
    in the Job's result). Writing every loan every night would rewrite the whole table: for a
    million loans 42-52 s, nearly all of it index maintenance on loans_loan, against 7-8 s when only
    the 6-8 % that change are written (bench/daily_job.py). A second run the same day writes nothing."""
    _one_classification_at_a_time()
    loans = Loan.objects.filter(_county_filter("county_id", counties), status__in=OUTSTANDING_STATUSES)
    new_dpd = dpd_expression(as_of)
    dpd_written = loans.exclude(dpd=new_dpd).update(dpd=new_dpd, classified_on=as_of)

    reclassified = 0
    for bands, county_q in _policy_groups(as_of, BAND_FIELDS, counties):
        band = _band(*bands)
        changing = loans.filter(county_q).exclude(classification=band)
        _audit_reclassification(changing, band, as_of)
        reclassified += changing.update(classification=band, classified_on=as_of)

    by_class = {c.value: 0 for c in C}
    for row in loans.values("classification").annotate(n=Count("id")).order_by():
        by_class[row["classification"]] = row["n"]
    return {
        "loans": sum(by_class.values()),
        "dpd_written": dpd_written,
        "reclassified": reclassified,
        "by_class": by_class,
        "overdue": sum(n for cls, n in by_class.items() if cls != C.NORMAL),
    }


# --- circuit breakers --------------------------------------------------------------------------


@dataclass
class _Figures:
    county: str
    level: str
    outstanding: Decimal = Decimal("0.00")
    npl: Decimal = Decimal("0.00")


def breaker_loans(as_of: datetime.date, counties=None) -> QuerySet[Loan]:
    """The loans an area's NPL ratio is made of: those outstanding, and those written off within
    the policy's months before `as_of` (write_off_breaker_months), so that a write-off cannot
    clear a trip (DOMAIN.md "Circuit breaker")."""
    recent = Q(pk__in=[])
    for (months,), counties_q in _policy_groups(as_of, ("write_off_breaker_months",), counties):
        since = add_months(as_of, -months)
        recent |= counties_q & Q(status=LoanStatus.WRITTEN_OFF, written_off_on__gt=since)
    return Loan.objects.filter(_county_filter("county_id", counties)).filter(
        Q(status__in=OUTSTANDING_STATUSES) | recent
    )


# Principal at risk, and the part of it that is non-performing: a loan written off counts with
# the principal it had when written off (its principal outstanding is then 0, and the principal
# written off of every other loan is 0).
BREAKER_SUMS = {
    "total": Sum(F("principal_outstanding") + F("written_off_principal")),
    "npl": Sum("principal_outstanding", filter=Q(classification__in=NPL_CLASSES), default=0)
    + Sum("written_off_principal", default=0),
}


def _area_figures(loans: QuerySet[Loan]) -> dict[str, _Figures]:
    """Principal and NPL principal of every village and township with loans at risk, from one
    GROUP BY: a household loan counts in its village and its township, an enterprise loan
    (area = township) in its township only."""
    rows = loans.values("county_id", "township_id", "area_id").annotate(**BREAKER_SUMS).order_by()
    figures: dict[str, _Figures] = {}
    for row in rows:
        total, npl = row["total"] or Decimal(0), row["npl"] or Decimal(0)
        areas = [(row["township_id"], Region.Level.TOWNSHIP)]
        if row["area_id"] != row["township_id"]:
            areas.append((row["area_id"], Region.Level.VILLAGE))
        for code, level in areas:
            f = figures.setdefault(code, _Figures(row["county_id"], level))
            f.outstanding += total
            f.npl += npl
    return figures


def _threshold(policy: CountyPolicy, level: str) -> Decimal:
    return policy.village_npl_threshold if level == Region.Level.VILLAGE else policy.township_npl_threshold


def _apply(breaker: Breaker, figures: _Figures, threshold, on: datetime.date) -> None:
    breaker.principal_outstanding = money(figures.outstanding)
    breaker.npl_principal = money(figures.npl)
    breaker.npl_ratio = percent(figures.npl, figures.outstanding)
    breaker.threshold = money(threshold)
    breaker.computed_on = on


FIGURE_FIELDS = ["principal_outstanding", "npl_principal", "npl_ratio", "threshold", "computed_on"]


@transaction.atomic
def compute_breakers(*, as_of: datetime.date, counties: list[str] | None = None) -> dict:
    """NPL ratio of every village and township; a normal breaker strictly over its threshold trips
    (the ratio compared is the stored one, rounded to 0.01 %, the figure users see). A tripped one
    stays tripped: only county staff resume it (breaker_resume); its figures are refreshed so
    `resumable` tells when they may. Areas whose loans are all gone keep their row, at zero."""
    figures = _area_figures(breaker_loans(as_of, counties))
    # Rows for new areas first, then lock every row of the run in one order: a second run at the
    # same time waits here and then sees this one's trips (no second event).
    Breaker.objects.bulk_create(
        [Breaker(region_id=code, level=f.level) for code, f in figures.items()], ignore_conflicts=True, batch_size=1000
    )  # fmt: skip
    in_scope = (
        Breaker.objects.all()
        if counties is None
        else Breaker.objects.filter(prefix_q("region__code", counties))
    )
    breakers = list(in_scope.select_for_update().order_by("region_id"))

    policies: dict[str, CountyPolicy] = {}
    changed, trips, moment = [], [], now()
    for breaker in breakers:
        code = breaker.region_id
        f = figures.get(code) or _Figures(code[:6], breaker.level)
        if f.county not in policies:
            policies[f.county] = policy_for(f.county, on=as_of)
        policy = policies[f.county]
        before = tuple(getattr(breaker, name) for name in FIGURE_FIELDS + ["state"])
        _apply(breaker, f, _threshold(policy, breaker.level), as_of)
        if breaker.state == Breaker.State.NORMAL and breaker.npl_ratio > breaker.threshold:
            breaker.state, breaker.since = Breaker.State.TRIPPED, moment
            trips.append(
                BreakerEvent(region_id=code, kind=BreakerEvent.Kind.TRIP, npl_ratio=breaker.npl_ratio,
                             threshold=breaker.threshold, as_of=as_of, actor=None)
            )  # fmt: skip
        if tuple(getattr(breaker, name) for name in FIGURE_FIELDS + ["state"]) != before:
            changed.append(breaker)
    # An upsert of the locked rows: one INSERT ... ON CONFLICT a batch (bulk_update's CASE per field
    # costs seconds of Python for a few thousand rows).
    Breaker.objects.bulk_create(
        changed, update_conflicts=True, unique_fields=["region"], update_fields=[*FIGURE_FIELDS, "state", "since"],
        batch_size=1000,
    )  # fmt: skip
    BreakerEvent.objects.bulk_create(trips)
    _audit_breaker_events(trips)
    tripped = [b for b in breakers if b.state == Breaker.State.TRIPPED]
    return {
        "breakers": len(breakers),
        "updated": len(changed),
        "tripped_now": [e.region_id for e in trips],
        "tripped": len(tripped),
        "resumable": sum(1 for b in tripped if b.resumable),
    }


BREAKER_MOVES = {BreakerEvent.Kind.TRIP: (Breaker.State.NORMAL, Breaker.State.TRIPPED),
                 BreakerEvent.Kind.RESUME: (Breaker.State.TRIPPED, Breaker.State.NORMAL)}  # fmt: skip


def _audit_breaker_events(events: list[BreakerEvent]) -> None:
    """The audit entries of trips or a resumption: who (None: the daily job), the ratio and the
    threshold that decided it."""
    names = dict(Region.objects.filter(code__in=[e.region_id for e in events]).values_list("code", "name"))
    entries = []
    for e in events:
        source, target = BREAKER_MOVES[e.kind]
        entries.append(audit_entry(
            actor=e.actor, action=e.kind, obj_type="breaker", obj_id=e.region_id, region=e.region_id,
            label=names.get(e.region_id, e.region_id), from_state=source, to_state=target,
            detail={"npl_ratio": e.npl_ratio, "threshold": e.threshold, "as_of": e.as_of},
        ))  # fmt: skip
    audit_record_many(entries)


def _live_figures(breaker: Breaker) -> _Figures:
    """The area's figures from the loans as they are now (after repayments, write-offs or a
    classification run since the daily job), one aggregate query."""
    field = "area_id" if breaker.level == Region.Level.VILLAGE else "township_id"
    loans = breaker_loans(today(), [breaker.region_id[:6]]).filter(**{field: breaker.region_id})
    sums = loans.aggregate(**BREAKER_SUMS)
    return _Figures(
        breaker.region_id[:6], breaker.level, sums["total"] or Decimal(0), sums["npl"] or Decimal(0)
    )


def _back_under_threshold_guard(workflow, breaker: Breaker, context) -> list[Refusal]:
    """The area's ratio recomputed now from its loans (repayments, a classification run since the
    daily job; loans written off within the policy's months still count) against today's
    threshold. The fresh figures are kept on the breaker, saved if it resumes."""
    _apply(breaker, _live_figures(breaker), _threshold(policy_for(breaker.region_id[:6], on=context.on), breaker.level),
           context.on)  # fmt: skip
    if breaker.npl_ratio <= breaker.threshold:
        return []
    return [Refusal(
        "breaker_still_over",
        f"{breaker.region.name}不良贷款率{breaker.npl_ratio}%，仍高于{breaker.threshold}%的熔断线，暂不能恢复。"
        "请待不良贷款清收、还款后再确认恢复（核销的贷款在核销后12个月内仍计入不良率）。",
    )]  # fmt: skip


class BreakerWorkflow(Workflow):
    """A breaker trips by the daily job (set-based, compute_breakers); only county staff resume it."""

    obj_type = "breaker"
    model = Breaker
    state_field = "state"
    steps = {
        "resume": Step((Breaker.State.TRIPPED,), Breaker.State.NORMAL, (Role.COUNTY_STAFF,), "确认恢复",
                       guards=("back_under_threshold",)),
    }  # fmt: skip
    guards = {"back_under_threshold": _back_under_threshold_guard}
    error = LoanError
    forbidden_text = "只有县金融扶贫服务中心可以确认恢复熔断区域的贷款业务。"
    state_text = "该区域当前未熔断，无需恢复。"

    def lock(self, obj):
        return Breaker.objects.select_for_update(of=("self",)).select_related("region").get(pk=obj.pk)

    def holds_role(self, user, obj, role):
        return has_role_over(user, obj.region_id, (role,))

    def worked_on(self, obj, user, action):
        return False  # the trip is the daily job's

    def subject(self, obj):
        return {
            "obj_type": "breaker",
            "obj_id": obj.region_id,
            "label": obj.region.name,
            "region": obj.region_id,
        }

    def write_event(self, obj, *, action, actor, from_state, to_state, comment):
        BreakerEvent.objects.create(
            region_id=obj.region_id, kind=BreakerEvent.Kind.RESUME, npl_ratio=obj.npl_ratio, threshold=obj.threshold,
            as_of=obj.computed_on, actor=actor,
        )  # fmt: skip

    def audit_detail(self, obj, *, action, comment, detail):
        return {"npl_ratio": obj.npl_ratio, "threshold": obj.threshold, "as_of": obj.computed_on}


BREAKER_WORKFLOW = BreakerWorkflow()


def breaker_resume(*, actor, region_code: str) -> Breaker:
    """County staff confirm that a tripped area may lend again, once its NPL ratio, recomputed now
    from the loans, is back at or under the threshold in force today."""
    if not has_role_over(actor, region_code, (Role.COUNTY_STAFF,)):
        raise Forbidden(BreakerWorkflow.forbidden_text)
    breaker = Breaker.objects.filter(region_id=region_code).first()
    if breaker is None:
        raise LoanError("invalid_transition", BreakerWorkflow.state_text)

    def change(breaker: Breaker) -> None:
        breaker.since = now()

    return BREAKER_WORKFLOW.run(actor=actor, obj=breaker, action="resume", change=change)


# --- breaker reads (scoped like the regions: area roles by prefix, banks by the counties served) ---


def breaker_list(*, user, filters: dict | None = None) -> QuerySet[Breaker]:
    filters = filters or {}
    breakers = Breaker.objects.filter(area_q(user, "region__code")).select_related("region")
    if filters.get("county"):
        breakers = breakers.filter(region__code__startswith=filters["county"])
    if filters.get("state"):
        breakers = breakers.filter(state=filters["state"])
    if filters.get("level"):
        breakers = breakers.filter(level=filters["level"])
    return breakers.order_by("region_id")


def breaker_get_for_user(*, user, region_code: str) -> Breaker:
    """The area's breaker, or 404 exactly like a missing one when it is outside the user's scope."""
    breaker = breaker_list(user=user).filter(region_id=region_code).first()
    if breaker is None:
        raise Http404
    return breaker


# --- warnings ----------------------------------------------------------------------------------


def _maturing_q(as_of: datetime.date, counties=None) -> Q:
    """Maturity within the county's warning period (maturity_warning_days) from `as_of`."""
    q = Q()
    for (days,), county_q in _policy_groups(as_of, ("maturity_warning_days",), counties):
        q |= county_q & Q(maturity_date__gte=as_of, maturity_date__lte=as_of + datetime.timedelta(days=days))
    return q


def maturity_warnings(*, user, as_of: datetime.date) -> QuerySet[Loan]:
    """Outstanding loans of the user's scope maturing within the county's warning period (default
    30 days) from `as_of`, soonest first."""
    return (
        Loan.objects.filter(loan_scope_q(user), status__in=OUTSTANDING_STATUSES)
        .filter(_maturing_q(as_of))
        .select_related("household", "borrower", "enterprise", "bank", "area")
        .order_by("maturity_date", "id")
    )


def maturity_warning_count(*, as_of: datetime.date, counties: list[str] | None = None) -> int:
    """How many outstanding loans (of the counties, or all) mature within the warning period."""
    loans = Loan.objects.filter(_county_filter("county_id", counties), status__in=OUTSTANDING_STATUSES)
    return loans.filter(_maturing_q(as_of, counties)).count()


def fund_leverage_warnings(*, as_of: datetime.date, counties: list[str] | None = None) -> list[dict]:
    """Counties whose covered principal outstanding is past the warning share of the fund's
    leverage cap (or past the cap). Counties with neither a fund nor loans are skipped."""
    from risk_fund.selectors import leverage_for

    warnings = []
    for county in Region.objects.filter(_county_filter("code", counties), level=Region.Level.COUNTY).order_by(
        "code"
    ):
        lev = leverage_for(county.code, on=as_of)
        if (lev.balance or lev.covered_outstanding) and lev.warning:
            warnings.append({
                "county": county.code, "name": county.name, "balance": str(lev.balance),
                "covered_outstanding": str(lev.covered_outstanding), "cap": str(lev.cap),
                "used_percent": str(lev.used_percent), "warning_ratio": str(lev.warning_ratio),
                "over_cap": lev.covered_outstanding > lev.cap,
            })  # fmt: skip
    return warnings


# --- the whole run -----------------------------------------------------------------------------


def run_daily_jobs(
    *, as_of: datetime.date, progress=None, counties: list[str] | None = None, run_step=None
) -> dict:
    """The daily job's steps in order, each in its own transaction; progress(done, total) after
    each. Returns the figures the Job record keeps (JSON-ready). run_step(step) runs each step
    (reporting's runs a step again after a lost database connection: each is idempotent)."""
    run_step = run_step or (lambda step: step())
    steps = [
        ("classification", lambda: classify_loans(as_of=as_of, counties=counties)),
        ("breakers", lambda: compute_breakers(as_of=as_of, counties=counties)),
        ("leverage_warnings", lambda: fund_leverage_warnings(as_of=as_of, counties=counties)),
        ("maturity_warnings", lambda: maturity_warning_count(as_of=as_of, counties=counties)),
    ]
    result: dict = {"as_of": as_of.isoformat(), "counties": counties, "seconds": {}}
    if progress:
        progress(0, len(steps))
    for done, (name, step) in enumerate(steps, start=1):
        started = time.perf_counter()
        result[name] = run_step(step)
        result["seconds"][name] = round(time.perf_counter() - started, 3)
        if progress:
            progress(done, len(steps))
    return result


def daily_job_counties(actor, county: str | None) -> list[str] | None:
    """Which counties a run started by `actor` covers: the one asked for, else an admin's run
    covers all (None), a county staff member's their own counties."""
    if county:
        if not has_role_over(actor, county, (Role.COUNTY_STAFF,)):
            raise Forbidden("只有本县金融扶贫服务中心或系统管理员可以运行日终任务。")
        return [county]
    if is_admin(actor):
        return None
    own = sorted(
        actor.role_assignments.filter(
            role=Role.COUNTY_STAFF, unit__region__level=Region.Level.COUNTY
        ).values_list("unit__region_id", flat=True)
    )
    if not own:
        raise Forbidden("只有县金融扶贫服务中心或系统管理员可以运行日终任务。")
    return own


def summary_lines(result: dict) -> list[str]:
    """The figures of a run in Chinese, for the command's output and the job's message."""
    c, b = result["classification"], result["breakers"]
    labels = dict(C.choices)
    classes = "，".join(f"{labels[k]} {n}" for k, n in c["by_class"].items())
    lines = [
        f"数据日期：{result['as_of']}"
        + (f"（县区：{'、'.join(result['counties'])}）" if result["counties"] else ""),
        f"五级分类：在贷 {c['loans']} 笔（{classes}）；逾期天数更新 {c['dpd_written']} 笔，分类变化 {c['reclassified']} 笔",
        f"风险熔断：{b['breakers']} 个村/乡镇，本次新熔断 {len(b['tripped_now'])} 个"
        + (f"（{'、'.join(b['tripped_now'])}）" if b["tripped_now"] else "")
        + f"，熔断中 {b['tripped']} 个，其中可恢复 {b['resumable']} 个",
        f"风险补偿金放大倍数预警：{len(result['leverage_warnings'])} 个县"
        + "".join(f"；{w['name']}已用 {w['used_percent']}%" for w in result["leverage_warnings"]),
        f"到期预警：{result['maturity_warnings']} 笔贷款将在预警期内到期",
        "用时（秒）：" + "，".join(f"{k} {v:.2f}" for k, v in result["seconds"].items()),
    ]
    return lines
