"""Running an import: the steps every kind shares.

queued -> running (reading, checking) -> failed (errors listed, nothing written)
                                      -> succeeded (dry run: counts only; else all rows written
                                         in one transaction)
"""

import logging
import time

from django.core.files.base import ContentFile
from django.db import transaction

from common.clock import now
from common.errors import ApplicationError
from common.spreadsheets import (
    Limits,
    SpreadsheetError,
    looks_like_formula,
    normalize_header,
    read_first_sheet,
)

from . import registry
from .base import ErrorReport, Importer, Row
from .models import ImportJob
from .reports import build_error_workbook

logger = logging.getLogger(__name__)

MAX_STORED_ERRORS = 1000
PROGRESS_EVERY_SECONDS = 0.5


class ImportError_(ApplicationError):  # noqa: N801 (ImportError is a builtin)
    pass


def import_create(*, actor, kind: str, uploaded, dry_run: bool) -> ImportJob:
    """Store the upload and queue the job (the task is sent after commit)."""
    if registry.get(kind) is None:
        raise ImportError_("unknown_kind", f"未知的导入类型“{kind}”。", {"kind": ["未知的导入类型。"]})
    limits = Limits.from_settings()
    if uploaded.size > limits.max_upload_bytes:
        raise ImportError_(
            "file_too_large", f"文件过大，上限为{limits.max_upload_bytes // 1024 // 1024} MB。"
        )
    job = ImportJob(kind=kind, dry_run=dry_run, created_by=actor, original_name=uploaded.name[:255])
    job.file.save(uploaded.name, uploaded, save=False)
    job.save()
    from .tasks import run_import  # tasks import this module

    transaction.on_commit(lambda: run_import.delay(job.pk))
    return job


def import_rerun(*, actor, job: ImportJob, dry_run: bool) -> ImportJob:
    """The same file again, e.g. for real after a clean dry run."""
    job.file.open("rb")
    try:
        data = job.file.read()
    finally:
        job.file.close()
    new = ImportJob(kind=job.kind, dry_run=dry_run, created_by=actor, original_name=job.original_name)
    new.file.save(job.original_name, ContentFile(data), save=False)
    new.save()
    from .tasks import run_import

    transaction.on_commit(lambda: run_import.delay(new.pk))
    return new


def import_run(*, job_id: int) -> ImportJob:
    """Run a queued job to its end. Idempotent: a finished job is left alone; a job found
    'running' (its worker died) starts again from the file, since nothing was committed."""
    job = ImportJob.objects.get(pk=job_id)
    if job.status in (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED):
        return job
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING, phase=ImportJob.Phase.READING, started_at=now(), attempts=job.attempts + 1,
        processed_rows=0,
    )  # fmt: skip
    job.refresh_from_db()
    importer_class = registry.get(job.kind)
    importer = importer_class(actor=job.created_by, progress=_progress_writer(job))
    try:
        _run(job, importer)
    except SpreadsheetError as exc:
        _finish(job, ImportJob.Status.FAILED, message=exc.message)
    except Exception:
        logger.exception("import %s crashed", job.pk)
        _finish(
            job, ImportJob.Status.FAILED, message="导入过程中发生内部错误，未写入任何数据。请联系管理员。"
        )
    return job


def _run(job: ImportJob, importer: Importer) -> None:
    job.file.open("rb")
    try:
        data = job.file.read()
    finally:
        job.file.close()
    raw_rows = read_first_sheet(data, Limits.from_settings())
    header, body = raw_rows[0], raw_rows[1:]
    positions = match_headers(header, importer)
    rows = [
        Row(
            number=index,
            values={key: (cells[pos] if pos < len(cells) else "") for key, pos in positions.items()},
        )
        for index, cells in enumerate(body, start=2)
        if any(v not in ("", None) for v in cells)
    ]
    job.total_rows = len(rows)
    ImportJob.objects.filter(pk=job.pk).update(total_rows=job.total_rows, phase=ImportJob.Phase.CHECKING)

    report = ErrorReport()
    refuse_formula_cells(rows, importer, report)
    plan = importer.check(rows, report)
    if report:
        report.errors.sort(key=lambda e: e["row"])
        _store_error_report(job, header, body, report)
        _finish(job, ImportJob.Status.FAILED, report=report, counts=plan.counts if plan else None,
                message=f"发现{len(report)}处错误，未写入任何数据。请下载错误报告，修改后重新上传。")  # fmt: skip
        return
    if job.dry_run:
        _finish(
            job,
            ImportJob.Status.SUCCEEDED,
            counts=plan.counts,
            message="试运行通过：以上为正式导入将产生的变化。",
        )
        return
    ImportJob.objects.filter(pk=job.pk).update(phase=ImportJob.Phase.WRITING)
    with transaction.atomic():
        counts = importer.commit(plan)
    _finish(job, ImportJob.Status.SUCCEEDED, counts=counts,
            message="导入完成。" if counts.created or counts.updated else "文件与现有数据一致，没有任何变化。")  # fmt: skip


def match_headers(header: list, importer: Importer) -> dict[str, int]:
    """Column key -> position, by header name. Missing required headers refuse the file."""
    found = {normalize_header(h): i for i, h in enumerate(header) if normalize_header(h)}
    positions, missing = {}, []
    for column in importer.columns:
        for name in (column.header, *column.aliases):
            if name in found:
                positions[column.key] = found[name]
                break
        else:
            if column.required:
                missing.append(column.header)
    if missing:
        hint = "" if any("\u4e00" <= ch <= "\u9fff" for ch in "".join(found)) else "表头须为中文模板表头，"
        raise SpreadsheetError(
            "missing_headers",
            f"{hint}缺少表头：{'、'.join(missing)}。请下载模板，按模板表头填写（第一行为表头）。",
        )
    return positions


def refuse_formula_cells(rows: list[Row], importer: Importer, report: ErrorReport) -> None:
    headers = {c.key: c.header for c in importer.columns}
    for row in rows:
        for key, value in row.values.items():
            if looks_like_formula(value):
                report.add(
                    row.number,
                    headers[key],
                    value,
                    "单元格以 = + - @ 开头，可能被当作公式执行，已拒绝。请删去开头的符号。",
                )


def _progress_writer(job: ImportJob):
    last = [0.0]

    def write(processed: int) -> None:
        if time.monotonic() - last[0] >= PROGRESS_EVERY_SECONDS:
            last[0] = time.monotonic()
            ImportJob.objects.filter(pk=job.pk).update(processed_rows=processed)

    return write


def _store_error_report(job: ImportJob, header, body, report: ErrorReport) -> None:
    content = build_error_workbook(header, body, report.errors)
    job.error_report.save(f"errors-{job.pk}.xlsx", ContentFile(content), save=False)
    ImportJob.objects.filter(pk=job.pk).update(error_report=job.error_report.name)


def _finish(
    job: ImportJob, status: str, *, report: ErrorReport | None = None, counts=None, message: str = ""
) -> None:
    fields = {
        "status": status,
        "phase": ImportJob.Phase.DONE,
        "finished_at": now(),
        "message": message,
        "processed_rows": job.total_rows,
    }
    if report is not None:
        fields.update(error_count=len(report), errors=report.errors[:MAX_STORED_ERRORS])
    if counts is not None:
        fields.update(created=counts.created, updated=counts.updated, unchanged=counts.unchanged)
    ImportJob.objects.filter(pk=job.pk).update(**fields)
    job.refresh_from_db()
