"""Tasks that belong to no app. `ping` proves the Celery wiring: broker, worker, autodiscovery."""

from celery import shared_task


@shared_task
def ping() -> str:
    return "pong"
