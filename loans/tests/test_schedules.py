"""Repayment schedules: invariants with Hypothesis, and examples computed by hand. No database."""

import calendar
import datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loans.schedules import METHODS, build_schedule, maturity_date, period_interest

D = Decimal
date = datetime.date

amounts = st.decimals(min_value=D("0.01"), max_value=D("10000000.00"), places=2)
rates = st.one_of(st.just(D("0.00")), st.decimals(min_value=D("0.00"), max_value=D("24.00"), places=2))
terms = st.integers(min_value=1, max_value=60)
bases = st.sampled_from((360, 365))
# Month ends and the days just before them (28/29/30/31), and 29 February, are where dates go wrong.
near_month_ends = st.builds(
    lambda year, month, back: date(year, month, calendar.monthrange(year, month)[1] - back),
    st.integers(2000, 2040),
    st.integers(1, 12),
    st.integers(0, 3),
)
leap_days = st.sampled_from([date(y, 2, 29) for y in range(2000, 2041) if calendar.isleap(y)])
starts = st.one_of(st.dates(date(2000, 1, 1), date(2040, 12, 31)), near_month_ends, leap_days)
EXPECTED_COUNT = {
    "quarterly_interest_bullet": lambda term: -(-term // 3),
    "monthly_interest_bullet": lambda term: term,
    "equal_installment": lambda term: term,
    "bullet": lambda term: 1,
}


def equal_principal_parts(principal, term):
    """The principal parts of an interest-free equal_installment loan."""
    schedule = build_schedule(
        method="equal_installment",
        principal=principal,
        annual_rate=D("0"),
        start=date(2026, 3, 15),
        term_months=term,
    )
    return [i.principal_due for i in schedule]


def months_between(earlier, later):
    return (later.year - earlier.year) * 12 + later.month - earlier.month


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(METHODS), amounts, rates, starts, terms, bases, st.integers(1, 40))
def test_schedule_invariants(method, principal, rate, start, term, basis, first_seq):
    schedule = build_schedule(
        method=method,
        principal=principal,
        annual_rate=rate,
        start=start,
        term_months=term,
        day_basis=basis,
        first_seq=first_seq,
    )
    assert len(schedule) == EXPECTED_COUNT[method](term)
    assert [i.seq for i in schedule] == list(range(first_seq, first_seq + len(schedule)))
    assert sum(i.principal_due for i in schedule) == principal
    for i in schedule:
        for amount in (i.principal_due, i.interest_due):
            assert amount >= 0 and amount.as_tuple().exponent == -2

    dues = [i.due_date for i in schedule]
    assert dues[0] > start and dues == sorted(set(dues))
    assert dues[-1] == maturity_date(start, term)
    assert months_between(start, dues[-1]) == term
    for due in dues:  # anchored on the start's day, clamped to the month end: no drift
        assert due.day == min(start.day, calendar.monthrange(due.year, due.month)[1])
    assert [i.start_date for i in schedule] == [start, *dues[:-1]]

    outstanding = principal
    for i in schedule:
        days = (i.due_date - i.start_date).days
        assert i.interest_due == period_interest(outstanding, rate, days, basis)
        outstanding -= i.principal_due
    assert outstanding == 0

    if method != "equal_installment":
        assert all(i.principal_due == 0 for i in schedule[:-1])
        assert schedule[-1].principal_due == principal
    if method == "quarterly_interest_bullet":
        assert [months_between(start, d) for d in dues] == [min(3 * k, term) for k in range(1, len(dues) + 1)]


@settings(max_examples=300, deadline=None)
@given(amounts, rates, starts, terms, bases)
def test_equal_installment_principal_parts_grow_like_an_annuity(principal, rate, start, term, basis):
    schedule = build_schedule(
        method="equal_installment",
        principal=principal,
        annual_rate=rate,
        start=start,
        term_months=term,
        day_basis=basis,
    )
    parts = [i.principal_due for i in schedule]
    # Exact parts grow by (1 + r) a month. Rounded, each is within half a cent of its exact value,
    # so the rounded parts before the last are non-decreasing, and each is the previous × (1 + r)
    # within a cent. The last takes the rounding remainder of the others (up to (n-1)/2 cents), so it
    # can be smaller than the one before it: 100.00 at 0 % over 7 months is 14.29 × 6, then 14.26;
    # 64.70 at 0.01 % over 58 months ends 1.12, 1.12, 0.86. Below 0.005 × n × (n-1) yuan (17.70 for
    # 60 months) rounding up could overdraw the principal; the parts then stop at what is left.
    r = rate / 1200
    if principal < D("0.005") * term * (term - 1):
        return
    body = parts[:-1]
    assert body == sorted(body)
    for previous, part in zip(body, body[1:], strict=False):
        assert abs(part - previous * (1 + r)) <= D("0.0101")
    if body:
        assert parts[-1] >= body[-1] - D("0.005") * term
        assert parts[-1] <= (body[-1] + D("0.005")) * (1 + r) + D("0.005") * (term - 1)


