"""Household credit rating (信用评价): versioned county scorecards and the ratings made with them.

A rating keeps the scorecard version it was made with. Only an approved rating is effective, for
`rating_validity_months` (policy row) from approval; approving a new one supersedes the old. One
approved rating per household at a time is enforced by the database.
"""

from django.conf import settings
from django.db import models

from common.money import MoneyField
from households.models import Household
from organization.models import Grade, Region


class Scorecard(models.Model):
    county = models.ForeignKey(
        Region, verbose_name="县区", on_delete=models.PROTECT, related_name="scorecards",
        limit_choices_to={"level": "county"},
    )  # fmt: skip
    version = models.PositiveIntegerField("版本号")
    effective_from = models.DateField("启用日期")
    note = models.CharField("说明", max_length=200, blank=True)
    created_at = models.DateTimeField("发布时间", auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="发布人", null=True, blank=True, on_delete=models.PROTECT
    )

    class Meta:
        verbose_name = verbose_name_plural = "评分卡"
        ordering = ["county_id", "-version"]
        constraints = [models.UniqueConstraint(fields=["county", "version"], name="one_scorecard_version")]

    def __str__(self) -> str:
        return f"{self.county.name} 评分卡 第{self.version}版"


class Indicator(models.Model):
    """One heading of the scorecard. Its raw score runs 0..max_score and contributes
    raw / max_score × weight points to the 0-100 total."""

    class Source(models.TextChoices):
        ENTERED = "entered", "村服务部评分"
        LABOR_SHARE = "labor_share", "由档卡计算：劳动力占比"
        INCOME = "income", "由档卡计算：人均纯收入"

    scorecard = models.ForeignKey(
        Scorecard, verbose_name="评分卡", on_delete=models.CASCADE, related_name="indicators"
    )
    code = models.CharField("代码", max_length=30)
    name = models.CharField("名称", max_length=50)
    group = models.CharField("类别", max_length=30, blank=True)
    weight = models.DecimalField("权重（分）", max_digits=5, decimal_places=2)
    max_score = models.DecimalField("满分", max_digits=5, decimal_places=2, default=10)
    source = models.CharField("评分方式", max_length=12, choices=Source.choices, default=Source.ENTERED)
    # For INCOME: the per-capita income at which the indicator gets full marks (linear below it).
    full_marks_at = MoneyField("满分收入（元）", null=True, blank=True)
    position = models.PositiveSmallIntegerField("顺序", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "评分指标"
        ordering = ["scorecard_id", "position"]
        constraints = [models.UniqueConstraint(fields=["scorecard", "code"], name="indicator_code_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_computed(self) -> bool:
        return self.source != self.Source.ENTERED


class GradeBand(models.Model):
    scorecard = models.ForeignKey(
        Scorecard, verbose_name="评分卡", on_delete=models.CASCADE, related_name="grades"
    )
    grade = models.CharField("等级", max_length=3, choices=Grade.choices)
    min_score = models.DecimalField("最低分", max_digits=5, decimal_places=2)
    credit_line = MoneyField("授信额度（元）", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "等级与授信额度"
        ordering = ["scorecard_id", "-min_score"]
        constraints = [
            models.UniqueConstraint(fields=["scorecard", "grade"], name="grade_unique_in_scorecard")
        ]

    def __str__(self) -> str:
        return f"{self.grade} ≥ {self.min_score}"


class RatingStatus(models.TextChoices):
    DRAFT = "draft", "草稿"
    SUBMITTED = "submitted", "已提交（待乡镇审核）"
    REVIEWED = "reviewed", "乡镇已审核（待县审批）"
    RETURNED = "returned", "已退回修改"
    APPROVED = "approved", "已批准"
    REJECTED = "rejected", "已退回"
    SUPERSEDED = "superseded", "已被新评级取代"


# Statuses of a rating still on its way (a household has at most one of these at a time).
IN_PROGRESS = (RatingStatus.DRAFT, RatingStatus.RETURNED, RatingStatus.SUBMITTED, RatingStatus.REVIEWED)
# Statuses the village may edit (rescore) and submit: a draft, or one the township returned.
EDITABLE = (RatingStatus.DRAFT, RatingStatus.RETURNED)
# Statuses under review: bank officers of the county may record an opinion (同步参与).
UNDER_REVIEW = (RatingStatus.SUBMITTED, RatingStatus.REVIEWED)


class Rating(models.Model):
    household = models.ForeignKey(
        Household, verbose_name="户", on_delete=models.PROTECT, related_name="ratings"
    )
    scorecard = models.ForeignKey(
        Scorecard, verbose_name="评分卡版本", on_delete=models.PROTECT, related_name="ratings"
    )
    status = models.CharField("状态", max_length=12, choices=RatingStatus.choices, default=RatingStatus.DRAFT)
    scores = models.JSONField("各项得分", default=dict)
    score = models.DecimalField("总分", max_digits=5, decimal_places=2)
    grade = models.CharField("等级", max_length=3, choices=Grade.choices)
    credit_line = MoneyField("授信额度（元）")
    drafted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="评分人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    approved_on = models.DateField("批准日期", null=True, blank=True)
    valid_until = models.DateField("有效期至", null=True, blank=True, db_index=True)
    reject_reason = models.CharField("退回原因", max_length=200, blank=True)
    # The latest return (退回修改) to the step before: kept after the rating goes on, for the pages.
    return_reason = models.CharField("退回修改原因", max_length=200, blank=True, default="", db_default="")

    class Meta:
        verbose_name = verbose_name_plural = "信用评级"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["household"],
                condition=models.Q(status="approved"),
                name="one_approved_rating_per_household",
            ),
            models.UniqueConstraint(
                fields=["household"],
                condition=models.Q(status__in=["draft", "returned", "submitted", "reviewed"]),
                name="one_rating_in_progress_per_household",
            ),
        ]
        indexes = [models.Index(fields=["status", "household"], name="rating_status_household")]

    def __str__(self) -> str:
        return f"{self.household} {self.grade}（{self.get_status_display()}）"


class RatingEvent(models.Model):
    """Every step of a rating: who, when, from, to, comment. Append-only."""

    rating = models.ForeignKey(Rating, verbose_name="评级", on_delete=models.CASCADE, related_name="events")
    action = models.CharField("操作", max_length=20)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="操作人", on_delete=models.PROTECT)
    at = models.DateTimeField("时间", auto_now_add=True)
    from_status = models.CharField("原状态", max_length=12, blank=True)
    to_status = models.CharField("新状态", max_length=12)
    comment = models.CharField("说明", max_length=200, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "评级流转记录"
        ordering = ["rating_id", "at", "id"]

    def __str__(self) -> str:
        return f"{self.action}: {self.from_status} → {self.to_status}"


class RatingOpinion(models.Model):
    """A bank's opinion on a rating under review (银行同步参与评级): an officer of a branch serving
    the county agrees or disagrees, with a comment. It never blocks approval; approval and mutual
    recognition are unchanged. One per officer and rating: a second one replaces the first."""

    rating = models.ForeignKey(Rating, verbose_name="评级", on_delete=models.CASCADE, related_name="opinions")
    branch = models.ForeignKey(
        "organization.BankBranch", verbose_name="银行网点", on_delete=models.PROTECT, related_name="+"
    )
    bank = models.ForeignKey(
        "organization.Bank", verbose_name="银行", on_delete=models.PROTECT, related_name="+"
    )
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="信贷员", on_delete=models.PROTECT, related_name="+"
    )
    agrees = models.BooleanField("同意")
    comment = models.CharField("意见", max_length=200, blank=True)
    at = models.DateTimeField("时间")

    class Meta:
        verbose_name = verbose_name_plural = "银行评级意见"
        ordering = ["rating_id", "at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["rating", "officer"], name="one_opinion_per_officer_and_rating")
        ]

    def __str__(self) -> str:
        return f"{self.bank} {'同意' if self.agrees else '不同意'}（评级#{self.rating_id}）"


class CreditLineFreeze(models.Model):
    """A post-loan check found non-productive use: the household's credit line is frozen until
    county staff lift it. Active while lifted_at is empty."""

    household = models.ForeignKey(
        Household, verbose_name="户", on_delete=models.PROTECT, related_name="credit_freezes"
    )
    reason = models.CharField("原因", max_length=200)
    frozen_at = models.DateTimeField("冻结时间", auto_now_add=True)
    frozen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="冻结人", on_delete=models.PROTECT, related_name="+"
    )
    lifted_at = models.DateTimeField("解冻时间", null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="解冻人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = verbose_name_plural = "授信冻结"
        constraints = [
            models.UniqueConstraint(
                fields=["household"],
                condition=models.Q(lifted_at__isnull=True),
                name="one_active_freeze_per_household",
            )
        ]

    def __str__(self) -> str:
        return f"{self.household} 授信冻结（{self.reason}）"
