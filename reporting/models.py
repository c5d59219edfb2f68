"""Region rollups (dated snapshots the daily job writes), coverage targets and the weights of the
county assessment (DOMAIN.md "Targets and assessment"). Rollups are derived data: recomputing a
date replaces that date's rows (reporting.rollups); targets and weights are dated policy rows."""

from decimal import Decimal

from django.db import models

from common.money import MoneyField, PercentField, percent
from organization.models import Region


def BigMoneyField(verbose_name: str, **kwargs) -> models.DecimalField:  # noqa: N802 (reads like a field class)
    """Money summed over a city: room for more than 14 digits."""
    return MoneyField(verbose_name, max_digits=18, **kwargs)


class RegionRollup(models.Model):
    """One region's figures on one date. Household counts are de-duplicated by household; ratios
    are not stored, they follow from the counts (properties below). Fund figures exist for
    counties and the levels above them (the fund is the county's); they are null below."""

    as_of = models.DateField("数据日期")
    region = models.ForeignKey(Region, verbose_name="区划", on_delete=models.CASCADE, related_name="+")
    level = models.CharField("层级", max_length=10, choices=Region.Level.choices)
    parent_code = models.CharField("上级代码", max_length=12, blank=True)

    households = models.PositiveIntegerField("建档户数（全部）", default=0)
    registered_households = models.PositiveIntegerField("建档立卡贫困户数", default=0)
    borrowed_households_cumulative = models.PositiveIntegerField("累计获贷户数", default=0)
    borrowed_households_current = models.PositiveIntegerField("当前在贷户数", default=0)
    rated_households = models.PositiveIntegerField("评级授信户数", default=0)
    principal_outstanding = BigMoneyField("贷款余额", default=0)
    npl_principal = BigMoneyField("不良贷款余额", default=0)
    written_off_principal = BigMoneyField("累计核销本金", default=0)
    subsidy_paid = BigMoneyField("累计拨付贴息", default=0)
    fund_balance = BigMoneyField("风险补偿金余额", null=True, blank=True)
    covered_outstanding = BigMoneyField("补偿金覆盖贷款余额", null=True, blank=True)
    leverage_cap = BigMoneyField("放大倍数上限", null=True, blank=True)
    computed_at = models.DateTimeField("计算时间", auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "区域汇总快照"
        ordering = ["as_of", "region_id"]
        constraints = [
            models.UniqueConstraint(fields=["region", "as_of"], name="one_rollup_per_region_and_day")
        ]
        indexes = [
            models.Index(fields=["parent_code", "as_of"], name="rollup_children"),
            models.Index(fields=["as_of", "level"], name="rollup_day_level"),
        ]

    def __str__(self) -> str:
        return f"{self.region_id} {self.as_of:%Y-%m-%d}"

    @property
    def coverage_cumulative(self) -> Decimal:
        return percent(self.borrowed_households_cumulative, self.registered_households)

    @property
    def coverage_current(self) -> Decimal:
        return percent(self.borrowed_households_current, self.registered_households)

    @property
    def rating_coverage(self) -> Decimal:
        return percent(self.rated_households, self.households)

    @property
    def npl_ratio(self) -> Decimal:
        return percent(self.npl_principal, self.principal_outstanding)

    @property
    def leverage_used(self) -> Decimal | None:
        if self.leverage_cap is None:
            return None
        return (
            percent(self.covered_outstanding, self.leverage_cap)
            if self.leverage_cap > 0
            else Decimal("100.00")
        )


class Indicator(models.TextChoices):
    COVERAGE_CUMULATIVE = "coverage_cumulative", "累计获贷率"
    COVERAGE_CURRENT = "coverage_current", "当前获贷率"


class CoverageTarget(models.Model):
    """A coverage target due on a date: the seed's "> 10 % by 2017-12-31" and "100 % (应贷尽贷) by
    2018-12-31" are the rows without a region (they apply to the whole city); a row for a region
    applies to it and below, instead of the city-wide rows."""

    region = models.ForeignKey(
        Region,
        verbose_name="区划（空为全市）",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    indicator = models.CharField(
        "指标", max_length=24, choices=Indicator.choices, default=Indicator.COVERAGE_CUMULATIVE
    )
    due_on = models.DateField("完成期限")
    value = PercentField("目标值（%）")
    strict = models.BooleanField("须超过目标值", default=False, help_text="勾选为“高于”，否则为“达到”。")
    note = models.CharField("依据", max_length=200, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "获贷率目标"
        ordering = ["due_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["region", "indicator", "due_on"], name="one_target_per_region_and_due"
            ),
            models.UniqueConstraint(
                fields=["indicator", "due_on"],
                condition=models.Q(region=None),
                name="one_citywide_target_per_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.due_on:%Y-%m-%d} {'>' if self.strict else '≥'} {self.value}%"

    def met_by(self, actual: Decimal) -> bool:
        return actual > self.value if self.strict else actual >= self.value


class AssessmentWeights(models.Model):
    """The city's weights of the county assessment (考核评价) from a date on; rows in force are never
    edited, a change is a new row. Defaults: the seed's emphasis on coverage."""

    effective_from = models.DateField("生效日期", unique=True)
    coverage = models.DecimalField("获贷率权重", max_digits=5, decimal_places=2, default=Decimal("30"))
    rating_coverage = models.DecimalField(
        "评级授信面权重", max_digits=5, decimal_places=2, default=Decimal("20")
    )
    npl_ratio = models.DecimalField("不良率权重", max_digits=5, decimal_places=2, default=Decimal("20"))
    fund_use = models.DecimalField("补偿金使用率权重", max_digits=5, decimal_places=2, default=Decimal("15"))
    subsidy_timeliness = models.DecimalField(
        "贴息及时率权重", max_digits=5, decimal_places=2, default=Decimal("15")
    )
    timeliness_days = models.PositiveSmallIntegerField("贴息及时拨付天数", default=30)

    WEIGHT_FIELDS = ("coverage", "rating_coverage", "npl_ratio", "fund_use", "subsidy_timeliness")

    class Meta:
        verbose_name = verbose_name_plural = "考核评价权重"
        ordering = ["-effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(coverage__gte=0, rating_coverage__gte=0, npl_ratio__gte=0, fund_use__gte=0,
                                   subsidy_timeliness__gte=0),
                name="assessment_weights_not_negative",
            )
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"考核权重 {self.effective_from:%Y-%m-%d} 起"

    @property
    def weights(self) -> dict[str, Decimal]:
        return {name: Decimal(getattr(self, name)) for name in self.WEIGHT_FIELDS}
