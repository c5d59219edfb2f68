"""Repayment schedules (还款计划): pure functions, no models, no database.

Interest of an instalment = principal outstanding during its period × annual rate × actual days /
day basis (360 or 365), rounded half-up to the cent. A period runs from the previous due date (the
loan's start for the first) exclusive to its due date inclusive.

Due dates are add_months(start, k × step), never chained from the previous due date, so a loan
started on 31 January falls due on 28/29 February and then on 31 March (no drift to the 28th).
The last due date is always the maturity date.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from common.dates import add_months
from common.money import money

METHODS = ("quarterly_interest_bullet", "monthly_interest_bullet", "equal_installment", "bullet")
# Months between two due dates; a bullet loan has one period, the whole term.
_STEP_MONTHS = {"quarterly_interest_bullet": 3, "monthly_interest_bullet": 1, "equal_installment": 1}
DAY_BASES = (360, 365)
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class PlannedInstalment:
    seq: int  # first_seq .. first_seq + n - 1
    due_date: datetime.date
    principal_due: Decimal  # 2 places
    interest_due: Decimal  # 2 places
    start_date: datetime.date  # interest accrues from start_date (exclusive) to due_date


def maturity_date(start: datetime.date, term_months: int) -> datetime.date:
    return add_months(start, term_months)


def period_interest(principal: Decimal, annual_rate: Decimal, days: int, day_basis: int = 360) -> Decimal:
    """Interest on `principal` for `days` days; `annual_rate` is a percentage (4.35 = 4.35 %)."""
    if day_basis not in DAY_BASES:
        raise ValueError(f"计息天数基准只能是 360 或 365，不能是 {day_basis}")
    return money(principal * annual_rate * days / (100 * day_basis))


def build_schedule(
    *,
    method: str,
    principal: Decimal,
    annual_rate: Decimal,
    start: datetime.date,
    term_months: int,
    day_basis: int = 360,
    first_seq: int = 1,
) -> list[PlannedInstalment]:
    """The instalments of a loan, numbered from `first_seq`.

    - quarterly_interest_bullet (按季付息到期还本): interest every 3 months (a shorter last period
      when the term is not a multiple of 3), all principal at maturity.
    - monthly_interest_bullet (按月付息到期还本): the same, monthly.
    - bullet (利随本清): one instalment at maturity, principal and the interest of the whole term.
    - equal_installment (等额本息): monthly; see _annuity_principal_parts.
    """
    if method not in METHODS:
        raise ValueError(f"未知的还款方式：{method}")
    if principal <= 0:
        raise ValueError("贷款本金必须大于 0")
    if money(principal) != principal:
        raise ValueError("贷款本金最多两位小数")
    if term_months < 1:
        raise ValueError("贷款期限至少 1 个月")
    if annual_rate < 0:
        raise ValueError("年利率不能为负数")
    if day_basis not in DAY_BASES:
        raise ValueError(f"计息天数基准只能是 360 或 365，不能是 {day_basis}")
    principal = money(principal)  # 50000 -> 50000.00

    step = _STEP_MONTHS.get(method, term_months)
    count = -(-term_months // step)  # ceil
    due_dates = [add_months(start, min(k * step, term_months)) for k in range(1, count + 1)]
    if method == "equal_installment":
        principal_parts = _annuity_principal_parts(principal, annual_rate, term_months)
    else:
        principal_parts = [ZERO] * (count - 1) + [principal]

    schedule = []
    outstanding, period_start = principal, start
    for seq, (due, part) in enumerate(zip(due_dates, principal_parts, strict=True), start=first_seq):
        interest = period_interest(outstanding, annual_rate, (due - period_start).days, day_basis)
        schedule.append(PlannedInstalment(seq, due, part, interest, period_start))
        outstanding -= part
        period_start = due
    return schedule


def _annuity_principal_parts(principal: Decimal, annual_rate: Decimal, months: int) -> list[Decimal]:
    """Principal parts of 等额本息, each rounded to the cent, the remainder on the last.

    The standard annuity pays P·r / (1 - (1+r)^-n) a month at the monthly rate r = annual rate / 12;
    the interest at r on the outstanding principal leaves a principal part that grows by (1+r) each
    month. Only these principal parts come from the formula: the interest actually charged is the
    actual-days interest on the outstanding principal (build_schedule), so months of 28 to 31 days
    make the payments only approximately equal. At 0 % the parts are equal.
    """
    r = annual_rate / 1200
    if r == 0:
        exact = [principal / months] * months
    else:
        payment = principal * r / (1 - (1 + r) ** -months)
        exact = [payment - principal * r]
        for _ in range(months - 1):
            exact.append(exact[-1] * (1 + r))
    parts, left = [], principal
    for part in exact[:-1]:
        # Parts rounded up can add up to more than a tiny principal (0.05 over 7 months: 0.01 each);
        # never take more than is left, so no part is negative.
        parts.append(min(money(part), left))
        left -= parts[-1]
    return parts + [left]
