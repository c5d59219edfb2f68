"""Share arithmetic to the fen: every split adds up exactly, the remainder on the last party."""

from collections.abc import Sequence
from decimal import Decimal

from common.money import money

ZERO = Decimal("0.00")


def split(amount: Decimal, percents: Sequence[Decimal]) -> list[Decimal]:
    """`amount` in parts by `percents` (adding up to 100), rounded half-up to the fen. Each running
    total is rounded, not each part, so that no part is negative and the parts add up to `amount`;
    the last party gets the remainder. With two parties: fund = money(amount × share), bank =
    amount − fund."""
    parts, done, running = [], ZERO, Decimal(0)
    for pct in percents[:-1]:
        running += pct
        total = money(amount * running / 100)
        parts.append(total - done)
        done = total
    return [*parts, amount - done]


def recovery_parts(
    amount: Decimal, percents: Sequence[Decimal], remaining: Sequence[Decimal]
) -> list[Decimal]:
    """A recovery of `amount` split by `percents`, no party getting back more than it still has
    to (`remaining`, what it bore less what came back before): a cent a party cannot take goes to
    the others, the last party first. A recovery of everything still remaining gives each party
    exactly its remainder. The caller checks amount ≤ sum(remaining)."""
    parts = [min(part, left) for part, left in zip(split(amount, percents), remaining, strict=True)]
    short = amount - sum(parts, ZERO)
    for i in reversed(range(len(parts))):
        extra = min(short, remaining[i] - parts[i])
        parts[i] += extra
        short -= extra
    return parts
