"""Writes to the city's subsidy pot (贴息资金池, subsidy.models.SubsidyPotEntry): city finance's
deposits for the city or one of its counties, and a county's payouts when its subsidy batches are
paid. The pot is not the risk fund: nothing here touches risk_fund's ledger, so its balance and
leverage never count this money."""

import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from common.audit import audit_record
from common.clock import today
from common.errors import ApplicationError, Forbidden
from common.money import money
from organization.models import Region, Role
from organization.scoping import has_role_over

from .models import BatchStatus, PotEntryKind, SettlementBatch, SubsidyPotEntry

POT_LEVELS = (Region.Level.CITY, Region.Level.COUNTY)


class PotError(ApplicationError):
    pass


def may_deposit(user, region_code: str) -> bool:
    """The city's finance office (for the city and each of its counties), and admins."""
    return has_role_over(user, region_code, (Role.CITY_FINANCE,))


def may_pay_out(user, region_code: str) -> bool:
    """County staff of the county (and admins) record its payouts; the city's pot pays no batch."""
    return (
        len(region_code) == 6
        and not region_code.endswith("00")
        and has_role_over(user, region_code, (Role.COUNTY_STAFF,))
    )


def pot_subject(region: Region) -> dict:
    return {"obj_type": "subsidy_pot", "obj_id": region.code, "label": f"{region.name}贴息资金池",
            "region": region.code}  # fmt: skip


def _positive(amount) -> Decimal:
    amount = money(amount)
    if amount <= 0:
        raise PotError("invalid", "金额须大于0。", {"amount": ["须大于0。"]})
    return amount


def _not_future(day: datetime.date, field: str) -> None:
    if day > today():
        raise PotError("invalid", "日期不能晚于今天。", {field: ["不能晚于今天。"]})


def _lock(region: Region) -> Decimal:
    """The pot's lock (its region row) for the rest of the transaction, and its balance then."""
    Region.objects.select_for_update().filter(pk=region.pk).first()
    total = SubsidyPotEntry.objects.filter(region=region).aggregate(s=Sum("amount"))["s"]
    return money(total or 0)


@transaction.atomic
def pot_deposit_record(
    *, actor, region: Region, amount, entry_date: datetime.date, source: str = "", reference: str = ""
) -> SubsidyPotEntry:
    """City money into the pot of the city or of one of its counties."""
    if region.level not in POT_LEVELS:
        raise PotError("invalid", "贴息资金池只设在市、县两级。", {"region": ["须为市或县区。"]})
    if not may_deposit(actor, region.code):
        raise Forbidden("只有市财政局/金融办或系统管理员可以登记贴息资金拨入。")
    amount = _positive(amount)
    _not_future(entry_date, "entry_date")
    _lock(region)
    entry = SubsidyPotEntry.objects.create(
        region=region, kind=PotEntryKind.DEPOSIT, amount=amount, entry_date=entry_date,
        source=(source or "").strip()[:100], reference=(reference or "").strip()[:100], created_by=actor,
    )  # fmt: skip
    audit_record(actor=actor, action="deposit", **pot_subject(region),
                 detail={"entry": entry.pk, "amount": amount, "date": entry_date, "source": entry.source})  # fmt: skip
    return entry


@transaction.atomic
def pot_payout_record(
    *, actor, county: Region, amount, entry_date: datetime.date | None = None,
    batch: SettlementBatch | None = None, reference: str = "",
) -> SubsidyPotEntry:  # fmt: skip
    """A payout from the county's pot, for a paid subsidy batch of the county (or, without one,
    e.g. a guarantee-fee subsidy paid outside a batch). Not more than the pot holds, nor than the
    batch's total; one payout per batch."""
    if county.level != Region.Level.COUNTY:
        raise PotError("invalid", "贴息资金支出只能登记在县区的资金池。", {"region": ["须为县区。"]})
    if not may_pay_out(actor, county.code):
        raise Forbidden("只有本县金融扶贫服务中心或系统管理员可以登记贴息资金支出。")
    amount = _positive(amount)
    if batch is not None:
        batch = SettlementBatch.objects.select_for_update().get(pk=batch.pk)
        if batch.county_id != county.code:
            raise PotError("invalid", "该结算批次不是本县的。", {"batch": ["不是本县的批次。"]})
        if batch.status != BatchStatus.PAID:
            raise PotError(
                "batch_not_paid", "结算批次标记为已拨付后才能登记资金池支出。", {"batch": ["批次尚未拨付。"]}
            )
        if SubsidyPotEntry.objects.filter(batch=batch).exists():
            raise PotError(
                "already_paid_out", "该结算批次已登记过资金池支出。", {"batch": ["已登记过支出。"]}
            )
        if amount > batch.total_amount:
            raise PotError("over_batch", f"支出不能超过批次补贴合计{batch.total_amount:,}元。",
                           {"amount": [f"不能超过{batch.total_amount:,}元。"]})  # fmt: skip
        entry_date = entry_date or batch.paid_on
    entry_date = entry_date or today()
    _not_future(entry_date, "entry_date")
    balance = _lock(county)
    if amount > balance:
        raise PotError("pot_insufficient", f"贴息资金池余额不足（余额{balance:,}元）。",
                       {"amount": [f"不能超过余额{balance:,}元。"]})  # fmt: skip
    entry = SubsidyPotEntry.objects.create(
        region=county, kind=PotEntryKind.PAYOUT, amount=-amount, entry_date=entry_date, batch=batch,
        reference=(reference or "").strip()[:100], created_by=actor,
    )  # fmt: skip
    audit_record(actor=actor, action="pot-payout", **pot_subject(county),
                 detail={"entry": entry.pk, "amount": amount, "date": entry_date,
                         "batch": batch.pk if batch else None})  # fmt: skip
    return entry
