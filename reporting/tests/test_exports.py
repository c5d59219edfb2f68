"""The dashboard tables and the monthly report as xlsx: one sheet per level, scoped, formula-safe."""

import datetime
import io

import pytest
from openpyxl import load_workbook

from organization.models import Region
from reporting.rollups import compute_rollups

from .conftest import AS_OF

pytestmark = pytest.mark.django_db
EXPORT, MONTHLY = "/api/v1/dashboard/export.xlsx", "/api/v1/reports/monthly.xlsx"


@pytest.fixture
def computed(city):
    compute_rollups(as_of=datetime.date(2019, 5, 31))
    compute_rollups(as_of=AS_OF)


def workbook(response):
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    return load_workbook(io.BytesIO(b"".join(response.streaming_content)))


def column(sheet, header):
    headers = [c.value for c in sheet[2]]
    return [row[headers.index(header)] for row in sheet.iter_rows(min_row=3, values_only=True)]


def test_one_sheet_per_level_from_the_region_down(api, personas, computed):
    book = workbook(api(personas["city"]).get(EXPORT, {"region": "411700", "as_of": "2019-06-30"}))
    assert book.sheetnames == ["市", "县（区）", "乡镇", "行政村"]
    assert "数据日期 2019-06-30" in book["市"]["A1"].value
    assert column(book["县（区）"], "区划代码") == ["411721", "411722"]
    assert column(book["行政村"], "区划代码") == [
        "411721100201",
        "411722100201",
        "411722100202",
        "411722101201",
    ]
    assert column(book["县（区）"], "不良率（%）") == [0, 85.71]
    assert column(book["县（区）"], "累计核销本金（元）") == [0, 9000]  # h6's, 上蔡
    assert column(book["市"], "累计获贷户数") == [5]
    assert book["县（区）"]["A3"].number_format == "@"


def test_the_export_is_scoped_and_defaults_to_the_callers_region(api, personas, computed):
    book = workbook(api(personas["township_a"]).get(EXPORT))
    assert book.sheetnames == ["乡镇", "行政村"]
    assert column(book["行政村"], "区划代码") == ["411722100201", "411722100202"]
    assert api(personas["township_b"]).get(EXPORT, {"region": "411722100"}).status_code == 404
    book = workbook(api(personas["bank_x"]).get(EXPORT))
    assert column(book["县（区）"], "区划代码") == ["411722"] and len(column(book["行政村"], "名称")) == 3
    response = api(personas["city"]).get(EXPORT, {"region": "411700", "as_of": "2019-01-01"})
    assert (response.status_code, response.json()["code"]) == (400, "no_snapshot")


def test_region_names_cannot_run_as_formulas(api, personas, computed):
    Region.objects.filter(code="411722100201").update(name='=HYPERLINK("http://evil","点我")')
    Region.objects.filter(code="411722100202").update(name="@SUM(1+1)")
    book = workbook(api(personas["county_staff"]).get(EXPORT))
    names = column(book["行政村"], "名称")
    assert names[:2] == ['\'=HYPERLINK("http://evil","点我")', "'@SUM(1+1)"]
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            assert all(cell.data_type != "f" for cell in row)


def test_the_monthly_report(api, personas, computed):
    book = workbook(api(personas["city"]).get(MONTHLY, {"month": "2019-06"}))
    assert book.sheetnames == ["全市及各县", "各乡镇", "目标进度", "较上月"]
    assert column(book["全市及各县"], "区划代码") == ["411700", "411721", "411722"]
    assert (
        "2019-06" in book["全市及各县"]["A1"].value
        and "数据日期 2019-06-30" in book["全市及各县"]["A1"].value
    )
    assert column(book["各乡镇"], "区划代码") == ["411721100", "411722100", "411722101"]
    assert column(book["目标进度"], "进度") == ["滞后", "已达标", "滞后"]
    assert "2019-05-31" in book["较上月"]["A1"].value and len(column(book["较上月"], "名称")) == 2
    # May's report: no earlier month to compare with.
    may = workbook(api(personas["admin"]).get(MONTHLY, {"month": "2019-05"}))
    assert "上月无汇总数据" in may["较上月"]["A1"].value


@pytest.mark.parametrize("who", ["county_staff", "township_a", "bank_x", "nobody"])
def test_the_monthly_report_is_the_citys(api, personas, computed, who):
    assert api(personas[who]).get(MONTHLY, {"month": "2019-06"}).status_code == 404


def test_the_monthly_report_needs_a_month_with_data(api, personas, computed):
    client = api(personas["city"])
    assert client.get(MONTHLY, {"month": "2019-13"}).json()["code"] == "invalid"
    assert client.get(MONTHLY).json()["code"] == "invalid"
    assert client.get(MONTHLY, {"month": "2019-04"}).json()["code"] == "no_snapshot"
    assert client.get(MONTHLY, {"month": "2019-06", "region": "411722"}).status_code == 404
