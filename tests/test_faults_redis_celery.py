"""Fault tests (issue 9) with the real services: Redis going away, and a Celery worker killed in the
middle of a household import.

Each test starts its own redis-server on a free port (never the shared one on 6379: other tests
use it) and, where a task must run, real `celery worker --pool=solo` processes on the test's own
database, so those tests need PostgreSQL (the worker cannot see an in-memory SQLite database) and
commit for real (transactional_db). The project's Celery app is pointed at that Redis, not eager,
for the duration of a test.

- Redis down: pages and API reads answer; starting a job neither fails the request nor loses the
  job: it ends failed at once, with a message saying nothing was done, and the send gives up fast.
  Redis back: new jobs run on a worker, and a job whose message Redis lost (it keeps nothing over
  a restart) is sent again by the stale-job sweeper.
- Worker killed (SIGKILL, its whole process group) while writing a household file: no household
  of the file is in the database, the sweeper ends the job failed, and a new run succeeds.
"""

import contextlib
import datetime
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import kombu.pools
import pytest
import redis
from django.conf import settings
from django.db import connection

from common.clock import now, today
from common.jobs import QUEUE_DOWN_MESSAGE
from common.models import Job
from config.celery import app as celery_app
from conftest import require_service
from credit_rating.tests.factories import publish_default
from households.models import Household, Member
from imports.models import ImportJob
from imports.services import STALE_AFTER, import_requeue_stale, import_rerun
from reporting.rollups import compute_rollups

ROOT = Path(__file__).resolve().parent.parent
CELERY = Path(sys.executable).with_name("celery")
REDIS_SERVER = shutil.which("redis-server")
# Villages A1 and A2 of the `regions` fixture are the first two of bench/import_households.py.
VILLAGES = 2
# The killed import's file: a thousand households (several batches of work in each step); the
# test holds the worker in the middle of its writes with a lock, so no size makes it a race.
PERSONS, HOUSEHOLDS = 3000, 1000
# A request must not wait on a dead broker longer than this (CELERY_TASK_PUBLISH_RETRY_POLICY).
FAST = 3.0


# --- waiting ------------------------------------------------------------------------------------


def wait_until(condition, *, timeout: float, what: str, log: Path | None = None, every: float = 0.05):
    """condition()'s first truthy value, polling; on timeout fail, with the worker's log if given."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- our own Redis --------------------------------------------------------------------------------


class RedisServer:
    """A throw-away redis-server that keeps nothing on disk (a restart loses every message)."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> None:
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]  # nothing kept over a restart
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.answers, timeout=10, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def answers(self) -> bool:
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return client.ping()
        except redis.RedisError:
            return False
        finally:
            client.close()


@pytest.fixture
def own_redis():
    require_service(REDIS_SERVER is not None, "redis-server (to start a Redis of the test's own)")
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def _drop_celery_connections() -> None:
    """Celery keeps its broker connection pool and result backend from first use; drop them so
    that the next task is sent with the configuration as it is now."""
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app._backend_cache = None
    celery_app._local.backend = None
    # kombu's process-wide producer pools are keyed by broker URL: one left holding a closed
    # connection pool would break the next test's task (even an eager one acquires a producer).
    kombu.pools.reset()


@pytest.fixture
def broker(own_redis):
    """The project's Celery app sending to our Redis instead of running tasks eagerly (the test
    settings' way), restored afterwards. The Redis server, for stopping and starting."""
    keys = ("broker_url", "result_backend", "task_always_eager")
    saved = {key: celery_app.conf[key] for key in keys}
    celery_app.conf.update(broker_url=own_redis.url, result_backend=own_redis.url, task_always_eager=False)
    _drop_celery_connections()
    yield own_redis
    celery_app.conf.update(saved)
    _drop_celery_connections()


# --- real workers ---------------------------------------------------------------------------------


def database_url() -> str:
    """DATABASE_URL of the database this test is using (the test database pytest-django made)."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """`celery worker --pool=solo` in its own process group (its xlsx probe and encryption
    helpers are children of it), logging to a file."""

    def __init__(self, env: dict, log: Path):
        self.env, self.log, self.process = env, log, None

    def start(self) -> "Worker":
        name = f"faultr-{uuid.uuid4().hex[:8]}@%h"
        command = [str(CELERY), "-A", "config", "worker", "--pool=solo", "-l", "info", "-n", name]
        command += ["--without-mingle", "--without-gossip", "--without-heartbeat"]  # a faster start
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def kill(self) -> None:
        """SIGKILL to the whole group: nothing of the worker gets to clean up."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def workers(transactional_db, broker, media, tmp_path):
    """workers() -> a started Worker on our Redis and the test's database; all killed at the end
    (before the test's tables are flushed)."""
    require_service(
        connection.vendor == "postgresql", "PostgreSQL (a worker process shares the test database)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "REDIS_URL": broker.url,
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(media),
        "PII_ENCRYPTION_KEYS": ",".join(settings.PII_ENCRYPTION_KEYS),
        "PII_HASH_KEY": settings.PII_HASH_KEY,
    }
    started: list[Worker] = []

    def start() -> Worker:
        worker = Worker(env, tmp_path / f"worker-{len(started) + 1}.log").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()


