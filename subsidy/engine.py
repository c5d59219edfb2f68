"""The lines of a settlement batch, computed in the database: a few INSERT ... SELECT statements,
the same SQL on PostgreSQL and SQLite except for date arithmetic (DIALECTS).

Money is exact: amounts are summed in integer cents, rates and shares are scaled to integers
(4.75 % → 47500, a share of 70.00 % → 7000), and each line is rounded once, half-up, by integer
division ((2n + d) / 2d), as common.money.money rounds. Policy numbers are what policy_for gives
(the county's dated rows inside its city's envelope), inlined as CASE expressions over the days they
change (policy_timeline: a county and its city have a handful of rows):

- household loans (interest): the interest allocated to instalments by repayments dated in the
  period × min(1, benchmark rate for the loan's term on its disbursement date / loan rate) × the
  subsidy share of the policy row in force on each repayment's date. Interest on an instalment
  paid after its due date is excluded ("overdue"), interest on an extension instalment too
  ("extended"): each excluded part is its own line with amount 0. The remaining interest is
  excluded when the loan enjoys another fiscal subsidy, or lies outside the caps of the row in
  force on its disbursement date (amount above household_loan_cap, term above
  household_max_term_months). The system records no penalty interest (罚息): only scheduled
  interest is ever allocated, so none can enter the base.
- enterprise loans (interest), day-counted: min(principal outstanding on the first day of
  accrual, households led that day × enterprise_cap_per_household) × enterprise_subsidy_rate ×
  days / interest_day_basis, the row in force on the first day of the period. Days run as the
  schedules count them (start exclusive, end inclusive) and stop at closing and at the start of
  an extension. Excluded whole: another fiscal subsidy, any instalment overdue during the
  period, no household led, nothing but extension days.
- guarantee fees (担保费补贴), day-counted on the principal outstanding at the city's dated
  guarantee-fee subsidy rates: see guarantee_agreement and guarantee_rates.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from loans.models import BenchmarkRate
from organization.models import CountyPolicy
from organization.selectors import policy_for, policy_timeline

from .models import ExclusionReason, LineKind, SettlementBatch, SubsidyLine

DIALECTS = {
    "postgresql": {"days": "({a} - {b})", "least": "LEAST", "greatest": "GREATEST"},
    "sqlite": {"days": "CAST(julianday({a}) - julianday({b}) AS INTEGER)", "least": "MIN", "greatest": "MAX"},
}

LINE_COLUMNS = (
    "batch_id", "loan_id", "kind", "period_start", "amount", "excluded_reason", "payee", "interest_paid",
    "principal", "days", "day_basis", "rate", "loan_rate", "share", "households_led", "cap_per_household",
)  # fmt: skip


def cents(expr: str) -> str:
    return f"CAST(ROUND({expr} * 100) AS BIGINT)"


def scaled(expr: str, places: int) -> str:
    return f"CAST(ROUND({expr} * {10**places}) AS BIGINT)"


def half_up(numerator: str, denominator: str) -> str:
    """round(n / d) half-up, for n ≥ 0 and d > 0 (both integer expressions)."""
    return f"((2 * ({numerator}) + ({denominator})) / (2 * ({denominator})))"


def _int(value: Decimal | int, places: int = 0) -> int:
    return int((Decimal(value) * 10**places).to_integral_value())


class _Sql:
    """Collects named parameters while the statement is written."""

    def __init__(self, batch: SettlementBatch):
        self.batch, self.params = batch, {}
        self.dialect = DIALECTS["postgresql" if connection.vendor == "postgresql" else "sqlite"]
        previous = batch.period_start - datetime.timedelta(days=1)  # accrual counts from it, exclusive
        for name, value in (("batch", batch.pk), ("county", batch.county_id), ("bank", batch.bank_id),
                            ("start", batch.period_start), ("end", batch.period_end), ("previous", previous)):  # fmt: skip
            self.param(name, value)

    def param(self, name: str, value) -> str:
        self.params[name] = value
        return f"%({name})s"

    def by_date(self, column: str, rows: list[tuple[datetime.date, str]], default: str, prefix: str) -> str:
        """CASE choosing, by `column`'s date, the value of the latest row from that date on.
        rows: (effective_from, SQL value), any order."""
        ordered = sorted(rows, key=lambda row: row[0], reverse=True)
        whens = " ".join(
            f"WHEN {column} >= {self.param(f'{prefix}{n}', day)} THEN {value}"
            for n, (day, value) in enumerate(ordered)
        )
        return f"(CASE {whens} ELSE {default} END)" if whens else default

    def days(self, a: str, b: str) -> str:
        return self.dialect["days"].format(a=a, b=b)

    def least(self, *args: str) -> str:
        return f"{self.dialect['least']}({', '.join(args)})"

    def greatest(self, *args: str) -> str:
        return f"{self.dialect['greatest']}({', '.join(args)})"

    def run(self, sql: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, self.params)
            return cursor.rowcount


def _outside_caps(sql: _Sql) -> str:
    """1 when a household loan exceeds the caps of the row in force on its disbursement date."""

    def test(policy: CountyPolicy) -> str:
        cap, term = _int(policy.household_loan_cap, 2), int(policy.household_max_term_months)
        return f"(CASE WHEN {cents('l.amount')} > {cap} OR l.term_months > {term} THEN 1 ELSE 0 END)"

    county = sql.batch.county_id
    rows = [(day, test(p)) for day, p in policy_timeline(county, until=sql.batch.period_end)]
    return sql.by_date("l.disbursed_on", rows, test(policy_for(county, on=datetime.date.min)), "cap")


def _benchmark(sql: _Sql) -> str:
    """The benchmark rate × 10000 for the loan's term on its disbursement date (NULL: none)."""
    bands: dict[datetime.date, list[str]] = {}
    for r in BenchmarkRate.objects.order_by("effective_from", "max_term_months"):
        bands.setdefault(r.effective_from, []).append(
            f"WHEN l.term_months <= {int(r.max_term_months)} THEN {_int(r.rate, 4)}"
        )
    rows = [(day, f"(CASE {' '.join(whens)} ELSE NULL END)") for day, whens in bands.items()]
    return sql.by_date("l.disbursed_on", rows, "CAST(NULL AS BIGINT)", "bench")


