"""Regions (division codes), the three-tier service units, banks, users and their roles,
and the dated policy rows: each city's envelope (CityPolicy) and each county's numbers inside it
(CountyPolicy). A row is proposed by one person and takes effect only when a second approves it."""

from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from common.money import MoneyField, PercentField

LEVEL_CODE_LENGTH = {"province": 6, "city": 6, "county": 6, "township": 9, "village": 12}


def code_prefix(code: str) -> str:
    """The leading digits every descendant's code shares: 410000 -> 41, 411700 -> 4117,
    411722 -> 411722; 9- and 12-digit codes are their own prefix (the 6+3+3 rule)."""
    code = code.strip()
    if len(code) == 6 and code.endswith("0000"):
        return code[:2]
    if len(code) == 6 and code.endswith("00"):
        return code[:4]
    return code


class Region(models.Model):
    class Level(models.TextChoices):
        PROVINCE = "province", "省"
        CITY = "city", "市"
        COUNTY = "county", "县（区）"
        TOWNSHIP = "township", "乡镇"
        VILLAGE = "village", "行政村"

    code = models.CharField("区划代码", max_length=12, primary_key=True)
    name = models.CharField("名称", max_length=64)
    level = models.CharField("层级", max_length=10, choices=Level.choices, db_index=True)
    parent = models.ForeignKey(
        "self", verbose_name="上级", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )

    class Meta:
        verbose_name = verbose_name_plural = "行政区划"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

    @property
    def prefix(self) -> str:
        """Every descendant's code starts with this, so scoping is a prefix match."""
        return code_prefix(self.code)

    def clean(self):
        if len(self.code) != LEVEL_CODE_LENGTH[self.level] or not self.code.isdigit():
            raise ValidationError(
                {"code": f"{self.get_level_display()}代码应为{LEVEL_CODE_LENGTH[self.level]}位数字。"}
            )
        if self.parent_id and not self.code.startswith(self.parent.prefix):
            raise ValidationError({"code": "区划代码须以上级代码开头（6+3+3规则）。"})


class ServiceUnit(models.Model):
    """The three-tier service system, plus the city office that watches it."""

    class Kind(models.TextChoices):
        CITY_OFFICE = "city_office", "市财政局/金融办"
        COUNTY_CENTRE = "county_centre", "县金融扶贫服务中心"
        TOWNSHIP_STATION = "township_station", "乡镇金融扶贫服务站"
        VILLAGE_DESK = "village_desk", "村金融扶贫服务部"

    KIND_FOR_LEVEL = {
        "city": Kind.CITY_OFFICE,
        "county": Kind.COUNTY_CENTRE,
        "township": Kind.TOWNSHIP_STATION,
        "village": Kind.VILLAGE_DESK,
    }

    region = models.OneToOneField(
        Region, verbose_name="区划", on_delete=models.PROTECT, related_name="service_unit"
    )
    kind = models.CharField("类型", max_length=20, choices=Kind.choices)
    name = models.CharField("名称", max_length=100)

    class Meta:
        verbose_name = verbose_name_plural = "服务机构"
        ordering = ["region_id"]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        if self.region_id and self.KIND_FOR_LEVEL.get(self.region.level) != self.kind:
            raise ValidationError({"kind": "服务机构类型与区划层级不符。"})


class Bank(models.Model):
    code = models.CharField("银行代码", max_length=20, unique=True)
    name = models.CharField("名称", max_length=100)

    class Meta:
        verbose_name = verbose_name_plural = "合作银行"
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class BankBranch(models.Model):
    bank = models.ForeignKey(Bank, verbose_name="银行", on_delete=models.PROTECT, related_name="branches")
    code = models.CharField("网点代码", max_length=30, unique=True)
    name = models.CharField("名称", max_length=100)
    counties = models.ManyToManyField(
        Region, verbose_name="服务县区", related_name="bank_branches", limit_choices_to={"level": "county"}
    )

    class Meta:
        verbose_name = verbose_name_plural = "银行网点"
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    full_name = models.CharField("姓名", max_length=50, blank=True)
    # Set when an admin creates the user or resets the password: the next login must change it
    # (common.middleware.PasswordChangeRequiredMiddleware).
    must_change_password = models.BooleanField("须修改密码", default=False)

    class Meta:
        verbose_name = verbose_name_plural = "用户"

    def __str__(self) -> str:
        return self.full_name or self.username


