"""Benchmark of the region rollups and the dashboard API on PostgreSQL.

    uv run python bench/dashboard.py [--households 3000000] [--loans 1000000] [--counties 10] [--keep]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres uv run python bench/dashboard.py

Creates (and at the end drops) its own database `fupin_bench_dashboard`, migrates it, and builds in
bulk with INSERT ... SELECT generate_series (foreign-key triggers off for the load): a city of N
counties × 20 townships × 25 villages; the households (60 % registered poor: poor, lifted or
monitored; the rest non_poor); the loans of registered households, one in ten households with a
second loan (de-duplication matters), 85 % active, 10 % closed, 5 % written off, disbursed over
the last 3 years, quarterly interest-bullet schedules (4-12 instalments, 8 % of the loans stopped
paying 1-540 days before the as-of date); an approved rating for half the households (most valid
on the as-of date); a paid subsidy batch per county and bank with a line per active loan; a fund
deposit per county. Then times:

  daily job    reporting.jobs.run_all on the as-of date: the loans app's steps (cold: every loan
               classified) and then the rollups
  rollups      compute_rollups on the same date again (replaces the date's rows)
  next day     run_all on the as-of date + 1
  history      compute_rollups 91 days earlier (so the dashboards' target pace has a snapshot)

and then load-tests GET /api/v1/dashboard/ with locust (16 users, 60 s, on this machine) against
gunicorn (--workers, default 4) serving the benchmark database: a city finance user opening the
city and random counties, a county staff user its county and random townships, token auth.

Targets: rollups under 30 s, daily job with rollups under 60 s; dashboard p95 under 80 ms, at
least 300 requests/s, no errors.
"""

from __future__ import annotations

import csv
import datetime
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from benchdb import (
    CITY,
    ROOT,
    TOWNSHIPS,
    VILLAGES_PER_TOWNSHIP,
    bench_database,
    build_banks,
    build_regions,
    built,
    bulk_load,
    command_line,
    county_staff,
    instalments_insert,
    load_average,
    verdict,
)

BENCH_DB = "fupin_bench_dashboard"
AS_OF = datetime.date(2019, 6, 30)
ROLLUP_TARGET_S, JOB_TARGET_S, P95_TARGET_MS, RPS_TARGET = 30, 60, 80, 300
PORT = 8765


def build_places(counties: int) -> list[str]:
    from organization.models import ServiceUnit

    codes = [str(411721 + c) for c in range(counties)]
    build_regions(codes, village_name="{t}镇{v}村")
    ServiceUnit.objects.create(region_id=CITY, kind=ServiceUnit.Kind.CITY_OFFICE, name="市财政局")
    ServiceUnit.objects.create(
        region_id=codes[0], kind=ServiceUnit.Kind.COUNTY_CENTRE, name="县金融扶贫服务中心"
    )
    return codes


def build_people(county: str):
    from credit_rating.services import scorecard_publish_default
    from organization.models import Region, Role, User
    from organization.services import role_assign
    from organization.tokens import token_issue

    banks = build_banks()
    city = User.objects.create_user("bench_city")
    role_assign(user=city, role=Role.CITY_FINANCE, region_code=CITY)
    staff = county_staff(county)
    card = scorecard_publish_default(
        actor=None, county=Region.objects.get(code=county), effective_from=datetime.date(2017, 1, 1)
    )
    tokens = {u.username: token_issue(user=u)[0] for u in (city, staff)}
    return {"staff": staff, "banks": banks, "scorecard": card, "tokens": tokens}


