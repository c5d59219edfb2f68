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
    assert head_id == "*" * 14 + a1.head_id_masked[-4:]
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
    assert page.inner_text("#head-id") == "*" * 14 + number[-4:]

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


# --- the dashboards ----------------------------------------------------------------------------

DRAWN_PIXELS = """(id) => {
    const canvas = document.getElementById(id);
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let drawn = 0;
    for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) { drawn++; } }
    return drawn;
}"""


def chart_points(page, canvas_id: str) -> list:
    """The first dataset of the Chart.js chart on the canvas, as the library holds it."""
    return page.evaluate("(id) => Chart.getChart(id).data.datasets[0].data", canvas_id)


def assert_chart_drawn(page, canvas_id: str) -> None:
    page.wait_for_function("(id) => window.Chart && Chart.getChart(id)", arg=canvas_id)
    assert page.evaluate(DRAWN_PIXELS, canvas_id) > 1000  # bars, lines, axes: not a blank canvas


@pytest.fixture
def dashboard_data(transactional_db, personas, regions):
    """Snapshots of every region on two month-ends (the figures made up, not added up: the pages
    only show them), the seed's targets, and 乙镇's breaker tripped."""
    import importlib
    from decimal import Decimal

    from django.apps import apps
    from django.utils import timezone

    from loans.models import Breaker
    from reporting.models import RegionRollup

    importlib.import_module("reporting.migrations.0002_seed_targets_and_weights").add_rows(apps, None)
    for day, borrowed in ((datetime.date(2019, 5, 31), 20), (datetime.date(2019, 6, 30), 30)):
        for number, region in enumerate(regions.values()):
            fund = region.level in ("city", "county")
            RegionRollup.objects.create(
                as_of=day, region=region, level=region.level, parent_code=region.parent_id or "",
                households=100, registered_households=80, borrowed_households_cumulative=borrowed + number,
                borrowed_households_current=borrowed, rated_households=60 + number,
                principal_outstanding=Decimal("1000000"), npl_principal=Decimal(1000 * number),
                fund_balance=Decimal("200000") if fund else None,
                covered_outstanding=Decimal("1000000") if fund else None,
                leverage_cap=Decimal("2000000") if fund else None,
            )  # fmt: skip
    Breaker.objects.create(region=regions["town_b"], level="township", state=Breaker.State.TRIPPED,
                           npl_ratio=Decimal("9.00"), threshold=Decimal("5.00"), since=timezone.now())  # fmt: skip
    for persona in ("city", "county_staff"):
        personas[persona].set_password(PASSWORD)
        personas[persona].save()
    return personas


def test_city_reads_the_dashboard_and_drills_down_to_a_village(live_server, dashboard_data, page):
    log_in(page, live_server.url, dashboard_data["city"])
    page.click("nav.menu >> text=统计分析")
    page.wait_for_url(f"{live_server.url}/dashboard/")
    assert page.inner_text("h1").startswith("驻马店市")
    for canvas in (
        "chart-coverage",
        "chart-npl",
        "chart-leverage",
        "chart-trend-coverage",
        "chart-trend-npl",
    ):
        assert_chart_drawn(page, canvas)
    # 西平县, 上蔡县 by code; cumulative coverage (borrowed + n) / 80 as the library holds it.
    assert page.evaluate("Chart.getChart('chart-coverage').data.labels") == ["西平县", "上蔡县"]
    assert chart_points(page, "chart-coverage") == [40.0, 38.75]
    assert chart_points(page, "chart-trend-coverage") == [25.0, 37.5]
    assert "1 个区域熔断" in page.inner_text("#row-411722")
    shot(page, "10-dashboard-city")

    with page.expect_download() as download:
        page.click("#export-link")
    assert download.value.suggested_filename == "扶贫小额信贷统计-411700-20190630.xlsx"

    page.click("#children-table >> text=上蔡县")
    page.wait_for_url("**/dashboard/?region=411722")
    assert page.inner_text("h1").startswith("上蔡县")
    assert_chart_drawn(page, "chart-coverage")
    assert page.evaluate("Chart.getChart('chart-coverage').data.labels") == ["甲镇", "乙镇"]
    tripped = page.locator("#row-411722101")
    assert tripped.get_attribute("class") == "tripped" and "已熔断" in tripped.inner_text()
    assert (
        tripped.locator("td").first.evaluate("td => getComputedStyle(td).backgroundColor")
        == "rgb(253, 236, 234)"
    )
    # The NPL bar of the tripped township is red, the other one not.
    assert page.evaluate("Chart.getChart('chart-npl').data.datasets[0].backgroundColor") == [
        "#8aa4c8",
        "#c62828",
    ]
    shot(page, "11-dashboard-county")

    page.click("#children-table >> text=乙镇")
    page.wait_for_url("**/dashboard/?region=411722101")
    assert "已熔断" in page.inner_text("h1")
    assert_chart_drawn(page, "chart-npl")
    shot(page, "12-dashboard-township")

    page.click("#children-table >> text=乙一村")
    page.wait_for_url("**/dashboard/?region=411722101201")
    assert page.inner_text("h1").startswith("乙一村")
    assert page.inner_text("#crumbs") == "驻马店市 › 上蔡县 › 乙镇 › 乙一村"
    assert_chart_drawn(page, "chart-trend-coverage")
    shot(page, "13-dashboard-village")

    page.click("nav.subnav >> text=县区考核评价")
    page.wait_for_url(f"{live_server.url}/dashboard/assessment/")
    assert_chart_drawn(page, "chart-assessment")
    assert page.locator("#assessment-table tbody tr").count() == 2
    shot(page, "14-assessment")


