"""The imports API (API.md "Imports"): upload, job status, error workbook, templates; who may do
what; the household file end to end."""

import datetime
import io
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.utils import override_settings
from openpyxl import load_workbook

from common.testing import make_resident_id
from households.models import Household
from imports import registry
from imports.models import ImportJob

from . import hostile

pytestmark = pytest.mark.django_db

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NOTES = [["标题", "备注", "颜色"], ["甲", "第一条", "红"], ["乙", "", "绿"]]
API_FIELDS = {
    "id", "kind", "status", "dry_run", "total_rows", "processed_rows", "created", "updated", "unchanged",
    "error_count", "errors", "error_report_url",
}  # fmt: skip
EXTRA_FIELDS = {
    "phase",
    "message",
    "original_name",
    "created_at",
    "started_at",
    "finished_at",
    "rows_per_second",
}


def post(client, data: bytes, *, kind="test_notes", name="便笺.xlsx", **fields):
    body = {"kind": kind, "file": SimpleUploadedFile(name, data, content_type=XLSX), **fields}
    return client.post("/api/v1/imports/", body, format="multipart")


@pytest.fixture
def staff(api, personas):
    return api(personas["county_staff"])


@pytest.fixture
def upload_and_run(django_capture_on_commit_callbacks):
    """POST with the task run after commit, as the eager demo does; returns the response."""

    def go(client, data: bytes, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return post(client, data, **kwargs)

    return go


# --- POST /imports/ -------------------------------------------------------------------------------


def test_upload_answers_202_with_id_and_status(notes_kind, staff, upload_and_run):
    response = upload_and_run(staff, hostile.workbook(NOTES))
    assert response.status_code == 202, response.content
    body = response.json()
    job = ImportJob.objects.get()
    # Tests run the after-commit task once the request is over (in the demo it runs before the
    # response, and the answer says "succeeded" already).
    assert body == {"id": job.pk, "status": "queued", "url": f"http://testserver/api/v1/imports/{job.pk}/"}
    assert job.status == "succeeded"
    assert job.dry_run is True  # the default
    assert job.original_name == "便笺.xlsx" and job.created_by.username == "county"


def test_upload_queues_the_job_after_commit(notes_kind, staff, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post(staff, hostile.workbook(NOTES))
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert len(callbacks) == 1


@pytest.mark.parametrize(("given", "dry_run"), [("true", True), ("false", False), ("0", False), ("1", True)])
def test_dry_run_flag(notes_kind, staff, upload_and_run, given, dry_run):
    response = upload_and_run(staff, hostile.workbook(NOTES), dry_run=given)
    assert ImportJob.objects.get(pk=response.json()["id"]).dry_run is dry_run


def test_dry_run_flag_must_be_a_boolean(notes_kind, staff):
    response = post(staff, hostile.workbook(NOTES), dry_run="maybe")
    assert response.status_code == 400 and response.json()["errors"] == {"dry_run": ["应为 true 或 false。"]}


def test_file_and_kind_are_required(notes_kind, staff):
    response = staff.post("/api/v1/imports/", {"kind": "test_notes"}, format="multipart")
    assert response.status_code == 400 and set(response.json()["errors"]) == {"file"}
    response = staff.post("/api/v1/imports/", {}, format="json")
    assert response.status_code == 400 and set(response.json()["errors"]) == {"kind", "file"}


@pytest.mark.parametrize(
    ("kind", "code", "words"),
    [
        ("nope", "unknown_kind", "未知的导入类型“nope”"),
        ("test_template_only", "kind_not_importable", "只提供模板下载"),
    ],
)
def test_unknown_and_template_only_kinds_answer_400(template_only_kind, api, personas, kind, code, words):
    response = post(api(personas["admin"]), hostile.valid(), kind=kind)
    assert response.status_code == 400
    body = response.json()
    assert (
        body["code"] == code
        and words in body["detail"]
        and body["errors"] == {"kind": [body["errors"]["kind"][0]]}
    )
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize("persona", ["township_a", "village_a1", "bank_x", "city", "nobody"])
def test_roles_that_may_not_import_households_get_403(api, personas, persona):
    response = post(api(personas[persona]), hostile.valid(), kind="households")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert "建档立卡户" in response.json()["detail"]
    assert not ImportJob.objects.exists()


def test_anonymous_gets_401(api):
    response = post(api(), hostile.valid(), kind="households")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


# --- GET /imports/{id}/ ---------------------------------------------------------------------------


def test_job_shows_api_md_fields_and_ours(notes_kind, staff, upload_and_run):
    job_id = upload_and_run(staff, hostile.workbook(NOTES), dry_run="false").json()["id"]
    body = staff.get(f"/api/v1/imports/{job_id}/").json()
    assert set(body) == API_FIELDS | EXTRA_FIELDS
    assert {k: body[k] for k in API_FIELDS} == {
        "id": job_id, "kind": "test_notes", "status": "succeeded", "dry_run": False, "total_rows": 2,
        "processed_rows": 2, "created": 2, "updated": 0, "unchanged": 0, "error_count": 0, "errors": [],
        "error_report_url": None,
    }  # fmt: skip
    assert body["phase"] == "done" and body["message"] == "导入完成。"
    assert body["started_at"] and body["finished_at"] and isinstance(body["rows_per_second"], int)


def test_failed_job_lists_errors_and_links_the_error_workbook(notes_kind, staff, upload_and_run):
    data = hostile.workbook([NOTES[0], ["坏", "", "蓝"], ["甲", "=1+1", ""]])
    job_id = upload_and_run(staff, data).json()["id"]
    body = staff.get(f"/api/v1/imports/{job_id}/").json()
    assert body["status"] == "failed" and body["error_count"] == 3
    assert body["errors"] == [
        {"row": 2, "column": "标题", "value": "坏", "message": "标题不能以“坏”开头。"},
        {"row": 2, "column": "颜色", "value": "蓝", "message": "颜色须为“红”或“绿”。"},
        {"row": 3, "column": "备注", "value": "=1+1", "message": body["errors"][2]["message"]},
    ]
    assert body["error_report_url"] == f"http://testserver/api/v1/imports/{job_id}/error-report.xlsx"
    response = staff.get(body["error_report_url"])
    assert response.status_code == 200 and response["Content-Type"] == XLSX
    assert response["Cache-Control"] == "private, no-store"
    assert response["Content-Disposition"] == (f"attachment; filename*=utf-8''{quote('错误报告-便笺.xlsx')}")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).worksheets[0]
    assert sheet["A1"].value == "错误说明" and "标题不能以“坏”开头" in sheet["A2"].value


def test_error_workbook_of_a_clean_job_is_404(notes_kind, staff, upload_and_run):
    job_id = upload_and_run(staff, hostile.workbook(NOTES)).json()["id"]
    response = staff.get(f"/api/v1/imports/{job_id}/error-report.xlsx")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.parametrize("persona", ["township_a", "village_a1", "bank_x", "city", "nobody"])
def test_a_job_is_its_uploaders_and_the_admins(notes_kind, api, personas, upload_and_run, persona):
    job_id = upload_and_run(api(personas["county_staff"]), hostile.workbook([NOTES[0], ["坏"]])).json()["id"]
    for path in (f"/api/v1/imports/{job_id}/", f"/api/v1/imports/{job_id}/error-report.xlsx"):
        response = api(personas[persona]).get(path)
        assert response.status_code == 404 and response.json()["code"] == "not_found", path
        assert api(personas["admin"]).get(path).status_code == 200
        assert api(personas["county_staff"]).get(path).status_code == 200


def test_missing_job_is_404(api, personas):
    assert api(personas["admin"]).get("/api/v1/imports/999999/").status_code == 404


def test_job_in_progress_reports_progress(notes_kind, personas, api, make_job):
    from common.clock import now

    job = make_job(personas["county_staff"], hostile.valid())
    ImportJob.objects.filter(pk=job.pk).update(
        status="running", phase="checking", total_rows=1000, processed_rows=400,
        started_at=now() - datetime.timedelta(seconds=2), heartbeat_at=now(),
    )  # fmt: skip
    body = api(personas["county_staff"]).get(f"/api/v1/imports/{job.pk}/").json()
    assert (body["status"], body["phase"], body["processed_rows"], body["total_rows"]) == (
        "running",
        "checking",
        400,
        1000,
    )
    assert 150 <= body["rows_per_second"] <= 200 and body["finished_at"] is None


# --- templates ------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["county_staff", "bank_x", "township_b", "nobody"])
@pytest.mark.parametrize(
    ("kind", "filename", "headers"),
    [
        ("households", "建档立卡户导入模板.xlsx", ["县", "乡镇", "行政村", "行政区划代码", "户编号", "姓名"]),
        ("repayments", "银行还款文件导入模板.xlsx", ["贷款编号", "还款日期", "还款金额", "流水号"]),
    ],
)
def test_templates_are_served_to_any_signed_in_user(api, personas, persona, kind, filename, headers):
    response = api(personas[persona]).get(f"/api/v1/imports/templates/{kind}.xlsx")
    assert response.status_code == 200 and response["Content-Type"] == XLSX
    assert response["Content-Disposition"] == f"attachment; filename*=utf-8''{quote(filename)}"
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    assert [c.value for c in sheet[1]][: len(headers)] == headers


@pytest.mark.parametrize("kind", ["households", "repayments"])
def test_templates_have_chinese_headers_and_drop_downs_for_enumerated_columns(api, personas, kind):
    spec = registry.template(kind)
    content = api(personas["county_staff"]).get(f"/api/v1/imports/templates/{kind}.xlsx").content
    book = load_workbook(io.BytesIO(content))
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header == [c.header for c in spec.columns]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in h) for h in header)
    letters = {cell.value: cell.column_letter for cell in sheet[1]}
    validated = {}
    for validation in sheet.data_validations.dataValidation:
        assert validation.type == "list"
        for column in spec.columns:
            if any(str(r).startswith(f"{letters[column.header]}2:") for r in validation.sqref.ranges):
                source = validation.formula1.split("!")[1].replace("$", "")
                lists = book["可选值"]
                validated[column.header] = [c.value for row in lists[source] for c in row]
    assert validated == {c.header: list(c.choices) for c in spec.columns if c.choices}
    if kind == "households":
        assert {"性别", "劳动能力", "识别标准", "贫困户属性", "致贫原因", "脱贫状态"} <= set(validated)
        assert validated["脱贫状态"] == ["未脱贫", "已脱贫", "监测户"] or len(validated["脱贫状态"]) == 3
    assert book["可选值"].sheet_state == "hidden"