# Household i (1..H) lives in village i modulo the villages; (i - 1) % 10 < 6 is registered poor.
# Loan j (1..L) goes to the k-th registered household, k = (j - 1) % (L * 9 / 10): the last tenth of
# the loans are second loans of the first households.
STEPS = [
    ("households", """
        WITH v AS (SELECT row_number() OVER (ORDER BY code) - 1 AS n, code FROM organization_region
                   WHERE level = 'village')
        INSERT INTO households_household (id, household_no, village_id, head_name, head_id_enc, head_id_hash,
            head_id_masked, phone, member_count, labor_count, status, attribute, identification_standard,
            poverty_causes, per_capita_income, bank_name, bank_account_enc, bank_account_hash,
            bank_account_masked, created_at, updated_at)
        SELECT i, 'B' || lpad(i::text, 10, '0'), v.code, '户主' || i, '-', 'bench-' || i, '411722********000X', '',
            3, 2, CASE WHEN (i - 1) %% 10 < 3 THEN 'poor' WHEN (i - 1) %% 10 < 5 THEN 'lifted'
                       WHEN (i - 1) %% 10 < 6 THEN 'monitored' ELSE 'non_poor' END,
            'general', 'national', '[]'::jsonb, 3000, '', '', 'bench-acct-' || i, '', now(), now()
        FROM generate_series(1::bigint, %(households)s) AS i JOIN v ON v.n = i %% %(villages)s"""),
    ("loans", """
        INSERT INTO loans_loan (id, loan_no, household_id, area_id, township_id, county_id, bank_id, amount,
            rate, term_months, purpose, repayment_method, other_subsidy, status, disbursed_on, maturity_date,
            closed_on, extension_count, renewal_count, principal_outstanding, dpd, classification,
            created_by_id, created_at, updated_at)
        SELECT j, 'BL' || lpad(j::text, 10, '0'), h.id, h.village_id, substr(h.village_id, 1, 9),
            substr(h.village_id, 1, 6), CASE WHEN j %% 2 = 0 THEN %(bank_a)s ELSE %(bank_b)s END, p.amount,
            4.75, p.term, 'breeding', 'quarterly_interest_bullet', false, p.status, p.disbursed_on,
            (p.disbursed_on + make_interval(months => p.term))::date,
            CASE WHEN p.status = 'closed' THEN %(as_of)s::date - (j %% 200)::int END, 0, 0,
            CASE WHEN p.status = 'active' THEN p.amount ELSE 0 END, 0, 'normal', %(user)s, now(), now()
        FROM generate_series(1::bigint, %(loans)s) AS j
        CROSS JOIN LATERAL (SELECT (j - 1) %% (%(loans)s * 9 / 10) AS k) AS r
        CROSS JOIN LATERAL (SELECT 10 * (r.k / 6) + r.k %% 6 + 1 AS id) AS hid
        JOIN households_household h ON h.id = hid.id
        CROSS JOIN LATERAL (SELECT (10000 + (j %% 5) * 10000)::numeric(14, 2) AS amount,
                                   (3 * (4 + (j * 7) %% 9))::int AS term,
                                   CASE WHEN j %% 20 < 17 THEN 'active' WHEN j %% 20 < 19 THEN 'closed'
                                        ELSE 'written_off' END AS status,
                                   %(as_of)s::date - ((j * 7919) %% 1000)::int AS disbursed_on) AS p"""),
    # Active loans' instalments: paid up to the as-of date, or to 1-540 days before it for 8 %
    # (late_per_mille 80).
    ("instalments", instalments_insert("WHERE l.status = 'active'")),
    ("ratings", """
        INSERT INTO credit_rating_rating (household_id, scorecard_id, status, scores, score, grade, credit_line,
            drafted_by_id, created_at, approved_on, valid_until, reject_reason)
        SELECT h.id, %(scorecard)s, 'approved', '{}'::jsonb, 85, 'AA', 40000, %(user)s, now(),
            %(as_of)s::date - (h.id %% 420)::int, %(as_of)s::date - (h.id %% 420)::int + 364, ''
        FROM households_household h WHERE h.id %% 2 = 0"""),
    ("subsidy batches", """
        INSERT INTO subsidy_settlementbatch (county_id, bank_id, period_start, period_end, status, total_amount,
            line_count, excluded_count, created_by_id, created_at, paid_on, payment_reference)
        SELECT c.code, b.id, '2019-01-01', '2019-03-31', 'paid', 0, 0, 0, %(user)s, now(), '2019-04-20', ''
        FROM organization_region c CROSS JOIN organization_bank b WHERE c.level = 'county'"""),
    ("subsidy lines", """
        INSERT INTO subsidy_subsidyline (batch_id, loan_id, kind, period_start, amount, excluded_reason, payee)
        SELECT b.id, l.id, 'interest', '2019-01-01', round(l.amount * 0.0475 / 4, 2), '', '贷款户'
        FROM loans_loan l JOIN subsidy_settlementbatch b ON b.county_id = l.county_id AND b.bank_id = l.bank_id
        WHERE l.status = 'active'"""),
    ("fund deposits", """
        INSERT INTO risk_fund_fundentry (county_id, kind, amount, received_on, source, reference, created_by_id,
            created_at)
        SELECT code, 'deposit', 50000000, '2017-01-01', '县财政', '', %(user)s, now()
        FROM organization_region WHERE level = 'county'"""),
]  # fmt: skip


