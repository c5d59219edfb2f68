"""The county risk compensation fund (风险补偿金): a ledger per county. The balance is the sum of
its rows, never a stored counter (DOMAIN.md). The loans issue needs the balance for the leverage
cap at approval; the fund issue adds bank agreements, claims and recoveries."""

from django.conf import settings
from django.db import models

from common.money import MoneyField
from organization.models import Region


class FundEntry(models.Model):
    class Kind(models.TextChoices):
        DEPOSIT = "deposit", "县财政存入"
        CITY_CONTRIBUTION = "city_contribution", "市级补充"
        INTEREST = "interest", "利息收入"
        PAYOUT = "payout", "代偿支出"
        RECOVERY = "recovery", "追偿收回"

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

    def __str__(self) -> str:
        return f"{self.county_id} {self.get_kind_display()} {self.amount}"
