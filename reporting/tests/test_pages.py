"""The dashboard and assessment pages through Django's test client: each persona's landing region,
scope (404 outside it), drill-down links, the target projection, tripped breakers in red, the chart
data and the xlsx downloads. The figures are the hand-computed city of conftest.py, rolled up on
AS_OF and on an earlier month-end (so the pace and the trend have two points)."""

import datetime
import io
import json
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from common.testing import page_text
from loans.models import Breaker
from reporting import selectors
from reporting.rollups import compute_rollups

from .conftest import AS_OF

pytestmark = pytest.mark.django_db
EARLIER = datetime.date(2018, 1, 31)


@pytest.fixture
def rolled_up(city, regions):
    """Snapshots of EARLIER and AS_OF; 乙镇 (township B, its one loan a loss) tripped, 甲镇 normal
    (the breakers as the daily job left them: 甲镇's ratio on AS_OF is over the line, yet not tripped)."""
    for day in (EARLIER, AS_OF):
        compute_rollups(as_of=day)
    since = timezone.now()
    Breaker.objects.create(region=regions["town_b"], level="township", state=Breaker.State.TRIPPED,
                           npl_ratio=Decimal("100.00"), threshold=Decimal("5.00"), since=since)  # fmt: skip
    Breaker.objects.create(region=regions["town_a"], level="township", npl_ratio=Decimal("1.20"),
                           threshold=Decimal("5.00"))  # fmt: skip
    return city


def get(client_for, user, url, status=200) -> str:
    response = client_for(user).get(url)
    assert response.status_code == status, url
    return page_text(response)


def heading(page: str) -> str:
    return re.search(r"<h1>(.*?) <small", page, re.S).group(1).strip()


def child_links(page: str) -> list[str]:
    table = page.split('id="children-table"')[1].split("</tbody>")[0]
    return re.findall(r'<td><a href="/dashboard/\?region=(\d+)[&"]', table)


def chart_data(page: str, name: str = "dashboard-data") -> dict:
    return json.loads(
        re.search(rf'<script id="{name}" type="application/json">(.*?)</script>', page, re.S).group(1)
    )


# --- who lands where, scope --------------------------------------------------------------------


@pytest.mark.parametrize(
    "persona, region, children",
    [
        ("city", "驻马店市", ["411721", "411722"]),
        ("admin", "驻马店市", ["411721", "411722"]),
        ("county_staff", "上蔡县", ["411722100", "411722101"]),
        ("bank_x", "上蔡县", ["411722100", "411722101"]),
        ("township_a", "甲镇", ["411722100201", "411722100202"]),
    ],
)
def test_each_persona_lands_on_its_own_region_with_drill_down_links(
    client_for, personas, rolled_up, persona, region, children
):
    page = get(client_for, personas[persona], "/dashboard/")
    assert heading(page) == region
    assert child_links(page) == children
    assert 'id="chart-coverage"' in page and 'id="chart-trend-coverage"' in page
    assert "vendor/chartjs/chart.umd.min.js" in page


def test_a_village_clerk_sees_its_village_without_a_children_table(client_for, personas, rolled_up):
    page = get(client_for, personas["village_a1"], "/dashboard/")
    assert heading(page) == "甲一村"
    assert 'id="children-table"' not in page and 'id="chart-trend-coverage"' in page


def test_the_city_drills_down_to_a_village(client_for, personas, rolled_up):
    city = personas["city"]
    county = get(client_for, city, "/dashboard/?region=411722")
    assert heading(county) == "上蔡县"
    assert '<a href="/dashboard/?region=411700">驻马店市</a>' in county  # breadcrumbs
    township = get(client_for, city, f"/dashboard/?region={child_links(county)[0]}")
    assert heading(township) == "甲镇" and child_links(township) == ["411722100201", "411722100202"]
    village = get(client_for, city, "/dashboard/?region=411722100201")
    assert heading(village) == "甲一村"
    crumbs = village.split('id="crumbs"')[1].split("</p>")[0]
    assert [name for name in re.findall(r">([^<>]+)</a>", crumbs)] == ["驻马店市", "上蔡县", "甲镇"]


def test_a_county_user_sees_only_its_county(client_for, personas, rolled_up):
    staff = personas["county_staff"]
    page = get(client_for, staff, "/dashboard/")
    assert "西平" not in page and "驻马店市" not in page.split("<main>")[1]
    for code in ("411721", "411700", "411721100", "411721100201"):
        get(client_for, staff, f"/dashboard/?region={code}", status=404)


