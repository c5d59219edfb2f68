"""Helpers for background jobs (common.models.Job): create one, report progress without writing on
every row, finish or fail it. Tasks take the job's id; the writes here are single UPDATEs so that a
task running outside the request's transaction never overwrites fields it did not mean to.

    job = job_create(kind="prerate", actor=user, params={"region": "411722"})
    enqueue_job(some_task, job.pk)  # sent after commit; with the broker down the job ends failed
    ...in the task:
    job_start(job_id); report = job_progress_reporter(job_id); report(done, total); job_finish(job_id, result)
"""

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.http import Http404
from kombu.exceptions import OperationalError as BrokerUnreachable

from organization.scoping import is_admin

from .clock import now
from .models import Job

logger = logging.getLogger(__name__)

# At most one progress write per this many seconds (plus the first and the last).
PROGRESS_INTERVAL = 0.5
# A job still "running" this long after it started has lost its process: the daily job over a
# million loans takes about a minute (bench/daily_job.py) plus its database retries, a prerate less.
DEAD_AFTER = timedelta(hours=2)
QUEUE_DOWN_MESSAGE = "任务队列暂时不可用，任务未开始，未写入任何数据。请稍后重试。"
# What sending a task raises when the broker (Redis) cannot be reached: kombu wraps the transport's
# connection errors in its OperationalError; a bare socket error may still escape.
BROKER_ERRORS = (BrokerUnreachable, ConnectionError, TimeoutError)


def job_create(*, kind: str, actor, params: dict | None = None) -> Job:
    return Job.objects.create(kind=kind, created_by=actor, params=params or {})


def enqueue(task, *args, on_failure: Callable[[str], None]) -> None:
    """Send the Celery task once the current transaction commits. When the broker cannot be
    reached the task never starts: log it and call on_failure(QUEUE_DOWN_MESSAGE), so that its job
    ends failed for the user to see instead of waiting for ever (and the request does not 500)."""

    def send() -> None:
        try:
            task.delay(*args)
        except BROKER_ERRORS:
            if task.app.conf.task_always_eager:  # the task itself ran and raised: not the queue
                raise
            logger.exception("could not queue %s%r: the broker is unreachable", task.name, args)
            on_failure(QUEUE_DOWN_MESSAGE)

    transaction.on_commit(send)


def enqueue_job(task, job_id: int, *args) -> None:
    """enqueue() for a task of a common.models.Job: its job_id first, the job failed if unsent."""
    enqueue(task, job_id, *args, on_failure=lambda message: job_fail(job_id, message))


def job_start(job_id: int) -> None:
    Job.objects.filter(pk=job_id).update(status=Job.Status.RUNNING, started_at=now(), message="")


def _percent(processed: int, total: int) -> int:
    if total <= 0:
        return 0
    return max(0, min(100, processed * 100 // total))


def job_progress(job_id: int, processed: int, total: int) -> None:
    """Record progress now (one UPDATE, outside any enclosing transaction's rollback concerns:
    callers report between their own batches)."""
    Job.objects.filter(pk=job_id).update(
        processed=processed, total=total, progress=_percent(processed, total)
    )


def job_progress_reporter(job_id: int, *, interval: float = PROGRESS_INTERVAL):
    """A progress(processed, total) callback that writes at most every `interval` seconds, and
    always when processed reaches total."""
    last = [0.0]

    def report(processed: int, total: int) -> None:
        moment = time.monotonic()
        if processed >= total or moment - last[0] >= interval:
            last[0] = moment
            job_progress(job_id, processed, total)

    return report


def job_finish(job_id: int, result: dict | None = None, message: str = "") -> None:
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        job.status = Job.Status.SUCCEEDED
        job.result = result or {}
        job.message = message
        job.progress = 100
        if job.total and job.processed < job.total:
            job.processed = job.total
        job.finished_at = now()
        job.save(update_fields=["status", "result", "message", "progress", "processed", "finished_at"])


def job_fail(job_id: int, message: str, result: dict | None = None) -> None:
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.FAILED, message=message[:2000], result=result or {}, finished_at=now()
    )


def job_fail_dead(*, at=None) -> list[int]:
    """Mark failed the jobs, of any kind, still "running" DEAD_AFTER after they started: their
    process died without a word (a killed worker, a server restart, the database gone for longer
    than the retries). One UPDATE that also checks the status, so a job finishing meanwhile keeps
    its result. For the beat (common.tasks.fail_dead_jobs)."""
    cutoff = (at or now()) - DEAD_AFTER
    running = Job.objects.filter(status=Job.Status.RUNNING)
    dead = list(running.filter(started_at__lt=cutoff).values_list("pk", flat=True))
    hours = int(DEAD_AFTER.total_seconds() // 3600)
    running.filter(pk__in=dead).update(
        status=Job.Status.FAILED,
        finished_at=now(),
        message=f"任务中断：开始 {hours} 小时后仍未结束，执行它的进程多半已退出（如服务器或数据库重启）。"
        "请重新运行该任务。",
    )
    return dead


def job_get_for_user(*, user, pk) -> Job:
    """The job if the user started it (or is an admin); 404 for anyone else and for a missing one."""
    if not user or not user.is_authenticated:
        raise Http404
    qs = Job.objects.all()
    if not is_admin(user):
        qs = qs.filter(created_by=user)
    try:
        return qs.get(pk=pk)
    except (Job.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
