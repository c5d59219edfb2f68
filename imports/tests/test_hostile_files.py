"""Hostile and broken files: each refused with a clear Chinese message, first where the bytes are
read (common.spreadsheets), then end to end through POST /api/v1/imports/: the job ends
`failed` with that message, nothing is written, and the task returns normally (the worker lives).
The files are built in imports/tests/hostile.py."""

import dataclasses
import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from common.spreadsheets import Limits, SpreadsheetError, formula_cells, inspect_xlsx, read_first_sheet
from households.models import Household
from imports import registry
from imports.models import ImportJob
from imports.tasks import run_import
from imports.templates_xlsx import build_template

from . import hostile

LIMITS = Limits(
    max_upload_bytes=30 * 1024 * 1024,
    max_unzipped_bytes=300 * 1024 * 1024,
    max_compression_ratio=100,
    max_rows=200_000,
)


def limits(**changes) -> Limits:
    return dataclasses.replace(LIMITS, **changes)


# (builder, limits, code, words of the message): one hostile thing each.
CASES = {
    "text": (hostile.text_file, LIMITS, "not_xlsx", "文件不是Excel工作簿（.xlsx）"),
    "png": (hostile.png, LIMITS, "not_xlsx", "文件不是Excel工作簿（.xlsx）"),
    "pdf": (hostile.pdf, LIMITS, "not_xlsx", "文件不是Excel工作簿（.xlsx）"),
    "legacy_xls": (hostile.legacy_xls, LIMITS, "not_xlsx", "旧版.xls"),
    "docx": (hostile.docx_like, LIMITS, "not_xlsx", "文件不是Excel工作簿（.xlsx）"),
    "corrupted": (hostile.corrupted, LIMITS, "not_xlsx", "文件已损坏"),
    "truncated": (hostile.truncated, LIMITS, "not_xlsx", "文件已损坏"),
    "empty_file": (lambda: b"", LIMITS, "empty_file", "上传的文件是空的"),
    "macro_content_type": (hostile.macro_content_type, LIMITS, "macro_workbook", "含有宏（.xlsm）"),
    "macro_vba_project": (hostile.macro_vba_project, LIMITS, "macro_workbook", "含有宏（.xlsm）"),
    "oversized": (hostile.valid, limits(max_upload_bytes=1000), "file_too_large", "文件过大"),
    "unzipped_too_large": (hostile.valid, limits(max_unzipped_bytes=5000), "unsafe_file", "解压后过大"),
    "zip_bomb": (hostile.zip_bomb, LIMITS, "unsafe_file", "压缩比异常（疑似压缩炸弹）"),
    "lying_sizes": (hostile.lying_sizes, LIMITS, "unsafe_file", "大小与其声明不符"),
    "encrypted_entry": (hostile.encrypted_entry, LIMITS, "not_xlsx", "已加密"),
    "duplicate_entry": (hostile.duplicate_entry, LIMITS, "unsafe_file", "重名的部件"),
    "odd_path": (hostile.odd_path, LIMITS, "unsafe_file", "文件路径异常"),
    "xxe_sheet": (hostile.xxe_sheet, LIMITS, "unsafe_file", "不安全的XML声明（DOCTYPE/ENTITY）"),
    "xxe_shared_strings": (hostile.xxe_shared_strings, LIMITS, "unsafe_file", "不安全的XML声明"),
    "xxe_far_down": (hostile.xxe_far_down, LIMITS, "unsafe_file", "不安全的XML声明"),
    "billion_laughs": (hostile.billion_laughs, LIMITS, "unsafe_file", "不安全的XML声明"),
    "utf16": (hostile.utf16_part, LIMITS, "unsafe_file", "编码异常"),
    "sparse_cells": (hostile.sparse_cells, LIMITS, "unsafe_file", "无法安全读取"),
    "shared_string_amplifier": (
        hostile.shared_string_amplifier,
        limits(max_unzipped_bytes=200_000),
        "unsafe_file",
        "文字总量异常",
    ),
    "too_many_rows": (lambda: hostile.rows_file(6), limits(max_rows=5), "too_many_rows", "单个文件上限为5行"),
    "too_many_columns": (
        lambda: hostile.workbook([["a", "b", "c", "d"], [1, 2, 3, 4]]),
        limits(max_columns=3),
        "too_many_columns",
        "列数过多（4列），上限为3列",
    ),
    "fully_empty": (lambda: hostile.workbook([]), LIMITS, "empty_sheet", "工作表是空的"),
    "header_only": (lambda: hostile.workbook([["标题", "备注"]]), LIMITS, "empty_sheet", "没有数据行"),
    "child_timeout": (hostile.valid, limits(read_timeout_seconds=0), "unsafe_file", "读取工作簿超时"),
}


