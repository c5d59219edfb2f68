"""The import runner (imports.services) with a tiny kind of its own (conftest.NotesImporter): dry
run, commit, errors, all-or-nothing, progress, header aliases, formula cells, the error workbook,
the 1,000-error cap, and what happens to a job whose worker died."""

import datetime
import io

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from openpyxl import load_workbook

from common.clock import now
from common.errors import Forbidden
from conftest import require_service
from imports import registry, services
from imports.models import ImportJob
from imports.reports import ERROR_HEADER
from imports.tasks import run_import
from imports.templates_xlsx import build_template

from . import hostile
from .conftest import NotesImporter, upload

pytestmark = pytest.mark.django_db

NOTES = [["标题", "备注", "颜色"], ["甲", "第一条", "红"], ["乙", "", "绿"], ["丙", "第三条", ""]]


def notes(*rows, header=("标题", "备注", "颜色")) -> bytes:
    return hostile.workbook([list(header), *[list(r) for r in rows]])


# --- a new kind is one small class ------------------------------------------------------------


def test_a_registered_class_is_a_kind_with_a_template(notes_kind):
    assert registry.get("test_notes") is NotesImporter
    spec = registry.template("test_notes")
    assert spec.label == "测试便笺" and [c.header for c in spec.columns] == ["标题", "备注", "颜色"]
    sheet = load_workbook(io.BytesIO(build_template(spec))).worksheets[0]
    assert [c.value for c in sheet[1]] == ["标题", "备注", "颜色"]


def test_dry_run_counts_and_writes_nothing(notes_kind, personas, run_job):
    job = run_job(personas["county_staff"], hostile.workbook(NOTES))
    assert (job.status, job.phase, job.dry_run) == ("succeeded", "done", True)
    assert (job.total_rows, job.processed_rows, job.created, job.updated, job.unchanged) == (3, 3, 3, 0, 0)
    assert job.error_count == 0 and job.errors == [] and not job.error_report
    assert "试运行通过" in job.message
    assert not Group.objects.exists()
    assert job.started_at and job.finished_at and job.attempts == 1


def test_commit_writes_every_row_then_a_second_run_changes_nothing(notes_kind, personas, run_job):
    job = run_job(personas["county_staff"], hostile.workbook(NOTES), dry_run=False)
    assert job.status == "succeeded" and job.message == "导入完成。"
    assert set(Group.objects.values_list("name", flat=True)) == {"甲", "乙", "丙"}
    again = run_job(personas["county_staff"], hostile.workbook(NOTES), dry_run=False)
    assert (again.status, again.created, again.unchanged) == ("succeeded", 0, 3)
    assert again.message == "文件与现有数据一致，没有任何变化。"


def test_blank_rows_are_skipped_and_rows_keep_their_excel_numbers(notes_kind, personas, run_job):
    data = hostile.workbook([NOTES[0], ["甲"], [None, None, None], ["坏的"], [], []])
    job = run_job(personas["county_staff"], data)
    assert job.total_rows == 2
    assert job.errors == [{"row": 4, "column": "标题", "value": "坏的", "message": "标题不能以“坏”开头。"}]


# --- errors -----------------------------------------------------------------------------------


def test_every_error_names_row_column_and_value_and_nothing_is_written(notes_kind, personas, run_job):
    data = notes(["甲", "", "红"], ["坏一", "", "蓝"], ["", "缺标题", ""], ["乙", "", ""], ["坏二", "", ""])
    job = run_job(personas["county_staff"], data, dry_run=False)
    assert job.status == "failed"
    assert job.errors == [
        {"row": 3, "column": "标题", "value": "坏一", "message": "标题不能以“坏”开头。"},
        {"row": 3, "column": "颜色", "value": "蓝", "message": "颜色须为“红”或“绿”。"},
        {"row": 4, "column": "标题", "value": "", "message": "标题不能为空。"},
        {"row": 6, "column": "标题", "value": "坏二", "message": "标题不能以“坏”开头。"},
    ]
    assert job.error_count == 4
    assert job.message == "发现4处错误，未写入任何数据。请下载错误报告，修改后重新上传。"
    assert not Group.objects.exists()  # not even the good rows 甲 and 乙


def test_errors_are_capped_at_1000_in_the_job_but_counted_in_full(notes_kind, personas, run_job):
    data = notes(*[[f"坏{i}", "", ""] for i in range(1200)])
    job = run_job(personas["county_staff"], data)
    assert job.status == "failed"
    assert job.error_count == 1200 and len(job.errors) == services.MAX_STORED_ERRORS == 1000
    assert job.errors[0]["row"] == 2 and job.errors[-1]["row"] == 1001
    # The workbook has them all.
    sheet = load_workbook(io.BytesIO(job.error_report.read())).worksheets[0]
    assert sheet.cell(row=1201, column=1).value == "【标题】标题不能以“坏”开头。"


