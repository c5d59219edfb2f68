"""Tasks that belong to no app. `ping` proves the Celery wiring: broker, worker, autodiscovery."""

from celery import shared_task

from .jobs import job_fail_dead


@shared_task
def ping() -> str:
    return "pong"


@shared_task
def fail_dead_jobs() -> list[int]:
    """Celery beat, every 10 minutes: jobs whose process died are marked failed."""
    return job_fail_dead()