class AccessToken(models.Model):
    """An API token (header "Authorization: Token <key>"). Only the SHA-256 of the key is stored;
    the key itself is shown once, in the answer of POST /auth/token/. A token ends at expires_at
    (API_TOKEN_TTL_HOURS after it was issued), after API_TOKEN_IDLE_MINUTES without use, or when
    revoked (logout, a password change or reset, the user's deactivation)."""

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="access_tokens", verbose_name="用户"
    )
    key_hash = models.CharField("令牌摘要", max_length=64, unique=True)
    created_at = models.DateTimeField("签发时间", default=timezone.now)
    last_used_at = models.DateTimeField("最近使用", default=timezone.now)
    expires_at = models.DateTimeField("到期时间")
    revoked_at = models.DateTimeField("吊销时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "API令牌"
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.user} {self.created_at:%Y-%m-%d %H:%M}"


class Role(models.TextChoices):
    VILLAGE_CLERK = "village_clerk", "村金融扶贫服务部专员"
    TOWNSHIP_OFFICER = "township_officer", "乡镇金融扶贫服务站工作人员"
    COUNTY_STAFF = "county_staff", "县金融扶贫服务中心工作人员"
    BANK_OFFICER = "bank_officer", "银行信贷员"
    CITY_FINANCE = "city_finance", "市财政局/金融办"
    ADMIN = "admin", "系统管理员"


# Which kind of service unit each region role sits at.
ROLE_UNIT_KIND = {
    Role.VILLAGE_CLERK: ServiceUnit.Kind.VILLAGE_DESK,
    Role.TOWNSHIP_OFFICER: ServiceUnit.Kind.TOWNSHIP_STATION,
    Role.COUNTY_STAFF: ServiceUnit.Kind.COUNTY_CENTRE,
    Role.CITY_FINANCE: ServiceUnit.Kind.CITY_OFFICE,
}