# --- all or nothing -----------------------------------------------------------------------------


def test_an_exception_in_commit_rolls_everything_back(notes_kind, personas, make_job):
    """炸 comes third: 甲 and 乙 are written first, then the crash undoes them. The task returns
    normally (the worker lives on) and the job says what happened."""
    job = make_job(personas["county_staff"], notes(["甲"], ["乙"], ["炸"], ["丁"]), dry_run=False)
    result = run_import.delay(job.pk)
    assert result.get() == "failed"
    job.refresh_from_db()
    assert job.status == "failed" and job.phase == "done"
    assert job.message == "导入过程中发生内部错误，未写入任何数据。请联系管理员。"
    assert (job.created, job.updated) == (0, 0)
    assert not Group.objects.exists()


def test_a_domain_refusal_in_commit_keeps_its_words(notes_kind, personas, run_job):
    job = run_job(personas["county_staff"], notes(["甲"], ["拒"]), dry_run=False)
    assert job.status == "failed" and job.message == "该批便笺已被锁定。未写入任何数据。"
    assert not Group.objects.exists()


# --- progress -----------------------------------------------------------------------------------


def test_progress_is_written_while_checking(notes_kind, personas, run_job, monkeypatch):
    monkeypatch.setattr(services, "PROGRESS_EVERY_SECONDS", 0)
    job = run_job(personas["county_staff"], notes(*[[f"第{i}条"] for i in range(5)]))
    assert NotesImporter.progress_seen == [1, 2, 3, 4, 5]
    assert job.processed_rows == job.total_rows == 5
    assert job.rows_per_second is not None and job.rows_per_second > 0


def test_progress_writes_are_throttled(notes_kind, personas, run_job):
    job = run_job(personas["county_staff"], notes(*[[f"第{i}条"] for i in range(5)]))
    assert NotesImporter.progress_seen[0] == 1  # the first one goes through at once...
    assert NotesImporter.progress_seen[1:] == [1, 1, 1, 1]  # ...the next wait half a second
    assert job.processed_rows == 5


def test_rows_per_second_and_percent(personas):
    start = now()
    job = ImportJob(
        status="running", started_at=start - datetime.timedelta(seconds=4), processed_rows=200, total_rows=400
    )
    assert 45 <= job.rows_per_second <= 50 and job.percent == 50
    job.status, job.finished_at = "succeeded", start
    assert job.rows_per_second == 50 and job.percent == 100
    assert ImportJob(status="queued").rows_per_second is None


# --- headers ------------------------------------------------------------------------------------


def test_headers_are_matched_by_name_alias_and_order(notes_kind, personas, run_job):
    """Columns in another order, an alias (说明 for 备注), full-width and spaced headers, an extra
    column the importer does not know."""
    data = hostile.workbook([["其他", "说明", "标 题"], ["x", "备注甲", "甲"], ["y", "备注乙", "乙"]])
    job = run_job(personas["county_staff"], data, dry_run=False)
    assert job.status == "succeeded", job.message
    assert NotesImporter.notes_seen == ["备注甲", "备注乙"]
    assert set(Group.objects.values_list("name", flat=True)) == {"甲", "乙"}


def test_optional_columns_may_be_missing(notes_kind, personas, run_job):
    job = run_job(personas["county_staff"], hostile.workbook([["标题"], ["甲"]]))
    assert job.status == "succeeded"


def test_missing_headers_are_named(notes_kind, personas, run_job):
    job = run_job(personas["county_staff"], hostile.workbook([["备注", "颜色"], ["x", "红"]]))
    assert job.status == "failed"
    assert job.message == "缺少表头：标题。请下载模板，按模板表头填写（第一行为表头）。"
    assert job.errors == [{"row": 1, "column": "标题", "value": "", "message": "缺少该列表头。"}]


def test_english_headers_are_refused_with_a_hint(notes_kind, personas, run_job):
    job = run_job(personas["county_staff"], hostile.workbook([["title", "note"], ["a", "b"]]))
    assert job.status == "failed"
    assert job.message.startswith("表头须为中文模板表头，缺少表头：标题。")


