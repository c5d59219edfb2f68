"""Running an import: the steps every kind shares.

queued -> running (reading, checking) -> failed (errors listed, nothing written)
                                      -> succeeded (dry run: counts only; else all rows written
                                         in one transaction)

Who may upload which kind is decided here (may_import); what a row may touch (e.g. the villages
of a household file) is the importer's concern.
"""

import logging
import time
from datetime import timedelta

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Q

from common.clock import now
from common.errors import ApplicationError, Forbidden
from common.jobs import enqueue
from common.spreadsheets import (
    Limits,
    SpreadsheetError,
    formula_cells,
    looks_like_formula,
    normalize_header,
    read_first_sheet,
)
from organization.models import Role
from organization.scoping import is_admin, roles_of

from . import registry
from .base import ErrorReport, Importer, Row
from .models import ImportJob
from .reports import build_error_workbook

logger = logging.getLogger(__name__)

MAX_STORED_ERRORS = 1000
PROGRESS_EVERY_SECONDS = 0.5
# A job without a sign of life for this long lost its message or its worker (import_requeue_stale).
# A message delivered again runs the job at most MAX_ATTEMPTS times in all (a file that kills its
# worker every time must not loop for ever).
STALE_AFTER = timedelta(minutes=15)
MAX_ATTEMPTS = 3

# Who may upload each kind, besides admins. A kind not listed here declares its own roles on its
# importer class (`roles = (Role.BANK_OFFICER,)`); with neither, only admins may upload it.
IMPORT_ROLES: dict[str, tuple[str, ...]] = {
    "households": (Role.COUNTY_STAFF,),  # DOMAIN.md: county staff import household files
    "repayments": (Role.BANK_OFFICER,),  # the bank's own repayment file
}

FINISHED = (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED)


class ImportError_(ApplicationError):  # noqa: N801 (ImportError is a builtin)
    pass


# --- who may import -----------------------------------------------------------------------------


def roles_for_kind(kind: str) -> tuple[str, ...]:
    if kind in IMPORT_ROLES:
        return IMPORT_ROLES[kind]
    importer = registry.get(kind)
    return tuple(getattr(importer, "roles", ())) if importer else ()


def may_import(user, kind: str, *, roles: set | None = None) -> bool:
    """May the user upload files of this kind (template-only kinds included: the answer for the
    day their importer arrives)? `roles`: the user's roles if the caller has them already."""
    if not user or not user.is_authenticated:
        return False
    roles = roles_of(user) if roles is None else roles
    if Role.ADMIN in roles or is_admin(user):
        return True
    return bool(roles & set(roles_for_kind(kind)))


def importable_kinds(user) -> list[type[Importer]]:
    """The registered importers the user may run, in registration order."""
    roles = roles_of(user)
    return [importer for kind, importer in registry.kinds().items() if may_import(user, kind, roles=roles)]


def may_use_imports(user, *, roles: set | None = None) -> bool:
    """Whether to offer the import page at all: any kind, template-only ones included."""
    roles = roles_of(user) if roles is None else roles
    kinds = set(registry.kinds()) | set(registry.templates())
    return any(may_import(user, kind, roles=roles) for kind in kinds)


def _check_kind(kind: str) -> None:
    if registry.get(kind) is not None:
        return
    spec = registry.template(kind)
    if spec is not None:
        raise ImportError_(
            "kind_not_importable",
            f"“{spec.label}”目前只提供模板下载，尚不能导入。",
            {"kind": ["该类型尚不能导入。"]},
        )
    raise ImportError_("unknown_kind", f"未知的导入类型“{kind}”。", {"kind": ["未知的导入类型。"]})


# --- creating jobs ------------------------------------------------------------------------------


def import_create(*, actor, kind: str, uploaded, dry_run: bool) -> ImportJob:
    """Store the upload and queue the job (the task is sent after commit)."""
    _check_kind(kind)
    if not may_import(actor, kind):
        raise Forbidden(f"您没有导入“{registry.get(kind).label}”的权限。")
    limits = Limits.from_settings()
    if uploaded.size > limits.max_upload_bytes:
        raise ImportError_(
            "file_too_large",
            f"文件过大，上限为{limits.max_upload_bytes / 1024 / 1024:.0f} MB。",
            {"file": ["文件过大。"]},
        )
    name = (getattr(uploaded, "name", "") or "upload.xlsx").replace("\\", "/").rsplit("/", 1)[-1]
    with transaction.atomic():
        job = ImportJob(kind=kind, dry_run=dry_run, created_by=actor, original_name=name[:255])
        job.file.save(name, uploaded, save=False)
        job.save()
        _enqueue(job.pk)
    return job


