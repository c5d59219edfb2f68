"""The enterprise list as an xlsx workbook. Every text cell goes through escape_formula, so a name
typed as "=HYPERLINK(...)" stays text in Excel (CWE-1236)."""

import datetime
import io

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from common.money import money
from common.spreadsheets import escape_formula
from organization.selectors import policy_for

HEADERS = (
    ("企业名称", 34), ("统一社会信用代码", 22), ("类型", 14), ("成立日期", 12), ("县区", 10), ("乡镇", 12),
    ("乡镇代码", 12), ("法定代表人", 10), ("联系人", 10), ("联系电话", 14), ("带贫认定", 10), ("认定文号", 22),
    ("认定日期", 12), ("带动户数", 10), ("贷款额度上限（元）", 18),
)  # fmt: skip


def enterprise_workbook(enterprises, *, on: datetime.date) -> bytes:
    """`enterprises`: rows of enterprises.selectors.enterprise_list (households_led annotated on
    `on`). The loan cap uses each county's policy row in force on `on`."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "带贫企业"
    sheet.append([h for h, _ in HEADERS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for index, (_, width) in enumerate(HEADERS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"

    per_household: dict[str, object] = {}
    for e in enterprises:
        if e.county_id not in per_household:
            per_household[e.county_id] = money(policy_for(e.county_id, on=on).enterprise_cap_per_household)
        row = [
            e.name, e.credit_code, e.get_kind_display(), e.founded_on, e.county.name, e.township.name,
            e.township_id, e.legal_rep, e.contact_name, e.contact_phone, "已认定" if e.recognized else "未认定",
            e.decision_no, e.recognized_on, e.households_led, money(per_household[e.county_id] * e.households_led),
        ]  # fmt: skip
        sheet.append([escape_formula(v) for v in row])
        sheet.cell(row=sheet.max_row, column=4).number_format = "yyyy-mm-dd"
        sheet.cell(row=sheet.max_row, column=13).number_format = "yyyy-mm-dd"
        sheet.cell(row=sheet.max_row, column=15).number_format = "#,##0.00"
    sheet.append([])
    sheet.append([f"带动户数与额度按 {on:%Y-%m-%d} 有效的利益联结和县级政策计算。"])

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