def test_a_header_given_twice_is_refused(notes_kind, personas, run_job):
    job = run_job(personas["county_staff"], hostile.workbook([["标题", "备注", "说明"], ["甲", "a", "b"]]))
    assert job.status == "failed" and "表头“备注”出现了不止一次（备注、说明）" in job.message
    job = run_job(personas["county_staff"], hostile.workbook([["标题", "标题"], ["甲", "乙"]]))
    assert job.status == "failed" and "表头“标题”出现了不止一次" in job.message


# --- formula cells ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["=1+1", "+8613800138000", "@SUM(A1:A3)", "-2", '=HYPERLINK("http://x")'])
def test_text_that_would_run_as_a_formula_is_refused(notes_kind, personas, run_job, value):
    job = run_job(personas["county_staff"], notes(["甲", value, ""]), dry_run=False)
    assert job.status == "failed"
    assert job.errors == [
        {"row": 2, "column": "备注", "value": value, "message": services.FORMULA_TEXT_MESSAGE}
    ]
    assert not Group.objects.exists()


def test_formula_cells_are_refused_by_name(notes_kind, personas, run_job):
    """A real formula reads as the value Excel last computed (openpyxl saves none): refused."""
    data = hostile.workbook([["标题", "备注"], ["甲", "=1+1"], ["乙", "=SUM(A1:A2)"]], formulas_as_text=False)
    job = run_job(personas["county_staff"], data)
    assert job.status == "failed"
    assert [(e["row"], e["column"], e["value"]) for e in job.errors] == [
        (2, "备注", "=1+1"),
        (3, "备注", "=SUM(A1:A2)"),
    ]
    assert job.errors[0]["message"] == services.FORMULA_CELL_MESSAGE


def test_a_formula_cell_gets_only_its_formula_error(notes_kind, personas, run_job):
    """=1+1 saved without a computed value reads as blank: "标题不能为空" would be about nothing the
    user typed. Other cells of the row keep their errors."""
    data = hostile.workbook([["标题", "颜色"], ["=1+1", "蓝"]], formulas_as_text=False)
    job = run_job(personas["county_staff"], data)
    assert [(e["row"], e["column"], e["message"]) for e in job.errors] == [
        (2, "标题", services.FORMULA_CELL_MESSAGE),
        (2, "颜色", "颜色须为“红”或“绿”。"),
    ]


def test_negative_numbers_and_formulas_outside_the_read_columns_are_fine(notes_kind, personas, run_job):
    data = hostile.workbook([["标题", "其他"], ["甲", -2], ["乙", "=1+1"]], formulas_as_text=False)
    job = run_job(personas["county_staff"], data)
    assert job.status == "succeeded", job.errors


# --- the error workbook -------------------------------------------------------------------------


def test_error_workbook_adds_a_column_and_marks_bad_cells(notes_kind, personas, run_job):
    data = hostile.workbook([["说明", "标题", "颜色"], ["好", "甲", "红"], ["=1+1", "坏了", "蓝"]])
    job = run_job(personas["county_staff"], data)
    assert job.status == "failed" and job.error_report.name.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(job.error_report.read())).worksheets[0]
    assert [c.value for c in sheet[1]] == [ERROR_HEADER, "说明", "标题", "颜色"]
    assert [c.value for c in sheet[2]] == [None, "好", "甲", "红"]
    message, note, title, color = sheet[3]
    assert message.value == (
        "【备注】单元格以 = + - @ 开头，可能被当作公式执行，已拒绝。请删去开头的符号。；"
        "【标题】标题不能以“坏”开头。；【颜色】颜色须为“红”或“绿”。"
    )
    # The uploaded text as text (not a formula), the bad cells in red; "说明" is 备注's alias.
    assert note.value == "=1+1" and note.data_type == "s"
    red = {c.coordinate for c in sheet[3] if c.fill.fgColor.rgb.endswith("FFC7CE")}
    assert red == {"A3", "B3", "C3", "D3"}
    assert not any(c.fill.fgColor.rgb.endswith("FFC7CE") for c in sheet[2])


def test_error_workbook_drops_characters_excel_cannot_hold(notes_kind, personas, run_job):
    data = hostile.rezip(
        notes(["坏X的"]),
        replace={hostile.SHEET: lambda c: c.replace("坏X的".encode(), "坏_x000B_的".encode())},
    )  # Excel's escape for a vertical tab (pasted from Word): calamine reads it back as "\x0b"
    job = run_job(personas["county_staff"], data)
    assert job.errors[0]["value"] == "坏\x0b的"
    assert job.status == "failed"
    sheet = load_workbook(io.BytesIO(job.error_report.read())).worksheets[0]
    assert sheet["B2"].value == "坏的"


# --- the worker died, the task came twice ---------------------------------------------------


