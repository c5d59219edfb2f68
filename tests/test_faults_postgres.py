"""Fault test (issue 9): PostgreSQL restarted while the daily job runs. The job retries on its own
to completion, or fails visibly (exit status 1 with a message, the Job failed, not left running);
either way a rerun leaves the same tables as an uninterrupted run.

The test runs a PostgreSQL server of its own (initdb into a temporary directory, a free port on
127.0.0.1, as the postgres OS user when we are root): the shared server on 5432 is never touched.
Its schema is the suite's migrated test database, copied with pg_dump (under a second) when the
suite runs on PostgreSQL, else `manage.py migrate` (some 15 s). tests/faults_postgres_driver.py
seeds it and runs `manage.py run_daily_jobs` in subprocesses, holding the job at a chosen point
while the test restarts or stops the server.

Every comparison is against one uninterrupted run on a copy of the same seed (CREATE DATABASE ...
TEMPLATE): every table but common_job, row for row, less the columns that differ between any two
runs (ids from sequences, timestamps).

One test in phases rather than one test each: pytest-xdist hands a module's tests to both workers
one at a time, and each worker would build its own server, seed and reference run (some 15 s).
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.db import connection

from conftest import require_service
from tests.faults_postgres_driver import AS_OF

# django_db: so that pytest-django sets up the suite's test database, whose schema seed copies.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "tests" / "faults_postgres_driver.py"
RUN_JOB = ["run_daily_jobs", "--as-of", AS_OF.isoformat()]
# Columns that differ between two runs of the same job whatever they do: ids drawn from sequences
# (an insert rolled back uses some up) and the moments things happened.
# The audit trail's hashes chain its entries' times, which come from the database clock: they
# differ between two runs as the times do (verify_audit_chain checks the chain itself).
VOLATILE = "id at since created_at updated_at computed_at posted_at started_at finished_at hash last_id last_hash".split()
# What the daily job writes; the comparison must see each of them change.
WRITTEN = {"loans_loan", "loans_breaker", "loans_breakerevent", "reporting_regionrollup"}


def server_binaries() -> Path | None:
    """The bin directory of the newest PostgreSQL server installed (Debian's layout), else pg_ctl's
    on PATH."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parent.parent.name)
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).resolve().parent if on_path else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A throw-away PostgreSQL cluster in `base`, on 127.0.0.1:port, trust authentication, no fsync
    (nothing here needs to survive a crash; the restarts are clean shutdowns)."""

    def __init__(self, bindir: Path, base: Path):
        self.bindir, self.base, self.port = bindir, base, free_port()
        self.data = str(base / "data")
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def command(self, tool: str, *args: str, owner: bool = True) -> list[str]:
        return [*(self.as_owner if owner else []), str(self.bindir / tool), *args]

    def _run(self, tool: str, *args: str, owner: bool = True, **kwargs) -> subprocess.CompletedProcess:
        command = self.command(tool, *args, owner=owner)
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)
        assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
        return done

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", self.data, "-l", str(self.base / "server.log"), "-o", options, "-w", *args)

    def init(self) -> None:
        self._run("initdb", "-D", self.data, *"-A trust -U postgres -E UTF8 --locale=C --no-sync".split())
        self.start()

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def running(self) -> bool:
        status = subprocess.run(self.command("pg_ctl", "-D", self.data, "status"), capture_output=True)
        return status.returncode == 0

    def kill(self) -> None:
        stop = self.command("pg_ctl", "-D", self.data, "stop", "-m", "immediate")
        subprocess.run(stop, capture_output=True)

    def url(self, db: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def query(self, db: str, sql: str, params=None) -> list[tuple]:
        import psycopg2

        conn = psycopg2.connect(dbname=db, host="127.0.0.1", port=self.port, user="postgres")
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
        finally:
            conn.close()

    def value(self, db: str, sql: str):
        return self.query(db, sql)[0][0]

    def copy(self, template: str, name: str) -> str:
        self.query("postgres", f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def load(self, db: str, sql: str) -> None:
        target = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db]
        self._run("psql", *target, "-q", "-v", "ON_ERROR_STOP=1", owner=False, input=sql)

    def tables(self, db: str) -> dict[str, tuple[int, str]]:
        """Every table but common_job: (rows, md5 of its rows less VOLATILE as JSON, sorted)."""
        names = self.query(db, TABLES)
        return {name: self.query(db, FINGERPRINT.format(name), [VOLATILE])[0] for (name,) in names}

    def jobs(self, db: str) -> list[tuple]:
        """(status, message, result less its timings) of each Job, in order."""
        rows = self.query(db, "SELECT status, message, result FROM common_job ORDER BY id")
        return [(status, message, without_timings(result)) for status, message, result in rows]


TABLES = """
    SELECT table_name FROM information_schema.tables
    WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'common_job'