# --- where the bytes are read -------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_read_first_sheet_refuses(case):
    build, given_limits, code, words = CASES[case]
    with pytest.raises(SpreadsheetError) as refused:
        read_first_sheet(build(), given_limits)
    assert refused.value.code == code
    assert words in refused.value.message, refused.value.message


def test_defusedxml_is_installed_and_openpyxl_uses_it():
    import defusedxml

    assert defusedxml.__version__
    assert openpyxl.xml.DEFUSEDXML is True


def test_a_plain_workbook_reads_cell_for_cell():
    rows = read_first_sheet(hostile.workbook([["标题", "数量"], ["甲", 3], ["乙", 2.5]]), LIMITS)
    assert rows == [["标题", "数量"], ["甲", 3.0], ["乙", 2.5]]


def test_the_row_limit_is_exact():
    """max_rows data rows pass; one more does not (the header is not counted)."""
    assert len(read_first_sheet(hostile.rows_file(5), limits(max_rows=5))) == 6
    with pytest.raises(SpreadsheetError, match="超过5行"):
        read_first_sheet(hostile.rows_file(6), limits(max_rows=5))


def test_trailing_blank_rows_do_not_count():
    data = hostile.rezip(
        hostile.rows_file(5),
        replace={
            hostile.SHEET: lambda c: c.replace(
                b"</sheetData>",
                b'<row r="40"><c r="A40" t="inlineStr"><is><t></t></is></c></row></sheetData>',
            )
        },
    )
    assert len(read_first_sheet(data, limits(max_rows=5))) == 6


def test_cells_keep_their_excel_positions_when_the_sheet_starts_further_in():
    book = openpyxl.Workbook()
    book.active["B1"], book.active["C1"], book.active["C3"] = "标题", "备注", "甲"
    buffer = io.BytesIO()
    book.save(buffer)
    assert read_first_sheet(buffer.getvalue(), LIMITS) == [["", "标题", "备注"], ["", "", ""], ["", "", "甲"]]


def test_a_far_but_reasonable_cell_is_read():
    rows = read_first_sheet(hostile.sparse_cells("C200"), LIMITS)
    assert len(rows) == 200 and rows[199][2] == "x"


def test_the_worker_outlives_a_file_that_kills_its_reader():
    """The sparse grid aborts the reading child (calamine asks for 512 GB); this process goes on,
    and can read the next file."""
    for _ in range(2):
        with pytest.raises(SpreadsheetError):
            read_first_sheet(hostile.sparse_cells(), LIMITS)
    assert read_first_sheet(hostile.valid(), LIMITS)[1] == ["第一条", "说明"]


def test_our_own_templates_pass_the_inspection():
    for spec in registry.templates().values():
        inspect_xlsx(build_template(spec), LIMITS)  # no DTD, no macro, plain content types
        with pytest.raises(SpreadsheetError, match="没有数据行"):
            read_first_sheet(build_template(spec), LIMITS)


def test_formula_cells_are_found_with_their_positions():
    data = hostile.workbook([["a", "b"], ["=1+1", "x"], [None, "=SUM(A1:A2)"]], formulas_as_text=False)
    assert formula_cells(data) == [(2, 0, "=1+1"), (3, 1, "=SUM(A1:A2)")]
    assert formula_cells(hostile.workbook([["a"], ["=1+1"]])) == []  # text, not a formula


