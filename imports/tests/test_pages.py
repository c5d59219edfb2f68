"""The browser pages of imports: the upload page, a job's page (server-rendered, polled by
static/js/import_progress.js), 正式导入 after a clean dry run, downloads, and the menu."""

import io
import re

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import load_workbook

from common.testing import page_text
from imports.models import ImportJob

from . import hostile

pytestmark = pytest.mark.django_db

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NOTES = [["标题", "备注"], ["甲", "第一条"], ["乙", ""]]
MENU_LINK = '<a href="/imports/"'


def upload(client, data: bytes, *, kind="test_notes", dry_run=True, name="便笺.xlsx"):
    form = {"kind": kind, "file": SimpleUploadedFile(name, data, content_type=XLSX)}
    if dry_run:
        form["dry_run"] = "on"
    return client.post("/imports/", form)


@pytest.fixture
def eager(django_capture_on_commit_callbacks):
    """eager(request, *args) -> the response, with the after-commit task run before returning, as
    the demo runs it inside the request that queued it."""

    def send(func, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return func(*args, **kwargs)

    return send


# --- the upload page ------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["county_staff", "admin"])
def test_upload_page_offers_households(client_for, personas, persona):
    page = page_text(client_for(personas[persona]).get("/imports/"))
    assert "<h1>档卡导入</h1>" in page
    assert '<option value="households"' in page and "建档立卡户" in page
    assert re.search(r'<input type="checkbox" name="dry_run"[^>]*checked', page)
    assert "先试运行（不写入）" in page
    assert 'href="/imports/templates/households.xlsx"' in page
    assert 'enctype="multipart/form-data"' in page


def test_bank_officer_may_upload_repayment_files_only(client_for, personas):
    page = page_text(client_for(personas["bank_x"]).get("/imports/"))
    assert 'href="/imports/templates/repayments.xlsx"' in page and "暂只提供模板" not in page
    assert '<option value="repayments"' in page and 'name="file"' in page
    assert (
        'href="/imports/templates/households.xlsx"' not in page and '<option value="households"' not in page
    )


@pytest.mark.parametrize("persona", ["village_a1", "city", "nobody"])
def test_roles_without_imports_get_403(client_for, personas, persona):
    assert client_for(personas[persona]).get("/imports/").status_code == 403


def test_anonymous_is_sent_to_login(client):
    for url in ("/imports/", "/imports/1/", "/imports/templates/households.xlsx"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize(
    "persona, offered",
    [("county_staff", True), ("bank_x", True), ("admin", True), ("village_a1", False), ("city", False), ("nobody", False)],
)  # fmt: skip
def test_menu_offers_imports_by_role(client_for, personas, persona, offered):
    page = client_for(personas[persona]).get("/").content.decode()
    assert (MENU_LINK in page) is offered
    if offered:
        assert ">档卡导入</a>" in page


def test_menu_marks_the_import_pages(client_for, personas, notes_kind, eager):
    client = client_for(personas["county_staff"])
    assert '<a href="/imports/" class="active"' in client.get("/imports/").content.decode()
    response = eager(upload, client, hostile.workbook(NOTES))
    assert '<a href="/imports/" class="active"' in client.get(response["Location"]).content.decode()


# --- upload, follow, commit -------------------------------------------------------------------------


def test_upload_redirects_to_the_job_page_with_its_result(client_for, personas, notes_kind, eager):
    client = client_for(personas["county_staff"])
    response = eager(upload, client, hostile.workbook(NOTES))
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/imports/{job.pk}/"
    page = page_text(client.get(response["Location"]))
    assert "测试便笺试运行" in page and "成功" in page
    assert re.search(r'<progress id="job-progress" max="100" value="100">', page)
    assert re.search(
        r'已处理 <strong id="job-processed">2</strong> / <span id="job-total">2</span> 行，每秒', page
    )
    assert '<td class="num" id="count-created">2</td>' in page
    for label in ("新增", "更新", "未变", "错误"):
        assert f'<th class="num">{label}</th>' in page
    assert 'id="commit-import"' in page and "正式导入" in page
    assert "import_progress.js" not in page  # finished: nothing to poll


def test_commit_button_imports_for_real_and_shows_the_new_job(client_for, personas, notes_kind, eager):
    client = client_for(personas["county_staff"])
    dry = ImportJob.objects.get(
        pk=int(eager(upload, client, hostile.workbook(NOTES))["Location"].split("/")[2])
    )
    response = eager(client.post, f"/imports/{dry.pk}/commit/")
    real = ImportJob.objects.exclude(pk=dry.pk).get()
    assert response.status_code == 302 and response["Location"] == f"/imports/{real.pk}/"
    assert real.dry_run is False and real.status == "succeeded"
    assert set(Group.objects.values_list("name", flat=True)) == {"甲", "乙"}
    page = page_text(client.get(response["Location"]))
    assert "导入完成。" in page and 'id="commit-import"' not in page


def test_commit_needs_post_and_a_clean_dry_run(client_for, personas, notes_kind, eager):
    client = client_for(personas["county_staff"])
    failed = ImportJob.objects.get(
        pk=int(eager(upload, client, hostile.workbook([NOTES[0], ["坏"]]))["Location"].split("/")[2])
    )
    assert client.get(f"/imports/{failed.pk}/commit/").status_code == 405
    response = client.post(f"/imports/{failed.pk}/commit/", follow=True)
    assert "只有试运行通过的文件才能正式导入" in page_text(response)
    assert ImportJob.objects.count() == 1 and not Group.objects.exists()


def test_unchecked_dry_run_imports_at_once(client_for, personas, notes_kind, eager):
    eager(upload, client_for(personas["county_staff"]), hostile.workbook(NOTES), dry_run=False)
    assert ImportJob.objects.get().dry_run is False and Group.objects.count() == 2


def test_failed_job_page_lists_errors_and_links_the_report(client_for, personas, notes_kind, eager):
    client = client_for(personas["county_staff"])
    data = hostile.workbook([NOTES[0], ["坏一", "=1+1"], ["甲", ""]])
    page = page_text(client.get(eager(upload, client, data)["Location"]))
    job = ImportJob.objects.get()
    assert "失败" in page and "发现2处错误，未写入任何数据" in page
    assert '<th class="num">行</th><th>列</th><th>值</th><th>说明</th>' in page
    assert (
        '<td class="num">2</td><td>标题</td><td class="mono">坏一</td><td>标题不能以“坏”开头。</td>' in page
    )
    assert f'href="/imports/{job.pk}/error-report.xlsx"' in page and "下载错误报告" in page
    assert 'id="commit-import"' not in page
    response = client.get(f"/imports/{job.pk}/error-report.xlsx")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).worksheets[0]
    assert sheet["A2"].value.startswith("【标题】")


def test_hostile_file_shows_its_message(client_for, personas, notes_kind, eager):
    client = client_for(personas["county_staff"])
    page = page_text(client.get(eager(upload, client, hostile.macro_vba_project())["Location"]))
    assert "工作簿含有宏（.xlsm）" in page and "失败" in page


def test_form_shows_an_upload_refusal(client_for, personas, notes_kind, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1000
    response = upload(client_for(personas["county_staff"]), hostile.valid())
    assert response.status_code == 200 and "文件过大" in page_text(response)
    assert not ImportJob.objects.exists()


def test_running_job_page_renders_its_state_and_polls(client_for, personas, make_job):
    job = make_job(personas["county_staff"], hostile.valid(), kind="households")
    ImportJob.objects.filter(pk=job.pk).update(
        status="running", phase="checking", total_rows=400, processed_rows=100
    )
    page = page_text(client_for(personas["county_staff"]).get(f"/imports/{job.pk}/"))
    assert '<progress id="job-progress" max="100" value="25">' in page
    assert '已处理 <strong id="job-processed">100</strong> / <span id="job-total">400</span> 行' in page
    assert "逐行校验" in page and "处理中" in page
    assert f'data-status-url="/api/v1/imports/{job.pk}/"' in page
    assert '<script src="/static/js/import_progress.js" defer></script>' in page
    assert "<noscript>" in page and 'id="job-result"' not in page


def test_recent_jobs_are_the_users_own(client_for, personas, make_job):
    mine = make_job(personas["county_staff"], hostile.valid(), kind="households", name="我的.xlsx")
    theirs = make_job(personas["admin"], hostile.valid(), kind="households", name="管理员的.xlsx")
    page = page_text(client_for(personas["county_staff"]).get("/imports/"))
    assert f'href="/imports/{mine.pk}/"' in page and "我的.xlsx" in page
    assert "管理员的.xlsx" not in page
    admin_page = page_text(client_for(personas["admin"]).get("/imports/"))
    assert (
        "我的.xlsx" in admin_page
        and f'href="/imports/{theirs.pk}/"' in admin_page
        and "<th>上传人</th>" in admin_page
    )
    assert "排队中" in page and "试运行" in page


@pytest.mark.parametrize("persona", ["township_a", "bank_x", "nobody"])
def test_someone_elses_job_is_404(client_for, personas, make_job, persona):
    job = make_job(personas["county_staff"], hostile.valid(), kind="households")
    client = client_for(personas[persona])
    for url in (f"/imports/{job.pk}/", f"/imports/{job.pk}/error-report.xlsx"):
        assert client.get(url).status_code == 404
    assert client.post(f"/imports/{job.pk}/commit/").status_code == 404


def test_template_downloads_from_the_page(client_for, personas):
    response = client_for(personas["county_staff"]).get("/imports/templates/households.xlsx")
    assert response.status_code == 200 and response["Content-Type"] == XLSX
    assert "filename*=utf-8''" in response["Content-Disposition"]
    assert client_for(personas["county_staff"]).get("/imports/templates/nope.xlsx").status_code == 404


def test_progress_script_is_plain_and_local():
    from pathlib import Path

    from django.conf import settings

    script = (Path(settings.BASE_DIR) / "static" / "js" / "import_progress.js").read_text()
    assert "fetch(" in script and 'credentials: "same-origin"' in script and "500" in script
    assert "http://" not in script and "https://" not in script  # no CDN
    assert "succeeded" in script and "failed" in script


def test_admin_lists_jobs_read_only(client_for, personas, make_job):
    job = make_job(personas["county_staff"], hostile.valid(), kind="households", name="档卡.xlsx")
    superuser = personas["admin"]
    superuser.is_superuser = True  # Django's model permissions: the admin role alone grants none
    superuser.save()
    client = client_for(superuser)
    page = page_text(client.get("/admin/imports/importjob/"))
    assert "档卡.xlsx" in page and "导入任务" in page
    assert "/admin/imports/importjob/add/" not in page
    detail = client.get(f"/admin/imports/importjob/{job.pk}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