"""
FINGERPRINT = """
    SELECT count(*), md5(coalesce(string_agg(r, E'\\n' ORDER BY r), ''))
    FROM (SELECT (to_jsonb(t) - %s::text[])::text AS r FROM "{}" t) AS rows
"""


def without_timings(result: dict) -> dict:
    return {key: value for key, value in result.items() if key != "seconds"}


def postgres_user():
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


@pytest.fixture
def server():
    bindir = server_binaries()
    require_service(
        bindir is not None and (bindir / "initdb").exists(), "PostgreSQL server binaries (initdb, pg_ctl)"
    )
    root = os.geteuid() == 0
    if root:  # the server refuses to run as root: it runs as postgres
        owner = postgres_user()
        require_service(owner is not None and shutil.which("runuser") is not None, "a postgres user, runuser")
    # Under /tmp, not pytest's tmp_path: the server's user must be able to reach it.
    base = Path(tempfile.mkdtemp(prefix="fupin_faultpg_"))
    if root:
        os.chown(base, owner.pw_uid, owner.pw_gid)
    pg = Server(bindir, base)
    try:
        pg.init()
        yield pg
    finally:
        pg.kill()
        shutil.rmtree(base, ignore_errors=True)


def django_env(server: Server, db: str, **extra: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": server.url(db),
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    env.pop("REDIS_URL", None)
    return env


def run_driver(server: Server, db: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(DRIVER), *args],
        cwd=ROOT,
        env=django_env(server, db),
        capture_output=True,
        text=True,
        timeout=240,
    )


def copy_suite_schema(server: Server, db: str) -> None:
    """The schema of the suite's migrated test database (and its django_migrations rows)."""
    source = connection.settings_dict
    host, port, user = (
        source["HOST"] or "127.0.0.1",
        str(source["PORT"] or 5432),
        source["USER"] or "postgres",
    )
    args = ["-h", host, "-p", port, "-U", user, "--no-owner", "--no-privileges", source["NAME"]]
    env = {**os.environ, "PGPASSWORD": source["PASSWORD"] or ""}
    schema = server._run("pg_dump", "--schema-only", *args, owner=False, env=env).stdout
    migrations = server._run(
        "pg_dump", "--data-only", "-t", "django_migrations", *args, owner=False, env=env
    ).stdout
    server.load(db, schema + migrations)


@pytest.fixture
def seed(server, request):
    """Database `seed`: the schema and the loans of faults_postgres_driver.seed, not yet classified."""
    server.query("postgres", "CREATE DATABASE seed")
    if connection.vendor == "postgresql":
        request.getfixturevalue("django_db_setup")  # the suite's test database, migrated
        copy_suite_schema(server, "seed")
        built = run_driver(server, "seed", "seed")
    else:
        built = run_driver(server, "seed", "seed", "--migrate")
    assert built.returncode == 0, built.stderr[-3000:]
    return "seed"


@pytest.fixture
def reference(server, seed):
    """The uninterrupted run on a copy of the seed: its tables and its Job."""
    db = server.copy(seed, "reference")
    done = run_driver(server, db, *RUN_JOB)
    assert done.returncode == 0, done.stderr[-3000:]
    return {
        "tables": server.tables(db),
        "jobs": server.jobs(db),
        "seed_tables": server.tables(seed),
        "db": db,
    }