@pytest.mark.parametrize(
    "persona, region",
    [("township_b", "411722100"), ("village_a1", "411722100202"), ("bank_y", "411722"), ("bank_x", "411700"),
     ("county_staff", "41172"), ("city", "abc"), ("city", "999999")],
)  # fmt: skip
def test_outside_the_scope_or_unknown_is_404(client_for, personas, rolled_up, persona, region):
    get(client_for, personas[persona], f"/dashboard/?region={region}", status=404)


def test_a_bank_serving_two_counties_switches_between_them(client_for, personas, banks, regions, rolled_up):
    banks["branch_x"].counties.add(regions["xiping"])
    page = get(client_for, personas["bank_x"], "/dashboard/")
    tabs = page.split('id="region-tabs"')[1].split("</nav>")[0]
    assert re.findall(r'href="\?region=(\d+)"(?: class="(active)")?>', tabs) == [
        ("411721", "active"),
        ("411722", ""),
    ]
    assert heading(page) == "西平县"
    assert heading(get(client_for, personas["bank_x"], "/dashboard/?region=411722")) == "上蔡县"
    get(client_for, personas["bank_x"], "/dashboard/?region=411700", status=404)


def test_a_user_without_a_region_gets_404(client_for, personas, rolled_up):
    get(client_for, personas["nobody"], "/dashboard/", status=404)


def test_the_dashboard_needs_a_login(client, rolled_up):
    response = client.get("/dashboard/")
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- figures, target, dates --------------------------------------------------------------------


def test_the_headline_and_the_table_show_the_snapshot(client_for, personas, rolled_up):
    page = get(client_for, personas["city"], "/dashboard/")
    board = selectors.dashboard(user=personas["city"], as_of=AS_OF)
    assert f'<span id="as-of">{AS_OF:%Y-%m-%d}</span>' in page
    headline = page.split('id="headline"')[1].split('id="target-progress"')[0]
    assert f"{board['coverage_cumulative']}%" in headline and f"{board['npl_ratio']}%" in headline
    row = page.split('id="row-411722"')[1].split("</tr>")[0]
    shangcai = next(c for c in board["children"] if c["region"] == "411722")
    assert f"{shangcai['coverage_cumulative']}%" in row and f"{shangcai['rating_coverage']}%" in row


def test_written_off_principal_is_its_own_figure_beside_the_npl(client_for, personas, rolled_up):
    """上蔡 on AS_OF: 175,000 outstanding of which 150,000 NPL; h6's 9,000 written off is neither."""
    page = get(client_for, personas["county_staff"], "/dashboard/")
    headline = page.split('id="headline"')[1].split('id="target-progress"')[0]
    assert "17.50 万元" in headline and "不良 15.00 万元" in headline and "85.71%" in headline
    written_off = headline.split('id="written-off"')[1].split("</div>")[0]
    assert "累计核销本金" in written_off and "0.90 万元" in written_off
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", page.split('id="children-table"')[1].split("</thead>")[0])
    column = headers.index("累计核销本金")
    cells = {
        code: re.findall(r"<td[^>]*>(.*?)</td>", page.split(f'id="row-{code}"')[1].split("</tr>")[0], re.S)
        for code in ("411722100", "411722101")
    }
    assert (cells["411722100"][column], cells["411722101"][column]) == ("0.90", "0.00")
    earlier = get(client_for, personas["county_staff"], f"/dashboard/?as_of={EARLIER}")
    assert "0.00 万元" in earlier.split('id="written-off"')[1].split("</div>")[0]  # written off in 2019


def test_the_target_and_the_projected_date_are_shown(client_for, personas, rolled_up):
    page = get(client_for, personas["county_staff"], "/dashboard/")
    target = selectors.target_progress(region_code="411722", as_of=AS_OF)
    assert target["pace_per_day"] > 0 and target["projected_on"] is not None  # two snapshots: a pace
    card = page.split('id="target-progress"')[1].split("</section>")[0]
    assert "2018年12月31日" in card and f"{target['value']}%" in card
    projected = target["projected_on"]
    assert f"{projected.year}年{projected.month}月{projected.day}日" in card
    assert "滞后" in card  # 100 % was due at the end of 2018
    # Every child row shows its own projection.
    for code in ("411722100", "411722101"):
        child = selectors.target_progress(region_code=code, as_of=AS_OF)
        row = page.split(f'id="row-{code}"')[1].split("</tr>")[0]
        expected = (
            "已达标" if child["reached"]
            else f"预计 {child['projected_on']:%Y-%m-%d}" if child["projected_on"] else "无法预计"
        )  # fmt: skip
        assert expected in row
    assert (
        "已达标" in page.split('id="row-411722101"')[1].split("</tr>")[0]
    )  # 乙镇: its one household borrowed


