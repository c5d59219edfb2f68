"""The county risk compensation fund (风险补偿金, DOMAIN.md): a ledger per county, the bank
agreements that fix the loss shares and the leverage multiple, compensation claims and the
recoveries that follow them.

The balance of a fund is the sum of its ledger rows, never a stored counter. Writes go through
risk_fund.services only.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from common.money import MoneyField, PercentField
from organization.models import Bank, Region

HALF_FEN = Decimal("0.005")


def adds_up(field: str, total) -> Q:
    """`field` = `total`, to the fen. Not an exact comparison: SQLite keeps decimals as floating
    point, so 100 − 33.33 − 33.34 is not 33.33 there (PostgreSQL's numeric is exact)."""
    return Q(**{f"{field}__gt": total - HALF_FEN, f"{field}__lt": total + HALF_FEN})


class FundEntry(models.Model):
    class Kind(models.TextChoices):
        DEPOSIT = "deposit", "县财政存入"
        CITY_CONTRIBUTION = "city_contribution", "市级补充"
        INTEREST = "interest", "利息收入"
        PAYOUT = "payout", "代偿支出"
        RECOVERY = "recovery", "追偿收回"

    MONEY_IN = (Kind.DEPOSIT, Kind.CITY_CONTRIBUTION, Kind.INTEREST)

    county = models.ForeignKey(
        Region,
        verbose_name="县区",
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"level": "county"},
    )
    kind = models.CharField("类型", max_length=20, choices=Kind.choices)
    # Signed: money in is positive, payouts negative; the balance is Sum(amount).
    amount = MoneyField("金额（元）")
    received_on = models.DateField("日期")
    source = models.CharField("来源", max_length=100, blank=True)
    reference = models.CharField("凭证号", max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "风险补偿金台账"
        ordering = ["county", "received_on", "id"]
        indexes = [models.Index(fields=["county", "received_on"])]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="payout") & Q(amount__lt=0))
                | (Q(kind="recovery") & Q(amount__gt=0))
                | ~Q(kind__in=["payout", "recovery"]),
                name="fund_entry_payout_out_recovery_in",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.county_id} {self.get_kind_display()} {self.amount}"


