"""Helpers for background jobs (common.models.Job): create one, report progress without writing on
every row, finish or fail it. Tasks take the job's id; the writes here are single UPDATEs so that a
task running outside the request's transaction never overwrites fields it did not mean to.

    job = job_create(kind="prerate", actor=user, params={"region": "411722"})
    transaction.on_commit(lambda: some_task.delay(job.pk))
    ...in the task:
    job_start(job_id); report = job_progress_reporter(job_id); report(done, total); job_finish(job_id, result)
"""

import time

from django.db import transaction
from django.http import Http404

from organization.scoping import is_admin

from .clock import now
from .models import Job

# At most one progress write per this many seconds (plus the first and the last).
PROGRESS_INTERVAL = 0.5


def job_create(*, kind: str, actor, params: dict | None = None) -> Job:
    return Job.objects.create(kind=kind, created_by=actor, params=params or {})


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
