"""Benchmark of the daily job (loans.daily.run_daily_jobs) and the loan list on PostgreSQL.

    uv run python bench/daily_job.py [--loans 1000000] [--counties 2] [--keep]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres uv run python bench/daily_job.py

Creates (and at the end drops) its own database `fupin_bench_daily`, migrates it, and builds in
bulk with INSERT ... SELECT generate_series (no ORM objects): the counties with 20 townships of 25
villages each, one household per loan, N active quarterly interest-bullet loans (4-12 instalments,
disbursed at various points of their term) and their instalments. A share of the loans
(--overdue-share, default 8 %) stopped paying between 1 and 540 days before the as-of date; the
others paid every instalment due before it. Then times:

  cold         run_daily_jobs on the as-of date: every loan gets its DPD, class and classified_on
  again        the same call (idempotent: nothing written)
  next day     as-of + 1: every loan's classified_on moves, overdue loans' DPD moves on
  list         20 pages (page_size 50) of loans.selectors.loan_list for a county staff member,
               as the API pages it (a COUNT and the page per request): p50/p95 ms, queries/page

Targets: the daily job under 30 s, a list page's p95 under 100 ms.
"""

from __future__ import annotations

import argparse
import datetime
import time
from urllib.parse import urlsplit

from benchdb import database_urls, django_setup, load_average, percentile, recreate, server_url

BENCH_DB = "fupin_bench_daily"
AS_OF = datetime.date(2019, 6, 30)
COUNTY_CODES = ["411722", "411721", "411723", "411724", "411725", "411726", "411727", "411728"]
TOWNSHIPS, VILLAGES_PER_TOWNSHIP = 20, 25
JOB_TARGET_SECONDS, LIST_TARGET_MS = 30, 100


def build_regions(counties: int) -> list[str]:
    from organization.models import Region

    Region.objects.create(code="411700", name="驻马店市", level="city")
    rows = []
    for c, county in enumerate(COUNTY_CODES[:counties]):
        rows.append(Region(code=county, name=f"第{c + 1}县", level="county", parent_id="411700"))
        for t in range(TOWNSHIPS):
            township = f"{county}{100 + t}"
            rows.append(Region(code=township, name=f"第{t + 1}镇", level="township", parent_id=county))
            rows += [
                Region(
                    code=f"{township}{201 + v}",
                    name=f"第{t + 1}镇{v + 1}村",
                    level="village",
                    parent_id=township,
                )
                for v in range(VILLAGES_PER_TOWNSHIP)
            ]
    Region.objects.bulk_create(rows)
    return COUNTY_CODES[:counties]


def build_people(county: str):
    from organization.models import Bank, Role, ServiceUnit, User
    from organization.services import role_assign

    ServiceUnit.objects.create(
        region_id=county, kind=ServiceUnit.Kind.COUNTY_CENTRE, name="县金融扶贫服务中心"
    )

    banks = [
        Bank.objects.create(code="PSBC", name="邮储银行"),
        Bank.objects.create(code="ZYRCB", name="中原农商银行"),
    ]
    staff = User.objects.create_user("bench_county")
    role_assign(user=staff, role=Role.COUNTY_STAFF, region_code=county)
    return staff, banks


# One row per loan i (1..N): its village (i modulo the villages), amount, term (4-12 quarters),
# how far into the term it is, and for the late payers the date they stopped paying.
LOAN_PARAMS = """
    WITH v AS (
        SELECT row_number() OVER (ORDER BY code) - 1 AS n, code FROM organization_region WHERE level = 'village'
    ), p AS (
        SELECT i, (10000 + (i %% 5) * 10000)::numeric(14, 2) AS amount, (3 * (4 + (i * 7) %% 9))::int AS term
        FROM generate_series(1::bigint, %(loans)s) AS i
    )
    SELECT p.i, p.amount, p.term, v.code AS village,
           (%(as_of)s::date - ((p.i * 7919) %% (p.term * 30 - 10))::int) AS disbursed_on
    FROM p JOIN v ON v.n = p.i %% %(villages)s
"""