def import_rerun(*, actor, job: ImportJob, dry_run: bool) -> ImportJob:
    """The same file again, e.g. for real after a clean dry run."""
    _check_kind(job.kind)
    if not may_import(actor, job.kind):
        raise Forbidden(f"您没有导入“{registry.get(job.kind).label}”的权限。")
    if job.status not in FINISHED:
        raise ImportError_("job_not_finished", "该导入尚未处理完毕，请稍后再试。")
    if not dry_run and not (job.dry_run and job.status == ImportJob.Status.SUCCEEDED):
        raise ImportError_("dry_run_required", "只有试运行通过的文件才能正式导入，请先试运行。")
    job.file.open("rb")
    try:
        data = job.file.read()
    finally:
        job.file.close()
    with transaction.atomic():
        new = ImportJob(kind=job.kind, dry_run=dry_run, created_by=actor, original_name=job.original_name)
        new.file.save(job.original_name, ContentFile(data), save=False)
        new.save()
        _enqueue(new.pk)
    return new


def _enqueue(job_id: int) -> None:
    """Send the job's task after commit; if the broker is down, the job ends failed at once."""
    from .tasks import run_import  # tasks import this module

    enqueue(run_import, job_id, on_failure=lambda message: _fail_unsent(job_id, message))


def _fail_unsent(job_id: int, message: str) -> None:
    ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.FAILED, phase=ImportJob.Phase.DONE, finished_at=now(), message=message
    )


def import_requeue_stale(*, at=None) -> dict[str, list[int]]:
    """For a periodic task: the jobs with no sign of life for STALE_AFTER. One still queued never
    started (its message was lost, e.g. with Redis restarted) and is sent again. One running lost
    its worker (a killed worker's message comes back only after the broker's visibility timeout,
    if ever) and ends failed: nothing of it was committed, since the writes and 'succeeded' commit
    together (_run), and whether to run the file again is the user's call."""
    cutoff = (at or now()) - STALE_AFTER
    sent = list(
        ImportJob.objects.filter(status=ImportJob.Status.QUEUED, created_at__lt=cutoff).values_list(
            "pk", flat=True
        )
    )
    for job_id in sent:
        _enqueue(job_id)
    lost = ImportJob.objects.filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True), status=ImportJob.Status.RUNNING
    ).values_list("pk", flat=True)
    return {"sent_again": sent, "failed": [job_id for job_id in lost if _fail_lost(job_id, cutoff)]}


def _fail_lost(job_id: int, cutoff) -> bool:
    """Mark a running job without a sign of life since `cutoff` failed, unless its row is locked:
    then its writes are committing (see _run) and its worker is alive."""
    with transaction.atomic():
        lost = (
            ImportJob.objects.select_for_update(skip_locked=True)
            .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True), pk=job_id)
            .filter(status=ImportJob.Status.RUNNING)
            .exists()
        )
        if lost:
            minutes = int(STALE_AFTER.total_seconds() // 60)
            ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
                status=ImportJob.Status.FAILED, phase=ImportJob.Phase.DONE, finished_at=now(),
                message=f"处理该文件的后台进程意外中断（超过{minutes}分钟没有进展），未写入任何数据。请重新导入。",
            )  # fmt: skip
    return lost


# --- running ------------------------------------------------------------------------------------


def import_run(*, job_id: int) -> ImportJob:
    """Run a queued job to its end. Idempotent: a finished job is left alone; a job found
    'running' whose worker died (no sign of life for STALE_AFTER) starts again from the file,
    since nothing was committed; one whose worker is alive is left to it."""
    job = _claim(job_id)
    if job is None:
        return ImportJob.objects.get(pk=job_id)
    try:
        importer_class = registry.get(job.kind)
        if importer_class is None:
            raise SpreadsheetError("unknown_kind", f"未知的导入类型“{job.kind}”，无法处理。")
        importer = importer_class(actor=job.created_by, progress=_progress_writer(job))
        _run(job, importer)
    except SpreadsheetError as exc:
        _finish(job, ImportJob.Status.FAILED, message=exc.message, errors=exc.errors.get("rows"))
    except ApplicationError as exc:  # a domain refusal from the importer: its words, nothing written
        logger.info("import %s refused: %s", job.pk, exc.message)
        _finish(job, ImportJob.Status.FAILED, message=f"{exc.message}未写入任何数据。")
    except Exception:
        logger.exception("import %s crashed", job.pk)
        _finish(
            job, ImportJob.Status.FAILED, message="导入过程中发生内部错误，未写入任何数据。请联系管理员。"
        )
    return job