def _share(sql: _Sql) -> str:
    """The household subsidy share × 100 of the row in force on the repayment's date."""
    batch = sql.batch
    first = policy_for(batch.county_id, on=batch.period_start)
    later = [
        (d, p) for d, p in policy_timeline(batch.county_id, until=batch.period_end) if d > batch.period_start
    ]
    rows = [(day, str(_int(p.household_subsidy_share, 2))) for day, p in later]
    return sql.by_date("r.paid_on", rows, str(_int(first.household_subsidy_share, 2)), "share")


def insert_household_interest(batch: SettlementBatch) -> int:
    sql = _Sql(batch)
    payee = sql.param("payee", batch.bank.name)
    part = (
        f"CASE WHEN i.in_extension THEN '{ExclusionReason.EXTENDED}' "
        f"WHEN r.paid_on > i.due_date THEN '{ExclusionReason.OVERDUE}' ELSE '' END"
    )
    bench = _benchmark(sql)
    # Grouped by the loan's primary key, so its columns may be selected as they are.
    whole_loan = (
        f"CASE WHEN l.other_subsidy THEN '{ExclusionReason.OTHER_SUBSIDY}' "
        f"WHEN {_outside_caps(sql)} = 1 THEN '{ExclusionReason.OUTSIDE_CAPS}' "
        f"WHEN {bench} IS NULL THEN '{ExclusionReason.NO_BENCHMARK_RATE}' ELSE '' END"
    )
    # The rate ratio min(1, benchmark / loan rate) as a fraction rn / rd.
    lower = "(x.bench IS NOT NULL AND x.bench < x.loan4)"
    amount = half_up(
        f"x.weighted * CASE WHEN {lower} THEN x.bench ELSE 1 END",
        f"10000 * CASE WHEN {lower} THEN x.loan4 ELSE 1 END",
    )
    return sql.run(f"""
        WITH p AS (
            SELECT l.id AS loan_id, {part} AS part, {whole_loan} AS whole_loan, l.rate AS loan_rate,
                   {scaled("l.rate", 4)} AS loan4, {bench} AS bench,
                   CAST(SUM({cents("a.interest")}) AS BIGINT) AS paid,
                   CAST(SUM({cents("a.interest")} * {_share(sql)}) AS BIGINT) AS weighted
            FROM loans_loan l
            JOIN loans_repayment r ON r.loan_id = l.id
            JOIN loans_repaymentallocation a ON a.repayment_id = r.id
            JOIN loans_instalment i ON i.id = a.instalment_id
            WHERE l.county_id = %(county)s AND l.bank_id = %(bank)s AND l.household_id IS NOT NULL
              AND r.paid_on >= %(start)s AND r.paid_on <= %(end)s AND a.interest > 0
            GROUP BY l.id, {part}
        ), x AS (
            SELECT p.*, CASE WHEN p.part <> '' THEN p.part ELSE p.whole_loan END AS reason FROM p
        )
        INSERT INTO subsidy_subsidyline ({", ".join(LINE_COLUMNS)})
        SELECT %(batch)s, x.loan_id, '{LineKind.INTEREST}', %(start)s,
               CASE WHEN x.reason = '' THEN {amount} ELSE 0 END / 100.0, x.reason, {payee},
               x.paid / 100.0, NULL, NULL, NULL, x.bench / 10000.0, x.loan_rate, x.weighted / (x.paid * 100.0),
               NULL, NULL
        FROM x""")


