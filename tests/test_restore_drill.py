"""The restore drill of README "备份与恢复", run for real on PostgreSQL.

A scratch database is migrated and seeded (manage.py in subprocesses, as an operator would),
dumped with `pg_dump -Fc`, restored with `pg_restore` into a fresh database, and the two are
compared table by table: the same tables, the same row count in each, the same rows (an md5 of
each table's rows in sorted text form). Both scratch databases are dropped at the end.
The names carry a random suffix, so parallel workers or runs never collide.
"""

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from conftest import require_service

ROOT = Path(__file__).resolve().parent.parent

TABLES = """
    SELECT table_name FROM information_schema.tables
    WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name
"""


@pytest.fixture
def postgres():
    """Connection details of the PostgreSQL server the suite runs on, with its client tools."""
    require_service(connection.vendor == "postgresql", "PostgreSQL (the restore drill)")
    for tool in ("pg_dump", "pg_restore"):
        require_service(shutil.which(tool) is not None, f"{tool} on PATH")
    db = settings.DATABASES["default"]
    return {
        "host": db.get("HOST") or "127.0.0.1",
        "port": str(db.get("PORT") or 5432),
        "user": db.get("USER") or "postgres",
        "password": db.get("PASSWORD") or "",
    }


def admin_connection(pg: dict):
    import psycopg2

    conn = psycopg2.connect(
        dbname="postgres", host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"]
    )
    conn.autocommit = True
    return conn


def table_fingerprints(pg: dict, dbname: str) -> dict[str, tuple[int, str]]:
    """Every public table: (row count, md5 of its rows as text, sorted)."""
    import psycopg2
    from psycopg2 import sql

    with psycopg2.connect(
        dbname=dbname, host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"]
    ) as conn, conn.cursor() as cursor:  # fmt: skip
        cursor.execute(TABLES)
        names = [row[0] for row in cursor.fetchall()]
        result = {}
        for name in names:
            cursor.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {} t"
                ).format(sql.Identifier(name))
            )
            result[name] = cursor.fetchone()
    conn.close()
    return result


def test_a_dump_restores_into_a_fresh_database_with_every_row(postgres, tmp_path):
    suffix = uuid.uuid4().hex[:10]
    source, target = f"fupin_drill_src_{suffix}", f"fupin_drill_dst_{suffix}"
    pg_env = {
        **os.environ,
        "PGHOST": postgres["host"],
        "PGPORT": postgres["port"],
        "PGUSER": postgres["user"],
        "PGPASSWORD": postgres["password"],
    }
    credentials = quote(postgres["user"], safe="") + (
        ":" + quote(postgres["password"], safe="") if postgres["password"] else ""
    )
    django_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{credentials}@{postgres['host']}:{postgres['port']}/{source}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "CELERY_TASK_ALWAYS_EAGER": "true",
    }
    django_env.pop("REDIS_URL", None)

    def run(args: list[str], env: dict) -> None:
        result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
        assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}{result.stderr[-2000:]}"

    admin = admin_connection(postgres)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{source}"')
        run([sys.executable, "manage.py", "migrate", "--noinput"], django_env)
        run([sys.executable, "manage.py", "seed_demo", "--households", "200"], django_env)

        # README 备份与恢复: the dump, a fresh database, the restore.
        dump = tmp_path / "backup.dump"
        run(["pg_dump", "-Fc", "--no-owner", "-d", source, "-f", str(dump)], pg_env)
        assert dump.stat().st_size > 0
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{target}"')
        run(["pg_restore", "--no-owner", "--exit-on-error", "-d", target, str(dump)], pg_env)

        before, after = table_fingerprints(postgres, source), table_fingerprints(postgres, target)
        assert sorted(after) == sorted(before)
        mismatched = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
        assert mismatched == {}
        # The drill restored a real dataset, not two empty schemas.
        assert before["households_household"][0] == 200
        assert before["django_migrations"][0] > 0
        assert sum(count for count, _ in before.values()) > 1000
    finally:
        with admin.cursor() as cursor:
            for name in (source, target):
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
