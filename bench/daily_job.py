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

import datetime
import time

from benchdb import (
    LOANS_INSERT,
    TOWNSHIPS,
    VILLAGES_PER_TOWNSHIP,
    bench_database,
    build_banks,
    build_regions,
    built,
    bulk_load,
    command_line,
    county_staff,
    households_insert,
    instalments_insert,
    load_average,
    percentile,
    verdict,
)

BENCH_DB = "fupin_bench_daily"
AS_OF = datetime.date(2019, 6, 30)
COUNTY_CODES = ["411722", "411721", "411723", "411724", "411725", "411726", "411727", "411728"]
JOB_TARGET_SECONDS, LIST_TARGET_MS = 30, 100


def build_people(county: str):
    from organization.models import ServiceUnit

    ServiceUnit.objects.create(
        region_id=county, kind=ServiceUnit.Kind.COUNTY_CENTRE, name="县金融扶贫服务中心"
    )
    banks = build_banks()
    return county_staff(county), banks


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
    """Households, loans and instalments in three INSERT ... SELECTs."""
    params = {"loans": loans, "villages": villages, "as_of": AS_OF, "user": staff.pk,
              "bank_a": banks[0].pk, "bank_b": banks[1].pk, "late_per_mille": round(overdue_share * 1000)}  # fmt: skip
    steps = [
        ("households", households_insert(LOAN_PARAMS)),
        (
            "loans",
            f"""{LOANS_INSERT}
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
        ("instalments", instalments_insert()),
    ]
    bulk_load(
        steps,
        params,
        sequences=("households_household", "loans_loan"),
        vacuum="VACUUM ANALYZE households_household, loans_loan, loans_instalment",
    )


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
    with bench_database(BENCH_DB, keep=args.keep):
        from django.db import connection

        started = time.perf_counter()
        counties = COUNTY_CODES[: args.counties]
        build_regions(counties)
        staff, banks = build_people(counties[0])
        villages = args.counties * TOWNSHIPS * VILLAGES_PER_TOWNSHIP
        print(f"building {args.loans:,} loans in {villages} villages of {args.counties} counties", flush=True)
        build_loans(args.loans, villages, args.overdue_share, staff, banks)
        built(started)

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
              f"{verdict(worst_job < JOB_TARGET_SECONDS)}")  # fmt: skip
        print(f"loan list p95: {worst_list:.1f} ms (target < {LIST_TARGET_MS} ms): "
              f"{verdict(worst_list < LIST_TARGET_MS)}")  # fmt: skip


def parse_args(argv=None):
    return command_line(
        __doc__,
        BENCH_DB,
        argv,
        loans={"type": int, "default": 1_000_000},
        counties={"type": int, "default": 2, "choices": range(1, len(COUNTY_CODES) + 1)},
        overdue_share={"type": float, "default": 0.08, "help": "share of loans that stopped paying"},
    )


if __name__ == "__main__":
    main(parse_args())
