"""Dashboard tables and the city's monthly report as xlsx workbooks.

- The rows are exactly what reporting.selectors gives the user (scope included), from the rollup
  snapshots; one sheet per region level.
- Every text cell goes through common.spreadsheets.escape_formula (CWE-1236); region codes are text
  cells, counts and money numbers, percentages numbers with two places (the header says "%").
"""

import datetime
import io

from django.http import Http404
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from common.spreadsheets import escape_formula
from organization.models import Region
from organization.selectors import region_get_for_user

from . import selectors

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LEVEL_SHEETS = {
    Region.Level.CITY: "市",
    Region.Level.COUNTY: "县（区）",
    Region.Level.TOWNSHIP: "乡镇",
    Region.Level.VILLAGE: "行政村",
}
# (header, key of a figures row, width, number format)
COLUMNS = [
    ("区划代码", "region", 15, "@"), ("名称", "name", 16, None),
    ("建档立卡贫困户数", "registered_households", 12, "0"),
    ("累计获贷户数", "borrowed_households_cumulative", 12, "0"),
    ("当前在贷户数", "borrowed_households_current", 12, "0"),
    ("累计获贷率（%）", "coverage_cumulative", 12, "0.00"), ("当前获贷率（%）", "coverage_current", 12, "0.00"),
    ("建档户数", "households", 10, "0"), ("评级授信户数", "rated_households", 12, "0"),
    ("评级授信面（%）", "rating_coverage", 12, "0.00"),
    ("贷款余额（元）", "principal_outstanding", 16, "#,##0.00"),
    ("不良贷款余额（元）", "npl_principal", 16, "#,##0.00"), ("不良率（%）", "npl_ratio", 10, "0.00"),
    ("累计核销本金（元）", "written_off_principal", 16, "#,##0.00"),
    ("累计拨付贴息（元）", "subsidy_paid", 16, "#,##0.00"),
    ("风险补偿金余额（元）", "fund_balance", 18, "#,##0.00"),
    ("放大倍数使用率（%）", "leverage_used", 14, "0.00"),
]  # fmt: skip
TARGET_COLUMNS = [
    ("区划代码", 15), ("名称", 16), ("目标值（%）", 10), ("完成期限", 12), ("累计获贷率（%）", 14),
    ("完成进度（%）", 12), ("日均提升（百分点）", 16), ("预计达标日期", 14), ("进度", 10),
]  # fmt: skip


def _cell(sheet, value, number_format=None, bold=False):
    cell = WriteOnlyCell(sheet, value=escape_formula(value) if isinstance(value, str) else value)
    if number_format and value is not None:
        cell.number_format = number_format
    if bold:
        cell.font = Font(bold=True)
    return cell