def test_an_earlier_date_shows_the_snapshot_on_or_before_it(client_for, personas, rolled_up):
    page = get(client_for, personas["city"], "/dashboard/?as_of=2019-05-01")
    assert f'<span id="as-of">{EARLIER:%Y-%m-%d}</span>' in page
    assert "2019-05-01 没有汇总数据" in page
    assert child_links(page) == ["411721", "411722"]
    assert "as_of=2019-05-01" in page.split('id="children-table"')[1]  # drill-down keeps the date


def test_before_any_snapshot_and_a_bad_date(client_for, personas, rolled_up):
    early = get(client_for, personas["city"], "/dashboard/?as_of=2010-01-01")
    assert 'id="no-data"' in early and "请先运行日终任务" in early
    bad = get(client_for, personas["city"], "/dashboard/?as_of=2019-13-45")
    assert "格式不正确" in bad and f'<span id="as-of">{AS_OF:%Y-%m-%d}</span>' in bad


def test_no_rollups_yet_says_so(client_for, personas, regions):
    page = get(client_for, personas["county_staff"], "/dashboard/")
    assert 'id="no-data"' in page and "上蔡县" in page


def test_the_trend_covers_every_snapshot_up_to_the_date(client_for, personas, rolled_up):
    data = chart_data(get(client_for, personas["county_staff"], "/dashboard/"))
    assert data["trend"]["dates"] == [f"{EARLIER:%Y-%m-%d}", f"{AS_OF:%Y-%m-%d}"]
    assert data["children"]["labels"] == ["甲镇", "乙镇"]
    assert data["children"]["target"] == [100.0, 100.0]
    # 乙镇 tripped; 甲镇 is not, but its ratio on AS_OF is over the line: red too.
    assert data["children"]["alarm"] == [True, True]
    assert data["children"]["npl_ratio"][0] > 5
    assert data["children"]["threshold"] == [5.0, 5.0]
    earlier = chart_data(get(client_for, personas["county_staff"], f"/dashboard/?as_of={EARLIER}"))
    assert earlier["trend"]["dates"] == [f"{EARLIER:%Y-%m-%d}"]


# --- breakers ----------------------------------------------------------------------------------


def test_a_tripped_township_is_red_in_the_county_table(client_for, personas, rolled_up):
    page = get(client_for, personas["county_staff"], "/dashboard/")
    assert '<tr id="row-411722101" class="tripped">' in page
    assert '<tr id="row-411722100">' in page
    row = page.split('id="row-411722101"')[1].split("</tr>")[0]
    assert '<span class="tag tripped">已熔断</span>' in row and "alarm-text" in row
    tripped = page.split('id="tripped-areas"')[1].split("</section>")[0]
    assert "乙镇" in tripped and "甲镇" not in tripped and "熔断线 5.00%" in tripped


def test_the_city_marks_the_county_with_a_tripped_area(client_for, personas, rolled_up):
    page = get(client_for, personas["city"], "/dashboard/")
    assert (
        '<span class="tag tripped">1 个区域熔断</span>' in page.split('id="row-411722"')[1].split("</tr>")[0]
    )
    assert "区域熔断" not in page.split('id="row-411721"')[1].split("</tr>")[0]
    township = get(client_for, personas["city"], "/dashboard/?region=411722101")
    assert '<span class="tag tripped">已熔断</span>' in township.split("</h1>")[0]


def test_no_tripped_area_no_alarm(client_for, personas, rolled_up):
    Breaker.objects.update(state=Breaker.State.NORMAL)
    page = get(client_for, personas["city"], "/dashboard/")
    assert 'id="tripped-areas"' not in page and 'class="tripped"' not in page


# --- downloads ---------------------------------------------------------------------------------


def export_links(page: str) -> list[str]:
    return re.findall(r'href="(/api/v1/dashboard/export\.xlsx\?[^"]+)"', page)