class BankAgreement(models.Model):
    """合作协议 of a county with a bank, from a date on: who bears what share of a loss (the fund,
    a guarantee agency if any, the bank: 100 % together) and the leverage multiple. The agreement
    in force on a day is the one with the latest start on or before it that has not ended."""

    county = models.ForeignKey(
        Region,
        verbose_name="县区",
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"level": "county"},
    )
    bank = models.ForeignKey(Bank, verbose_name="合作银行", on_delete=models.PROTECT, related_name="+")
    fund_share = PercentField("补偿金分担（%）", default=80)
    guarantee_share = PercentField("担保机构分担（%）", default=0)
    bank_share = PercentField("银行分担（%）", default=20)
    guarantee_agency = models.CharField("担保机构", max_length=100, blank=True)
    guarantee_fee_rate = PercentField("担保费率（年，%）", default=0)
    guarantee_fee_subsidized = models.BooleanField("担保费享受财政补贴", default=False)
    leverage_multiple = PercentField("放大倍数", default=10)
    valid_from = models.DateField("生效日期")
    valid_until = models.DateField("截止日期", null=True, blank=True)
    reference = models.CharField("协议编号", max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "银行合作协议"
        ordering = ["county", "bank", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["county", "bank", "valid_from"], name="one_agreement_per_start"),
            models.CheckConstraint(
                condition=Q(fund_share__gte=0, guarantee_share__gte=0, bank_share__gte=0)
                & adds_up("fund_share", 100 - F("guarantee_share") - F("bank_share")),
                name="agreement_shares_add_up",
            ),
            models.CheckConstraint(
                condition=Q(guarantee_share=0) | ~Q(guarantee_agency=""), name="agreement_guarantor_named"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=F("valid_from")),
                name="agreement_dates_ordered",
            ),
            models.CheckConstraint(condition=Q(leverage_multiple__gt=0), name="agreement_multiple_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.county_id} {self.bank} {self.valid_from:%Y-%m-%d} 起"

    @property
    def guarantee_fee_eligible(self) -> bool:
        """Loans under it may have their guarantee fee subsidised (the subsidy app reads this)."""
        return bool(self.guarantee_agency) and self.guarantee_fee_subsidized

    @property
    def split_label(self) -> str:
        parts = [f"补偿金{self.fund_share:g}%"]
        if self.guarantee_share:
            parts.append(f"{self.guarantee_agency}{self.guarantee_share:g}%")
        return "：".join([*parts, f"银行{self.bank_share:g}%"])


class ClaimStatus(models.TextChoices):
    FILED = "filed", "银行已申请"
    VERIFIED = "verified", "县级已核实"
    PAID = "paid", "已代偿"
    REJECTED = "rejected", "已驳回"


class CompensationClaim(models.Model):
    """A bank's claim on the fund for a loan at least N days past due (policy). The amounts are
    worked out at filing and again at verification; paying posts the fund's share as a payout."""

    loan = models.ForeignKey("loans.Loan", verbose_name="贷款", on_delete=models.PROTECT, related_name="+")
    county = models.ForeignKey(Region, verbose_name="县区", on_delete=models.PROTECT, related_name="+")
    bank = models.ForeignKey(Bank, verbose_name="贷款银行", on_delete=models.PROTECT, related_name="+")
    agreement = models.ForeignKey(
        BankAgreement,
        verbose_name="合作协议",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    status = models.CharField("状态", max_length=10, choices=ClaimStatus.choices, default=ClaimStatus.FILED)
    dpd = models.PositiveIntegerField("逾期天数")
    loss_principal = MoneyField("损失本金")
    loss_interest = MoneyField("损失利息")
    fund_percent = PercentField("补偿金分担（%）")
    guarantee_percent = PercentField("担保机构分担（%）", default=0)
    bank_percent = PercentField("银行分担（%）")
    fund_share = MoneyField("补偿金代偿额")
    guarantee_share = MoneyField("担保机构承担额", default=0)
    bank_share = MoneyField("银行承担额")
    guarantee_agency = models.CharField("担保机构", max_length=100, blank=True)
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="申请人", on_delete=models.PROTECT, related_name="+"
    )
    filed_at = models.DateTimeField("申请时间")
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="核实人", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    verified_at = models.DateTimeField("核实时间", null=True, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="拨付人", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    paid_at = models.DateTimeField("拨付时间", null=True, blank=True)
    payout = models.OneToOneField(
        FundEntry,
        verbose_name="代偿支出",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="claim",
    )
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="驳回人", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    rejected_at = models.DateTimeField("驳回时间", null=True, blank=True)
    reject_reason = models.CharField("驳回原因", max_length=200, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "代偿申请"
        ordering = ["-id"]
        constraints = [
            # A loan is claimed once: a second claim only after the first was rejected.
            models.UniqueConstraint(
                fields=["loan"], condition=~Q(status="rejected"), name="one_live_claim_per_loan"
            ),
            models.CheckConstraint(
                condition=adds_up(
                    "fund_share",
                    F("loss_principal") + F("loss_interest") - F("guarantee_share") - F("bank_share"),
                ),
                name="claim_shares_add_up",
            ),  # fmt: skip
            models.CheckConstraint(
                condition=Q(status="paid", payout__isnull=False)
                | (~Q(status="paid") & Q(payout__isnull=True)),
                name="claim_paid_has_payout",
            ),  # fmt: skip
        ]
        indexes = [models.Index(fields=["county", "status"]), models.Index(fields=["bank", "status"])]

    def __str__(self) -> str:
        return f"代偿申请 #{self.pk}"

    @property
    def loss(self):
        return self.loss_principal + self.loss_interest


class Recovery(models.Model):
    """Money recovered on a compensated loan, split back in the claim's shares: the fund's part is
    a recovery row of its ledger, the others' parts are recorded here."""

    claim = models.ForeignKey(CompensationClaim, on_delete=models.PROTECT, related_name="recoveries")
    amount = MoneyField("追偿金额")
    received_on = models.DateField("收回日期")
    fund_part = MoneyField("归补偿金")
    guarantee_part = MoneyField("归担保机构", default=0)
    bank_part = MoneyField("归银行")
    fund_entry = models.OneToOneField(
        FundEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="recovery"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="登记人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("登记时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "追偿收回"
        ordering = ["claim", "received_on", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="recovery_amount_positive"),
            models.CheckConstraint(
                condition=Q(fund_part__gte=0, guarantee_part__gte=0, bank_part__gte=0)
                & adds_up("amount", F("fund_part") + F("guarantee_part") + F("bank_part")),
                name="recovery_parts_add_up",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.claim} 追偿 {self.amount}"
