"""Shared set-up of the PostgreSQL benchmarks: each builds a throw-away database of its own on the
server DATABASE_URL names (default postgres://postgres@127.0.0.1:5432/), migrates it and sets up
Django on it (`config.settings.test`: test keys, eager Celery). Scripts run as `python bench/x.py`,
so this module is importable as `benchdb`.

Also shared: the command line (`command_line`, with --keep), the region tree and the people most
benchmarks build, the bulk load of INSERT ... SELECT steps with its SQL for households, loans and
instalments, and the lines every script prints (`built`, `verdict`)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/postgres"
CITY = "411700"
TOWNSHIPS, VILLAGES_PER_TOWNSHIP = 20, 25


def server_url() -> str:
    return os.environ.get("DATABASE_URL") or DEFAULT_URL


def database_urls(url: str, name: str) -> tuple[str, str]:
    """(the benchmark database's URL, the maintenance database's URL) on the server of `url`."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit(
            "DATABASE_URL must point at PostgreSQL, e.g. postgres://postgres@127.0.0.1:5432/postgres"
        )
    return urlunsplit(parts._replace(path=f"/{name}")), urlunsplit(parts._replace(path="/postgres"))


def recreate(admin_url: str, name: str, *, drop_only: bool = False) -> None:
    import psycopg2

    connection = psycopg2.connect(admin_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if not drop_only:
            cursor.execute(f"CREATE DATABASE {name}")
    connection.close()


def django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


@contextmanager
def bench_database(name: str, *, keep: bool = False):
    """The benchmark's own database `name` on the server DATABASE_URL names: created afresh,
    Django set up on it and migrated; yields its URL. Dropped at the end unless `keep`."""
    target, admin = database_urls(server_url(), name)
    parts = urlsplit(target)
    print(f"database {name} on {parts.hostname}:{parts.port or 5432}", flush=True)
    recreate(admin, name)
    try:
        django_setup(target)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield target
    finally:
        from django.db import connections

        connections.close_all()
        if not keep:
            recreate(admin, name, drop_only=True)


def command_line(doc: str, database: str, argv=None, **options) -> argparse.Namespace:
    """The script's command line: its docstring as the help, `options` in order (loans={...} is
    --loans, overdue_share={...} --overdue-share, each the keywords of add_argument), then --keep."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for option, kwargs in options.items():
        parser.add_argument(f"--{option.replace('_', '-')}", **kwargs)
    parser.add_argument("--keep", action="store_true", help=f"do not drop {database} at the end")
    return parser.parse_args(argv)


# --- what the benchmarks build -------------------------------------------------------------------


def build_regions(counties: list[str], *, village_name: str = "第{t}镇{v}村") -> None:
    """The city (驻马店市) and each county in `counties` (第1县, 第2县, ...) with its townships of
    villages, in one bulk insert: township codes county + 100.., village codes township + 201..;
    village_name is formatted with the township's and the village's numbers (t, v, from 1)."""
    from organization.models import Region

    rows = [Region(code=CITY, name="驻马店市", level="city")]
    for c, county in enumerate(counties):
        rows.append(Region(code=county, name=f"第{c + 1}县", level="county", parent_id=CITY))
        for t in range(TOWNSHIPS):
            township = f"{county}{100 + t}"
            rows.append(Region(code=township, name=f"第{t + 1}镇", level="township", parent_id=county))
            rows += [
                Region(
                    code=f"{township}{201 + v}",
                    name=village_name.format(t=t + 1, v=v + 1),
                    level="village",
                    parent_id=township,
                )
                for v in range(VILLAGES_PER_TOWNSHIP)
            ]
    Region.objects.bulk_create(rows)


def build_banks() -> list:
    """The two banks of the benchmarks that lend through both (PSBC and ZYRCB)."""
    from organization.models import Bank

    return [
        Bank.objects.create(code="PSBC", name="邮储银行"),
        Bank.objects.create(code="ZYRCB", name="中原农商银行"),
    ]


def county_staff(county: str, username: str = "bench_county"):
    """A new user with the county staff role in `county`."""
    from organization.models import Role, User
    from organization.services import role_assign

    user = User.objects.create_user(username)
    role_assign(user=user, role=Role.COUNTY_STAFF, region_code=county)
    return user


def households_insert(rows: str) -> str:
    """INSERT of one poor household per row of the query `rows` (columns i: the id, village);
    the encrypted columns hold placeholders."""
    return f"""
        INSERT INTO households_household (id, household_no, village_id, head_name, head_id_enc, head_id_hash,
            head_id_masked, phone, member_count, labor_count, status, attribute, identification_standard,
            poverty_causes, per_capita_income, bank_name, bank_account_enc, bank_account_hash,
            bank_account_masked, created_at, updated_at)
        SELECT i, 'B' || lpad(i::text, 10, '0'), village, '户主' || i, '-', 'bench-' || i,
            '411722********000X', '', 3, 2, 'poor', 'general', 'national', '[]'::jsonb, 3000, '', '',
            'bench-acct-' || i, '', now(), now()
        FROM ({rows}) AS l"""


# The columns of a loan as the benchmarks insert it (followed by a SELECT in that order).
LOANS_INSERT = """
        INSERT INTO loans_loan (id, loan_no, household_id, area_id, township_id, county_id, bank_id, amount,
            rate, term_months, purpose, repayment_method, other_subsidy, status, disbursed_on,
            maturity_date, extension_count, renewal_count, principal_outstanding, dpd, classification,
            created_by_id, created_at, updated_at)"""


def instalments_insert(where: str = "") -> str:
    """INSERT of the quarterly interest-bullet schedules (4.75 %) of the loans `where` picks. Paid:
    every instalment due before a cut-off, the as-of date or, for %(late_per_mille)s loans in a
    thousand, 1-540 days before it."""
    return f"""
        INSERT INTO loans_instalment (loan_id, seq, start_date, due_date, principal_due, interest_due,
            principal_paid, interest_paid, settled, in_extension)
        SELECT l.id, s.seq, (l.disbursed_on + make_interval(months => 3 * (s.seq - 1)))::date, d.due,
            CASE WHEN s.seq = l.term_months / 3 THEN l.amount ELSE 0 END, d.interest, 0,
            CASE WHEN d.due < c.cutoff THEN d.interest ELSE 0 END, d.due < c.cutoff, false
        FROM loans_loan l
        CROSS JOIN LATERAL generate_series(1, l.term_months / 3) AS s(seq)
        CROSS JOIN LATERAL (SELECT (l.disbursed_on + make_interval(months => 3 * s.seq))::date AS due,
                                   round(l.amount * 0.0475 / 4, 2) AS interest) AS d
        CROSS JOIN LATERAL (SELECT CASE WHEN (l.id * 7) %% 1000 < %(late_per_mille)s
                                        THEN %(as_of)s::date - (1 + (l.id * 37) %% 540)::int
                                        ELSE %(as_of)s::date END AS cutoff) AS c
        {where}"""


def bulk_load(
    steps: list[tuple[str, str]], params: dict, *, sequences=(), vacuum: str, vacuum_label="vacuum"
):
    """Runs the INSERT ... SELECT steps [(name, sql)] with `params`, foreign-key triggers off for the
    load (session_replication_role = replica: the rows are consistent by construction, and checking
    millions of references one by one would dominate the build), printing each step's rows and
    seconds; then moves the id sequences of the tables in `sequences` past the ids written, and runs
    `vacuum` (a steady-state database: statistics and visibility map), timed."""
    from django.db import connection

    width = max(len(name) for name, _sql in [*steps, (vacuum_label, "")]) + 1
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        for name, sql in steps:
            started = time.perf_counter()
            cursor.execute(sql, params)
            print(
                f"  {name:<{width}} {cursor.rowcount:>11,} rows {time.perf_counter() - started:7.1f} s",
                flush=True,
            )
        cursor.execute("SET session_replication_role = DEFAULT")
        for table in sequences:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        started = time.perf_counter()
        cursor.execute(vacuum)
    print(f"  {vacuum_label:<{width}} {'':>11}      {time.perf_counter() - started:7.1f} s", flush=True)


# --- what they print -------------------------------------------------------------------------------


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def built(started: float) -> None:
    """The build's time since `started` (time.perf_counter()), with the load average."""
    print(f"built in {time.perf_counter() - started:.1f} s (load average {load_average()})\n", flush=True)


def verdict(ok: bool, missed: str = "TOO SLOW") -> str:
    return "OK" if ok else missed


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]