def test_a_job_found_running_after_its_worker_died_runs_again_from_the_file(notes_kind, personas, make_job):
    job = make_job(personas["county_staff"], hostile.workbook(NOTES), dry_run=False)
    stale = now() - services.STALE_AFTER - datetime.timedelta(minutes=1)
    ImportJob.objects.filter(pk=job.pk).update(
        status="running", phase="checking", attempts=1, heartbeat_at=stale, processed_rows=2, total_rows=3
    )
    job = services.import_run(job_id=job.pk)
    assert (job.status, job.attempts, job.created) == ("succeeded", 2, 3)
    assert Group.objects.count() == 3


def test_a_job_running_in_a_live_worker_is_left_to_it(notes_kind, personas, make_job):
    job = make_job(personas["county_staff"], hostile.workbook(NOTES))
    ImportJob.objects.filter(pk=job.pk).update(status="running", attempts=1, heartbeat_at=now())
    job = services.import_run(job_id=job.pk)
    assert (job.status, job.attempts) == ("running", 1)


def test_a_finished_job_is_left_alone(notes_kind, personas, run_job):
    job = run_job(personas["county_staff"], hostile.workbook(NOTES), dry_run=False)
    finished_at = job.finished_at
    again = services.import_run(job_id=job.pk)
    assert (again.status, again.attempts, again.finished_at) == ("succeeded", 1, finished_at)
    assert Group.objects.count() == 3
    assert run_import.delay(job.pk).get() == "succeeded"


def test_a_file_that_keeps_killing_its_worker_is_given_up(notes_kind, personas, make_job):
    job = make_job(personas["county_staff"], hostile.workbook(NOTES), dry_run=False)
    ImportJob.objects.filter(pk=job.pk).update(
        status="running", attempts=services.MAX_ATTEMPTS, heartbeat_at=None
    )
    job = services.import_run(job_id=job.pk)
    assert job.status == "failed" and "处理多次中断" in job.message
    assert not Group.objects.exists()


def test_stale_queued_jobs_are_sent_again_and_lost_running_jobs_end_failed(
    notes_kind, personas, make_job, django_capture_on_commit_callbacks
):
    stale = now() - services.STALE_AFTER - datetime.timedelta(minutes=1)
    lost = make_job(personas["county_staff"], hostile.workbook(NOTES), dry_run=False)
    ImportJob.objects.filter(pk=lost.pk).update(status="running", attempts=1, heartbeat_at=stale)
    silent = make_job(personas["county_staff"], hostile.workbook(NOTES))  # running, never a heartbeat
    ImportJob.objects.filter(pk=silent.pk).update(status="running", attempts=1, heartbeat_at=None)
    waiting = make_job(personas["county_staff"], hostile.workbook(NOTES))
    ImportJob.objects.filter(pk=waiting.pk).update(created_at=stale)
    alive = make_job(personas["county_staff"], hostile.workbook(NOTES))
    ImportJob.objects.filter(pk=alive.pk).update(status="running", attempts=1, heartbeat_at=now())
    with django_capture_on_commit_callbacks(execute=True):
        swept = services.import_requeue_stale()
    assert (swept["sent_again"], sorted(swept["failed"])) == ([waiting.pk], sorted([lost.pk, silent.pk]))
    statuses = dict(ImportJob.objects.values_list("pk", "status"))
    assert statuses == {lost.pk: "failed", silent.pk: "failed", waiting.pk: "succeeded", alive.pk: "running"}
    lost.refresh_from_db()
    assert (lost.attempts, lost.phase) == (1, "done") and lost.finished_at is not None
    assert "后台进程意外中断" in lost.message and "未写入任何数据" in lost.message
    assert not Group.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_sweeper_leaves_a_job_whose_writes_are_committing(notes_kind, personas, make_job):
    require_service(connection.vendor == "postgresql", "PostgreSQL (a row lock from a second connection)")
    job = make_job(personas["county_staff"], hostile.workbook(NOTES), dry_run=False)
    ImportJob.objects.filter(pk=job.pk).update(
        status="running", phase="writing", attempts=1, heartbeat_at=None
    )
    writer = connection.get_new_connection(connection.get_connection_params())
    try:
        with writer.cursor() as cursor:  # the lock _run holds on the job's row while it writes
            cursor.execute("SELECT id FROM imports_importjob WHERE id = %s FOR UPDATE", [job.pk])
        assert services.import_requeue_stale() == {"sent_again": [], "failed": []}
    finally:
        writer.rollback()
        writer.close()
    assert services.import_requeue_stale() == {"sent_again": [], "failed": [job.pk]}


