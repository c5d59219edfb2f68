"""Reads of the risk compensation fund. The loans app asks `leverage_check` at submission and
approval (called inside its function: loans must not import this app at module level)."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from common.money import money, percent
from organization.selectors import policy_for

from .models import FundEntry


def fund_balance(county_code: str, *, on: datetime.date) -> Decimal:
    """Sum of the fund's ledger rows up to `on`."""
    total = FundEntry.objects.filter(county_id=county_code, received_on__lte=on).aggregate(s=Sum("amount"))[
        "s"
    ]
    return money(total or 0)


def covered_outstanding(county_code: str) -> Decimal:
    """Principal outstanding of the county's disbursed loans, which the fund covers."""
    from loans.models import OUTSTANDING_STATUSES, Loan

    total = Loan.objects.filter(county_id=county_code, status__in=OUTSTANDING_STATUSES).aggregate(
        s=Sum("principal_outstanding")
    )["s"]
    return money(total or 0)


@dataclass(frozen=True)
class Leverage:
    balance: Decimal
    covered_outstanding: Decimal
    multiple: Decimal
    cap: Decimal  # multiple × balance
    warning_ratio: Decimal  # percent of the cap

    @property
    def headroom(self) -> Decimal:
        return max(self.cap - self.covered_outstanding, Decimal("0.00"))

    @property
    def used_percent(self) -> Decimal:
        return percent(self.covered_outstanding, self.cap) if self.cap else Decimal("100.00")

    @property
    def warning(self) -> bool:
        return self.used_percent >= self.warning_ratio


def leverage_for(county_code: str, *, on: datetime.date) -> Leverage:
    policy = policy_for(county_code, on=on)
    balance = fund_balance(county_code, on=on)
    return Leverage(
        balance=balance,
        covered_outstanding=covered_outstanding(county_code),
        multiple=policy.leverage_multiple,
        cap=money(balance * policy.leverage_multiple),
        warning_ratio=policy.leverage_warning_ratio,
    )


def leverage_refusal(county_code: str, *, amount: Decimal, on: datetime.date) -> str | None:
    """Why a new loan of `amount` would break the fund's leverage cap, or None."""
    lev = leverage_for(county_code, on=on)
    if lev.balance <= 0:
        return "本县风险补偿金尚未存入，暂不能发放扶贫小额信贷。请县财政先存入风险补偿金。"
    if lev.covered_outstanding + amount > lev.cap:
        return (
            f"本县风险补偿金余额{lev.balance:,}元，按{lev.multiple}倍放大上限为{lev.cap:,}元，"
            f"已发放未结清{lev.covered_outstanding:,}元，剩余额度{lev.headroom:,}元，不足本笔{money(amount):,}元。"
            "请待县财政补充风险补偿金后再审批。"
        )
    return None