@settings(max_examples=300, deadline=None)
@given(amounts, rates, st.integers(0, 1830), bases)
def test_period_interest_is_exact_interest_rounded_half_up(principal, rate, days, basis):
    exact = Fraction(principal) * Fraction(rate) * days / (100 * basis)
    cents, remainder = divmod(exact * 100, 1)
    expected = cents + (1 if remainder >= Fraction(1, 2) else 0)
    assert period_interest(principal, rate, days, basis) == D(expected) / 100


def test_period_interest_rounds_half_up_not_to_even():
    # 10.00 × 18 % × 1 / 360 = 0.005 exactly: half-up gives 0.01 (banker's rounding would give 0.00).
    assert period_interest(D("10.00"), D("18.00"), 1) == D("0.01")
    # 100.00 × 4.35 % × 30 / 365 = 0.357534... -> 0.36
    assert period_interest(D("100.00"), D("4.35"), 30, 365) == D("0.36")


def test_quarterly_example_from_a_month_end():
    schedule = build_schedule(
        method="quarterly_interest_bullet",
        principal=D("50000.00"),
        annual_rate=D("4.75"),
        start=date(2026, 1, 31),
        term_months=36,
    )
    # 50,000 × 4.75 % = 2,375 a year; interest of a period = 2,375 × days / 360.
    assert len(schedule) == 12
    first, second = schedule[0], schedule[1]
    # 31 Jan -> 30 Apr: 28 (Feb) + 31 (Mar) + 30 (Apr) = 89 days; 2,375 × 89 / 360 = 587.152... -> 587.15
    assert (first.seq, first.due_date, first.start_date) == (1, date(2026, 4, 30), date(2026, 1, 31))
    assert (first.principal_due, first.interest_due) == (D("0.00"), D("587.15"))
    # 30 Apr -> 31 Jul (back to the 31st): 31 + 30 + 31 = 92 days; 2,375 × 92 / 360 = 606.944... -> 606.94
    assert (second.due_date, second.interest_due) == (date(2026, 7, 31), D("606.94"))
    # 31 Jan 2028 -> 30 Apr 2028, a leap February: 29 + 31 + 30 = 90 days; 2,375 × 90 / 360 = 593.75
    assert (schedule[8].due_date, schedule[8].interest_due) == (date(2028, 4, 30), D("593.75"))
    last = schedule[-1]
    # 31 Oct 2028 -> 31 Jan 2029: 30 + 31 + 31 = 92 days -> 606.94, with all the principal.
    assert (last.seq, last.due_date, last.principal_due, last.interest_due) == (
        12,
        date(2029, 1, 31),
        D("50000.00"),
        D("606.94"),
    )


def test_quarterly_with_a_short_last_period():
    schedule = build_schedule(
        method="quarterly_interest_bullet",
        principal=D("50000"),
        annual_rate=D("4.75"),
        start=date(2026, 1, 31),
        term_months=8,
    )
    # Due 30 Apr, 31 Jul, then 30 Sep after only 2 months: 31 (Aug) + 30 (Sep) = 61 days;
    # 2,375 × 61 / 360 = 402.430... -> 402.43.
    assert [i.due_date for i in schedule] == [date(2026, 4, 30), date(2026, 7, 31), date(2026, 9, 30)]
    assert [str(i.principal_due) for i in schedule] == ["0.00", "0.00", "50000.00"]  # 2 places
    assert schedule[-1].interest_due == D("402.43")


def test_monthly_interest_from_29_february():
    schedule = build_schedule(
        method="monthly_interest_bullet",
        principal=D("20000.00"),
        annual_rate=D("4.35"),
        start=date(2024, 2, 29),
        term_months=12,
    )
    # 29th of each month, clamped to 28 Feb 2025: 29 Mar, 29 Apr, ..., 29 Jan, 28 Feb.
    assert schedule[0].due_date == date(2024, 3, 29)
    assert schedule[-1].due_date == date(2025, 2, 28)
    # 20,000 × 4.35 % = 870 a year. 29 Feb -> 29 Mar = 29 days: 870 × 29 / 360 = 70.083... -> 70.08;
    # 29 Jan -> 28 Feb 2025 = 30 days: 870 × 30 / 360 = 72.50.
    assert (schedule[0].interest_due, schedule[-1].interest_due) == (D("70.08"), D("72.50"))