def build_loans(loans: int, villages: int, overdue_share: float, staff, banks) -> None:
    """Households, loans and instalments in three INSERT ... SELECTs. Foreign-key triggers are off
    for the load (session_replication_role = replica): the rows are consistent by construction,
    and checking 10 million references one by one would dominate the build."""
    from django.db import connection

    params = {"loans": loans, "villages": villages, "as_of": AS_OF, "user": staff.pk,
              "bank_a": banks[0].pk, "bank_b": banks[1].pk, "late_per_mille": round(overdue_share * 1000)}  # fmt: skip
    steps = [
        (
            "households",
            f"""
            INSERT INTO households_household (id, household_no, village_id, head_name, head_id_enc, head_id_hash,
                head_id_masked, phone, member_count, labor_count, status, attribute, identification_standard,
                poverty_causes, per_capita_income, bank_name, bank_account_enc, bank_account_hash,
                bank_account_masked, created_at, updated_at)
            SELECT i, 'B' || lpad(i::text, 10, '0'), village, '户主' || i, '-', 'bench-' || i,
                '411722********000X', '', 3, 2, 'poor', 'general', 'national', '[]'::jsonb, 3000, '', '',
                'bench-acct-' || i, '', now(), now()
            FROM ({LOAN_PARAMS}) AS l""",
        ),
        (
            "loans",
            f"""
            INSERT INTO loans_loan (id, loan_no, household_id, area_id, township_id, county_id, bank_id, amount,
                rate, term_months, purpose, repayment_method, other_subsidy, status, disbursed_on,
                maturity_date, extension_count, renewal_count, principal_outstanding, dpd, classification,
                created_by_id, created_at, updated_at)
            SELECT i, 'BL' || lpad(i::text, 10, '0'), i, village, substr(village, 1, 9), substr(village, 1, 6),
                CASE WHEN i %% 2 = 0 THEN %(bank_a)s ELSE %(bank_b)s END, amount, 4.75, term, 'breeding',
                'quarterly_interest_bullet', false, 'active', disbursed_on,
                (disbursed_on + make_interval(months => term))::date, 0, 0, amount, 0, 'normal',
                %(user)s, now(), now()
            FROM ({LOAN_PARAMS}) AS l""",
        ),
        # Paid: every instalment due before the cut-off, which is the as-of date for good payers
        # and 1-540 days earlier for the late ones. The last instalment (the principal) always
        # falls due after the as-of date, so the loans are all still outstanding.
        (
            "instalments",
            """
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
                                            ELSE %(as_of)s::date END AS cutoff) AS c""",
        ),
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        for name, sql in steps:
            started = time.perf_counter()
            cursor.execute(sql, params)
            print(
                f"  {name:<12} {cursor.rowcount:>11,} rows {time.perf_counter() - started:7.1f} s", flush=True
            )
        cursor.execute("SET session_replication_role = DEFAULT")
        for table in ("households_household", "loans_loan"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
    started = time.perf_counter()
    with connection.cursor() as cursor:  # a steady-state database: statistics and visibility map
        cursor.execute("VACUUM ANALYZE households_household, loans_loan, loans_instalment")
    print(f"  {'vacuum':<12} {'':>11}      {time.perf_counter() - started:7.1f} s", flush=True)


def time_job(label: str, as_of: datetime.date) -> dict:
    from loans.daily import run_daily_jobs

    started = time.perf_counter()
    result = run_daily_jobs(as_of=as_of)
    result["total"] = time.perf_counter() - started
    result["label"] = label
    return result


def time_list(staff, county: str, pages: int = 20, page_size: int = 50) -> list[tuple]:
    """Each page as a request makes it: a fresh Paginator (its COUNT), then the page's rows with the
    related objects the list shows. Two variants: loan_list as it is, and the same filtered by
    county_id (what a county-wide scope could use instead of the prefix LIKE). Returns per variant
    p50 and p95 of the whole page, p95 of the COUNT and of the rows alone, queries per page."""
    from django.core.paginator import Paginator
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from loans.selectors import loan_list

    variants = [
        ("loan_list", lambda: loan_list(user=staff, filters={})),
        ("loan_list + county_id", lambda: loan_list(user=staff, filters={}).filter(county_id=county)),
    ]
    rows = []
    for name, queryset in variants:
        totals, counts, pages_only, queries = [], [], [], []
        for number in range(1, pages + 1):
            staff._scope_cache = None  # each request computes the caller's scope again
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                paginator = Paginator(queryset(), page_size)
                total = paginator.count
                counted = time.perf_counter()
                shown = [(x.household.head_name, x.bank.name, x.area.name) for x in paginator.page(number)]
                done = time.perf_counter()
            assert len(shown) == page_size
            totals.append((done - started) * 1000)
            counts.append((counted - started) * 1000)
            pages_only.append((done - counted) * 1000)
            queries.append(len(captured.captured_queries))
        rows.append((name, percentile(totals, 50), percentile(totals, 95), percentile(counts, 95),
                     percentile(pages_only, 95), max(queries), total))  # fmt: skip
    return rows


def main(args) -> None:
    target, admin = database_urls(server_url(), BENCH_DB)
    print(f"database {BENCH_DB} on {urlsplit(target).hostname}:{urlsplit(target).port or 5432}", flush=True)
    recreate(admin, BENCH_DB)
    try:
        django_setup(target)
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        counties = build_regions(args.counties)
        staff, banks = build_people(counties[0])
        villages = args.counties * TOWNSHIPS * VILLAGES_PER_TOWNSHIP
        print(f"building {args.loans:,} loans in {villages} villages of {args.counties} counties", flush=True)
        build_loans(args.loans, villages, args.overdue_share, staff, banks)
        print(f"built in {time.perf_counter() - started:.1f} s (load average {load_average()})\n", flush=True)

        runs = [
            time_job("cold", AS_OF),
            time_job("again", AS_OF),
            time_job("next day", AS_OF + datetime.timedelta(days=1)),
        ]
        print(f"{'run':<9} {'total s':>8} {'classify':>9} {'breakers':>9} {'leverage':>9} {'maturity':>9} "
              f"{'DPD rows':>10} {'reclass':>8} {'trips':>6}")  # fmt: skip
        for r in runs:
            s, c = r["seconds"], r["classification"]
            print(f"{r['label']:<9} {r['total']:8.2f} {s['classification']:9.2f} {s['breakers']:9.2f} "
                  f"{s['leverage_warnings']:9.2f} {s['maturity_warnings']:9.2f} {c['dpd_written']:>10,} "
                  f"{c['reclassified']:>8,} {len(r['breakers']['tripped_now']):>6}")  # fmt: skip
        first = runs[0]
        print(f"\nclasses: {first['classification']['by_class']}; breakers {first['breakers']['breakers']}, "
              f"tripped {first['breakers']['tripped']}; maturity warnings {first['maturity_warnings']}")  # fmt: skip

        print(f"\n{'list, county staff, 20 pages of 50':<42} {'p50 ms':>7} {'p95 ms':>7} {'COUNT p95':>10} "
              f"{'rows p95':>9} {'queries':>8} {'count':>9}")  # fmt: skip
        listed = time_list(staff, counties[0])
        # The job's updates leave most pages not all-visible, so the COUNT's index-only scan visits
        # the heap for every row until (auto)vacuum has been through the table: timed both ways.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM loans_loan")
        listed += [(f"{name} (after VACUUM)", *rest) for name, *rest in time_list(staff, counties[0])]
        for name, p50, p95, count_p95, rows_p95, queries, count in listed:
            print(f"{name:<42} {p50:7.1f} {p95:7.1f} {count_p95:10.1f} {rows_p95:9.1f} {queries:>8} {count:>9,}")  # fmt: skip

        worst_job = max(r["total"] for r in runs)
        worst_list = listed[0][2]  # loan_list as it is, before any vacuum: the worst case
        print(f"\nload average {load_average()}")
        print(f"daily job over {args.loans:,} loans: worst {worst_job:.1f} s (target < {JOB_TARGET_SECONDS} s): "
              f"{'OK' if worst_job < JOB_TARGET_SECONDS else 'TOO SLOW'}")  # fmt: skip
        print(f"loan list p95: {worst_list:.1f} ms (target < {LIST_TARGET_MS} ms): "
              f"{'OK' if worst_list < LIST_TARGET_MS else 'TOO SLOW'}")  # fmt: skip
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            recreate(admin, BENCH_DB, drop_only=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--counties", type=int, default=2, choices=range(1, len(COUNTY_CODES) + 1))
    parser.add_argument(
        "--overdue-share", type=float, default=0.08, help="share of loans that stopped paying"
    )
    parser.add_argument("--keep", action="store_true", help=f"do not drop {BENCH_DB} at the end")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