# --- files and jobs ---------------------------------------------------------------------------------


def household_file(persons: int, households: int) -> bytes:
    """The national export's 19 columns (bench/import_households.py), in villages A1 and A2."""
    from bench.import_households import build_rows, write_xlsx

    buffer = io.BytesIO()
    write_xlsx(buffer, build_rows(persons, households, VILLAGES))
    return buffer.getvalue()


def upload(client, data: bytes, *, dry_run: bool = True):
    started = time.monotonic()
    response = client.post(
        "/api/v1/imports/",
        {"kind": "households", "dry_run": "true" if dry_run else "false", "file": io.BytesIO(data)},
        format="multipart",
    )
    return response, time.monotonic() - started


def finished(model, pk: int):
    job = model.objects.get(pk=pk)
    return job if job.status in ("succeeded", "failed") else None


# --- Redis down -------------------------------------------------------------------------------------

PAGES = ["/", "/dashboard/", "/households/", "/imports/", "/ratings/", "/enterprises/", "/loans/", "/subsidy/",
         "/risk-fund/"]  # fmt: skip
API_READS = [
    "me/", "regions/", "households/", "enterprises/", "ratings/", "loans/", "breakers/", "subsidy/batches/",
    "compensation-claims/", "dashboard/?region=411722", "policies/?county=411722",
]  # fmt: skip


@pytest.mark.django_db
def test_pages_and_api_reads_answer_with_redis_down(broker, client, client_for, api, personas, households):
    compute_rollups(as_of=today())  # what the dashboards show
    broker.stop()
    assert client.get("/login/").status_code == 200
    login = client.post("/login/", {"username": "county", "password": "correct-horse-battery"})
    assert (login.status_code, login["Location"]) == (302, "/")
    token = api().post("/api/v1/auth/token/", {"username": "county", "password": "correct-horse-battery"})
    assert token.status_code == 200, token.content
    staff = client_for(personas["county_staff"])
    for page in PAGES:
        assert staff.get(page).status_code == 200, page
    reader = api(personas["county_staff"])
    for path in API_READS:
        assert reader.get(f"/api/v1/{path}").status_code == 200, path


@pytest.mark.django_db(transaction=True)
def test_starting_jobs_with_redis_down_fails_them_at_once_and_visibly(broker, api, personas, regions, media):
    publish_default(regions["shangcai"])  # pre-rating needs the county's scorecard
    staff = api(personas["county_staff"])
    broker.stop()

    response, seconds = upload(staff, household_file(3, 1))
    assert response.status_code == 202 and seconds < FAST, (response.content, seconds)
    assert response.json()["status"] == "failed"  # committed, then the send failed: said at once
    job = staff.get(f"/api/v1/imports/{response.json()['id']}/").json()
    assert (job["status"], job["message"]) == ("failed", QUEUE_DOWN_MESSAGE)

    for path, body in (("ratings/prerate/", {"region": "411722"}), ("jobs/daily/", {"as_of": "2024-05-01"})):
        started = time.monotonic()
        response = staff.post(f"/api/v1/{path}", body, format="json")
        assert response.status_code == 202 and time.monotonic() - started < FAST, (path, response.content)
        job = staff.get(f"/api/v1/jobs/{response.json()['job_id']}/").json()
        assert (job["status"], job["message"]) == ("failed", QUEUE_DOWN_MESSAGE), path
    assert not Household.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_after_redis_comes_back_jobs_run_and_a_lost_message_is_sent_again(broker, workers, api, personas):
    staff = api(personas["county_staff"])
    data = household_file(3, 1)
    waiting, _ = upload(staff, data)  # sent: its message sits in Redis, no worker yet
    assert waiting.json()["status"] == "queued"
    broker.stop()  # Redis keeps nothing over a restart: that message is gone
    refused, _ = upload(staff, data)
    assert refused.json()["status"] == "failed"
    broker.start()
    worker = workers()

    fresh, _ = upload(staff, data)
    job = wait_until(
        lambda: finished(ImportJob, fresh.json()["id"]), timeout=30, what="the import", log=worker.log
    )
    assert (job.status, job.created) == ("succeeded", 1), job.message
    daily = staff.post("/api/v1/jobs/daily/", {"as_of": "2024-05-01"}, format="json").json()
    job = wait_until(lambda: finished(Job, daily["job_id"]), timeout=30, what="the daily job", log=worker.log)
    assert job.status == "succeeded", job.message

    assert ImportJob.objects.get(pk=waiting.json()["id"]).status == "queued"  # lost, not run
    swept = import_requeue_stale(at=now() + STALE_AFTER + datetime.timedelta(minutes=1))
    assert swept == {"sent_again": [waiting.json()["id"]], "failed": []}
    job = wait_until(
        lambda: finished(ImportJob, waiting.json()["id"]),
        timeout=30,
        what="the resent import",
        log=worker.log,
    )
    assert (job.status, job.created) == ("succeeded", 1), job.message
    assert ImportJob.objects.get(pk=refused.json()["id"]).status == "failed"  # left for the user
    assert not Household.objects.exists()  # dry runs


