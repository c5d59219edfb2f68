"""Thin Celery tasks of the daily job: ids in, reporting.jobs.run_all does the work (the loans
app's steps, then the rollups)."""

import datetime

from celery import shared_task

from common.clock import today
from common.jobs import job_create, job_fail, job_finish, job_progress_reporter, job_start
from common.models import Job

from .jobs import run_all, summary_lines


@shared_task(acks_late=True, max_retries=0)
def run_daily_jobs_task(job_id: int, as_of_iso: str) -> str:
    """The daily job for `as_of_iso`, over the counties the Job's params name (all when None).
    A finished job is not run again; running the work again is harmless (it is idempotent)."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.done:
        return "skipped"
    job_start(job_id)
    try:
        result = run_all(
            datetime.date.fromisoformat(as_of_iso),
            progress=job_progress_reporter(job_id),
            counties=job.params.get("counties"),
        )
    except Exception as exc:  # the job must not stay "running" forever; the worker logs the traceback
        job_fail(job_id, f"日终任务失败：{exc.__class__.__name__}")
        raise
    job_finish(job_id, result, message="\n".join(summary_lines(result)))
    return Job.Status.SUCCEEDED


@shared_task
def nightly_daily_jobs() -> str:
    """Celery beat, 01:30 Asia/Shanghai: the daily job for today over every county, recorded as a
    Job (no actor) like a run started from the API."""
    as_of = today()
    job = job_create(kind="daily_jobs", actor=None, params={"as_of": as_of.isoformat(), "counties": None})
    return run_daily_jobs_task(job.pk, as_of.isoformat())