class RoleAssignment(models.Model):
    """A user holds a role at an org unit: a service unit, or a bank branch for bank officers."""

    user = models.ForeignKey(
        User, verbose_name="用户", on_delete=models.CASCADE, related_name="role_assignments"
    )
    role = models.CharField("角色", max_length=20, choices=Role.choices)
    unit = models.ForeignKey(
        ServiceUnit,
        verbose_name="服务机构",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="staff",
    )
    branch = models.ForeignKey(
        BankBranch,
        verbose_name="银行网点",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="staff",
    )

    class Meta:
        verbose_name = verbose_name_plural = "角色分配"
        constraints = [
            models.UniqueConstraint(fields=["user", "role", "unit", "branch"], name="unique_role_assignment"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.org_unit_name}"

    @property
    def org_unit_name(self) -> str:
        if self.branch_id:
            return self.branch.name
        if self.unit_id:
            return self.unit.name
        return "系统"

    def clean(self):
        if self.role == Role.BANK_OFFICER:
            if not self.branch_id or self.unit_id:
                raise ValidationError("银行信贷员须挂在银行网点下。")
        elif self.role == Role.ADMIN:
            if self.branch_id or self.unit_id:
                raise ValidationError("系统管理员不挂机构。")
        else:
            if self.branch_id or not self.unit_id or self.unit.kind != ROLE_UNIT_KIND[self.role]:
                raise ValidationError(f"{self.get_role_display()}须挂在{ROLE_UNIT_KIND[self.role].label}下。")


class Grade(models.TextChoices):
    AAA = "AAA", "AAA"
    AA = "AA", "AA"
    A = "A", "A"
    B = "B", "B"
    C = "C", "C"


class PolicyStatus(models.TextChoices):
    """Maker-checker: a row is proposed, then approved (in force from its date) or rejected."""

    PROPOSED = "proposed", "待复核"
    APPROVED = "approved", "已批准"
    REJECTED = "rejected", "已驳回"


class ReviewedPolicy(models.Model):
    """What a dated policy row of either level keeps about its proposal and its review."""

    effective_from = models.DateField("生效日期")
    status = models.CharField(
        "状态", max_length=10, choices=PolicyStatus.choices, default=PolicyStatus.PROPOSED, db_index=True
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    created_by = models.ForeignKey(
        User, verbose_name="提出人", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_by = models.ForeignKey(
        User, verbose_name="复核人", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField("复核时间", null=True, blank=True)
    review_note = models.CharField("复核意见", max_length=200, blank=True)

    class Meta:
        abstract = True


class CityPolicy(ReviewedPolicy):
    """A city's envelope from a date on, set by 市财政局/金融办 (the regulator side): ceilings on
    the county numbers (household cap and term, enterprise subsidy rate), the floor of the household
    subsidy share, and the numbers only the city sets (the breakers' NPL thresholds, the
    guarantee-fee subsidy rates). Field defaults are the seed's numbers."""

    city = models.ForeignKey(
        Region,
        verbose_name="市",
        on_delete=models.PROTECT,
        related_name="city_policies",
        limit_choices_to={"level": "city"},
    )
    household_loan_cap = MoneyField("户贷额度上限（市级上限）", default=50000)
    household_max_term_months = models.PositiveSmallIntegerField("户贷最长期限（月，市级上限）", default=36)
    household_subsidy_share = PercentField("户贷贴息比例（%，市级下限）", default=100)
    enterprise_subsidy_rate = PercentField("企业贷款贴息年率（%，市级上限）", default=2)
    township_npl_threshold = PercentField("乡镇熔断不良率（%）", default=5)
    village_npl_threshold = PercentField("村熔断不良率（%）", default=7)
    guarantee_fee_subsidy_household = PercentField("户贷担保费补贴年率（%）", default=Decimal("1.50"))
    guarantee_fee_subsidy_enterprise = PercentField("企业贷款担保费补贴年率（%）", default=Decimal("0.50"))

    POLICY_FIELDS = (
        "household_loan_cap", "household_max_term_months", "household_subsidy_share", "enterprise_subsidy_rate",
        "township_npl_threshold", "village_npl_threshold", "guarantee_fee_subsidy_household",
        "guarantee_fee_subsidy_enterprise",
    )  # fmt: skip
    PERCENTS_OF_A_WHOLE = ("household_subsidy_share", "township_npl_threshold", "village_npl_threshold")

    class Meta:
        verbose_name = verbose_name_plural = "市级政策参数"
        ordering = ["city_id", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["city", "effective_from"],
                condition=~models.Q(status="rejected"),
                name="one_city_policy_row_per_city_and_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.city.name} {self.effective_from:%Y-%m-%d} 起（市级）"

    def clean(self):
        errors = {}
        for name in self.POLICY_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if value <= 0 and name in ("household_loan_cap", "household_max_term_months"):
                errors[name] = ["须大于0。"]
            elif value < 0:
                errors[name] = ["不能为负数。"]
            elif name in self.PERCENTS_OF_A_WHOLE and value > 100:
                errors[name] = ["不能超过100%。"]
        if errors:
            raise ValidationError(errors)


# The city's envelope over the county's numbers: field -> "max" (the city's number is a ceiling)
# or "min" (a floor). organization.selectors.clamp_to_city and envelope_errors both read it.
CITY_ENVELOPE = {
    "household_loan_cap": "max",
    "household_max_term_months": "max",
    "household_subsidy_share": "min",
    "enterprise_subsidy_rate": "max",
}
# Set by the city only (the regulators' numbers): a county row takes them from the city row.
CITY_OWNED = ("township_npl_threshold", "village_npl_threshold")
# Read from the city row through policy_for, as if they were county fields.
CITY_ONLY = ("guarantee_fee_subsidy_household", "guarantee_fee_subsidy_enterprise")


class CountyPolicy(ReviewedPolicy):
    """A county's policy numbers from a date on, inside its city's envelope (CityPolicy). Rows in
    force are never edited: a change is a new row (services.policy_propose), in force once a
    second person approves it. Field defaults are DOMAIN.md's defaults. The breaker thresholds are
    the city's: the columns keep what applied when the row was proposed, policy_for reads the
    city's."""

    county = models.ForeignKey(
        Region,
        verbose_name="县区",
        on_delete=models.PROTECT,
        related_name="policies",
        limit_choices_to={"level": "county"},
    )

    household_loan_cap = MoneyField("户贷额度上限", default=50000)
    household_max_term_months = models.PositiveSmallIntegerField("户贷最长期限（月）", default=36)
    borrower_min_age = models.PositiveSmallIntegerField("借款人最小年龄", default=18)
    borrower_max_age = models.PositiveSmallIntegerField("借款人最大年龄", default=65)
    min_grade = models.CharField("最低信用等级", max_length=3, choices=Grade.choices, default=Grade.A)
    notice_period_days = models.PositiveSmallIntegerField("公示期（天）", default=5)
    rating_validity_months = models.PositiveSmallIntegerField("评级有效期（月）", default=12)
    township_npl_threshold = PercentField("乡镇熔断不良率（%）", default=5)
    village_npl_threshold = PercentField("村熔断不良率（%）", default=7)
    leverage_multiple = PercentField("风险补偿金放大倍数", default=10)
    leverage_warning_ratio = PercentField("放大倍数预警线（%）", default=90)
    compensation_min_dpd = models.PositiveSmallIntegerField("可申请代偿逾期天数", default=90)
    fund_share = PercentField("补偿金分担比例（%）", default=80)
    bank_share = PercentField("银行分担比例（%）", default=20)
    household_subsidy_share = PercentField("户贷贴息比例（%）", default=100)
    enterprise_subsidy_rate = PercentField("企业贷款贴息年率（%）", default=2)
    enterprise_cap_per_household = MoneyField("企业贷款每带贫户额度", default=100000)
    cooperative_min_years = models.PositiveSmallIntegerField("合作社最少运营年限", default=2)
    settlement_period_months = models.PositiveSmallIntegerField(
        "贴息结算周期（月）", default=3, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    extension_limit = models.PositiveSmallIntegerField("展期次数上限", default=1)
    # Beyond API.md's list: the loans issue's numbers, dated like the rest.
    renewal_limit = models.PositiveSmallIntegerField("续贷次数上限", default=1)
    enterprise_rate_markup = PercentField("企业贷款利率最高上浮（%）", default=10)
    interest_day_basis = models.PositiveSmallIntegerField(
        "计息天数基准", default=360, choices=[(360, "实际天数/360"), (365, "实际天数/365")]
    )
    substandard_min_dpd = models.PositiveSmallIntegerField("次级类起始逾期天数", default=91)
    doubtful_min_dpd = models.PositiveSmallIntegerField("可疑类起始逾期天数", default=181)
    loss_min_dpd = models.PositiveSmallIntegerField("损失类起始逾期天数", default=361)
    maturity_warning_days = models.PositiveSmallIntegerField("到期预警提前天数", default=30)
    # Write-off (核销): how overdue a loan must be, and how long a written-off loan still counts
    # in its area's NPL ratio (so a write-off cannot clear a tripped breaker).
    write_off_min_dpd = models.PositiveSmallIntegerField("可核销逾期天数", default=360)
    write_off_breaker_months = models.PositiveSmallIntegerField("核销后计入熔断不良率月数", default=12)

    # The numbers of a row (everything but bookkeeping), in API.md's order.
    POLICY_FIELDS = (
        "household_loan_cap", "household_max_term_months", "borrower_min_age", "borrower_max_age",
        "min_grade", "notice_period_days", "rating_validity_months", "township_npl_threshold",
        "village_npl_threshold", "leverage_multiple", "leverage_warning_ratio", "compensation_min_dpd",
        "fund_share", "bank_share", "household_subsidy_share", "enterprise_subsidy_rate",
        "enterprise_cap_per_household", "cooperative_min_years", "settlement_period_months", "extension_limit",
        "renewal_limit", "enterprise_rate_markup", "interest_day_basis", "substandard_min_dpd",
        "doubtful_min_dpd", "loss_min_dpd", "maturity_warning_days", "write_off_min_dpd",
        "write_off_breaker_months",
    )  # fmt: skip

    # The fields a county row may change: not the city's.
    COUNTY_FIELDS = tuple(f for f in POLICY_FIELDS if f not in CITY_OWNED)

    class Meta:
        verbose_name = verbose_name_plural = "县级政策参数"
        ordering = ["county_id", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["county", "effective_from"],
                condition=~models.Q(status="rejected"),
                name="one_policy_row_per_county_and_day",
            ),
            models.CheckConstraint(
                condition=models.Q(borrower_min_age__lt=models.F("borrower_max_age")), name="policy_age_range"
            ),
            models.CheckConstraint(
                condition=models.Q(substandard_min_dpd__gt=1)
                & models.Q(doubtful_min_dpd__gt=models.F("substandard_min_dpd"))
                & models.Q(loss_min_dpd__gt=models.F("doubtful_min_dpd")),
                name="policy_dpd_bands_ascend",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.county.name} {self.effective_from:%Y-%m-%d} 起"

    # Percentages of a whole: a share, a ratio or a threshold above 100 % means nothing.
    PERCENTS_OF_A_WHOLE = (
        "township_npl_threshold", "village_npl_threshold", "leverage_warning_ratio", "fund_share", "bank_share",
        "household_subsidy_share",
    )  # fmt: skip

    def clean(self):
        errors = self._range_errors()
        if errors:
            raise ValidationError(errors)
        if (
            self.fund_share is not None
            and self.bank_share is not None
            and self.fund_share + self.bank_share > 100
        ):
            raise ValidationError("补偿金与银行分担比例之和不能超过100%。")

    def _range_errors(self) -> dict[str, list[str]]:
        """Money and percentages below 0 (or a leverage multiple of 0, which would lend nothing)
        would pass the columns' types and quietly break the rules that read them."""
        errors = {}
        for name in self.POLICY_FIELDS:
            value = getattr(self, name)
            if self._meta.get_field(name).get_internal_type() != "DecimalField" or value is None:
                continue
            if name == "leverage_multiple" and value <= 0:
                errors[name] = ["放大倍数须大于0。"]
            elif value < 0:
                errors[name] = ["不能为负数。"]
            elif name in self.PERCENTS_OF_A_WHOLE and value > 100:
                errors[name] = ["不能超过100%。"]
        return errors