# --- a worker killed in the middle of an import -------------------------------------------------------


def locks_held_by_others(table: str) -> set[tuple[str, bool]]:
    """(mode, granted) of the locks other sessions hold or wait for on the table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.mode, l.granted FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = %s AND l.pid <> pg_backend_pid()",
            [table],
        )
        return set(cursor.fetchall())


def inserted_ever(table: str) -> int:
    """Rows ever inserted into the table, committed or rolled back (PostgreSQL's statistics)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = %s", [table])
        return cursor.fetchone()[0]


def writing_midway() -> bool:
    """Whether the worker has inserted the file's households (it holds the lock that inserting
    takes, until its transaction ends) and waits to insert the members."""
    inserted = ("RowExclusiveLock", True) in locks_held_by_others(Household._meta.db_table)
    return inserted and ("RowExclusiveLock", False) in locks_held_by_others(Member._meta.db_table)


@contextlib.contextmanager
def table_locked(table: str):
    """SHARE lock on the table from a second connection while the block runs: anyone inserting
    into it waits. It holds the worker in the middle of its writes for as long as the test needs,
    however fast the machine, instead of racing a short window."""
    raw = connection.get_new_connection(connection.get_connection_params())
    try:
        with raw.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {connection.ops.quote_name(table)} IN SHARE MODE")
        yield
    finally:
        raw.rollback()
        raw.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_writing_a_household_file_leaves_nothing_and_a_new_run_succeeds(
    workers, api, personas
):
    households = Household._meta.db_table
    staff = api(personas["county_staff"])
    worker = workers()
    response, _ = upload(staff, household_file(PERSONS, HOUSEHOLDS))
    dry = wait_until(
        lambda: finished(ImportJob, response.json()["id"]), timeout=60, what="the dry run", log=worker.log
    )
    assert (dry.status, dry.created) == ("succeeded", HOUSEHOLDS), dry.message
    inserted_before = inserted_ever(households)

    with table_locked(Member._meta.db_table):
        real = import_rerun(actor=personas["county_staff"], job=dry, dry_run=False)
        wait_until(writing_midway, timeout=60, what="the worker to be writing the file", log=worker.log)
        assert ImportJob.objects.get(pk=real.pk).phase == "writing"
        worker.kill()
    wait_until(
        lambda: not locks_held_by_others(households), timeout=30, what="the killed worker's session to end"
    )

    assert not Household.objects.exists() and not Member.objects.exists()  # nothing half-written
    wait_until(
        lambda: inserted_ever(households) - inserted_before == HOUSEHOLDS,
        timeout=10, what="statistics showing the households were inserted, then rolled back",
    )  # fmt: skip
    real.refresh_from_db()
    assert (real.status, real.phase) == ("running", "writing")  # nobody is left to say otherwise
    swept = import_requeue_stale(at=now() + STALE_AFTER + datetime.timedelta(minutes=1))
    assert swept == {"sent_again": [], "failed": [real.pk]}
    real.refresh_from_db()
    assert real.status == "failed" and "后台进程意外中断" in real.message and "未写入任何数据" in real.message

    worker = workers()
    again = import_rerun(actor=personas["county_staff"], job=dry, dry_run=False)
    job = wait_until(lambda: finished(ImportJob, again.pk), timeout=60, what="the new run", log=worker.log)
    assert (job.status, job.created, job.updated) == ("succeeded", HOUSEHOLDS, 0), job.message
    assert Household.objects.count() == HOUSEHOLDS and Member.objects.count() == PERSONS