def test_county_staff_sees_only_its_county(live_server, dashboard_data, page):
    log_in(page, live_server.url, dashboard_data["county_staff"])
    page.goto(f"{live_server.url}/dashboard/")
    assert page.inner_text("h1").startswith("上蔡县")
    assert "西平" not in page.inner_text("main")
    assert_chart_drawn(page, "chart-coverage")
    response = page.goto(f"{live_server.url}/dashboard/?region=411721")
    assert response.status == 404


CSP_PAGES = (
    "/dashboard/",
    "/dashboard/assessment/",
    "/households/",
    "/imports/",
    "/ratings/coverage/",
    "/enterprises/",
    "/api/v1/docs/",
)


def watch_csp(page) -> list[str]:
    """Every Content-Security-Policy refusal Chromium reports on this page from now on."""
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    return refused


def test_no_page_is_refused_by_the_content_security_policy(live_server, dashboard_data, households, page):
    """The policy (common.security) forbids inline scripts and <style> elements: the pages
    that run scripts (dashboard charts, import progress, prerating, check-all, Swagger UI) still
    run them, and the browser reports no refusal. The last step proves the watch would see one."""
    from common.models import Job
    from credit_rating.tests.factories import publish_default
    from enterprises.tests.factories import EnterpriseFactory

    staff = dashboard_data["county_staff"]
    county = households["a1"].village.parent.parent
    publish_default(county)
    EnterpriseFactory(township=households["a1"].village.parent)
    refused = watch_csp(page)
    log_in(page, live_server.url, staff)
    for url in CSP_PAGES:
        response = page.goto(f"{live_server.url}{url}")
        assert response.status == 200, url
        assert response.headers["content-security-policy"], url
    page.goto(f"{live_server.url}/dashboard/")
    assert_chart_drawn(page, "chart-coverage")
    page.goto(f"{live_server.url}/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .info .title")  # Swagger UI started from its script file
    page.goto(f"{live_server.url}/enterprises/")
    page.click("table >> a >> nth=0")
    page.wait_for_selector(".enterprise-page")

    # Prerating (its job script) makes drafts; the draft tab's check-all box (its own script).
    page.goto(f"{live_server.url}/ratings/prerate/")
    page.select_option("#prerate-form select", "411722")
    page.click("#start-prerate")
    page.wait_for_url("**/ratings/prerate/?job=*")
    # A job still running: the page polls it and reloads once it has ended.
    job = Job.objects.create(kind="prerate", created_by=staff, params={"region": "411722"})
    page.goto(f"{live_server.url}/ratings/prerate/?job={job.pk}")
    assert page.get_attribute("#job", "data-done") == "0"
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED, progress=100)
    page.wait_for_function("() => document.getElementById('job')?.dataset.done === '1'")
    page.goto(f"{live_server.url}/ratings/?tab=draft")
    boxes = page.locator(".row-check")
    assert boxes.count() >= 1
    page.check("#check-all")
    assert all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    assert refused == []

    # The control: an inline script is refused, and the watch sees it.
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.x = 1'; document.body.append(s); }"
    )
    page.wait_for_timeout(200)
    assert refused and page.evaluate("window.x") is None
