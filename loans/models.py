"""Loans: applications and their five-step workflow, schedules, repayments, classification, area
circuit breakers and post-loan checks (DOMAIN.md "Loans", "Circuit breaker").

Writes go through loans.services only. Balances are sums of ledger rows: a loan's principal
outstanding is its amount minus the principal paid on its instalments. `Loan.principal_outstanding`
is a cached copy for the daily job and the lists; the repayment service keeps it and a test checks
it against the sum.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from common.money import MoneyField, PercentField
from enterprises.models import Enterprise
from households.models import Household, Member
from organization.models import Bank, Region


class LoanStatus(models.TextChoices):
    DRAFT = "draft", "草稿"
    RETURNED = "returned", "已退回修改"
    SUBMITTED = "submitted", "村级已提交"
    TOWNSHIP_REVIEWED = "township_reviewed", "乡镇已审核"
    RECOMMENDED = "recommended", "县级已推荐（公示）"
    APPROVED = "approved", "银行已审批"
    REJECTED = "rejected", "已拒绝"
    ACTIVE = "active", "已放款"
    WRITE_OFF_PROPOSED = "write_off_proposed", "核销待审批"
    CLOSED = "closed", "已结清"
    WITHDRAWN = "withdrawn", "已撤回"
    WRITTEN_OFF = "written_off", "已核销"


# Loans that still carry principal: the daily job, breakers and fund leverage look at these (a
# loan proposed for write-off stays outstanding until a second person approves it).
OUTSTANDING_STATUSES = (LoanStatus.ACTIVE, LoanStatus.WRITE_OFF_PROPOSED)
# An application still moving through the five steps.
IN_PROGRESS_STATUSES = (
    LoanStatus.DRAFT, LoanStatus.RETURNED, LoanStatus.SUBMITTED, LoanStatus.TOWNSHIP_REVIEWED,
    LoanStatus.RECOMMENDED, LoanStatus.APPROVED,
)  # fmt: skip
# Submitted and not yet disbursed nor ended: the household's one application in progress.
APPLIED_STATUSES = (
    LoanStatus.RETURNED, LoanStatus.SUBMITTED, LoanStatus.TOWNSHIP_REVIEWED, LoanStatus.RECOMMENDED,
    LoanStatus.APPROVED,
)  # fmt: skip


class WriteOffReason(models.TextChoices):
    """The fixed list a write-off proposal picks from (核销事由)."""

    DECEASED = "deceased", "借款人死亡或失踪，依法追偿后仍无法收回"
    INCAPACITATED = "incapacitated", "借款人丧失劳动能力且无财产可供清偿"
    DISASTER = "disaster", "遭受重大自然灾害或意外事故，损失无法弥补"
    COURT_TERMINATED = "court_terminated", "经诉讼或执行程序终结，仍无法收回"
    COMPENSATED = "compensated", "风险补偿金已代偿，剩余部分追偿无果"
    LONG_OVERDUE = "long_overdue", "逾期超过规定天数，多方追偿无果"


class Purpose(models.TextChoices):
    PLANTING = "planting", "种植"
    BREEDING = "breeding", "养殖"
    PROCESSING = "processing", "加工"
    TRADE = "trade", "商贸流通"
    RURAL_TOURISM = "rural_tourism", "乡村旅游"
    HANDICRAFT = "handicraft", "手工业"
    TRANSPORT = "transport", "运输"
    OTHER_PRODUCTION = "other_production", "其他生产经营"
    # Never lent for (DOMAIN.md): kept as choices so a refusal can name them.
    HOUSE_BUILDING = "house_building", "建房"
    HOUSE_BUYING = "house_buying", "购房"
    CAR = "car", "购车"
    WEDDING = "wedding", "婚嫁"
    WEALTH_MANAGEMENT = "wealth_management", "理财"
    CONSUMPTION = "consumption", "消费"


NON_PRODUCTIVE_PURPOSES = frozenset(
    {Purpose.HOUSE_BUILDING, Purpose.HOUSE_BUYING, Purpose.CAR, Purpose.WEDDING, Purpose.WEALTH_MANAGEMENT,
     Purpose.CONSUMPTION}
)  # fmt: skip


class RepaymentMethod(models.TextChoices):
    QUARTERLY_INTEREST_BULLET = "quarterly_interest_bullet", "按季付息到期还本"
    MONTHLY_INTEREST_BULLET = "monthly_interest_bullet", "按月付息到期还本"
    EQUAL_INSTALLMENT = "equal_installment", "等额本息"
    BULLET = "bullet", "利随本清"


class Classification(models.TextChoices):
    NORMAL = "normal", "正常"
    SPECIAL_MENTION = "special_mention", "关注"
    SUBSTANDARD = "substandard", "次级"
    DOUBTFUL = "doubtful", "可疑"
    LOSS = "loss", "损失"


NPL_CLASSES = (Classification.SUBSTANDARD, Classification.DOUBTFUL, Classification.LOSS)


class BenchmarkRate(models.Model):
    """The benchmark lending rate for a term band, from a date on (national, not per county):
    4.35 % up to 1 year and 4.75 % for 1-5 years as quoted in 2017; LPR-based rows later."""

    effective_from = models.DateField("生效日期")
    max_term_months = models.PositiveSmallIntegerField("期限上限（月，含）")
    rate = PercentField("年利率（%）")
    note = models.CharField("来源", max_length=200, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "基准利率"
        ordering = ["-effective_from", "max_term_months"]
        constraints = [
            models.UniqueConstraint(
                fields=["effective_from", "max_term_months"], name="one_rate_per_band_and_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.effective_from:%Y-%m-%d} ≤{self.max_term_months}个月 {self.rate}%"


class Loan(models.Model):
    loan_no = models.CharField("贷款编号", max_length=24, unique=True, null=True, blank=True)
    household = models.ForeignKey(
        Household,
        verbose_name="贷款户",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="loans",
    )
    borrower = models.ForeignKey(
        Member, verbose_name="借款人", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    enterprise = models.ForeignKey(
        Enterprise,
        verbose_name="带贫企业",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="loans",
    )
    # Where the loan is, for scoping and breakers: the village for a household loan, the township
    # for an enterprise loan; township and county kept too so aggregates need no joins.
    area = models.ForeignKey(Region, verbose_name="所属区域", on_delete=models.PROTECT, related_name="+")
    township = models.ForeignKey(Region, verbose_name="乡镇", on_delete=models.PROTECT, related_name="+")
    county = models.ForeignKey(Region, verbose_name="县区", on_delete=models.PROTECT, related_name="+")
    bank = models.ForeignKey(Bank, verbose_name="贷款银行", on_delete=models.PROTECT, related_name="loans")

    amount = MoneyField("贷款金额")
    rate = models.DecimalField("年利率（%）", max_digits=7, decimal_places=4)
    term_months = models.PositiveSmallIntegerField("期限（月）")
    purpose = models.CharField("用途", max_length=20, choices=Purpose.choices)
    repayment_method = models.CharField(
        "还款方式",
        max_length=30,
        choices=RepaymentMethod.choices,
        default=RepaymentMethod.QUARTERLY_INTEREST_BULLET,
    )
    other_subsidy = models.BooleanField("已享受其他财政贴息", default=False)

    status = models.CharField("状态", max_length=20, choices=LoanStatus.choices, default=LoanStatus.DRAFT)
    notice_ends_on = models.DateField("公示期满日期", null=True, blank=True)
    disbursed_on = models.DateField("放款日期", null=True, blank=True)
    maturity_date = models.DateField("到期日期", null=True, blank=True)
    closed_on = models.DateField("结清日期", null=True, blank=True)
    extension_count = models.PositiveSmallIntegerField("展期次数", default=0)
    renewal_count = models.PositiveSmallIntegerField("续贷次数", default=0)
    renewed_from = models.ForeignKey(
        "self",
        verbose_name="续贷自",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="renewals",
    )

    # Kept by the repayment service (checked against the instalments by a test).
    principal_outstanding = MoneyField("本金余额", default=0)
    # Written by the daily job for its as-of date.
    dpd = models.PositiveIntegerField("逾期天数", default=0)
    classification = models.CharField(
        "五级分类", max_length=16, choices=Classification.choices, default=Classification.NORMAL
    )
    classified_on = models.DateField("分类日期", null=True, blank=True)
    # Written by the write-off: outstanding = disbursed − principal repaid − principal written off.
    written_off_principal = MoneyField("核销本金", default=0)
    written_off_on = models.DateField("核销日期", null=True, blank=True)
    write_off_reason = models.CharField("核销事由", max_length=20, choices=WriteOffReason.choices, blank=True)

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "贷款"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(household__isnull=False, enterprise__isnull=True)
                | models.Q(household__isnull=True, enterprise__isnull=False),
                name="loan_has_one_borrower_kind",
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="loan_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(principal_outstanding__gte=0), name="loan_outstanding_not_negative"
            ),
            # One live loan per household, by the database: at most one application in progress and
            # at most one loan outstanding (a renewal is applied for while the loan it replaces is
            # still outstanding, and may be disbursed only once that one is closed).
            models.UniqueConstraint(
                fields=["household"],
                condition=models.Q(status__in=APPLIED_STATUSES),
                name="one_application_per_household",
            ),
            models.UniqueConstraint(
                fields=["household"],
                condition=models.Q(status__in=OUTSTANDING_STATUSES),
                name="one_outstanding_loan_per_household",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "county"]),
            models.Index(fields=["area", "status"]),
            models.Index(fields=["household", "status"]),
            models.Index(fields=["bank", "status"]),
            models.Index(fields=["classification"]),
            models.Index(fields=["maturity_date"]),
        ]

    def __str__(self) -> str:
        return self.loan_no or f"贷款申请 #{self.pk}"

    @property
    def borrower_name(self) -> str:
        if self.enterprise_id:
            return self.enterprise.name
        return self.borrower.name if self.borrower_id else self.household.head_name

    @property
    def is_enterprise_loan(self) -> bool:
        return self.enterprise_id is not None


class LoanEvent(models.Model):
    """Every transition: who, when, from, to, and why."""

    loan = models.ForeignKey(Loan, on_delete=models.CASCADE, related_name="events")
    action = models.CharField("操作", max_length=30)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="操作人", on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField("时间", default=timezone.now)  # the demo writes history with past times
    from_status = models.CharField("原状态", max_length=20, blank=True)
    to_status = models.CharField("新状态", max_length=20, blank=True)
    comment = models.TextField("说明", blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "贷款操作记录"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.loan} {self.action}"


class Instalment(models.Model):
    loan = models.ForeignKey(Loan, on_delete=models.CASCADE, related_name="instalments")
    seq = models.PositiveSmallIntegerField("期次")
    start_date = models.DateField("计息起日")
    due_date = models.DateField("应还日期")
    principal_due = MoneyField("应还本金")
    interest_due = MoneyField("应还利息")
    principal_paid = MoneyField("已还本金", default=0)
    interest_paid = MoneyField("已还利息", default=0)
    settled = models.BooleanField("已还清", default=False)
    # Part of an extension (展期): no interest subsidy for it (DOMAIN.md).
    in_extension = models.BooleanField("展期内", default=False)

    class Meta:
        verbose_name = verbose_name_plural = "还款计划"
        ordering = ["loan", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["loan", "seq"], name="one_instalment_per_seq"),
            models.CheckConstraint(
                condition=models.Q(principal_paid__lte=models.F("principal_due"))
                & models.Q(interest_paid__lte=models.F("interest_due")),
                name="instalment_not_overpaid",
            ),
        ]
        indexes = [
            # The daily job's "oldest unpaid instalment" per loan.
            models.Index(
                fields=["loan", "due_date"], condition=models.Q(settled=False), name="unsettled_due"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.loan} 第{self.seq}期"


class Repayment(models.Model):
    class Channel(models.TextChoices):
        MANUAL = "manual", "柜面录入"
        API = "api", "接口"
        FILE = "file", "还款文件"

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="repayments")
    bank = models.ForeignKey(Bank, on_delete=models.PROTECT, related_name="+")
    paid_on = models.DateField("还款日期")
    amount = MoneyField("还款金额")
    interest_part = MoneyField("其中利息")
    principal_part = MoneyField("其中本金")
    reference = models.CharField("流水号", max_length=64, blank=True)
    channel = models.CharField("渠道", max_length=10, choices=Channel.choices)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="录入人", on_delete=models.PROTECT, related_name="+"
    )
    posted_at = models.DateTimeField("录入时间", default=timezone.now)

    class Meta:
        verbose_name = verbose_name_plural = "还款记录"
        ordering = ["loan", "paid_on", "id"]
        constraints = [
            # A bank's transaction number is posted once (re-uploaded files, retried calls).
            models.UniqueConstraint(
                fields=["bank", "reference"],
                condition=~models.Q(reference=""),
                name="one_repayment_per_bank_reference",
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="repayment_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.loan} {self.paid_on:%Y-%m-%d} {self.amount}"


class RepaymentAllocation(models.Model):
    repayment = models.ForeignKey(Repayment, on_delete=models.CASCADE, related_name="allocations")
    instalment = models.ForeignKey(Instalment, on_delete=models.PROTECT, related_name="allocations")
    interest = MoneyField("利息")
    principal = MoneyField("本金")

    class Meta:
        verbose_name = verbose_name_plural = "还款分配"

    def __str__(self) -> str:
        return f"{self.repayment} → 第{self.instalment.seq}期"


class IdempotencyRecord(models.Model):
    """The first answer to a request with an Idempotency-Key, replayed for the same key."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    scope = models.CharField(max_length=100)  # e.g. "loan:42:repayments"
    request_digest = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "幂等请求记录"
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_answer_per_idempotency_key")]

    def __str__(self) -> str:
        return self.key


