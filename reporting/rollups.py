"""Region rollups: the dashboards' figures of every village, township, county and the city on one
as-of date, written as dated snapshot rows (RegionRollup) by the daily job (reporting.jobs).

Set-based: a handful of GROUP BY queries give each figure per *leaf* (the village of a household,
the area of a loan: the village of a household loan, the township of an enterprise loan, the county
of a fund), and each leaf's figures are added into it and every region above it. A household lives
in one village, so adding village counts upwards never counts a household twice; within a village
each count is COUNT(DISTINCT household): two loans of one household count once.

Definitions (DOMAIN.md "Targets and assessment"):
- registered households: status poor, lifted or monitored (建档立卡); `households` counts every
  household on file (the base of rating coverage, as credit_rating.selectors.rating_coverage);
- borrowed, cumulative: registered households with a loan disbursed on or before the date (active,
  proposed for write-off, closed or written off since); current: those with an outstanding loan
  (active or proposed for write-off) with principal outstanding;
- rated: households (any status) with a rating approved on or before the date and valid on it
  (a superseded rating counts for the dates it was in force);
- principal outstanding and NPL principal (次级 + 可疑 + 损失): the outstanding loans (active or
  proposed for write-off: a proposal is still on the books until a second person approves it),
  household and enterprise, as the loans app last classified them; the NPL ratio is NPL principal
  over principal outstanding (a written-off loan is in neither);
- written-off principal (核销本金): the principal of the loans written off on or before the date,
  cumulative, shown beside the NPL figures (the breaker's ratio counts the recent ones, loans.daily;
  the dashboards keep it a figure of its own);
- subsidy paid: the paying lines of the settlement batches paid on or before the date;
- fund balance, covered principal and leverage cap: risk_fund.selectors.leverage_by_county, for
  counties; the city's are the sums of its counties'. None below a county.

Loan balances and classes are the loans as they stand when the job runs (the daily job runs for
today); the dated parts (disbursement, ratings, subsidy payments, fund ledger) follow the as-of date.

Recomputing a date replaces that date's rows (idempotent). `counties` limits a run to those
counties' regions; the city row is then summed again from the county rows of the date.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q, Sum

from credit_rating.models import Rating, RatingStatus
from households.models import Household, HouseholdStatus
from loans.models import NPL_CLASSES, OUTSTANDING_STATUSES, Loan, LoanStatus
from organization.models import Region
from organization.scoping import prefix_q

from .models import RegionRollup

REGISTERED = (HouseholdStatus.POOR, HouseholdStatus.LIFTED, HouseholdStatus.MONITORED)
# A loan in one of these was disbursed at some point.
LENT = (LoanStatus.ACTIVE, LoanStatus.WRITE_OFF_PROPOSED, LoanStatus.CLOSED, LoanStatus.WRITTEN_OFF)
ROLLUP_LEVELS = (Region.Level.VILLAGE, Region.Level.TOWNSHIP, Region.Level.COUNTY, Region.Level.CITY)
ZERO = Decimal("0.00")


@dataclass
class Figures:
    """The additive figures of one region (or leaf). Fund figures stay None until a county adds them."""

    households: int = 0
    registered_households: int = 0
    borrowed_households_cumulative: int = 0
    borrowed_households_current: int = 0
    rated_households: int = 0
    principal_outstanding: Decimal = ZERO
    npl_principal: Decimal = ZERO
    written_off_principal: Decimal = ZERO
    subsidy_paid: Decimal = ZERO
    fund_balance: Decimal | None = None
    covered_outstanding: Decimal | None = None
    leverage_cap: Decimal | None = None

    def add(self, other: "Figures") -> None:
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if theirs is not None:
                setattr(self, f.name, theirs if mine is None else mine + theirs)


# Figures per leaf code (a defaultdict(Figures)), filled by the collectors below.
Leaves = dict[str, Figures]


def _in(counties: Iterable[str] | None, code_field: str) -> Q:
    return Q() if counties is None else prefix_q(code_field, counties)


# --- the collectors: one GROUP BY each --------------------------------------------------------


def collect_households(leaves: Leaves, *, as_of: datetime.date, counties=None) -> None:
    rows = (
        Household.objects.filter(_in(counties, "village__code"))
        .values("village_id")
        .annotate(n=Count("id"), registered=Count("id", filter=Q(status__in=REGISTERED)))
        .order_by()
    )
    for row in rows:
        leaves[row["village_id"]].households = row["n"]
        leaves[row["village_id"]].registered_households = row["registered"]


def collect_borrowers(leaves: Leaves, *, as_of: datetime.date, counties=None) -> None:
    """Registered households with a household loan disbursed by `as_of`, and those with principal
    outstanding, per village, each household once however many loans it has (one outstanding at a
    time, by the database, but any number closed or written off before it)."""
    current = Q(status__in=OUTSTANDING_STATUSES, principal_outstanding__gt=0)
    rows = (
        Loan.objects.filter(
            _in(counties, "county__code"), household__isnull=False, household__status__in=REGISTERED,
            status__in=LENT, disbursed_on__lte=as_of,
        )
        .values("household__village_id")
        .annotate(ever=Count("household_id", distinct=True), now=Count("household_id", distinct=True, filter=current))
        .order_by()
    )  # fmt: skip
    for row in rows:
        leaf = leaves[row["household__village_id"]]
        leaf.borrowed_households_cumulative, leaf.borrowed_households_current = row["ever"], row["now"]


def collect_ratings(leaves: Leaves, *, as_of: datetime.date, counties=None) -> None:
    rows = (
        Rating.objects.filter(
            _in(counties, "household__village__code"),
            status__in=(RatingStatus.APPROVED, RatingStatus.SUPERSEDED),
            approved_on__lte=as_of,
            valid_until__gte=as_of,
        )
        .values("household__village_id")
        .annotate(n=Count("household_id", distinct=True))
        .order_by()
    )
    for row in rows:
        leaves[row["household__village_id"]].rated_households = row["n"]


def collect_loans(leaves: Leaves, *, as_of: datetime.date, counties=None) -> None:
    rows = (
        Loan.objects.filter(
            _in(counties, "county__code"), status__in=OUTSTANDING_STATUSES, disbursed_on__lte=as_of
        )
        .values("area_id")
        .annotate(
            total=Sum("principal_outstanding"),
            npl=Sum("principal_outstanding", filter=Q(classification__in=NPL_CLASSES)),
        )
        .order_by()
    )
    for row in rows:
        leaves[row["area_id"]].principal_outstanding = row["total"] or ZERO
        leaves[row["area_id"]].npl_principal = row["npl"] or ZERO


def collect_written_off(leaves: Leaves, *, as_of: datetime.date, counties=None) -> None:
    """The principal written off (the second person's approval) on or before `as_of`, per area."""
    rows = (
        Loan.objects.filter(
            _in(counties, "county__code"), status=LoanStatus.WRITTEN_OFF, written_off_on__lte=as_of
        )
        .values("area_id")
        .annotate(total=Sum("written_off_principal"))
        .order_by()
    )
    for row in rows:
        leaves[row["area_id"]].written_off_principal = row["total"] or ZERO


def collect_subsidy(leaves: Leaves, *, as_of: datetime.date, counties=None) -> None:
    from subsidy.models import BatchStatus, SubsidyLine

    rows = (
        SubsidyLine.objects.filter(
            _in(counties, "batch__county__code"), batch__status=BatchStatus.PAID, batch__paid_on__lte=as_of,
            excluded_reason="",
        )
        .values("loan__area_id")
        .annotate(total=Sum("amount"))
        .order_by()
    )  # fmt: skip
    for row in rows:
        leaves[row["loan__area_id"]].subsidy_paid = row["total"] or ZERO


def collect_funds(leaves: Leaves, *, as_of: datetime.date, counties=None) -> None:
    from risk_fund.selectors import leverage_by_county

    county_codes = list(
        counties or Region.objects.filter(level=Region.Level.COUNTY).values_list("code", flat=True)
    )
    levels = leverage_by_county(on=as_of, counties=county_codes)
    for code in county_codes:
        lev = levels.get(code)
        leaf = leaves[code]
        leaf.fund_balance = lev.balance if lev else ZERO
        leaf.covered_outstanding = lev.covered_outstanding if lev else ZERO
        leaf.leverage_cap = lev.cap if lev else ZERO


COLLECTORS = [
    collect_households,
    collect_borrowers,
    collect_ratings,
    collect_loans,
    collect_written_off,
    collect_subsidy,
    collect_funds,
]


def collect(*, as_of: datetime.date, counties=None, collectors=None) -> Leaves:
    leaves: Leaves = defaultdict(Figures)
    for collector in collectors or COLLECTORS:
        collector(leaves, as_of=as_of, counties=counties)
    return leaves


# --- adding up and writing ---------------------------------------------------------------------


def _rows(regions: dict[str, Region], totals: dict[str, Figures], as_of: datetime.date) -> list[RegionRollup]:
    return [
        RegionRollup(
            as_of=as_of, region_id=code, level=regions[code].level, parent_code=regions[code].parent_id or "",
            **vars(totals.get(code) or Figures()),
        )
        for code in sorted(regions)
    ]  # fmt: skip


@transaction.atomic
def write_rollups(*, as_of: datetime.date, leaves: Leaves, counties: list[str] | None = None) -> dict:
    """Replace the date's rows of the counties' regions (all when None) with the leaves' figures
    added up, then the rows above county level with the sums of the date's county rows."""
    all_regions = {
        r.code: r for r in Region.objects.filter(level__in=ROLLUP_LEVELS).only("code", "level", "parent")
    }
    below = {
        code: r for code, r in all_regions.items()
        if r.level != Region.Level.CITY and (counties is None or code[:6] in counties)
    }  # fmt: skip
    totals: dict[str, Figures] = defaultdict(Figures)
    for code, figures in leaves.items():
        while code in below:
            totals[code].add(figures)
            if below[code].level == Region.Level.COUNTY:
                break
            code = below[code].parent_id
    RegionRollup.objects.filter(_in(counties, "region__code"), as_of=as_of).exclude(
        level=Region.Level.CITY
    ).delete()
    RegionRollup.objects.bulk_create(_rows(below, totals, as_of), batch_size=2000)

    cities = {code: r for code, r in all_regions.items() if r.level == Region.Level.CITY}
    city_totals: dict[str, Figures] = defaultdict(Figures)
    county_rows = RegionRollup.objects.filter(
        as_of=as_of, level=Region.Level.COUNTY, parent_code__in=list(cities)
    )
    for row in county_rows:
        city_totals[row.parent_code].add(Figures(**{f.name: getattr(row, f.name) for f in fields(Figures)}))
    RegionRollup.objects.filter(as_of=as_of, level=Region.Level.CITY).delete()
    RegionRollup.objects.bulk_create(_rows(cities, city_totals, as_of))
    return {"as_of": as_of.isoformat(), "regions": len(below) + len(cities)}


def compute_rollups(*, as_of: datetime.date, counties: list[str] | None = None) -> dict:
    """The rollups of `as_of` (of the counties, or all): collect, add up, replace the date's rows.
    Returns JSON-ready figures for the daily job's record."""
    return write_rollups(as_of=as_of, leaves=collect(as_of=as_of, counties=counties), counties=counties)