def build(households: int, loans: int, villages: int, people) -> None:
    params = {"households": households, "loans": loans, "villages": villages, "as_of": AS_OF,
              "user": people["staff"].pk, "bank_a": people["banks"][0].pk, "bank_b": people["banks"][1].pk,
              "scorecard": people["scorecard"].pk, "late_per_mille": 80}  # fmt: skip
    bulk_load(
        STEPS,
        params,
        sequences=("households_household", "loans_loan"),
        vacuum="VACUUM ANALYZE",
        vacuum_label="vacuum analyze",
    )


def timed(label: str, fn) -> dict:
    started = time.perf_counter()
    result = fn()
    total = time.perf_counter() - started
    rollups = result.get("seconds", {}).get("rollups", total)
    return {
        "label": label,
        "total": total,
        "rollups": rollups,
        "daily": total - rollups if "seconds" in result else None,
    }


# --- the load test -------------------------------------------------------------------------------

LOCUSTFILE = """
import os, random
from locust import FastHttpUser, constant, task

CITY, COUNTY = os.environ["BENCH_CITY_TOKEN"], os.environ["BENCH_COUNTY_TOKEN"]
COUNTIES, TOWNSHIPS = os.environ["BENCH_COUNTIES"].split(","), os.environ["BENCH_TOWNSHIPS"].split(",")


class CityViewer(FastHttpUser):
    wait_time = constant(0)

    @task
    def city(self):
        self.client.get("/api/v1/dashboard/", headers={"Authorization": f"Token {CITY}"}, name="dashboard city")

    @task(2)
    def county(self):
        self.client.get(f"/api/v1/dashboard/?region={random.choice(COUNTIES)}",
                        headers={"Authorization": f"Token {CITY}"}, name="dashboard county")


class CountyStaff(FastHttpUser):
    wait_time = constant(0)

    @task
    def county(self):
        self.client.get(f"/api/v1/dashboard/?region={COUNTIES[0]}", headers={"Authorization": f"Token {COUNTY}"},
                        name="dashboard county")

    @task(2)
    def township(self):
        self.client.get(f"/api/v1/dashboard/?region={random.choice(TOWNSHIPS)}",
                        headers={"Authorization": f"Token {COUNTY}"}, name="dashboard township")
"""


@contextmanager
def serving(database_url: str, workers: int):
    """gunicorn serving the benchmark database on PORT, until the block ends."""
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "config.settings.test",
           "CONN_MAX_AGE": "600", "DEBUG": "false"}  # fmt: skip
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "config.wsgi:application", "--workers", str(workers),
         "--bind", f"127.0.0.1:{PORT}", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/login/", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        else:
            raise SystemExit("gunicorn did not start")
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)


