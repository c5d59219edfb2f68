"""Thin Celery tasks of the daily job: ids in, reporting.jobs does the work (daily_job_run: the
loans app's steps, then the rollups, recorded on the Job; a lost database connection is retried
there, in the worker, so that the same code serves the command and eager runs)."""

import datetime

from celery import shared_task

from common.clock import today
from common.jobs import job_create
from common.models import Job

from .jobs import DAILY_JOB_KIND, daily_job_run


@shared_task(acks_late=True, max_retries=0)
def run_daily_jobs_task(job_id: int, as_of_iso: str) -> str:
    """The daily job for `as_of_iso`, over the counties the Job's params name (all when None).
    A finished job is not run again; running the work again is harmless (it is idempotent)."""
    if daily_job_run(job_id, datetime.date.fromisoformat(as_of_iso)) is None:
        return "skipped"
    return Job.Status.SUCCEEDED


@shared_task
def nightly_daily_jobs() -> str:
    """Celery beat, 01:30 Asia/Shanghai: the daily job for today over every county, recorded as a
    Job (no actor) like a run started from the API."""
    as_of = today()
    job = job_create(kind=DAILY_JOB_KIND, actor=None, params={"as_of": as_of.isoformat(), "counties": None})
    return run_daily_jobs_task(job.pk, as_of.isoformat())
