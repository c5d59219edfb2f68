"""Rollup snapshots of the demo city for `manage.py seed_demo` (call it after the other apps' demo
data): the last 12 month-ends and today, so the trend charts have a history.

Today's snapshot is the real rollup (reporting.rollups.compute_rollups). For the month-ends the
dated figures are exact (households and ratings, cumulative borrowers from disbursed_on, subsidy
paid, fund balance) and the loan balances are rebuilt from the ledger, since the loans only keep
today's balance and class:
- principal outstanding on a date = amount − the principal of the loan's repayments paid on or
  before it − the principal written off on or before it, for loans disbursed by then (closed ones
  included until repaid; a written-off loan until its write-off date, then in the written-off
  figure, which collect_written_off dates exactly);
- non-performing on a date = the oldest instalment still unsettled today fell due at least the
  policy's substandard_min_dpd days before it (the demo borrowers pay on the due date or never, so
  this is what the daily job would have said then);
- current borrowers = registered households with such a balance; the fund's covered principal =
  the county's balances so rebuilt.
Idempotent: each date's rows are replaced.
"""

import datetime
from collections import defaultdict
from decimal import Decimal

from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from common.clock import today
from loans.models import Instalment, Loan, Repayment
from organization.selectors import policy_for

from . import rollups

MONTHS = 12


def snapshot_dates(day: datetime.date, months: int = MONTHS) -> list[datetime.date]:
    """The last `months` month-ends before `day`, oldest first, then `day`."""
    ends, first = [], day.replace(day=1)
    for _ in range(months):
        end = first - datetime.timedelta(days=1)
        ends.append(end)
        first = end.replace(day=1)
    return [*reversed(ends), day]


def collect_past_loans(leaves: rollups.Leaves, *, as_of: datetime.date, counties=None) -> None:
    """Balances, NPL, current borrowers and covered principal on a past date, from the ledger."""
    repaid = (
        Repayment.objects.filter(loan=OuterRef("pk"), paid_on__lte=as_of)
        .values("loan")
        .annotate(s=Sum("principal_part"))
        .values("s")
    )
    oldest_unpaid = Instalment.objects.filter(
        loan=OuterRef("pk"), settled=False, due_date__lt=as_of
    ).order_by("due_date")
    rows = (
        Loan.objects.filter(status__in=rollups.LENT, disbursed_on__lte=as_of)
        .annotate(repaid=Coalesce(Subquery(repaid), Decimal(0)), oldest=Subquery(oldest_unpaid.values("due_date")[:1]))
        .values_list("county_id", "area_id", "household_id", "household__village_id", "household__status",
                     "amount", "repaid", "oldest", "written_off_principal", "written_off_on")
    )  # fmt: skip
    bands = {}
    borrowers, covered = defaultdict(set), defaultdict(Decimal)
    for leaf in leaves.values():  # collect_borrowers' figure is today's
        leaf.borrowed_households_current = 0
    for county, area, household, village, status, amount, repaid, oldest, written_off, written_off_on in rows:
        outstanding = amount - repaid
        if written_off_on is not None and written_off_on <= as_of:
            outstanding -= written_off
        if outstanding <= 0:
            continue
        if county not in bands:
            bands[county] = policy_for(county, on=as_of).substandard_min_dpd
        leaves[area].principal_outstanding += outstanding
        if oldest is not None and (as_of - oldest).days >= bands[county]:
            leaves[area].npl_principal += outstanding
        if household and status in rollups.REGISTERED:
            borrowers[village].add(household)
        covered[county] += outstanding
    for village, households in borrowers.items():
        leaves[village].borrowed_households_current = len(households)
    for code, leaf in leaves.items():  # collect_funds' figure is today's
        if leaf.covered_outstanding is not None:
            leaf.covered_outstanding = covered.get(code, rollups.ZERO)


PAST = [c for c in rollups.COLLECTORS if c is not rollups.collect_loans] + [collect_past_loans]


def seed(*, months: int = MONTHS) -> dict:
    """Write the snapshots; returns {"dates": n, "regions": regions per date} for the summary."""
    day = today()
    result = {}
    for as_of in snapshot_dates(day, months):
        if as_of == day:
            result = rollups.compute_rollups(as_of=as_of)
        else:
            rollups.write_rollups(as_of=as_of, leaves=rollups.collect(as_of=as_of, collectors=PAST))
    return {"dates": months + 1, "regions": result.get("regions", 0)}


def summary(result: dict) -> str:
    return f"区域汇总快照：{result['dates']} 个日期（近 {result['dates'] - 1} 个月末及今天），每个日期 {result['regions']} 个区划。"
