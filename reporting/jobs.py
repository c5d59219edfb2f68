"""The daily job as a whole: the loans app's steps (DPD and classification, circuit breakers, fund
leverage and maturity warnings, loans.daily) and then the region rollups. Reporting orchestrates it
because nothing imports reporting: the command `run_daily_jobs`, the Celery task behind
POST /api/v1/jobs/daily/ and the nightly beat entry all call run_all."""

import datetime
import time

from django.db import transaction

from common.jobs import job_create
from loans.daily import daily_job_counties, run_daily_jobs
from loans.daily import summary_lines as loan_summary_lines

from .rollups import compute_rollups


def run_all(as_of: datetime.date, progress=None, counties: list[str] | None = None) -> dict:
    """run_daily_jobs then compute_rollups for `as_of` (of the counties, or all); progress(done,
    total) after each step, the rollups counted as one more step. JSON-ready figures."""

    def loan_progress(done: int, total: int) -> None:
        if progress:
            progress(done, total + 1)

    result = run_daily_jobs(as_of=as_of, progress=loan_progress, counties=counties)
    started = time.perf_counter()
    result["rollups"] = compute_rollups(as_of=as_of, counties=counties)
    result["seconds"]["rollups"] = round(time.perf_counter() - started, 3)
    if progress:
        steps = len(result["seconds"])
        progress(steps, steps)
    return result


def summary_lines(result: dict) -> list[str]:
    """The loans app's lines with the rollups' before the timings."""
    lines = loan_summary_lines(result)
    rollups = f"区域汇总：{result['rollups']['regions']} 个区划（数据日期 {result['rollups']['as_of']}）"
    return [*lines[:-1], rollups, lines[-1]]


def daily_job_start(*, actor, as_of: datetime.date, county: str | None = None):
    """Queue the daily job for `as_of` as a background Job (county staff: their county; an admin:
    every county, see loans.daily.daily_job_counties); the task starts after commit."""
    from .tasks import run_daily_jobs_task

    counties = daily_job_counties(actor, county)
    with transaction.atomic():
        job = job_create(
            kind="daily_jobs", actor=actor, params={"as_of": as_of.isoformat(), "counties": counties}
        )
        transaction.on_commit(lambda: run_daily_jobs_task.delay(job.pk, as_of.isoformat()))
    return job
