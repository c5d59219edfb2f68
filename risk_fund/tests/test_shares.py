"""Share arithmetic to the fen (pure functions): a split adds up exactly with no negative part, a
two-way split is fund = money(loss × share) and bank = loss − fund, and recoveries never give a
party back more than it bore, returning exactly its share when everything comes back."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from common.money import money
from risk_fund.shares import recovery_parts, split

D = Decimal
cents = st.integers(min_value=1, max_value=10**9).map(lambda n: D(n) / 100)


@st.composite
def percents(draw):
    """Two or three shares in hundredths of a percent, adding up to 100."""
    first = draw(st.integers(0, 10000))
    if draw(st.booleans()):
        return [D(first) / 100, 100 - D(first) / 100]
    second = draw(st.integers(0, 10000 - first))
    return [D(first) / 100, D(second) / 100, D(10000 - first - second) / 100]


def test_examples_to_the_fen():
    assert split(D("10200.00"), [D(80), D(20)]) == [D("8160.00"), D("2040.00")]
    assert split(D("0.01"), [D(80), D(20)]) == [D("0.01"), D("0.00")]  # 0.008 rounds half-up
    assert split(D("0.05"), [D(50), D(50)]) == [D("0.03"), D("0.02")]  # 0.025 → 0.03, the rest
    # three ways: running totals rounded, the remainder on the last party
    assert split(D("100.00"), [D("33.33"), D("33.33"), D("33.34")]) == [D("33.33"), D("33.33"), D("33.34")]
    assert split(D("0.01"), [D(50), D(50), D(0)]) == [D("0.01"), D("0.00"), D("0.00")]


@given(cents, percents())
def test_split_adds_up_without_negative_parts(amount, pcts):
    parts = split(amount, pcts)
    assert sum(parts) == amount and all(p >= 0 for p in parts)
    assert parts[0] == money(amount * pcts[0] / 100)
    assert all(abs(part - amount * pct / 100) < D("0.01") for part, pct in zip(parts, pcts, strict=True))


@given(cents, percents(), st.lists(st.integers(1, 10**6), min_size=1, max_size=12))
def test_recoveries_stay_within_each_share_and_end_exactly_on_it(loss, pcts, pieces):
    shares = split(loss, pcts)
    back = [D(0)] * len(shares)
    total = D(0)
    for piece in pieces:
        amount = min(D(piece) / 100, loss - total)
        if amount <= 0:
            break
        parts = recovery_parts(amount, pcts, [s - b for s, b in zip(shares, back, strict=True)])
        assert sum(parts) == amount and all(p >= 0 for p in parts)
        back = [b + p for b, p in zip(back, parts, strict=True)]
        total += amount
        assert all(b <= s for b, s in zip(back, shares, strict=True))
    rest = loss - total
    if rest > 0:
        last = recovery_parts(rest, pcts, [s - b for s, b in zip(shares, back, strict=True)])
        back = [b + p for b, p in zip(back, last, strict=True)]
    assert back == shares