class Background:
    """The driver running `args` against `db` in the background, its output in `folder`. With
    pause_at (module:function), the first call of that function waits until resume()."""

    def __init__(self, server: Server, db: str, folder: Path, *args: str, pause_at: str, **env: str):
        self.folder = folder
        folder.mkdir()
        with open(folder / "stdout", "w") as out, open(folder / "stderr", "w") as err:
            self.process = subprocess.Popen(
                [sys.executable, str(DRIVER), *args],
                cwd=ROOT,
                stdout=out,
                stderr=err,
                env=django_env(server, db, FAULT_PAUSE_AT=pause_at, FAULT_PAUSE_DIR=str(folder), **env),
            )

    def stderr(self) -> str:
        return (self.folder / "stderr").read_text()

    def wait_for(self, condition, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                pytest.fail(
                    f"the job ended ({self.process.returncode}) before {what}: {self.stderr()[-3000:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}: {self.stderr()[-3000:]}")
            time.sleep(0.05)

    def wait_paused(self) -> None:
        self.wait_for((self.folder / "paused").exists, "its pause point")

    def resume(self) -> None:
        (self.folder / "resume").touch()

    def exit_status(self) -> int:
        return self.process.wait(timeout=120)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def background(server, tmp_path):
    """background(db, name, *args, pause_at=..., **env) -> a Background in tmp_path/name, killed at
    the end if still running."""
    started: list[Background] = []

    def start(db: str, name: str, *args: str, pause_at: str, **env: str) -> Background:
        started.append(Background(server, db, tmp_path / name, *args, pause_at=pause_at, **env))
        return started[-1]

    yield start
    for run in started:
        run.kill()


def mismatched(tables: dict, expected: dict) -> dict:
    return {
        name: (tables.get(name), expected.get(name))
        for name in expected.keys() | tables.keys()
        if tables.get(name) != expected.get(name)
    }


# Where the restart finds the job, and why each place matters.
RESTART_POINTS = {
    # Inside the classification's transaction, the loans' DPD updated but not committed: the
    # transaction is lost with the connection, and the step must start over.
    "in-a-transaction": "loans.daily:_policy_groups",
    # Between two steps, the connection idle: the next statement meets it broken outside any
    # transaction (a Job was left "running" for ever here before: its failure could not even be
    # written on the broken connection).
    "between-steps": "loans.daily:fund_leverage_warnings",
}


def test_the_daily_job_through_postgresql_restarts(server, seed, reference, background):
    the_uninterrupted_run_writes_what_is_compared(reference)
    for name, pause_at in RESTART_POINTS.items():
        a_restart_is_retried_to_the_uninterrupted_result(server, seed, reference, background, name, pause_at)
    a_server_down_past_the_retries_fails_visibly_and_a_rerun_catches_up(server, seed, reference, background)


def the_uninterrupted_run_writes_what_is_compared(reference: dict) -> None:
    """Not a comparison of two empty results: the reference run classified, tripped breakers,
    wrote rollups and found warnings."""
    changed = {name for name, rows in reference["tables"].items() if rows != reference["seed_tables"][name]}
    assert WRITTEN <= changed
    [(status, message, result)] = reference["jobs"]
    assert status == "succeeded" and "五级分类" in message
    assert result["classification"]["overdue"] > 0 and result["breakers"]["tripped_now"]
    assert [w["county"] for w in result["leverage_warnings"]] == ["411721"]
    assert result["maturity_warnings"] > 0


def a_restart_is_retried_to_the_uninterrupted_result(server, seed, reference, background, name, pause_at):
    db = server.copy(seed, f"restarted_{name.replace('-', '_')}")
    job = background(db, name, *RUN_JOB, pause_at=pause_at)
    job.wait_paused()
    server.restart()
    job.resume()

    assert job.exit_status() == 0, f"{name}: {job.stderr()[-3000:]}"
    # It did lose its connection, and retried rather than failed.
    assert "数据库连接中断" in job.stderr() and "秒后重试" in job.stderr(), name
    [(status, _message, result)] = server.jobs(db)
    assert status == "succeeded", name
    # The retried step started over from nothing, so even its figures are the uninterrupted run's.
    assert result == reference["jobs"][0][2], name
    assert mismatched(server.tables(db), reference["tables"]) == {}, name


def a_server_down_past_the_retries_fails_visibly_and_a_rerun_catches_up(server, seed, reference, background):
    db = server.copy(seed, "stopped")
    # Held in the breakers' step, the classification committed; 3 retries: 1 + 2 + 4 seconds.
    job = background(db, "stopped", *RUN_JOB, pause_at="loans.daily:_apply", DAILY_JOB_DB_RETRIES="3")
    job.wait_paused()
    server.stop()
    job.resume()
    job.wait_for(lambda: "放弃" in job.stderr(), "the job to give up retrying")
    server.start()  # in time for the job to record its failure (it retries that as well)

    assert job.exit_status() == 1
    assert "CommandError: 日终任务失败：数据库连接中断，重试 3 次后仍未恢复" in job.stderr()
    [(status, message, _result)] = server.jobs(db)
    assert status == "failed" and message.startswith("日终任务失败：数据库连接中断") and "重新运行" in message
    # What it left: the classification as the reference run's, no breaker (that step rolled back).
    non_normal = "SELECT count(*) FROM loans_loan WHERE classification <> 'normal'"
    assert server.value(db, non_normal) == server.value(reference["db"], non_normal) > 0
    assert server.value(db, "SELECT count(*) FROM loans_breaker") == 0

    rerun = run_driver(server, db, *RUN_JOB)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert [status for status, _message, _result in server.jobs(db)] == ["failed", "succeeded"]
    assert mismatched(server.tables(db), reference["tables"]) == {}
