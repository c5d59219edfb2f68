"""A generic background job record: what a Celery task reports while it runs, for the UI and the
API (GET /api/v1/jobs/{id}/). Batch pre-rating uses it; the daily jobs will too."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.functions import Now


class Job(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "排队中"
        RUNNING = "running", "处理中"
        SUCCEEDED = "succeeded", "成功"
        FAILED = "failed", "失败"

    kind = models.CharField("类型", max_length=40, db_index=True)
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.QUEUED)
    processed = models.PositiveIntegerField("已处理", default=0)
    total = models.PositiveIntegerField("总数", default=0)
    progress = models.PositiveSmallIntegerField("进度（%）", default=0)
    params = models.JSONField("参数", default=dict, blank=True)
    result = models.JSONField("结果", default=dict, blank=True)
    message = models.TextField("说明", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="发起人", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    started_at = models.DateTimeField("开始时间", null=True, blank=True)
    finished_at = models.DateTimeField("结束时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "后台任务"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind}#{self.pk}（{self.get_status_display()}）"

    @property
    def done(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class AppendOnlyError(Exception):
    """An audit entry is written once and never changed or removed."""


APPEND_ONLY_MESSAGE = "审计记录只能追加，不能修改或删除。"
SYSTEM_ACTOR = "系统"  # who a system job (the nightly daily job) is in the trail


class AuditQuerySet(models.QuerySet):
    """Refuses the set-based writes that would change or remove entries (bulk_update goes through
    update() too). PostgreSQL refuses them as well, by a trigger (migration 0003)."""

    def update(self, **kwargs):
        raise AppendOnlyError(APPEND_ONLY_MESSAGE)

    def delete(self):
        raise AppendOnlyError(APPEND_ONLY_MESSAGE)

    def _raw_delete(self, using):  # the deletion collector's fast path
        raise AppendOnlyError(APPEND_ONLY_MESSAGE)


class AuditEntry(models.Model):
    """One state change of a rating, loan, subsidy batch, fund ledger row, claim or breaker:
    who (None for a system job such as the daily job), when, from which state to which. Written by
    common.audit in the service's transaction; append-only."""

    class ObjectType(models.TextChoices):
        LOAN = "loan", "贷款"
        RATING = "rating", "信用评级"
        CREDIT_FREEZE = "credit_freeze", "授信冻结"
        SUBSIDY_BATCH = "subsidy_batch", "贴息结算批次"
        FUND_ENTRY = "fund_entry", "风险补偿金台账"
        AGREEMENT = "agreement", "银行合作协议"
        CLAIM = "claim", "代偿申请"
        RECOVERY = "recovery", "追偿收回"
        BREAKER = "breaker", "风险熔断"
        COUNTY_POLICY = "county_policy", "县级政策参数"
        CITY_POLICY = "city_policy", "市级政策参数"
        SUBSIDY_POT = "subsidy_pot", "市级贴息资金池"
        USER = "user", "用户"
        ROLE_ASSIGNMENT = "role_assignment", "角色分配"

    # The database's clock, not an application server's: common.audit passes the database's time
    # for a live write (and the column's default is now() for any other insert); only history
    # written after the fact (the demo data) brings its own time.
    at = models.DateTimeField("时间", db_default=Now(), db_index=True)  # the admin's newest first
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="操作人", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    actor_name = models.CharField("操作人姓名", max_length=150, blank=True)  # as it was then
    action = models.CharField("操作", max_length=30)
    object_type = models.CharField("对象类型", max_length=20, choices=ObjectType.choices)
    object_id = models.CharField("对象编号", max_length=40)
    object_label = models.CharField("对象", max_length=100, blank=True)
    # The division code the object belongs to (village, township or county), for scoping by prefix.
    region = models.CharField("区划代码", max_length=12, blank=True, db_index=True)
    from_state = models.CharField("原状态", max_length=20, blank=True)
    to_state = models.CharField("新状态", max_length=20, blank=True)
    detail = models.JSONField("详情", default=dict, blank=True, encoder=DjangoJSONEncoder)
    # SHA-256 (hex) of the previous entry's hash and this entry's canonical content (common.audit
    # .entry_hash), in id order: a changed, removed or inserted entry breaks the chain from there on
    # (manage.py verify_audit_chain). Empty only for the entries written before the chain began.
    hash = models.CharField("校验值", max_length=64, blank=True, editable=False)

    objects = AuditQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "审计记录"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "at"], name="audit_object_at")]

    def __str__(self) -> str:
        return f"{self.get_object_type_display()} {self.object_label or self.object_id} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(APPEND_ONLY_MESSAGE)
        kwargs["force_insert"] = True  # never an UPDATE, even with a primary key set by hand
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(APPEND_ONLY_MESSAGE)

    @property
    def who(self) -> str:
        return self.actor_name or SYSTEM_ACTOR


class AuditChainHead(models.Model):
    """The one row (pk 1) that holds the audit chain's end: the last entry's id and hash. Every
    writer locks it (SELECT ... FOR UPDATE) before chaining its entries, so two transactions never
    chain to the same previous hash; it is held until the writer's transaction ends."""

    last_id = models.BigIntegerField("最后记录编号", default=0)
    last_hash = models.CharField("最后校验值", max_length=64, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "审计链头"

    def __str__(self) -> str:
        return f"#{self.last_id} {self.last_hash[:12]}"
