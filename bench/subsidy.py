"""Benchmark of a quarter's interest-subsidy batch (subsidy.services.batch_create) on PostgreSQL.

    uv run python bench/subsidy.py [--loans 1000000] [--no-guarantee] [--keep]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres uv run python bench/subsidy.py

Creates (and at the end drops) its own database `fupin_bench_subsidy` (set-up shared with the
other benchmarks in bench/benchdb.py), migrates it, and builds with INSERT ... SELECT
generate_series (foreign-key triggers off for the load, then VACUUM ANALYZE): one county (上蔡,
20 townships × 25 villages), one bank serving it, one household per loan and N active household
loans of 30,000 or 60,000 yuan (1 % above the household cap), 12 months at 4.35 %, quarterly
interest, disbursed between 1 April and 29 June 2023, so that each has its third instalment due in
the first quarter of 2024. Each loan has 4 instalments and 2 repayments (the previous quarter's
and this quarter's interest) with their allocations. 8 % paid this quarter's interest 10 days
late (some after the quarter: no line), 2 % enjoy another fiscal subsidy, 1 % have the instalment
in an extension. The bank agreement names a guarantee agency whose fee is subsidised, so each
loan also gets a guarantee-fee line (--no-guarantee: interest lines only).

Times, for the first quarter of 2024:

  create       batch_create: every line computed and inserted, the totals summed
  recompute    batch_recompute of the draft: the lines deleted and computed again, none added
  approve      batch_approve by a second county officer

Target: the batch over 1,000,000 loans in under 30 s.
"""

from __future__ import annotations

import datetime
import time

from benchdb import (
    CITY,
    LOANS_INSERT,
    TOWNSHIPS,
    VILLAGES_PER_TOWNSHIP,
    bench_database,
    built,
    bulk_load,
    command_line,
    county_staff,
    households_insert,
    load_average,
    verdict,
)

BENCH_DB = "fupin_bench_subsidy"
COUNTY = "411722"
PERIOD_START = datetime.date(2024, 1, 1)
TARGET_SECONDS = 30

# One row per loan i: its village, amount, disbursement date, and its kind of behaviour.
LOANS = """
    WITH v AS (
        SELECT row_number() OVER (ORDER BY code) - 1 AS n, code FROM organization_region WHERE level = 'village'
    )
    SELECT i, v.code AS village, ('2023-04-01'::date + (i %% 90)::int) AS disbursed_on,
           CASE WHEN i %% 100 = 57 THEN 60000 ELSE 30000 END::numeric(14, 2) AS amount
    FROM generate_series(1::bigint, %(loans)s) AS i JOIN v ON v.n = i %% %(villages)s
"""


def build_places_and_people():
    from organization.models import Bank, BankBranch, Region
    from organization.tests.factories import RegionFactory

    city = RegionFactory(code=CITY, name="驻马店市", level=Region.Level.CITY)
    county = RegionFactory(code=COUNTY, name="上蔡县", level=Region.Level.COUNTY, parent=city)
    for t in range(TOWNSHIPS):
        township = RegionFactory(
            code=f"{COUNTY}{100 + t}", name=f"第{t + 1}镇", level="township", parent=county
        )
        Region.objects.bulk_create(
            Region(
                code=f"{township.code}{201 + v}",
                name=f"第{t + 1}镇{v + 1}村",
                level="village",
                parent=township,
            )
            for v in range(VILLAGES_PER_TOWNSHIP)
        )
    bank = Bank.objects.create(code="PSBC", name="邮储银行")
    BankBranch.objects.create(bank=bank, code="PSBC-411722", name="邮储银行上蔡支行").counties.set([county])
    return county, bank, county_staff(COUNTY), county_staff(COUNTY, "bench_checker")


