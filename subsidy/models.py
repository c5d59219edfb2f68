"""Interest subsidy (财政贴息) settlement batches and their lines (DOMAIN.md "Interest subsidy").

A batch is one county, one bank and one settlement period: draft (computed) → approved by county
staff → paid; a draft may be recomputed or cancelled, an approved batch is frozen. Each line is one
loan's subsidy of one kind (interest, guarantee fee) for the period, with the numbers it was
computed from; a line with an excluded_reason pays nothing and says why.

Paying twice is prevented by the database: one live batch per county, bank and period start, and
one paying line per loan, kind and period start (excluded lines are information, not claims). A
cancelled draft loses its lines, so it claims nothing.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from common.money import MoneyField
from loans.models import Loan
from organization.models import Bank, Region


class BatchStatus(models.TextChoices):
    DRAFT = "draft", "草稿（已计算）"
    APPROVED = "approved", "县级已审批"
    PAID = "paid", "已拨付"
    CANCELLED = "cancelled", "已作废"


class LineKind(models.TextChoices):
    INTEREST = "interest", "贷款贴息"
    GUARANTEE_FEE = "guarantee_fee", "担保费补贴"


class ExclusionReason(models.TextChoices):
    OVERDUE = "overdue", "逾期期次（到期日后才还）不贴息"
    EXTENDED = "extended", "展期期间不贴息"
    OTHER_SUBSIDY = "other_subsidy", "已享受其他财政贴息，不得重复享受"
    OUTSIDE_CAPS = "outside_caps", "超出户贷额度或期限上限"
    NO_BENCHMARK_RATE = "no_benchmark_rate", "没有对应期限的基准利率"
    NO_HOUSEHOLDS_LED = "no_households_led", "计息起日未带动贫困户"


class SettlementBatch(models.Model):
    county = models.ForeignKey(
        Region, verbose_name="县区", on_delete=models.PROTECT, related_name="+", limit_choices_to={"level": "county"}
    )  # fmt: skip
    bank = models.ForeignKey(Bank, verbose_name="贷款银行", on_delete=models.PROTECT, related_name="+")
    period_start = models.DateField("结算期起")
    period_end = models.DateField("结算期止")
    status = models.CharField("状态", max_length=10, choices=BatchStatus.choices, default=BatchStatus.DRAFT)

    # Cached sums of the lines, written with them (a test checks them against the lines).
    total_amount = MoneyField("补贴合计（元）", default=0)
    line_count = models.PositiveIntegerField("明细条数", default=0)
    excluded_count = models.PositiveIntegerField("不予补贴条数", default=0)

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    computed_at = models.DateTimeField("计算时间", null=True, blank=True)
    approved_at = models.DateTimeField("审批时间", null=True, blank=True)
    paid_on = models.DateField("拨付日期", null=True, blank=True)
    payment_reference = models.CharField("拨付凭证号", max_length=100, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "贴息结算批次"
        ordering = ["-period_start", "county_id", "bank_id", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["county", "bank", "period_start"],
                condition=~Q(status=BatchStatus.CANCELLED),
                name="one_live_subsidy_batch_per_period",
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")), name="subsidy_period_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"贴息批次 #{self.pk}"


class BatchEvent(models.Model):
    batch = models.ForeignKey(SettlementBatch, on_delete=models.CASCADE, related_name="events")
    action = models.CharField("操作", max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="操作人", on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField("时间", auto_now_add=True)
    from_status = models.CharField("原状态", max_length=10, blank=True)
    to_status = models.CharField("新状态", max_length=10, blank=True)
    comment = models.TextField("说明", blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "贴息批次操作记录"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.batch} {self.action}"


class SubsidyLine(models.Model):
    """Written set-based by subsidy.engine. The basis columns that do not apply to a line's kind
    are null: interest_paid, rate (the benchmark), loan_rate and share for a household loan's
    interest; principal, days, day_basis and rate for the day-counted lines (an enterprise loan's
    interest, with households_led; guarantee fees)."""

    # No foreign-key constraints in the database: PostgreSQL checks them row by row (and share-locks
    # each loan), which cost 25 s of the 1,000,000-loan batch. The engine inserts lines for loans it
    # selects and for the batch it holds locked; batches and loans are never deleted (cancel keeps
    # the batch, loans are PROTECTed). Indexed by (batch, excluded_reason) and the unique
    # (loan, kind, period_start) below.
    batch = models.ForeignKey(
        SettlementBatch, on_delete=models.CASCADE, related_name="lines", db_index=False, db_constraint=False
    )
    loan = models.ForeignKey(
        Loan, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    kind = models.CharField("补贴类型", max_length=16, choices=LineKind.choices)
    period_start = models.DateField("结算期起")  # the batch's, for the constraint below
    amount = MoneyField("补贴金额（元）")
    excluded_reason = models.CharField(
        "不予补贴原因", max_length=20, choices=ExclusionReason.choices, blank=True, default=""
    )
    payee = models.CharField("收款单位", max_length=100)

    interest_paid = MoneyField("本期实付利息", null=True, blank=True)
    principal = MoneyField("计息本金", null=True, blank=True)
    days = models.PositiveIntegerField("计息天数", null=True, blank=True)
    day_basis = models.PositiveSmallIntegerField("天数基准", null=True, blank=True)
    rate = models.DecimalField("年利率或补贴年率（%）", max_digits=7, decimal_places=4, null=True, blank=True)
    loan_rate = models.DecimalField("贷款利率（%）", max_digits=7, decimal_places=4, null=True, blank=True)
    share = models.DecimalField("贴息比例（%）", max_digits=7, decimal_places=4, null=True, blank=True)
    households_led = models.PositiveIntegerField("带贫户数", null=True, blank=True)
    cap_per_household = MoneyField("每户对应额度", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "贴息明细"
        ordering = ["batch", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["loan", "kind", "period_start"],
                condition=Q(excluded_reason=""),
                name="one_subsidy_per_loan_kind_period",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="subsidy_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(excluded_reason="") | Q(amount=0), name="excluded_line_pays_nothing"
            ),
        ]
        indexes = [models.Index(fields=["batch", "excluded_reason"], name="subsidy_line_batch_reason")]

    def __str__(self) -> str:
        return f"{self.batch} {self.loan_id} {self.get_kind_display()}"


class PotEntryKind(models.TextChoices):
    DEPOSIT = "deposit", "市级拨入"
    PAYOUT = "payout", "贴息资金支出"


class SubsidyPotEntry(models.Model):
    """The city's money earmarked for guarantee-fee subsidies and interest subsidies (担保补贴和
    贷款贴息): its own pot, per region (the city's, or a county's share), never part of the risk
    fund's balance or leverage. City finance records deposits; county staff record a payout when
    a subsidy batch of the county is paid. Signed like the fund's ledger (deposits positive,
    payouts negative): the balance is Sum(amount), never stored. Writes: subsidy.pot_services."""

    region = models.ForeignKey(Region, verbose_name="区划", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField("类型", max_length=10, choices=PotEntryKind.choices)
    amount = MoneyField("金额（元）")
    entry_date = models.DateField("日期")
    batch = models.OneToOneField(
        SettlementBatch,
        verbose_name="贴息结算批次",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pot_payout",
    )
    source = models.CharField("来源", max_length=100, blank=True)
    reference = models.CharField("凭证号", max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "贴息资金池台账"
        ordering = ["region", "entry_date", "id"]
        indexes = [models.Index(fields=["region", "entry_date"])]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="deposit") & Q(amount__gt=0)) | (Q(kind="payout") & Q(amount__lt=0)),
                name="pot_entry_deposit_in_payout_out",
            ),
            models.CheckConstraint(
                condition=Q(batch__isnull=True) | Q(kind="payout"), name="pot_batch_on_payout"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region_id} {self.get_kind_display()} {self.amount}"