class Breaker(models.Model):
    """The circuit breaker of one township or village, as the daily job last computed it."""

    class State(models.TextChoices):
        NORMAL = "normal", "正常"
        TRIPPED = "tripped", "已熔断"

    region = models.OneToOneField(Region, primary_key=True, on_delete=models.CASCADE, related_name="breaker")
    level = models.CharField("层级", max_length=10)
    state = models.CharField("状态", max_length=10, choices=State.choices, default=State.NORMAL)
    npl_ratio = PercentField("不良率（%）", default=0)
    threshold = PercentField("熔断阈值（%）", default=0)
    principal_outstanding = MoneyField("贷款余额", default=0)
    npl_principal = MoneyField("不良贷款余额", default=0)
    since = models.DateTimeField("状态起始", null=True, blank=True)
    computed_on = models.DateField("计算日期", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "风险熔断"
        indexes = [models.Index(fields=["state"])]

    def __str__(self) -> str:
        return f"{self.region_id} {self.get_state_display()}"

    @property
    def resumable(self) -> bool:
        return self.state == self.State.TRIPPED and self.npl_ratio <= self.threshold


class BreakerEvent(models.Model):
    class Kind(models.TextChoices):
        TRIP = "trip", "熔断"
        RESUME = "resume", "恢复"

    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="breaker_events")
    kind = models.CharField("事件", max_length=10, choices=Kind.choices)
    npl_ratio = PercentField("不良率（%）")
    threshold = PercentField("阈值（%）")
    as_of = models.DateField("数据日期")
    at = models.DateTimeField("时间", auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="操作人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = verbose_name_plural = "熔断事件"
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.region_id} {self.get_kind_display()}"


class PostLoanCheck(models.Model):
    """贷后检查: township every 2 months, county every 3 (DOMAIN.md)."""

    class Tier(models.TextChoices):
        TOWNSHIP = "township", "乡镇"
        COUNTY = "county", "县级"

    class Finding(models.TextChoices):
        NORMAL = "normal", "资金用途正常"
        NON_PRODUCTIVE = "non_productive_use", "发现非生产性用途"
        OTHER = "other", "其他问题"

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="checks")
    tier = models.CharField("检查层级", max_length=10, choices=Tier.choices)
    checked_on = models.DateField("检查日期")
    finding = models.CharField("检查结论", max_length=20, choices=Finding.choices)
    note = models.TextField("情况说明", blank=True)
    checker = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="检查人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "贷后检查"
        ordering = ["-checked_on", "-id"]

    def __str__(self) -> str:
        return f"{self.loan} {self.get_tier_display()}检查 {self.checked_on:%Y-%m-%d}"