def _sheet(workbook, title: str, headers: list[tuple[str, int]], title_line: str):
    sheet = workbook.create_sheet(title)
    for index, (_header, width) in enumerate(headers, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A3"
    sheet.append([_cell(sheet, title_line, bold=True)])
    sheet.append([_cell(sheet, header, bold=True) for header, _width in headers])
    return sheet


def _figures_sheet(workbook, title: str, rows: list[dict], title_line: str) -> None:
    sheet = _sheet(workbook, title, [(h, w) for h, _k, w, _f in COLUMNS], title_line)
    for row in rows:
        sheet.append([_cell(sheet, row[key], number_format) for _h, key, _w, number_format in COLUMNS])


def _save(workbook) -> io.BytesIO:
    output = io.BytesIO()
    workbook.save(output)
    output.seek(0)
    return output


def dashboard_workbook(
    *, user, region_code: str, as_of: datetime.date | None = None
) -> tuple[io.BytesIO, str]:
    """The dashboard of a region on a snapshot date (as the API picks it) as a workbook: one sheet
    per level from the region's own down to the villages. (workbook, file name)."""
    region = region_get_for_user(user=user, code=region_code)
    day = selectors.snapshot_date(region_code=region.code, as_of=as_of)
    workbook = Workbook(write_only=True)
    for level in selectors.levels_below(region.level):
        rows = selectors.dashboard_table(user=user, region_code=region.code, as_of=day, level=level)
        _figures_sheet(
            workbook, LEVEL_SHEETS[level], rows, f"{region.name}扶贫小额信贷统计（数据日期 {day:%Y-%m-%d}）"
        )
    return _save(workbook), f"扶贫小额信贷统计-{region.code}-{day:%Y%m%d}.xlsx"


def _month_end(month: str) -> datetime.date:
    year, number = (int(part) for part in month.split("-"))
    first_of_next = datetime.date(year + number // 12, number % 12 + 1, 1)
    return first_of_next - datetime.timedelta(days=1)


def monthly_report(*, user, month: str, region_code: str | None = None) -> tuple[io.BytesIO, str]:
    """The city's monthly report (month "YYYY-MM") from the latest snapshot on or before the month's
    last day: the city and all its counties, their townships, the counties' progress against the
    coverage target in force, and the change since the previous month's report. Only for users who
    see the whole city (404 otherwise). (workbook, file name)."""
    city = (
        region_get_for_user(user=user, code=region_code) if region_code else selectors.home_region(user=user)
    )
    if city.level != Region.Level.CITY:
        raise Http404
    end = _month_end(month)
    day = selectors.snapshot_date(region_code=city.code, as_of=end)
    title = f"{city.name}扶贫小额信贷月报（{month}，数据日期 {day:%Y-%m-%d}）"

    def table(level: str, on: datetime.date) -> list[dict]:
        return selectors.dashboard_table(user=user, region_code=city.code, as_of=on, level=level)

    counties = table(Region.Level.COUNTY, day)

    workbook = Workbook(write_only=True)
    _figures_sheet(workbook, "全市及各县", table(Region.Level.CITY, day) + counties, title)
    _figures_sheet(workbook, "各乡镇", table(Region.Level.TOWNSHIP, day), title)

    sheet = _sheet(workbook, "目标进度", TARGET_COLUMNS, title)
    for row in [*table(Region.Level.CITY, day), *counties]:
        t = selectors.target_progress(region_code=row["region"], as_of=day)
        if t is None:
            continue
        sheet.append([
            _cell(sheet, row["region"], "@"), _cell(sheet, row["name"]), _cell(sheet, t["value"], "0.00"),
            _cell(sheet, t["due_on"], "yyyy-mm-dd"), _cell(sheet, t["actual"], "0.00"),
            _cell(sheet, t["progress"], "0.00"), _cell(sheet, t["pace_per_day"], "0.0000"),
            _cell(sheet, t["projected_on"], "yyyy-mm-dd"),
            _cell(sheet, "已达标" if t["reached"] else "正常" if t["on_track"] else "滞后"),
        ])  # fmt: skip

    previous_end = end.replace(day=1) - datetime.timedelta(days=1)
    try:
        previous_day = selectors.snapshot_date(region_code=city.code, as_of=previous_end)
    except selectors.ReportingError:
        previous_day = None
    headers = [("区划代码", 15), ("名称", 16), ("累计获贷户数增加", 16), ("累计获贷率提升（百分点）", 20),
               ("贷款余额增加（元）", 18), ("不良率变化（百分点）", 18)]  # fmt: skip
    line = f"较上月（{previous_day:%Y-%m-%d}）变化" if previous_day else "上月无汇总数据"
    sheet = _sheet(workbook, "较上月", headers, f"{title} {line}")
    before = {r["region"]: r for r in table(Region.Level.COUNTY, previous_day)} if previous_day else {}
    for row in counties:
        was = before.get(row["region"])
        if was is None:
            continue
        sheet.append([
            _cell(sheet, row["region"], "@"), _cell(sheet, row["name"]),
            row["borrowed_households_cumulative"] - was["borrowed_households_cumulative"],
            _cell(sheet, row["coverage_cumulative"] - was["coverage_cumulative"], "0.00"),
            _cell(sheet, row["principal_outstanding"] - was["principal_outstanding"], "#,##0.00"),
            _cell(sheet, row["npl_ratio"] - was["npl_ratio"], "0.00"),
        ])  # fmt: skip
    return _save(workbook), f"扶贫小额信贷月报-{city.code}-{month}.xlsx"