def test_unknown_template_is_404(api, personas):
    response = api(personas["county_staff"]).get("/api/v1/imports/templates/nope.xlsx")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_schema_documents_the_import_routes(api, personas):
    schema = (
        api(personas["county_staff"]).get("/api/v1/schema/", HTTP_ACCEPT="application/json").content.decode()
    )
    for path in (
        "/api/v1/imports/",
        "/api/v1/imports/{id}/",
        "/api/v1/imports/{id}/error-report.xlsx",
        "/api/v1/imports/templates/{kind}.xlsx",
    ):
        assert path in schema, path


# --- the household file, end to end ---------------------------------------------------------------


def household_file(village_code="411722100201", household_no="4117221002019001", status="未脱贫") -> bytes:
    header = ["行政区划代码", "户编号", "姓名", "证件号码", "与户主关系", "人数", "脱贫状态"]
    head_id = make_resident_id("411722", datetime.date(1975, 3, 4), 11)
    return hostile.workbook([header, [village_code, household_no, "王建国", head_id, "户主", 1, status]])


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_household_file_dry_run_then_for_real(
    api, personas, regions, upload_and_run, django_capture_on_commit_callbacks
):
    from households.importers import STATUS_LABELS

    staff = api(personas["county_staff"])
    data = household_file(status=next(iter(STATUS_LABELS)))
    dry = staff.get(f"/api/v1/imports/{upload_and_run(staff, data, kind='households').json()['id']}/").json()
    assert (dry["status"], dry["created"], dry["error_count"]) == ("succeeded", 1, 0), dry
    assert not Household.objects.exists()
    real = upload_and_run(staff, data, kind="households", dry_run="false").json()
    assert staff.get(f"/api/v1/imports/{real['id']}/").json()["status"] == "succeeded"
    assert Household.objects.get().household_no == "4117221002019001"


def test_household_file_outside_the_county_is_refused_per_row(api, personas, regions, upload_and_run):
    staff = api(personas["county_staff"])
    from households.importers import STATUS_LABELS

    data = household_file(village_code="411721100201", status=next(iter(STATUS_LABELS)))  # 西平县
    body = staff.get(f"/api/v1/imports/{upload_and_run(staff, data, kind='households').json()['id']}/").json()
    assert body["status"] == "failed" and body["errors"][0]["row"] == 2
    assert body["errors"][0]["column"] == "行政区划代码" and body["errors"][0]["value"] == "411721100201"
    assert not Household.objects.exists()