def load_test(people, counties: list[str], users: int, seconds: int) -> dict:
    townships = [f"{counties[0]}{100 + t}" for t in range(TOWNSHIPS)]
    with tempfile.TemporaryDirectory() as tmp:
        locustfile = Path(tmp) / "locustfile.py"
        locustfile.write_text(LOCUSTFILE)
        env = {**os.environ, "BENCH_CITY_TOKEN": people["tokens"]["bench_city"],
               "BENCH_COUNTY_TOKEN": people["tokens"]["bench_county"], "BENCH_COUNTIES": ",".join(counties),
               "BENCH_TOWNSHIPS": ",".join(townships)}  # fmt: skip
        subprocess.run(
            [str(Path(sys.executable).parent / "locust"), "-f", str(locustfile), "--headless", "-u", str(users),
             "-r", str(users), "-t", f"{seconds}s", "--host", f"http://127.0.0.1:{PORT}", "--csv", f"{tmp}/run",
             "--only-summary", "--loglevel", "WARNING"],
            env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        with open(f"{tmp}/run_stats.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    return {row["Name"]: row for row in rows}


def main(args) -> None:
    with bench_database(BENCH_DB, keep=args.keep) as target:
        started = time.perf_counter()
        counties = build_places(args.counties)
        people = build_people(counties[0])
        villages = args.counties * TOWNSHIPS * VILLAGES_PER_TOWNSHIP
        print(
            f"building {args.households:,} households and {args.loans:,} loans in {villages:,} villages",
            flush=True,
        )
        build(args.households, args.loans, villages, people)
        built(started)

        from reporting.jobs import run_all
        from reporting.rollups import compute_rollups

        runs = [
            timed("daily job + rollups, cold", lambda: run_all(AS_OF)),
            timed("rollups again (replace)", lambda: compute_rollups(as_of=AS_OF)),
            timed("next day: daily job + rollups", lambda: run_all(AS_OF + datetime.timedelta(days=1))),
            timed(
                "rollups 91 days earlier", lambda: compute_rollups(as_of=AS_OF - datetime.timedelta(days=91))
            ),
        ]
        print(f"{'run':<32} {'total s':>8} {'daily s':>8} {'rollups s':>10}")
        for r in runs:
            daily = f"{r['daily']:8.2f}" if r["daily"] is not None else f"{'':>8}"
            print(f"{r['label']:<32} {r['total']:8.2f} {daily} {r['rollups']:10.2f}")
        from reporting.models import RegionRollup

        print(
            f"snapshot rows: {RegionRollup.objects.count():,} (load average {load_average()})\n", flush=True
        )

        with serving(target, args.workers):
            print(
                f"locust: {args.users} users for {args.seconds} s against gunicorn ({args.workers} workers)",
                flush=True,
            )
            stats = load_test(people, counties, args.users, args.seconds)
        print(
            f"{'request':<22} {'count':>8} {'fails':>6} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7}"
        )
        for name, row in stats.items():
            print(f"{name:<22} {int(row['Request Count']):>8,} {int(row['Failure Count']):>6} "
                  f"{float(row['Requests/s']):7.1f} {row['50%']:>7} {row['95%']:>7} {row['99%']:>7} "
                  f"{float(row['Max Response Time']):7.0f}")  # fmt: skip

        total = stats["Aggregated"]
        worst_rollup = max(r["rollups"] for r in runs)
        worst_job = max(r["total"] for r in runs if r["daily"] is not None)
        p95, rps, fails = float(total["95%"]), float(total["Requests/s"]), int(total["Failure Count"])
        print(f"\nload average {load_average()}")
        print(
            f"rollups: worst {worst_rollup:.1f} s (target < {ROLLUP_TARGET_S} s): {verdict(worst_rollup < ROLLUP_TARGET_S, 'MISSED')}"
        )
        print(
            f"daily job with rollups: worst {worst_job:.1f} s (target < {JOB_TARGET_S} s): {verdict(worst_job < JOB_TARGET_S, 'MISSED')}"
        )
        print(f"dashboard: p95 {p95:.0f} ms (< {P95_TARGET_MS}), {rps:.0f} req/s (>= {RPS_TARGET}), {fails} errors: "
              f"{verdict(p95 < P95_TARGET_MS and rps >= RPS_TARGET and not fails, 'MISSED')}")  # fmt: skip


def parse_args(argv=None):
    return command_line(
        __doc__,
        BENCH_DB,
        argv,
        households={"type": int, "default": 3_000_000},
        loans={"type": int, "default": 1_000_000},
        counties={"type": int, "default": 10, "choices": range(1, 11)},
        workers={"type": int, "default": 4, "help": "gunicorn workers"},
        users={"type": int, "default": 16, "help": "locust users"},
        seconds={"type": int, "default": 60, "help": "locust run time"},
    )


if __name__ == "__main__":
    main(parse_args())
