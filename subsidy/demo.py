"""Demo subsidy batches for `manage.py seed_demo` (after loans.demo): in every county of the demo
city with loans, the batch of its demo bank for the settlement period before the last one that
has ended, computed by the admin, approved and marked paid by the county's demo user (maker-checker:
they are different people). The last ended period is left for the county user to compute; someone else
approves it. Idempotent: a county and bank that already have a batch for the period are skipped.
"""

import datetime
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from django.db import transaction

from common.clock import today
from loans.models import Loan
from organization.demo_data import ALL_COUNTY_CODES, CITY_CODE
from organization.models import Bank, Region, User

from . import pot_services, services
from .models import BatchStatus, SettlementBatch, SubsidyPotEntry


@dataclass
class SubsidySeedResult:
    batches_created: int = 0
    total_amount: Decimal = Decimal("0.00")
    period: tuple | None = None
    pot_entries: int = 0

    def summary(self) -> str:
        if self.period is None:
            return "财政贴息：没有可结算的演示批次。"
        start, end = self.period
        return (
            f"财政贴息：{start:%Y-%m-%d}至{end:%Y-%m-%d}新增、审批并拨付结算批次 {self.batches_created} 个，"
            f"补贴合计 {self.total_amount:,} 元；最近一个结算期留给各县演示用户计算、由他人审批。"
            f"贴息资金池新增台账 {self.pot_entries} 行。"
        )


def period_before_last(county_code: str, day: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The settlement period before the last one that ended before `day`."""
    ended = []
    month = day.replace(day=1)
    while len(ended) < 2:
        month = (month - datetime.timedelta(days=1)).replace(day=1)
        try:
            start, end = services.settlement_period(county_code, month)
        except services.SubsidyError:
            continue
        if end < day:
            ended.append((start, end))
    return ended[1]


def seed() -> SubsidySeedResult:
    result = SubsidySeedResult()
    admin = User.objects.filter(username="admin").first()
    if admin is None:
        return result
    day = today()
    with transaction.atomic():
        for code in ALL_COUNTY_CODES:
            approver = User.objects.filter(username=f"county_{code}").first()
            banks = Bank.objects.filter(
                pk__in=Loan.objects.filter(county_id=code).values("bank_id")
            ).order_by("code")
            if approver is None or not banks:
                continue
            start, end = result.period = period_before_last(code, day)
            county = Region.objects.get(code=code)
            for bank in banks:
                live = SettlementBatch.objects.filter(county=county, bank=bank, period_start=start)
                if live.exclude(status=BatchStatus.CANCELLED).exists():
                    continue
                batch = services.batch_create(actor=admin, county=county, bank=bank, period_start=start)
                services.batch_approve(actor=approver, batch=batch, comment="演示数据：按季结算")
                # Paid the day it is approved, so that the dashboards show subsidy paid.
                services.batch_mark_paid(
                    actor=approver, batch=batch, paid_on=day, reference=f"{code}-{start:%Y%m}-贴息拨付"
                )
                result.batches_created += 1
                result.total_amount += batch.total_amount
        result.pot_entries = seed_pot(day)
    return result


# The demo's subsidy pot: the city's money for guarantee and interest subsidies, one deposit into
# the city's own pot and one into each county with paid batches (twice their total, in round ten
# thousands), and 上蔡's payout for its paid batch.
CITY_POT_DEPOSIT = Decimal("1000000.00")
PAYING_COUNTY = "411722"


def seed_pot(day: datetime.date) -> int:
    """Made once: nothing if the pot has rows already. Returns the rows made."""
    city_user = User.objects.filter(username="city").first()
    if city_user is None or SubsidyPotEntry.objects.exists():
        return 0
    made = 0
    city = Region.objects.get(code=CITY_CODE)
    pot_services.pot_deposit_record(actor=city_user, region=city, amount=CITY_POT_DEPOSIT, entry_date=day,
                                    source="市财政担保补贴和贷款贴息专项资金", reference=f"{CITY_CODE}-{day:%Y}-贴息")  # fmt: skip
    made += 1
    paid = SettlementBatch.objects.filter(status=BatchStatus.PAID)
    for code in ALL_COUNTY_CODES:
        total = sum((b.total_amount for b in paid.filter(county_id=code)), Decimal("0"))
        if not total:
            continue
        amount = max(Decimal("100000"), (total * 2 / 10000).to_integral_value(rounding=ROUND_CEILING) * 10000)
        pot_services.pot_deposit_record(actor=city_user, region=Region.objects.get(code=code), amount=amount,
                                        entry_date=day, source="市财政担保补贴和贷款贴息专项资金（切块到县）",
                                        reference=f"{code}-{day:%Y}-贴息")  # fmt: skip
        made += 1
    payer = User.objects.filter(username=f"county_{PAYING_COUNTY}").first()
    batch = paid.filter(county_id=PAYING_COUNTY, total_amount__gt=0).order_by("id").first()
    if payer is not None and batch is not None:
        pot_services.pot_payout_record(actor=payer, county=batch.county, amount=batch.total_amount, batch=batch,
                                       reference=batch.payment_reference)  # fmt: skip
        made += 1
    return made