def test_the_city_page_links_the_exports_and_they_download(client_for, personas, rolled_up):
    client = client_for(personas["city"])
    page = page_text(client.get("/dashboard/"))
    assert export_links(page) == [f"/api/v1/dashboard/export.xlsx?region=411700&as_of={AS_OF}"]
    assert '<form method="get" action="/api/v1/reports/monthly.xlsx" id="monthly-form"' in page
    assert 'value="2019-06"' in page
    workbook = client.get(export_links(page)[0])
    assert workbook.status_code == 200 and workbook["Content-Type"].startswith(
        "application/vnd.openxmlformats"
    )
    sheets = load_workbook(io.BytesIO(b"".join(workbook.streaming_content))).sheetnames
    assert sheets == ["市", "县（区）", "乡镇", "行政村"]
    monthly = client.get("/api/v1/reports/monthly.xlsx", {"month": "2019-06", "region": "411700"})
    assert monthly.status_code == 200


def test_a_county_page_links_its_own_export_and_no_monthly_report(client_for, personas, rolled_up):
    client = client_for(personas["county_staff"])
    page = page_text(client.get("/dashboard/"))
    assert export_links(page) == [f"/api/v1/dashboard/export.xlsx?region=411722&as_of={AS_OF}"]
    assert 'id="monthly-form"' not in page
    assert client.get(export_links(page)[0]).status_code == 200
    assert client.get(f"/api/v1/dashboard/export.xlsx?region=411721&as_of={AS_OF}").status_code == 404


# --- the assessment ----------------------------------------------------------------------------


def ranked(page: str) -> list[tuple[str, str]]:
    table = page.split('id="assessment-table"')[1].split("</tbody>")[0]
    return re.findall(r'<td class="num">(\d+)</td>\s*<td><a href="[^"]+">([^<]+)</a>', table)


def test_the_city_sees_every_county_ranked_with_flags(client_for, personas, rolled_up):
    page = get(client_for, personas["city"], "/dashboard/assessment/")
    result = selectors.assessment(user=personas["city"], year=2019)
    assert "2019年县区考核评价" in page
    assert ranked(page) == [(str(r["rank"]), r["name"]) for r in result["results"]]
    assert len(ranked(page)) == 2
    flagged = [r for r in result["results"] if r["flagged"]]
    assert flagged  # 100 % was due at the end of 2018
    for r in flagged:
        assert f'<tr id="county-{r["county"]}" class="flagged">' in page
        assert r["flags"][0]["detail"] in page.split('id="flagged"')[1].split("</section>")[0]
    data = chart_data(page, "assessment-data")
    assert data["labels"] == [r["name"] for r in result["results"]]
    assert [str(y) for y in (2019, 2018)] == re.findall(r'href="\?year=(\d+)"', page)


def test_a_county_sees_its_own_rank_and_a_village_none(client_for, personas, rolled_up):
    page = get(client_for, personas["county_staff"], "/dashboard/assessment/?year=2019")
    assert [name for _rank, name in ranked(page)] == ["上蔡县"]
    village = get(client_for, personas["village_a1"], "/dashboard/assessment/?year=2019")
    assert "您的管辖范围内没有县（区）" in village
    assert "县区考核评价</a>" not in get(client_for, personas["village_a1"], "/dashboard/")  # no tab


def test_the_assessment_downloads_as_xlsx(client_for, personas, rolled_up):
    client = client_for(personas["city"])
    page = page_text(client.get("/dashboard/assessment/?year=2019"))
    assert 'href="/dashboard/assessment/export.xlsx?year=2019"' in page
    response = client.get("/dashboard/assessment/export.xlsx?year=2019")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)))["考核评价"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][:4] == ("名次", "区划代码", "县（区）", "综合得分")
    assert [row[2] for row in rows[2:]] == [name for _rank, name in ranked(page)]
    assert client.get("/dashboard/assessment/export.xlsx?year=2010").status_code == 404
    assert client.get("/dashboard/assessment/export.xlsx?year=x").status_code == 404


def test_an_assessment_year_without_snapshots(client_for, personas, rolled_up):
    page = get(client_for, personas["city"], "/dashboard/assessment/?year=2010")
    assert 'id="no-data"' in page
    get(client_for, personas["city"], "/dashboard/assessment/?year=abc", status=404)


# --- the menu ----------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["city", "county_staff", "township_a", "village_a1", "bank_x", "admin"])
def test_the_menu_offers_the_dashboard(client_for, personas, rolled_up, persona):
    page = get(client_for, personas[persona], "/dashboard/")
    assert '<a href="/dashboard/" class="active" aria-current="page">统计分析</a>' in page
    assessment = get(client_for, personas[persona], "/dashboard/assessment/")
    assert '<a href="/dashboard/" class="active" aria-current="page">统计分析</a>' in assessment


def test_the_home_page_still_works(client_for, personas, rolled_up):
    assert "您好" in get(client_for, personas["city"], "/")
