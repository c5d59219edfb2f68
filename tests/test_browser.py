"""End to end: a real Chromium (Debian's /usr/bin/chromium, driven by Playwright) against
pytest-django's live server. Screenshots go to /tmp/shots/ for a human to look at."""

import datetime
import os
import re
from pathlib import Path

import pytest
from django.db import connections

from common.testing import make_resident_id
from conftest import require_service
from households import views
from households.models import PiiAccessLog
from households.tests.factories import HouseholdFactory

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SHOTS = Path("/tmp/shots")
PASSWORD = "browser-test-Pa55"


@pytest.fixture
def allow_orm_beside_playwright(monkeypatch):
    """Playwright's sync API runs an asyncio event loop in the test's thread (through greenlets),
    so while the browser is open Django's async-safety check sees a running loop and refuses any
    ORM call made in the test (tried: SynchronousOnlyOperation), and so would pytest-django's
    flush at teardown if a test asked for `page` before its data. Nothing here is really async:
    each ORM call runs to the end between two browser steps, and the live server answers from its
    own thread, which has no loop. So the check is off for the browser tests only; monkeypatch
    puts the environment back after each test."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser_data(transactional_db, personas, regions, households):
    """The shared fixtures use `db`; requesting transactional_db first makes them commit for real,
    so that the live server's thread sees the rows."""
    officer = personas["township_a"]
    officer.set_password(PASSWORD)
    officer.save()
    extra = [HouseholdFactory(village=regions["village_a2"], head_name=f"王{i}") for i in range(4)]
    return {"officer": officer, "extra": extra, **households}


@pytest.fixture
def page(allow_orm_beside_playwright):
    require_service(os.path.exists(CHROMIUM), "Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        context.close()
        browser.close()
        # ORM calls made while Playwright's loop runs get a connection of their own (Django keys
        # connections by async context); close it here, in that same context, or PostgreSQL
        # refuses to drop the test database at the end ("being accessed by other users").
        connections.close_all()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_township_officer_searches_and_opens_a_household(live_server, browser_data, page, monkeypatch):
    a1, b1 = browser_data["a1"], browser_data["b1"]
    monkeypatch.setattr(views, "PAGE_SIZE", 2)  # the live server runs in this process

    page.goto(f"{live_server.url}/login/")
    shot(page, "01-login")
    page.fill("#id_username", browser_data["officer"].username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert "您好" in page.inner_text("main")
    shot(page, "02-home")

    page.click("nav.menu >> text=建档立卡户")
    page.wait_for_url(f"{live_server.url}/households/")
    assert "共 5 户" in page.inner_text("#household-count")  # 甲镇's five, none of 乙镇's
    assert "第 1 / 3 页" in page.inner_text("nav.pager")
    page.click("nav.pager >> text=下一页")
    page.wait_for_url("**/households/?page=2")
    assert "第 2 / 3 页" in page.inner_text("nav.pager")
    assert page.locator("#household-table tbody tr").count() == 2
    shot(page, "03-list-page2")

    page.fill("input[name=q]", a1.head_name)
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/households/?q=*")

    table = page.inner_text("#household-table")
    assert a1.household_no in table and a1.head_name in table
    assert b1.household_no not in table and b1.head_name not in table
    assert page.inner_text("#household-count").split() == ["符合条件的", "1", "户"]
    assert page.locator("nav.pager").count() == 0
    shot(page, "03-list-search")

    page.click(f"#household-table >> text={a1.household_no}")
    page.wait_for_url(f"{live_server.url}/households/{a1.pk}/")
    head_id = page.inner_text("#head-id")
    assert "********" in head_id
    assert head_id == a1.head_id_masked
    assert page.locator("#reveal-pii").count() == 0  # a township officer may not see full numbers
    assert page.locator("a.button", has_text="修改").count() == 0
    shot(page, "04-detail")
    assert not PiiAccessLog.objects.exists()  # looking at the masked page logs nothing


@pytest.fixture
def staff_data(transactional_db, personas, regions):
    staff = personas["county_staff"]
    staff.set_password(PASSWORD)
    staff.save()
    return {"staff": staff}


def log_in(page, base_url: str, user) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def test_county_staff_creates_a_household_and_reveals_its_id(live_server, staff_data, page):
    number = make_resident_id("411722", datetime.date(1985, 3, 9), 12)
    wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
    log_in(page, live_server.url, staff_data["staff"])

    page.click("nav.menu >> text=新建户档")
    page.wait_for_url(f"{live_server.url}/households/new/")
    page.fill("#id_household_no", "H411722101201001")
    page.select_option("#id_village_code", "411722101201")  # 乙镇 乙一村
    page.fill("#id_head_name", "赵六")
    page.fill("#id_head_id_number", wrong)
    page.fill("#id_member_count", "4")
    page.fill("#id_labor_count", "2")
    page.select_option("#id_status", "poor")
    page.check("input[name=poverty_causes][value=illness]")
    page.fill("#id_bank_account", "6228480000000000456")
    page.click("form.form button[type=submit]")

    page.wait_for_selector("#id_head_id_number_error")
    assert page.inner_text("#id_head_id_number_error") == "身份证号校验位不正确，请核对号码。"
    # The other answers are kept, the village select included.
    assert page.input_value("#id_village_code") == "411722101201"
    assert page.is_checked("input[name=poverty_causes][value=illness]")
    shot(page, "05-form-error")

    page.fill("#id_head_id_number", number)
    page.click("form.form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/households/*/")
    assert "已建档" in page.inner_text("main")
    assert "********" in page.inner_text("#head-id")

    page.click("#reveal-pii")
    page.wait_for_selector(".notice")
    assert page.inner_text("#head-id") == number
    assert page.inner_text("#bank-account") == "6228480000000000456"
    shot(page, "06-detail-revealed")
    assert PiiAccessLog.objects.filter(channel="web", user=staff_data["staff"]).count() == 1

    page.click("a.button >> text=修改")
    page.wait_for_url("**/edit/")
    assert page.input_value("#id_village_code") == "411722101201"
    assert page.input_value("#id_head_id_number") == ""  # never sent back to the browser
    shot(page, "07-edit")
    page.fill("#id_phone", "12345")
    page.click("form.form button[type=submit]")
    page.wait_for_selector("#id_phone_error")
    assert "联系电话格式不正确" in page.inner_text("#id_phone_error")
    page.fill("#id_phone", "13912345678")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r".*/households/\d+/$"))
    assert "已保存" in page.inner_text("main")
    assert "13912345678" in page.inner_text("main")
