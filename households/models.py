"""The household file (建档立卡 档卡): households and their members.

ID and bank-account numbers are never stored in clear: `*_enc` holds the Fernet ciphertext,
`*_hash` the keyed hash used for uniqueness and lookup, `*_masked` what lists show (kept so that a
list of 50 rows needs no decryption and no key). All three are written together by
households.services, the only writer.
"""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from common import clock
from common.identity import age_on
from common.money import MoneyField
from organization.models import Region


class HouseholdStatus(models.TextChoices):
    POOR = "poor", "未脱贫"
    LIFTED = "lifted", "已脱贫"
    MONITORED = "monitored", "监测户"
    NON_POOR = "non_poor", "非贫困户"


class HouseholdAttribute(models.TextChoices):
    GENERAL = "general", "一般贫困户"
    SUBSISTENCE = "subsistence", "低保贫困户"
    FIVE_GUARANTEE = "five_guarantee", "五保户"


class IdentificationStandard(models.TextChoices):
    NATIONAL = "national", "国家标准"
    PROVINCIAL = "provincial", "省定标准"
    MUNICIPAL = "municipal", "市定标准"


class PovertyCause(models.TextChoices):
    ILLNESS = "illness", "因病"
    DISABILITY = "disability", "因残"
    EDUCATION = "education", "因学"
    DISASTER = "disaster", "因灾"
    LACK_LAND = "lack_land", "缺土地"
    LACK_WATER = "lack_water", "缺水"
    LACK_SKILLS = "lack_skills", "缺技术"
    LACK_LABOR = "lack_labor", "缺劳动力"
    LACK_FUNDS = "lack_funds", "缺资金"
    POOR_TRANSPORT = "poor_transport", "交通条件落后"
    LACK_MOTIVATION = "lack_motivation", "自身发展动力不足"
    OTHER = "other", "其他"


class Gender(models.TextChoices):
    MALE = "male", "男"
    FEMALE = "female", "女"


HEAD_RELATION = "户主"


class Household(models.Model):
    household_no = models.CharField("户编号", max_length=40, unique=True)
    village = models.ForeignKey(
        Region, verbose_name="行政村", on_delete=models.PROTECT, related_name="households",
        limit_choices_to={"level": "village"},
    )  # fmt: skip
    head_name = models.CharField("户主姓名", max_length=50, db_index=True)
    head_id_enc = models.TextField("户主身份证号（密文）", editable=False)
    head_id_hash = models.CharField("户主身份证号（检索散列）", max_length=64, editable=False)  # unique: Meta
    head_id_masked = models.CharField("户主身份证号", max_length=18, editable=False)
    phone = models.CharField("联系电话", max_length=20, blank=True)
    member_count = models.PositiveSmallIntegerField("家庭人数", default=1)
    labor_count = models.PositiveSmallIntegerField("劳动力人数", default=0)
    status = models.CharField("脱贫状态", max_length=10, choices=HouseholdStatus.choices)  # indexed: Meta
    attribute = models.CharField("贫困户属性", max_length=16, choices=HouseholdAttribute.choices, blank=True)
    identification_standard = models.CharField(
        "识别标准", max_length=12, choices=IdentificationStandard.choices, blank=True
    )
    poverty_causes = models.JSONField("致贫原因", default=list, blank=True)
    per_capita_income = MoneyField("人均纯收入（元）", null=True, blank=True)
    bank_name = models.CharField("开户银行", max_length=100, blank=True)
    bank_account_enc = models.TextField("银行账号（密文）", blank=True, editable=False)
    bank_account_hash = models.CharField(
        "银行账号（检索散列）", max_length=64, blank=True, editable=False
    )  # indexed: Meta
    bank_account_masked = models.CharField("银行账号", max_length=40, blank=True, editable=False)
    created_at = models.DateTimeField("建档时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    # History rows are written for every created or changed household (the file import writes
    # tens of thousands at once), and read by household (the `id` index): the copies of the
    # lookup indexes above would only slow every write down.
    history = HistoricalRecords(
        excluded_fields=["head_id_enc", "bank_account_enc"],
        no_db_index=["household_no", "village", "head_name"],
    )

    class Meta:
        verbose_name = verbose_name_plural = "建档立卡户"
        ordering = ["village_id", "household_no"]
        # Hashes and status are matched whole, never by prefix: declared here rather than with
        # unique=/db_index= on the field, PostgreSQL gets no second (varchar_pattern_ops) index
        # to keep up on every insert.
        indexes = [
            models.Index(fields=["status"], name="household_status_idx"),
            models.Index(fields=["bank_account_hash"], name="household_account_hash_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["head_id_hash"], name="household_head_id_hash_unique"),
            models.CheckConstraint(
                condition=models.Q(labor_count__lte=models.F("member_count")),
                name="labor_not_more_than_members",
            ),
            models.CheckConstraint(
                condition=models.Q(per_capita_income__gte=0) | models.Q(per_capita_income__isnull=True),
                name="income_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.head_name}（{self.household_no}）"

    @property
    def poverty_cause_labels(self) -> list[str]:
        labels = dict(PovertyCause.choices)
        return [labels.get(c, c) for c in self.poverty_causes]


class Member(models.Model):
    household = models.ForeignKey(
        Household, verbose_name="户", on_delete=models.CASCADE, related_name="members"
    )
    name = models.CharField("姓名", max_length=50)
    relation = models.CharField("与户主关系", max_length=20)
    id_enc = models.TextField("身份证号（密文）", editable=False)
    id_hash = models.CharField("身份证号（检索散列）", max_length=64, editable=False)  # unique: Meta
    id_masked = models.CharField("身份证号", max_length=18, editable=False)
    gender = models.CharField("性别", max_length=6, choices=Gender.choices)
    birth_date = models.DateField("出生日期")
    labor_capable = models.BooleanField("有劳动能力", default=False)

    # Who changed a member, when, old and new values (the household file importer writes these
    # rows in bulk with the importing user; the ciphertext is left out, the hash and mask kept).
    history = HistoricalRecords(excluded_fields=["id_enc"])

    class Meta:
        verbose_name = verbose_name_plural = "家庭成员"
        ordering = ["household_id", "id"]
        constraints = [models.UniqueConstraint(fields=["id_hash"], name="member_id_hash_unique")]

    def __str__(self) -> str:
        return f"{self.name}（{self.relation}）"

    @property
    def is_head(self) -> bool:
        return self.relation == HEAD_RELATION

    @property
    def age(self) -> int:
        """Full years (周岁) today: what roles without the right to full numbers see instead of the
        birth date, which would give back the 8 digits the ID mask hides."""
        return age_on(self.birth_date, clock.today())


class PiiAccessLog(models.Model):
    """Every full view of an ID or account number: who, when, which household (PIPL art. 51)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="查看人", on_delete=models.PROTECT)
    household = models.ForeignKey(
        Household, verbose_name="户", on_delete=models.PROTECT, related_name="pii_views"
    )
    at = models.DateTimeField("查看时间", auto_now_add=True, db_index=True)
    fields = models.CharField("查看字段", max_length=100)
    channel = models.CharField("渠道", max_length=10, default="api")
    ip_address = models.GenericIPAddressField("IP地址", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "敏感信息查看记录"
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.user} 于 {self.at:%Y-%m-%d %H:%M} 查看 {self.household_id}"
