"""The daily job as a whole: the loans app's steps (DPD and classification, circuit breakers, fund
leverage and maturity warnings, loans.daily) and then the region rollups. Reporting orchestrates it
because nothing imports reporting: the command `run_daily_jobs`, the Celery task behind
POST /api/v1/jobs/daily/ and the nightly beat entry all call run_all (the first two through
daily_job_run, which records the run as a Job).

A lost database connection (PostgreSQL restarted, a failover) does not end the job: the step it
broke, which is one transaction and so was rolled back whole, runs again on a new connection after
a pause (with_database_retries); every step is idempotent, so the result is that of an
uninterrupted run. If the database stays away longer, the Job ends failed with a message saying
so, and running the job again is safe. A Job left "running" by a process that died outright is
marked failed by common.jobs.job_fail_dead (beat)."""

import contextlib
import datetime
import logging
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction

from common.jobs import enqueue_job, job_create, job_fail, job_finish, job_progress_reporter, job_start
from common.models import Job
from loans.daily import daily_job_counties, run_daily_jobs
from loans.daily import summary_lines as loan_summary_lines

from .rollups import compute_rollups

logger = logging.getLogger(__name__)

DAILY_JOB_KIND = "daily_jobs"
# What a lost or broken connection raises: a server restart, a failover, a network cut; also a
# deadlock or a lock timeout, which a retry cures as well.
CONNECTION_ERRORS = (OperationalError, InterfaceError)


def retry_delays() -> list[int]:
    """The pauses before each retry, in seconds: 1, 2, 4, ... (at most 30), DAILY_JOB_DB_RETRIES
    of them (default 6: about a minute, what a PostgreSQL restart or failover takes)."""
    return [min(2**n, 30) for n in range(settings.DAILY_JOB_DB_RETRIES)]


def with_database_retries(work):
    """work(), and again on a new connection after each pause of retry_delays() while it fails
    for a lost connection; the last error when they run out. `work` must be whole transactions
    (so that a failed attempt left nothing behind); inside a caller's transaction the error is
    raised at once, since a new connection would not continue that transaction."""
    for delay in [*retry_delays(), None]:
        try:
            return work()
        except CONNECTION_ERRORS as exc:
            if connection.in_atomic_block:
                raise
            if delay is None:
                logger.error(
                    "日终任务：数据库连接中断，重试 %d 次后仍未恢复，放弃。", settings.DAILY_JOB_DB_RETRIES
                )
                raise
            reason = (str(exc).strip() or exc.__class__.__name__).splitlines()[0]
            logger.warning("日终任务：数据库连接中断（%s），%d 秒后重试。", reason, delay)
            with contextlib.suppress(*CONNECTION_ERRORS):
                connection.close()  # the next query connects afresh
            time.sleep(delay)


def run_all(as_of: datetime.date, progress=None, counties: list[str] | None = None) -> dict:
    """run_daily_jobs then compute_rollups for `as_of` (of the counties, or all); progress(done,
    total) after each step, the rollups counted as one more step. JSON-ready figures. Each step
    and each progress write survives a lost connection (with_database_retries)."""

    def loan_progress(done: int, total: int) -> None:
        if progress:
            with_database_retries(lambda: progress(done, total + 1))

    result = run_daily_jobs(
        as_of=as_of, progress=loan_progress, counties=counties, run_step=with_database_retries
    )
    started = time.perf_counter()
    result["rollups"] = with_database_retries(lambda: compute_rollups(as_of=as_of, counties=counties))
    result["seconds"]["rollups"] = round(time.perf_counter() - started, 3)
    if progress:
        steps = len(result["seconds"])
        with_database_retries(lambda: progress(steps, steps))
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
            kind=DAILY_JOB_KIND, actor=actor, params={"as_of": as_of.isoformat(), "counties": counties}
        )
        enqueue_job(run_daily_jobs_task, job.pk, as_of.isoformat())
    return job


def failure_message(exc: Exception) -> str:
    """What a failed daily job's record and the command say, in Chinese."""
    if isinstance(exc, CONNECTION_ERRORS):
        return (
            f"日终任务失败：数据库连接中断，重试 {settings.DAILY_JOB_DB_RETRIES} 次后仍未恢复"
            f"（{exc.__class__.__name__}）。请在数据库恢复后重新运行日终任务："
            "各步骤可重复运行，结果与一次不中断的运行相同。"
        )
    return f"日终任务失败：{exc.__class__.__name__}"


def daily_job_run(job_id: int, as_of: datetime.date) -> dict | None:
    """Run the daily-job Job `job_id` for `as_of` over the counties its params name (all when
    None): running, then succeeded with the figures and the summary as message, or failed with
    failure_message (and the error raised again). A job already done is left alone (None).
    The Job's own writes survive a lost connection too, so that it does not stay "running"."""
    job = with_database_retries(lambda: Job.objects.filter(pk=job_id).first())
    if job is None or job.done:
        return None
    with_database_retries(lambda: job_start(job_id))
    try:
        result = run_all(as_of, progress=job_progress_reporter(job_id), counties=job.params.get("counties"))
    except Exception as exc:  # the worker or the command reports the traceback
        _record_failure(job_id, failure_message(exc))
        raise
    message = "\n".join(summary_lines(result))
    with_database_retries(lambda: job_finish(job_id, result, message=message))
    return result


def _record_failure(job_id: int, message: str) -> None:
    try:
        with_database_retries(lambda: job_fail(job_id, message))
    except CONNECTION_ERRORS:
        logger.error("日终任务 #%s 未能标记为失败（数据库仍不可用），将由 job_fail_dead 标记。", job_id)
