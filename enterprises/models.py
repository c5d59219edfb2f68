"""带贫企业 and farmers' cooperatives, their recognition by the county, and their benefit links
(利益联结) with poor households.

Writes go through enterprises.services only. The current recognition (flag, document number, date)
is kept on the enterprise for lists; RecognitionEvent is the append-only history it comes from.
"""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from common.money import MoneyField
from households.models import Household
from organization.models import Region


class EnterpriseKind(models.TextChoices):
    COMPANY = "company", "企业"
    COOPERATIVE = "cooperative", "农民专业合作社"


class LinkMode(models.TextChoices):
    """The eight benefit-link modes of DOMAIN.md."""

    PRODUCTION = "production", "生产带动"
    EMPLOYMENT = "employment", "劳务增收"
    EQUITY_LABOR = "equity_labor", "产权入股+劳务"
    LEASE_LABOR = "lease_labor", "设施租赁+劳务"
    CONTRACT_FARMING = "contract_farming", "订单农业"
    JOINT_OPERATION = "joint_operation", "合作经营"
    CAPITAL_SHARE = "capital_share", "带资入股"
    SELF_EMPLOYMENT = "self_employment", "自主创业"


class Enterprise(models.Model):
    name = models.CharField("企业名称", max_length=100, db_index=True)
    credit_code = models.CharField("统一社会信用代码", max_length=18, unique=True)
    kind = models.CharField("类型", max_length=12, choices=EnterpriseKind.choices)
    founded_on = models.DateField("成立日期")
    county = models.ForeignKey(
        Region, verbose_name="所在县区", on_delete=models.PROTECT, related_name="+",
        limit_choices_to={"level": "county"},
    )  # fmt: skip
    township = models.ForeignKey(
        Region, verbose_name="所在乡镇", on_delete=models.PROTECT, related_name="enterprises",
        limit_choices_to={"level": "township"},
    )  # fmt: skip
    legal_rep = models.CharField("法定代表人", max_length=50)
    contact_name = models.CharField("联系人", max_length=50, blank=True)
    contact_phone = models.CharField("联系电话", max_length=20, blank=True)

    recognized = models.BooleanField("已认定为带贫企业", default=False, db_index=True)
    decision_no = models.CharField("认定文号", max_length=100, blank=True)
    recognized_on = models.DateField("认定日期", null=True, blank=True)

    created_at = models.DateTimeField("登记时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "带贫企业"
        ordering = ["township_id", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(recognized=False) | models.Q(recognized_on__isnull=False),
                name="recognized_has_a_date",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RecognitionEvent(models.Model):
    """Append-only: every recognition and withdrawal, with who, when and on what decision."""

    class Action(models.TextChoices):
        RECOGNIZE = "recognize", "认定"
        WITHDRAW = "withdraw", "撤销认定"

    enterprise = models.ForeignKey(
        Enterprise, verbose_name="企业", on_delete=models.PROTECT, related_name="recognition_events"
    )
    action = models.CharField("操作", max_length=10, choices=Action.choices)
    decision_no = models.CharField("文号", max_length=100, blank=True)
    decided_on = models.DateField("决定日期")
    reason = models.TextField("理由", blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="操作人", on_delete=models.PROTECT)
    at = models.DateTimeField("记录时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "带贫认定记录"
        ordering = ["enterprise_id", "decided_on", "id"]

    def __str__(self) -> str:
        return f"{self.enterprise} {self.get_action_display()} {self.decided_on:%Y-%m-%d}"


class BenefitLink(models.Model):
    """An enterprise leads a poor household from start_date to end_date (inclusive; no end date:
    open-ended) in one of the eight modes, with an agreed annual benefit to the household."""

    enterprise = models.ForeignKey(
        Enterprise, verbose_name="企业", on_delete=models.PROTECT, related_name="links"
    )
    household = models.ForeignKey(
        Household, verbose_name="带动户", on_delete=models.PROTECT, related_name="enterprise_links"
    )
    mode = models.CharField("联结方式", max_length=20, choices=LinkMode.choices)
    start_date = models.DateField("开始日期")
    end_date = models.DateField("结束日期", null=True, blank=True)
    annual_benefit = MoneyField("约定年收益（元）")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="登记人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("登记时间", auto_now_add=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="终止人", on_delete=models.PROTECT, related_name="+",
        null=True, blank=True,
    )  # fmt: skip
    end_reason = models.CharField("终止原因", max_length=200, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "利益联结"
        ordering = ["enterprise_id", "start_date", "id"]
        indexes = [models.Index(fields=["enterprise", "start_date", "end_date"], name="link_in_force")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_date__isnull=True) | models.Q(end_date__gte=models.F("start_date")),
                name="link_ends_after_it_starts",
            ),
            models.CheckConstraint(
                condition=models.Q(annual_benefit__gte=0), name="link_benefit_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.enterprise} → {self.household}"

    def in_force(self, on) -> bool:
        return self.start_date <= on and (self.end_date is None or self.end_date >= on)

    def overlaps(self, start, end) -> bool:
        """Does [start, end] (end None: open) share a day with this link?"""
        return (end is None or self.start_date <= end) and (self.end_date is None or start <= self.end_date)