def build_loans(loans: int, bank, staff, guarantee: bool) -> None:
    from risk_fund.models import BankAgreement

    if guarantee:
        BankAgreement.objects.create(
            county_id=COUNTY, bank=bank, fund_share=70, guarantee_share=10, bank_share=20,
            guarantee_agency="上蔡县农业信贷融资担保有限公司", guarantee_fee_rate=1, guarantee_fee_subsidized=True,
            valid_from=datetime.date(2017, 1, 1), created_by=staff,
        )  # fmt: skip
    params = {
        "loans": loans,
        "villages": TOWNSHIPS * VILLAGES_PER_TOWNSHIP,
        "bank": bank.pk,
        "user": staff.pk,
    }
    # Instalment (i, s) has id 4(i-1)+s, due disbursed_on + 3s months; repayment (i, k) for
    # instalments 2 and 3 has id 2(i-1)+k-1 and allocation the same id.
    due = "(l.disbursed_on + make_interval(months => 3 * s))::date"
    interest = "round(l.amount * 0.0435 / 4, 2)"
    paid_on = f"CASE WHEN s = 3 AND l.id %% 100 < 8 THEN {due} + 10 ELSE {due} END"
    steps = [
        ("households", households_insert(LOANS)),
        (
            "loans",
            f"""{LOANS_INSERT}
            SELECT i, 'BL' || lpad(i::text, 10, '0'), i, village, substr(village, 1, 9), substr(village, 1, 6),
                %(bank)s, amount, 4.35, 12, 'breeding', 'quarterly_interest_bullet', i %% 50 = 3, 'active',
                disbursed_on, (disbursed_on + interval '12 months')::date, 0, 0, amount, 0, 'normal',
                %(user)s, now(), now()
            FROM ({LOANS}) AS l""",
        ),
        (
            "instalments",
            f"""
            INSERT INTO loans_instalment (id, loan_id, seq, start_date, due_date, principal_due, interest_due,
                principal_paid, interest_paid, settled, in_extension)
            SELECT 4 * (l.id - 1) + s, l.id, s, (l.disbursed_on + make_interval(months => 3 * (s - 1)))::date,
                {due}, CASE WHEN s = 4 THEN l.amount ELSE 0 END, {interest}, 0,
                CASE WHEN s <= 3 THEN {interest} ELSE 0 END, s <= 3, s = 3 AND l.id %% 100 = 42
            FROM loans_loan l CROSS JOIN generate_series(1, 4) AS s""",
        ),
        (
            "repayments",
            f"""
            INSERT INTO loans_repayment (id, loan_id, bank_id, paid_on, amount, interest_part, principal_part,
                reference, channel, posted_by_id, posted_at)
            SELECT 2 * (l.id - 1) + s - 1, l.id, l.bank_id, {paid_on}, {interest}, {interest}, 0, '', 'file',
                %(user)s, now()
            FROM loans_loan l CROSS JOIN generate_series(2, 3) AS s""",
        ),
        (
            "allocations",
            """
            INSERT INTO loans_repaymentallocation (id, repayment_id, instalment_id, interest, principal)
            SELECT r.id, r.id, 4 * (r.loan_id - 1) + (r.id - 2 * (r.loan_id - 1) + 1), r.interest_part, 0
            FROM loans_repayment r""",
        ),
    ]
    tables = ("households_household", "loans_loan", "loans_instalment", "loans_repayment",
              "loans_repaymentallocation")  # fmt: skip
    bulk_load(steps, params, sequences=tables, vacuum=f"VACUUM ANALYZE {', '.join(tables)}")


def time_phases() -> dict:
    """Wrap the engine's steps to time them: {step: seconds} of the last call."""
    from subsidy import engine

    phases = {}

    def wrap(name, fn):
        def timed_step(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[name] = time.perf_counter() - started

        return timed_step

    for name in (
        "delete_lines",
        "insert_household_interest",
        "insert_enterprise_interest",
        "insert_guarantee_fees",
    ):
        setattr(engine, name, wrap(name.removeprefix("insert_"), getattr(engine, name)))
    return phases


def print_phases(phases: dict, total: float) -> None:
    """The engine's steps, and the rest (the totals' aggregate, locks, the event, the commit)."""
    steps = [f"{name} {seconds:.1f} s" for name, seconds in phases.items()]
    print(f"           {', '.join(steps)}, the rest {total - sum(phases.values()):.1f} s", flush=True)


def timed(label: str, fn):
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    print(f"{label:<10} {seconds:8.2f} s   (load average {load_average()})", flush=True)
    return result, seconds


def main(args) -> None:
    with bench_database(BENCH_DB, keep=args.keep):
        from django.db.models import Count

        from subsidy import services

        started = time.perf_counter()
        county, bank, maker, checker = build_places_and_people()
        print(f"building {args.loans:,} loans", flush=True)
        build_loans(args.loans, bank, maker, not args.no_guarantee)
        built(started)

        phases = time_phases()
        batch, created = timed(
            "create",
            lambda: services.batch_create(actor=maker, county=county, bank=bank, period_start=PERIOD_START),
        )
        print_phases(phases, created)
        lines = batch.line_count
        _, recomputed = timed("recompute", lambda: services.batch_recompute(actor=maker, batch=batch))
        print_phases(phases, recomputed)
        batch.refresh_from_db()
        assert batch.line_count == batch.lines.count() == lines, "recomputing changed the number of lines"
        timed("approve", lambda: services.batch_approve(actor=checker, batch=batch))

        by = (
            batch.lines.values("kind", "excluded_reason")
            .annotate(n=Count("id"))
            .order_by("kind", "excluded_reason")
        )
        print(f"\n{lines:,} lines ({batch.excluded_count:,} excluded), total {batch.total_amount:,} yuan")
        for row in by:
            print(f"  {row['kind']:<14} {row['excluded_reason'] or '(paid)':<18} {row['n']:>10,}")
        worst = max(created, recomputed)
        print(f"\nbatch over {args.loans:,} loans: create {created:.1f} s, recompute {recomputed:.1f} s "
              f"(target < {TARGET_SECONDS} s): {verdict(worst < TARGET_SECONDS)}")  # fmt: skip


def parse_args(argv=None):
    return command_line(
        __doc__,
        BENCH_DB,
        argv,
        loans={"type": int, "default": 1_000_000},
        no_guarantee={"action": "store_true", "help": "no guarantee agency: interest lines only"},
    )


if __name__ == "__main__":
    main(parse_args())
