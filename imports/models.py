from django.conf import settings
from django.db import models

from common.clock import now


class ImportJob(models.Model):
    """One uploaded file and what became of it. Runs in the background (imports.tasks)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "排队中"
        RUNNING = "running", "处理中"
        SUCCEEDED = "succeeded", "成功"
        FAILED = "failed", "失败"

    class Phase(models.TextChoices):
        WAITING = "waiting", "等待"
        READING = "reading", "读取文件"
        CHECKING = "checking", "逐行校验"
        WRITING = "writing", "写入数据"
        DONE = "done", "完成"

    kind = models.CharField("类型", max_length=30)
    status = models.CharField(
        "状态", max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    phase = models.CharField("阶段", max_length=10, choices=Phase.choices, default=Phase.WAITING)
    dry_run = models.BooleanField("仅试运行", default=True)
    file = models.FileField("上传文件", upload_to="imports/%Y/%m/")
    original_name = models.CharField("原文件名", max_length=255)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="上传人", on_delete=models.PROTECT)
    created_at = models.DateTimeField("上传时间", auto_now_add=True)
    started_at = models.DateTimeField("开始时间", null=True, blank=True)
    finished_at = models.DateTimeField("结束时间", null=True, blank=True)
    total_rows = models.PositiveIntegerField("总行数", default=0)
    processed_rows = models.PositiveIntegerField("已处理行数", default=0)
    created = models.PositiveIntegerField("新增", default=0)
    updated = models.PositiveIntegerField("更新", default=0)
    unchanged = models.PositiveIntegerField("未变", default=0)
    error_count = models.PositiveIntegerField("错误数", default=0)
    errors = models.JSONField("错误（前1000条）", default=list, blank=True)
    message = models.TextField("说明", blank=True)
    error_report = models.FileField("错误报告", upload_to="imports/reports/%Y/%m/", blank=True)
    attempts = models.PositiveSmallIntegerField("执行次数", default=0)
    heartbeat_at = models.DateTimeField("最近进展", null=True, blank=True)  # a running job's sign of life

    class Meta:
        verbose_name = verbose_name_plural = "导入任务"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.original_name}（{self.get_status_display()}）"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def rows_per_second(self) -> int | None:
        """Rows checked per second since the job started (to its end, once finished)."""
        if self.started_at is None or not self.processed_rows:
            return None
        seconds = ((self.finished_at or now()) - self.started_at).total_seconds()
        return round(self.processed_rows / seconds) if seconds > 0 else None

    @property
    def percent(self) -> int:
        if self.finished:
            return 100
        return min(99, self.processed_rows * 100 // self.total_rows) if self.total_rows else 0