def _claim(job_id: int) -> ImportJob | None:
    """Mark the job running for this worker, or return None when it is finished, being written
    (its row is locked) or in the hands of another live worker. The update is conditional on what
    was read, so two deliveries of the same message cannot both claim the job."""
    with transaction.atomic():
        job = (
            ImportJob.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("created_by")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.status in FINISHED:
            return None
        if (
            job.status == ImportJob.Status.RUNNING
            and job.heartbeat_at
            and job.heartbeat_at > now() - STALE_AFTER
        ):
            return None
        if job.attempts >= MAX_ATTEMPTS:
            ImportJob.objects.filter(pk=job.pk).update(
                status=ImportJob.Status.FAILED, phase=ImportJob.Phase.DONE, finished_at=now(),
                message="该文件处理多次中断，已停止。请检查文件后重新上传，或联系管理员。",
            )  # fmt: skip
            return None
        moment = now()
        claimed = ImportJob.objects.filter(pk=job.pk, status=job.status, attempts=job.attempts).update(
            status=ImportJob.Status.RUNNING, phase=ImportJob.Phase.READING, started_at=moment,
            heartbeat_at=moment, finished_at=None, attempts=F("attempts") + 1, processed_rows=0,
            total_rows=0, created=0, updated=0, unchanged=0, error_count=0, errors=[], error_report="",
            message="",
        )  # fmt: skip
    if not claimed:
        return None
    job.refresh_from_db()
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
    formulas = formula_cells(data)
    del data
    rows = [
        Row(
            number=index,
            values={key: (cells[pos] if pos < len(cells) else "") for key, pos in positions.items()},
        )
        for index, cells in enumerate(body, start=2)
        if any(v not in ("", None) for v in cells)
    ]
    job.total_rows = len(rows)
    ImportJob.objects.filter(pk=job.pk).update(
        total_rows=job.total_rows, phase=ImportJob.Phase.CHECKING, heartbeat_at=now()
    )

    report = ErrorReport()
    refuse_formula_cells(rows, importer, report, formulas=formulas, positions=positions)
    plan = importer.check(rows, report)
    _keep_only_the_formula_error(report)
    if report:
        columns = {c.header: positions[c.key] for c in importer.columns if c.key in positions}
        report.errors.sort(key=lambda e: (e["row"], columns.get(e["column"], len(header))))  # as in the file
        _store_error_report(job, header, body, report, columns)
        _finish(job, ImportJob.Status.FAILED, report=report, counts=getattr(plan, "counts", None),
                message=f"发现{len(report)}处错误，未写入任何数据。请下载错误报告，修改后重新上传。")  # fmt: skip
        return
    if job.dry_run:
        _finish(
            job,
            ImportJob.Status.SUCCEEDED,
            counts=plan.counts,
            message="试运行通过：以上为正式导入将产生的变化，尚未写入任何数据。",
        )
        return
    ImportJob.objects.filter(pk=job.pk).update(phase=ImportJob.Phase.WRITING, heartbeat_at=now())
    with transaction.atomic():
        # The job's row stays locked until the writes commit (a second delivery of the task skips
        # it), and 'succeeded' commits with the writes: never one without the other.
        list(ImportJob.objects.select_for_update().filter(pk=job.pk).values_list("pk", flat=True))
        counts = importer.commit(plan)
        _finish(job, ImportJob.Status.SUCCEEDED, counts=counts,
                message="导入完成。" if counts.created or counts.updated else "文件与现有数据一致，没有任何变化。")  # fmt: skip


def match_headers(header: list, importer: Importer) -> dict[str, int]:
    """Column key -> position, by header name. Missing required headers refuse the file, and so
    does a header given twice (which of the two would count?)."""
    found: dict[str, int] = {}
    twice: list[str] = []
    for i, h in enumerate(header):
        name = normalize_header(h)
        if not name:
            continue
        if name in found:
            twice.append(name)
        else:
            found[name] = i
    positions, missing = {}, []
    for column in importer.columns:
        names = [name for name in (column.header, *column.aliases) if name in found]
        if len(names) > 1 or any(name in twice for name in names):
            raise SpreadsheetError(
                "duplicate_headers",
                f"表头“{column.header}”出现了不止一次（{'、'.join(names)}），请只保留一列。",
                {"rows": [_file_error(1, column.header, "、".join(names), "表头重复。")]},
            )
        if names:
            positions[column.key] = found[names[0]]
        elif column.required:
            missing.append(column.header)
    if missing:
        hint = "" if any("\u4e00" <= ch <= "\u9fff" for ch in "".join(found)) else "表头须为中文模板表头，"
        raise SpreadsheetError(
            "missing_headers",
            f"{hint}缺少表头：{'、'.join(missing)}。请下载模板，按模板表头填写（第一行为表头）。",
            {"rows": [_file_error(1, name, "", "缺少该列表头。") for name in missing]},
        )
    return positions


def _file_error(row: int, column: str, value, message: str) -> dict:
    report = ErrorReport()
    report.add(row, column, value, message)
    return report.errors[0]


FORMULA_TEXT_MESSAGE = "单元格以 = + - @ 开头，可能被当作公式执行，已拒绝。请删去开头的符号。"
FORMULA_CELL_MESSAGE = (
    "单元格是公式，导入的只会是Excel上次算出的值，已拒绝。请复制后“选择性粘贴为数值”再上传。"
)


def refuse_formula_cells(
    rows: list[Row], importer: Importer, report: ErrorReport, *, formulas=(), positions=None
) -> None:
    """Text that a spreadsheet would run as a formula (=, +, -, @ first: CWE-1236), and cells that
    are formulas (`formulas`: (row, column position, "=..."), with `positions` the columns read)."""
    headers = {c.key: c.header for c in importer.columns}
    for row in rows:
        for key, value in row.values.items():
            if looks_like_formula(value):
                report.add(row.number, headers[key], value, FORMULA_TEXT_MESSAGE)
    if formulas and positions:
        key_at = {position: key for key, position in positions.items()}
        for row_number, position, formula in formulas:
            if position in key_at and row_number > 1:
                report.add(row_number, headers[key_at[position]], formula, FORMULA_CELL_MESSAGE)


def _keep_only_the_formula_error(report: ErrorReport) -> None:
    """A formula cell is read as the value last computed (none at all when a program other than
    Excel saved it), so what the importer says of that value concerns nothing the user typed
    (e.g. "人数不能为空" for =1+1): such a cell keeps only its formula error."""
    cells = {(e["row"], e["column"]) for e in report.errors if e["message"] == FORMULA_CELL_MESSAGE}
    if cells:
        report.errors = [
            e
            for e in report.errors
            if e["message"] == FORMULA_CELL_MESSAGE or (e["row"], e["column"]) not in cells
        ]


def _progress_writer(job: ImportJob):
    last = [0.0]

    def write(processed: int) -> None:
        if time.monotonic() - last[0] >= PROGRESS_EVERY_SECONDS:
            last[0] = time.monotonic()
            ImportJob.objects.filter(pk=job.pk).update(processed_rows=processed, heartbeat_at=now())

    return write


def _store_error_report(job: ImportJob, header, body, report: ErrorReport, columns: dict[str, int]) -> None:
    content = build_error_workbook(header, body, report.errors, columns=columns)
    job.error_report.save(f"errors-{job.pk}.xlsx", ContentFile(content), save=False)
    ImportJob.objects.filter(pk=job.pk).update(error_report=job.error_report.name)


def _finish(
    job: ImportJob,
    status: str,
    *,
    report: ErrorReport | None = None,
    counts=None,
    message: str = "",
    errors: list | None = None,
) -> None:
    fields = {
        "status": status,
        "phase": ImportJob.Phase.DONE,
        "finished_at": now(),
        "heartbeat_at": now(),
        "message": message,
        "processed_rows": job.total_rows,
    }
    if report is not None:
        errors = report.errors
    if errors:
        fields.update(error_count=len(errors), errors=errors[:MAX_STORED_ERRORS])
    if counts is not None:
        fields.update(created=counts.created, updated=counts.updated, unchanged=counts.unchanged)
    ImportJob.objects.filter(pk=job.pk).update(**fields)
    job.refresh_from_db()
