from celery import shared_task

from .services import import_requeue_stale, import_run


@shared_task(acks_late=True, max_retries=0)
def run_import(job_id: int) -> str:
    return import_run(job_id=job_id).status


@shared_task
def requeue_stale_imports() -> dict[str, list[int]]:
    """For the beat schedule (every few minutes): jobs whose message was lost are sent again, jobs
    whose worker was lost end failed."""
    return import_requeue_stale()