# --- end to end ---------------------------------------------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SETTINGS = {
    "max_upload_bytes": "IMPORT_MAX_UPLOAD_BYTES",
    "max_unzipped_bytes": "IMPORT_MAX_UNZIPPED_BYTES",
    "max_rows": "IMPORT_MAX_ROWS",
    "max_columns": "IMPORT_MAX_COLUMNS",
    "read_timeout_seconds": "IMPORT_READ_TIMEOUT_SECONDS",
}
# Refused at upload rather than by the job.
AT_UPLOAD = {"oversized"}


def post_file(client, data: bytes, *, kind="households", dry_run="false", name="上传.xlsx"):
    return client.post(
        "/api/v1/imports/",
        {"kind": kind, "dry_run": dry_run, "file": SimpleUploadedFile(name, data, content_type=XLSX)},
        format="multipart",
    )


@pytest.mark.django_db
@pytest.mark.parametrize("case", sorted(set(CASES) - AT_UPLOAD))
def test_hostile_upload_fails_its_job_and_writes_nothing(
    api, personas, households, settings, django_capture_on_commit_callbacks, case
):
    build, given_limits, code, words = CASES[case]
    for field in dataclasses.fields(Limits):
        value = getattr(given_limits, field.name)
        if value != getattr(LIMITS, field.name):
            setattr(settings, SETTINGS[field.name], value)
    before = Household.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_file(api(personas["county_staff"]), build())
    assert response.status_code == 202, response.content
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert (job.status, job.phase) == ("failed", "done")
    assert words in job.message, job.message
    assert Household.objects.count() == before
    assert run_import.delay(job.pk).get() == "failed"  # the task returns; a second run changes nothing
    body = api(personas["county_staff"]).get(f"/api/v1/imports/{job.pk}/").json()
    assert body["status"] == "failed" and body["message"] == job.message and body["error_report_url"] is None


@pytest.mark.django_db
def test_oversized_upload_is_refused_at_upload(api, personas, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1000
    response = post_file(api(personas["county_staff"]), hostile.valid())
    assert response.status_code == 400
    assert response.json()["code"] == "file_too_large" and "文件过大" in response.json()["detail"]
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_far_oversized_upload_is_refused_before_its_body_is_read(api, personas, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1000
    response = post_file(api(personas["county_staff"]), b"PK\x03\x04" + b"\x00" * 200_000)
    assert response.status_code == 400 and response.json()["code"] == "file_too_large"
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_english_headers_end_to_end(api, personas, households, django_capture_on_commit_callbacks):
    data = hostile.workbook([["household_no", "name", "id_number"], ["4117221002010001", "Wang", "x"]])
    with django_capture_on_commit_callbacks(execute=True):
        response = post_file(api(personas["county_staff"]), data)
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert job.status == "failed" and job.message.startswith(
        "表头须为中文模板表头，缺少表头：行政区划代码、户编号"
    )
    assert Household.objects.count() == 3


@pytest.mark.django_db
def test_missing_headers_end_to_end_lists_which(
    api, personas, households, django_capture_on_commit_callbacks
):
    data = hostile.workbook([["户编号", "姓名"], ["4117221002010001", "王建国"]])
    with django_capture_on_commit_callbacks(execute=True):
        response = post_file(api(personas["county_staff"]), data)
    body = api(personas["county_staff"]).get(f"/api/v1/imports/{response.json()['id']}/").json()
    assert body["status"] == "failed" and body["message"].startswith("缺少表头：行政区划代码、证件号码")
    missing = [e["column"] for e in body["errors"]]
    assert "行政区划代码" in missing and "户编号" not in missing and "姓名" not in missing
    assert body["error_count"] == len(missing) and all(e["row"] == 1 for e in body["errors"])
    assert Household.objects.count() == 3


@pytest.mark.django_db
def test_the_blank_household_template_end_to_end(api, personas, django_capture_on_commit_callbacks):
    template = api(personas["county_staff"]).get("/api/v1/imports/templates/households.xlsx").content
    with django_capture_on_commit_callbacks(execute=True):
        response = post_file(api(personas["county_staff"]), template)
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert job.status == "failed" and "没有数据行" in job.message
