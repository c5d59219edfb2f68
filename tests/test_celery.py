"""Celery: the task runs eagerly in tests and in the demo, and a real Redis broker takes messages."""

import json
import os
import uuid

import pytest
import redis
from celery import Celery

from common.tasks import ping
from config.celery import app as project_app
from conftest import require_service


def test_ping_runs_eagerly_in_tests():
    result = ping.delay()
    assert result.successful()
    assert result.get(timeout=1) == "pong"


def test_worker_would_find_the_ping_task():
    # A worker imports the autodiscovered tasks modules at start-up; do what it does.
    project_app.loader.import_default_modules()
    assert "common.tasks.ping" in project_app.tasks


def _redis_url_if_reachable() -> str | None:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        return None
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()
    return url


@pytest.fixture
def redis_url():
    url = _redis_url_if_reachable()
    require_service(url is not None, "Redis at REDIS_URL")
    return url


def test_task_message_reaches_the_redis_broker(redis_url):
    queue = f"test-ping-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    app = Celery("fupin-broker-test", broker=redis_url, set_as_current=False)
    app.conf.broker_connection_retry_on_startup = False
    app.conf.broker_connection_timeout = 2
    try:
        result = app.send_task("common.tasks.ping", queue=queue)

        assert client.llen(queue) == 1
        message = json.loads(client.lindex(queue, 0))
        assert message["headers"]["task"] == "common.tasks.ping"
        assert message["headers"]["id"] == result.id
    finally:
        app.close()
        # The queue list and kombu's binding keys (whose names vary across kombu versions).
        client.delete(queue, *client.scan_iter(match=f"_kombu.binding*.{queue}"))
        client.close()
