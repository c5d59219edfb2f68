"""The household list as xlsx: filters kept, scope, masking by role, the access log, formula
escaping; the page's link and the API route."""

import io

import pytest
from django.test import Client
from openpyxl import load_workbook

from common import pii
from households.exports import COLUMNS, export_households
from households.models import Household, PiiAccessLog
from households.tests.factories import HouseholdFactory

pytestmark = pytest.mark.django_db

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADERS = [h for h, _ in COLUMNS]


def read(content) -> list[dict]:
    """The sheet's rows as dicts keyed by header (the header row checked)."""
    data = content if isinstance(content, bytes) else content.read()
    sheet = load_workbook(io.BytesIO(data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADERS
    return [dict(zip(HEADERS, row, strict=True)) for row in rows[1:]]


def by_no(rows) -> dict[str, dict]:
    return {r["户编号"]: r for r in rows}


@pytest.fixture
def lots(households, regions):
    """households a1, b1, x1 plus a lifted one in A1."""
    lifted = HouseholdFactory(village=regions["village_a1"], status="lifted", head_name="李四")
    return dict(households, lifted=lifted)


def test_county_staff_gets_their_county_in_full_and_each_household_is_logged(personas, lots):
    user = personas["county_staff"]
    rows = by_no(read(export_households(user=user, filters={}, channel="web", ip_address="10.0.0.1")))
    assert set(rows) == {lots[k].household_no for k in ("a1", "b1", "lifted")}
    a1 = lots["a1"]
    row = rows[a1.household_no]
    assert row["证件号码"] == pii.decrypt(a1.head_id_enc)
    assert row["银行账号"] == pii.decrypt(a1.bank_account_enc)
    assert (row["县"], row["乡镇"], row["行政村"], row["行政区划代码"]) == (
        "上蔡县",
        "甲镇",
        "甲一村",
        "411722100201",
    )
    assert (row["脱贫状态"], row["贫困户属性"], row["识别标准"], row["致贫原因"]) == (
        "未脱贫", "一般贫困户", "国家标准", "缺资金",
    )  # fmt: skip
    assert row["人均纯收入"] == 3200
    logs = PiiAccessLog.objects.filter(user=user)
    assert sorted(logs.values_list("household_id", flat=True)) == sorted(
        lots[k].pk for k in ("a1", "b1", "lifted")
    )
    assert set(logs.values_list("channel", "fields", "ip_address")) == {
        ("web-xlsx", "head_id_number,bank_account", "10.0.0.1")
    }


def test_township_officer_gets_masked_numbers_and_no_log(personas, lots):
    rows = by_no(read(export_households(user=personas["township_a"], filters={})))
    assert set(rows) == {lots["a1"].household_no, lots["lifted"].household_no}
    a1 = lots["a1"]
    assert rows[a1.household_no]["证件号码"] == a1.head_id_masked
    assert "*" in a1.head_id_masked and rows[a1.household_no]["银行账号"] == a1.bank_account_masked
    assert not PiiAccessLog.objects.exists()


def test_bank_officer_sees_its_own_applicants_in_full_and_the_rest_masked(personas, banks, regions, lots):
    """Bank Y (西平) sees every 西平 household, the full numbers of its own applicants only."""
    from loans.tests.factories import apply

    x1, x2 = lots["x1"], HouseholdFactory(village=regions["village_x1"])
    apply(x1, actor=personas["admin"], bank=banks["y"])
    rows = by_no(read(export_households(user=personas["bank_y"], filters={})))
    assert set(rows) == {x1.household_no, x2.household_no}
    assert rows[x1.household_no]["证件号码"] == pii.decrypt(x1.head_id_enc)
    assert rows[x1.household_no]["银行账号"] == pii.decrypt(x1.bank_account_enc)
    assert (rows[x2.household_no]["证件号码"], rows[x2.household_no]["银行账号"]) == (
        x2.head_id_masked, x2.bank_account_masked
    )  # fmt: skip
    assert "*" in x2.head_id_masked
    assert list(PiiAccessLog.objects.values_list("household_id", flat=True)) == [x1.pk]


def test_city_finance_sees_everything_masked(personas, lots):
    rows = by_no(read(export_households(user=personas["city"], filters={})))
    assert len(rows) == 4
    assert all("*" in r["证件号码"] for r in rows.values())
    assert not PiiAccessLog.objects.exists()


def test_filters_are_kept(personas, lots):
    user = personas["county_staff"]
    assert set(by_no(read(export_households(user=user, filters={"status": "lifted"})))) == {
        lots["lifted"].household_no
    }
    assert set(by_no(read(export_households(user=user, filters={"region": "411722101"})))) == {
        lots["b1"].household_no
    }
    assert set(by_no(read(export_households(user=user, filters={"q": "李"})))) == {
        lots["lifted"].household_no
    }


def test_formula_looking_cells_are_escaped(personas, regions):
    evil = HouseholdFactory(
        village=regions["village_a1"], head_name="=cmd|' /C calc'!A0", phone="+8613800138000",
        bank_name="@SUM(1+1)*cmd|' /C calc'!A0",
    )  # fmt: skip
    content = export_households(user=personas["county_staff"], filters={}).read()
    sheet = load_workbook(io.BytesIO(content)).active
    header = [c.value for c in sheet[1]]
    cells = {header[i]: cell for i, cell in enumerate(sheet[2])}
    assert cells["户编号"].value == evil.household_no
    assert cells["户主姓名"].value == "'=cmd|' /C calc'!A0"
    assert cells["联系电话"].value == "'+8613800138000"
    assert cells["开户银行"].value == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_id_and_account_numbers_are_text_cells(personas, households):
    content = export_households(user=personas["county_staff"], filters={}).read()
    sheet = load_workbook(io.BytesIO(content)).active
    header = [c.value for c in sheet[1]]
    row = {header[i]: cell for i, cell in enumerate(sheet[2])}
    for name in ("证件号码", "银行账号", "行政区划代码"):
        assert row[name].data_type == "s" and row[name].number_format == "@", name


# --- the page and the API -----------------------------------------------------------------------


def test_list_page_links_to_the_export_with_its_filters(personas, households):
    client = Client()
    client.force_login(personas["county_staff"])
    page = client.get("/households/", {"status": "poor", "q": "张"}).content.decode()
    assert 'href="/households/export.xlsx?status=poor&amp;q=%E5%BC%A0"' in page
    assert "导出Excel" in page


def test_web_export_keeps_the_filters(personas, lots):
    client = Client()
    client.force_login(personas["county_staff"])
    response = client.get("/households/export.xlsx", {"status": "lifted"})
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    assert "attachment" in response["Content-Disposition"] and ".xlsx" in response["Content-Disposition"]
    rows = read(b"".join(response.streaming_content))
    assert [r["户编号"] for r in rows] == [lots["lifted"].household_no]
    assert PiiAccessLog.objects.get().channel == "web-xlsx"


def test_web_export_needs_login():
    response = Client().get("/households/export.xlsx")
    assert response.status_code == 302 and "login" in response["Location"]


def test_api_export(api, personas, lots):
    response = api(personas["township_b"]).get("/api/v1/households/export.xlsx", {"status": "poor"})
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    rows = read(b"".join(response.streaming_content))
    assert [r["户编号"] for r in rows] == [lots["b1"].household_no]
    assert rows[0]["证件号码"] == lots["b1"].head_id_masked


def test_api_export_refuses_a_bad_filter(api, personas, households):
    response = api(personas["county_staff"]).get("/api/v1/households/export.xlsx", {"status": "rich"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_too_large_an_export_is_refused(api, personas, lots, settings):
    settings.HOUSEHOLD_EXPORT_MAX_ROWS = 2
    response = api(personas["county_staff"]).get("/api/v1/households/export.xlsx")
    assert response.status_code == 400
    assert response.json()["code"] == "too_many_rows"
    assert not PiiAccessLog.objects.exists()
    client = Client()
    client.force_login(personas["county_staff"])
    response = client.get("/households/export.xlsx", {"q": ""}, follow=True)
    assert response.redirect_chain[-1][0].startswith("/households/?")
    assert "超过2户" in response.content.decode()


def test_export_does_not_change_the_households(personas, households):
    before = list(Household.objects.order_by("pk").values_list("pk", "updated_at"))
    export_households(user=personas["county_staff"], filters={})
    assert list(Household.objects.order_by("pk").values_list("pk", "updated_at")) == before