def test_bullet_on_365_day_basis_over_a_leap_year():
    (only,) = build_schedule(
        method="bullet",
        principal=D("50000.00"),
        annual_rate=D("4.35"),
        start=date(2027, 6, 1),
        term_months=12,
        day_basis=365,
    )
    # 1 Jun 2027 -> 1 Jun 2028 holds 29 Feb 2028: 366 days. 50,000 × 4.35 % = 2,175;
    # 2,175 × 366 / 365 = 2,180.958... -> 2,180.96.
    assert only == type(only)(1, date(2028, 6, 1), D("50000.00"), D("2180.96"), date(2027, 6, 1))


def test_equal_installment_at_zero_rate_is_equal_principal():
    schedule = build_schedule(
        method="equal_installment",
        principal=D("12000.00"),
        annual_rate=D("0"),
        start=date(2026, 3, 15),
        term_months=12,
    )
    assert [i.principal_due for i in schedule] == [D("1000.00")] * 12
    assert all(i.interest_due == 0 for i in schedule)
    # 10,000 / 3 = 3,333.333...: 3,333.33 twice, the remainder 3,333.34 last.
    parts = equal_principal_parts(D("10000.00"), 3)
    assert parts == [D("3333.33"), D("3333.33"), D("3333.34")]
    # 100 / 7 = 14.2857...: 14.29 six times (85.74), so the last, 14.26, is the smallest part.
    parts = equal_principal_parts(D("100.00"), 7)
    assert parts == [D("14.29")] * 6 + [D("14.26")]


def test_equal_installment_example():
    schedule = build_schedule(
        method="equal_installment",
        principal=D("120000.00"),
        annual_rate=D("12.00"),
        start=date(2026, 1, 15),
        term_months=12,
    )
    # r = 1 % a month; 1.01^12 = 1.126825...; payment = 1,200 / (1 - 1 / 1.126825) = 10,661.8546.
    # Principal parts: 10,661.8546 - 1,200 = 9,461.8546, then × 1.01 each month:
    # 9,556.4732  9,652.0379  9,748.5583  9,846.0439  9,944.5043  10,043.9494  10,144.3889
    # 10,245.8327  10,348.2911  10,451.7740 (the last exact part, 10,556.2917, is not used).
    expected = [
        "9461.85", "9556.47", "9652.04", "9748.56", "9846.04", "9944.50",
        "10043.95", "10144.39", "10245.83", "10348.29", "10451.77",
    ]  # fmt: skip
    # The last is the remainder: 120,000 - 109,443.69 (the sum of the others) = 10,556.31.
    parts = [i.principal_due for i in schedule]
    assert parts[:-1] == [D(x) for x in expected]
    assert parts[-1] == D("120000.00") - sum(D(x) for x in expected) == D("10556.31")
    # 15 Jan -> 15 Feb: 31 days on 120,000: 120,000 × 12 % × 31 / 360 = 1,240.00.
    # 15 Feb -> 15 Mar: 28 days on 110,538.15: 13,264.578 × 28 / 360 = 1,031.689... -> 1,031.69.
    assert [i.interest_due for i in schedule[:2]] == [D("1240.00"), D("1031.69")]
    # Payments are only roughly equal (the formula's 10,661.85), because months have 28 to 31 days:
    # 9,461.85 + 1,240.00 = 10,701.85, then 9,556.47 + 1,031.69 = 10,588.16.
    assert schedule[0].principal_due + schedule[0].interest_due == D("10701.85")
    assert schedule[1].principal_due + schedule[1].interest_due == D("10588.16")


def test_equal_installment_of_a_tiny_principal_never_overdraws():
    # 0.05 over 7 months at 0 %: exact parts 0.00714... round up to 0.01; five of them use it all.
    parts = equal_principal_parts(D("0.05"), 7)
    assert parts == [D("0.01")] * 5 + [D("0.00")] * 2


@pytest.mark.parametrize(
    "change",
    [
        {"method": "annuity"},
        {"principal": D("0")},
        {"principal": D("-100.00")},
        {"principal": D("100.005")},
        {"term_months": 0},
        {"annual_rate": D("-0.01")},
        {"day_basis": 366},
    ],
)
def test_invalid_input_is_refused_in_chinese(change):
    arguments = {
        "method": "bullet",
        "principal": D("1000.00"),
        "annual_rate": D("4.35"),
        "start": date(2026, 1, 1),
        "term_months": 12,
    }
    with pytest.raises(ValueError, match=r"[\u4e00-\u9fff]"):
        build_schedule(**(arguments | change))


def test_maturity_date_clamps_to_the_month_end():
    assert maturity_date(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert maturity_date(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert maturity_date(date(2026, 8, 31), 36) == date(2029, 8, 31)
