"""Thin Celery tasks: ids in, services do the work."""

from celery import shared_task

from common.errors import ApplicationError
from common.jobs import job_fail, job_finish, job_progress_reporter, job_start
from common.models import Job
from organization.models import User

from .services import prerate_region


@shared_task(acks_late=True, max_retries=0)
def prerate_task(job_id: int) -> str:
    """Batch pre-rating of the job's region, as the user who started it. Running it again for the
    same job after it finished does nothing; a rerun of the work creates no second drafts (the
    service skips households with a rating in progress)."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.done:
        return "skipped"
    job_start(job_id)
    try:
        actor = User.objects.get(pk=job.created_by_id)
        result = prerate_region(
            actor=actor, region_code=job.params["region"], progress=job_progress_reporter(job_id)
        )
    except ApplicationError as exc:
        job_fail(job_id, exc.message)
        return Job.Status.FAILED
    except Exception as exc:  # the job must not stay "running" forever; the worker logs the traceback
        job_fail(job_id, f"预评级失败：{exc.__class__.__name__}")
        raise
    job_finish(job_id, result, message=f"共 {result['households']} 户，新建评级草稿 {result['created']} 条。")
    return Job.Status.SUCCEEDED