@dataclass(frozen=True)
class _Accrual:
    """SQL of a day-counted line: the loans that accrued in the period and their days."""

    where: str
    days: str  # accrued days in the period, ignoring extension
    days_before_extension: str
    principal: str  # cents outstanding on the first day of accrual
    joins: str


def _accrual(sql: _Sql, borrower: str) -> _Accrual:
    """borrower: an SQL condition on l (household or enterprise loans, or both)."""
    first = sql.greatest("%(previous)s", "l.disbursed_on")
    last = sql.least("%(end)s", "COALESCE(l.closed_on, %(end)s)")
    before_extension = sql.least(last, "COALESCE(ex.ext_start, %(end)s)")
    return _Accrual(
        where=f"""l.county_id = %(county)s AND l.bank_id = %(bank)s AND {borrower}
            AND l.status IN ('active', 'closed') AND l.disbursed_on <= %(end)s
            AND (l.closed_on IS NULL OR l.closed_on > %(previous)s) AND {sql.days(last, first)} > 0""",
        days=sql.days(last, first),
        days_before_extension=sql.greatest("0", sql.days(before_extension, first)),
        principal=f"({cents('l.amount')} - COALESCE(pr.repaid, 0))",
        joins=f"""
            LEFT JOIN (
                SELECT r.loan_id, CAST(SUM({cents("a.principal")}) AS BIGINT) AS repaid
                FROM loans_repaymentallocation a
                JOIN loans_repayment r ON r.id = a.repayment_id
                JOIN loans_loan l ON l.id = r.loan_id
                WHERE l.county_id = %(county)s AND l.bank_id = %(bank)s AND {borrower}
                  AND r.paid_on <= %(previous)s AND a.principal > 0
                GROUP BY r.loan_id
            ) pr ON pr.loan_id = l.id
            LEFT JOIN (
                SELECT i.loan_id, MIN(i.start_date) AS ext_start
                FROM loans_instalment i JOIN loans_loan l ON l.id = i.loan_id
                WHERE l.county_id = %(county)s AND l.bank_id = %(bank)s AND {borrower} AND i.in_extension
                GROUP BY i.loan_id
            ) ex ON ex.loan_id = l.id""",
    )


def insert_enterprise_interest(batch: SettlementBatch) -> int:
    sql = _Sql(batch)
    policy = policy_for(batch.county_id, on=batch.period_start)
    acc = _accrual(sql, "l.enterprise_id IS NOT NULL")
    rate, basis = _int(policy.enterprise_subsidy_rate, 2), int(policy.interest_day_basis)
    cap = _int(policy.enterprise_cap_per_household, 2)
    evaluated_on = sql.greatest("%(start)s", "l.disbursed_on")
    led = f"""(SELECT COUNT(DISTINCT k.household_id) FROM enterprises_benefitlink k
               WHERE k.enterprise_id = l.enterprise_id AND k.start_date <= {evaluated_on}
                 AND (k.end_date IS NULL OR k.end_date >= {evaluated_on}))"""
    last_paid = """(SELECT MAX(r.paid_on) FROM loans_repaymentallocation a
                    JOIN loans_repayment r ON r.id = a.repayment_id WHERE a.instalment_id = i.id)"""
    overdue = f"""EXISTS (SELECT 1 FROM loans_instalment i
                  WHERE i.loan_id = l.id AND NOT i.in_extension AND i.due_date < %(end)s
                    AND (NOT i.settled OR {last_paid} > {sql.greatest("i.due_date", "%(start)s")}))"""
    reason = f"""CASE WHEN l.other_subsidy THEN '{ExclusionReason.OTHER_SUBSIDY}'
        WHEN {acc.days_before_extension} = 0 THEN '{ExclusionReason.EXTENDED}'
        WHEN {overdue} THEN '{ExclusionReason.OVERDUE}'
        WHEN {led} = 0 THEN '{ExclusionReason.NO_HOUSEHOLDS_LED}' ELSE '' END"""
    amount = half_up(f"x.principal * {rate} * x.days", f"10000 * {basis}")
    return sql.run(f"""
        WITH x AS (
            SELECT l.id AS loan_id, {reason} AS reason, {acc.days_before_extension} AS days, {led} AS led,
                   {sql.least(acc.principal, f"{led} * {cap}")} AS principal
            FROM loans_loan l {acc.joins}
            WHERE {acc.where}
        )
        INSERT INTO subsidy_subsidyline ({", ".join(LINE_COLUMNS)})
        SELECT %(batch)s, x.loan_id, '{LineKind.INTEREST}', %(start)s,
               CASE WHEN x.reason = '' THEN {amount} ELSE 0 END / 100.0, x.reason, {sql.param("payee", batch.bank.name)},
               NULL, x.principal / 100.0, x.days, {basis}, {rate} / 100.0, NULL, NULL, x.led, {cap} / 100.0
        FROM x""")


