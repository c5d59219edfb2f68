"""档卡导入 in a real Chromium (see tests/test_browser.py): the progress bar follows a running job
through static/js/import_progress.js and the page shows the result when the job ends; an upload
with errors leads to the errors table and the error workbook download."""

import datetime
import io

import pytest
from openpyxl import load_workbook

from common.clock import now
from imports.models import ImportJob
from tests.test_browser import PASSWORD, shot

from . import hostile

pytestmark = pytest.mark.browser


@pytest.fixture
def staff(transactional_db, personas, regions):
    user = personas["county_staff"]
    user.set_password(PASSWORD)
    user.save()
    return user


def log_in(page, live_server, user):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def test_progress_bar_follows_a_running_job(live_server, staff, page, make_job):
    job = make_job(staff, hostile.valid(), kind="households", name="档卡.xlsx")
    ImportJob.objects.filter(pk=job.pk).update(
        status="running", phase="checking", total_rows=1000, processed_rows=100,
        started_at=now() - datetime.timedelta(seconds=10), heartbeat_at=now(),
    )  # fmt: skip
    log_in(page, live_server, staff)
    page.goto(f"{live_server.url}/imports/{job.pk}/")
    assert page.locator("#job-progress").get_attribute("value") == "10"
    ImportJob.objects.filter(pk=job.pk).update(processed_rows=500)
    # (A function, not an expression: Playwright evaluates a bare expression with eval(), which
    # the Content-Security-Policy refuses.)
    page.wait_for_function("() => document.getElementById('job-processed').textContent === '500'")
    assert page.locator("#job-progress").evaluate("bar => bar.value") == 50
    assert page.locator("#job-phase").inner_text() == "逐行校验"
    rate = page.locator("#job-rate").inner_text()
    assert rate.isdigit() and 30 <= int(rate) <= 60
    shot(page, "import-running")
    ImportJob.objects.filter(pk=job.pk).update(
        status="succeeded", phase="done", processed_rows=1000, created=900, updated=60, unchanged=40,
        finished_at=now(), message="试运行通过：以上为正式导入将产生的变化，尚未写入任何数据。",
    )  # fmt: skip
    page.wait_for_selector("#job-result")  # the script reloads the page once the job has ended
    assert page.locator("#count-created").inner_text() == "900"
    assert page.locator("#count-unchanged").inner_text() == "40"
    assert page.locator("#job-progress").evaluate("bar => bar.value") == 100
    assert page.locator("#commit-import").is_visible()
    shot(page, "import-succeeded")


def test_upload_with_errors_shows_them_and_the_report_downloads(live_server, staff, page):
    log_in(page, live_server, staff)
    page.click("nav.menu >> text=档卡导入")
    page.wait_for_url(f"{live_server.url}/imports/")
    assert page.locator("input[name=dry_run]").is_checked()
    header = ["行政区划代码", "户编号", "姓名", "证件号码", "与户主关系", "人数", "脱贫状态"]
    data = hostile.workbook(
        [header, ["411722100201", "4117221002019001", "王建国", "123", "户主", 1, "未脱贫"]]
    )
    page.select_option("select[name=kind]", "households")
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "村里的档卡.xlsx", "mimeType": "application/octet-stream", "buffer": data}],
    )
    shot(page, "import-page")
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#job-result")
    assert "失败" in page.locator("#job-status").inner_text()
    assert page.locator("#job-errors tbody tr").count() >= 1
    assert "证件号码" in page.locator("#job-errors").inner_text()
    shot(page, "import-failed")
    with page.expect_download() as download_info:
        page.click("#error-report")
    download = download_info.value
    assert download.suggested_filename == "错误报告-村里的档卡.xlsx"
    sheet = load_workbook(io.BytesIO(open(download.path(), "rb").read())).worksheets[0]
    assert sheet["A1"].value == "错误说明" and "证件号码" in sheet["A2"].value
