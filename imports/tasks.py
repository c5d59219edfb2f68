from celery import shared_task

from .services import import_run


@shared_task(acks_late=True, max_retries=0)
def run_import(job_id: int) -> str:
    return import_run(job_id=job_id).status