def guarantee_agreement(batch: SettlementBatch):
    """The county's agreement with the bank in force on the period's first day, when it names a
    guarantee agency whose fee is subsidised (risk_fund's BankAgreement.guarantee_fee_eligible);
    else None, and the batch has no guarantee-fee lines. risk_fund is a sibling app: imported here."""
    from risk_fund.selectors import agreement_for

    agreement = agreement_for(batch.county_id, batch.bank_id, batch.period_start)
    return agreement if agreement is not None and agreement.guarantee_fee_eligible else None


def guarantee_rates(agreement, policy: CountyPolicy) -> tuple[int, int]:
    """(household, enterprise) subsidy rates × 100: the city's dated rates as policy_for gives them
    (1.5 % and 0.5 % a year by default), never more than the fee the agreement says the agency
    charges (when it states one)."""
    charged = agreement.guarantee_fee_rate or Decimal("Infinity")
    rates = (policy.guarantee_fee_subsidy_household, policy.guarantee_fee_subsidy_enterprise)
    return tuple(_int(min(rate, charged), 2) for rate in rates)


def insert_guarantee_fees(batch: SettlementBatch) -> int:
    """担保费补贴 to the guarantee agency of the bank agreement: principal outstanding on the first
    day of accrual × the rate (guarantee_rates) × days / day basis. Household loans outside the
    caps are excluded (not the subsidised product); overdue instalments, extension and other
    subsidies do not end the guarantee, so they do not stop its fee."""
    agreement = guarantee_agreement(batch)
    if agreement is None:
        return 0
    sql = _Sql(batch)
    policy = policy_for(batch.county_id, on=batch.period_start)
    basis = int(policy.interest_day_basis)
    household, enterprise = guarantee_rates(agreement, policy)
    acc = _accrual(sql, "1 = 1")
    outside = _outside_caps(sql)
    reason = f"""CASE WHEN l.household_id IS NOT NULL AND {outside} = 1 THEN '{ExclusionReason.OUTSIDE_CAPS}'
                 ELSE '' END"""
    amount = half_up("x.principal * x.rate * x.days", f"10000 * {basis}")
    return sql.run(f"""
        WITH x AS (
            SELECT l.id AS loan_id, {reason} AS reason, {acc.days} AS days, {acc.principal} AS principal,
                   CASE WHEN l.household_id IS NOT NULL THEN {household} ELSE {enterprise} END AS rate
            FROM loans_loan l {acc.joins}
            WHERE {acc.where}
        )
        INSERT INTO subsidy_subsidyline ({", ".join(LINE_COLUMNS)})
        SELECT %(batch)s, x.loan_id, '{LineKind.GUARANTEE_FEE}', %(start)s,
               CASE WHEN x.reason = '' THEN {amount} ELSE 0 END / 100.0, x.reason,
               {sql.param("payee", agreement.guarantee_agency.strip())},
               NULL, x.principal / 100.0, x.days, {basis}, x.rate / 100.0, NULL, NULL, NULL, NULL
        FROM x""")


def delete_lines(batch: SettlementBatch) -> None:
    """One DELETE (a QuerySet.delete() would load every line when any delete signal is connected)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {SubsidyLine._meta.db_table} WHERE batch_id = %s", [batch.pk])


def compute_lines(batch: SettlementBatch) -> int:
    """Replace the batch's lines; the number written. Call inside a transaction."""
    if connection.vendor == "postgresql":  # room to group a county's loans in memory, this transaction only
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '128MB'")
    delete_lines(batch)
    return insert_household_interest(batch) + insert_enterprise_interest(batch) + insert_guarantee_fees(batch)