def test_an_unregistered_kind_fails_cleanly(personas, run_job):
    job = run_job(personas["admin"], hostile.workbook(NOTES), kind="no_such_kind")
    assert job.status == "failed" and "未知的导入类型" in job.message


# --- creating jobs, who may import ------------------------------------------------------------


def test_import_create_queues_and_runs_after_commit(notes_kind, personas, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = services.import_create(
            actor=personas["county_staff"],
            kind="test_notes",
            uploaded=upload(hostile.workbook(NOTES)),
            dry_run=True,
        )
    assert job.status == "queued" and len(callbacks) == 1  # nothing runs inside the transaction
    callbacks[0]()
    job.refresh_from_db()
    assert job.status == "succeeded" and job.original_name == "便笺.xlsx"


@pytest.mark.parametrize(
    "kind, allowed",
    [
        ("households", {"county_staff", "admin"}),
        ("repayments", {"bank_x", "bank_y", "admin"}),
        ("test_notes", {"county_staff", "admin"}),
    ],
)
def test_who_may_import_what(notes_kind, personas, kind, allowed):
    assert {name for name, user in personas.items() if services.may_import(user, kind)} == allowed


def test_may_use_imports(notes_kind, personas):
    offered = {name for name, user in personas.items() if services.may_use_imports(user)}
    assert {"county_staff", "bank_x", "bank_y", "admin"} <= offered
    assert not offered & {"city", "village_a1", "nobody"}


def test_import_create_refuses_roles_that_may_not(notes_kind, personas):
    with pytest.raises(Forbidden):
        services.import_create(
            actor=personas["bank_x"], kind="test_notes", uploaded=upload(hostile.valid()), dry_run=True
        )
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    ("kind", "code"), [("test_template_only", "kind_not_importable"), ("nope", "unknown_kind")]
)
def test_import_create_refuses_kinds_it_cannot_run(template_only_kind, personas, kind, code):
    with pytest.raises(services.ImportError_) as refused:
        services.import_create(
            actor=personas["admin"], kind=kind, uploaded=upload(hostile.valid()), dry_run=True
        )
    assert refused.value.code == code
    assert not ImportJob.objects.exists()


def test_import_create_refuses_an_oversized_upload(notes_kind, personas, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1000
    with pytest.raises(services.ImportError_) as refused:
        services.import_create(
            actor=personas["county_staff"], kind="test_notes", uploaded=upload(hostile.valid()), dry_run=True
        )
    assert refused.value.code == "file_too_large"
    assert not ImportJob.objects.exists()


def test_rerun_for_real_after_a_clean_dry_run(
    notes_kind, personas, run_job, django_capture_on_commit_callbacks
):
    dry = run_job(personas["county_staff"], hostile.workbook(NOTES))
    with django_capture_on_commit_callbacks(execute=True):
        real = services.import_rerun(actor=personas["county_staff"], job=dry, dry_run=False)
    real.refresh_from_db()
    assert (real.dry_run, real.status, real.created, real.kind) == (False, "succeeded", 3, "test_notes")
    assert real.file.name != dry.file.name and real.original_name == dry.original_name
    assert Group.objects.count() == 3


def test_rerun_for_real_needs_a_clean_dry_run(notes_kind, personas, run_job, make_job):
    failed = run_job(personas["county_staff"], notes(["坏"]))
    with pytest.raises(services.ImportError_) as refused:
        services.import_rerun(actor=personas["county_staff"], job=failed, dry_run=False)
    assert refused.value.code == "dry_run_required"
    queued = make_job(personas["county_staff"], hostile.workbook(NOTES))
    with pytest.raises(services.ImportError_) as refused:
        services.import_rerun(actor=personas["county_staff"], job=queued, dry_run=False)
    assert refused.value.code == "job_not_finished"


def test_rerun_checks_the_role_again(notes_kind, personas, run_job):
    dry = run_job(personas["county_staff"], hostile.workbook(NOTES))
    with pytest.raises(Forbidden):
        services.import_rerun(actor=personas["bank_x"], job=dry, dry_run=False)


def test_requeue_task_fails_lost_jobs(notes_kind, personas, make_job, django_capture_on_commit_callbacks):
    from imports.tasks import requeue_stale_imports

    lost = make_job(personas["county_staff"], hostile.workbook(NOTES))
    ImportJob.objects.filter(pk=lost.pk).update(status="running", attempts=1, heartbeat_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_stale_imports.delay().get() == {"sent_again": [], "failed": [lost.pk]}
    lost.refresh_from_db()
    assert (lost.status, lost.attempts) == ("failed", 1)
