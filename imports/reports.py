"""The error workbook: the uploaded rows with an error column added and the bad cells in red."""

import io

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill

from common.spreadsheets import escape_formula, normalize_header

BAD = PatternFill("solid", fgColor="FFC7CE")
BOLD = Font(bold=True)


def build_error_workbook(header: list, body: list[list], errors: list[dict]) -> bytes:
    by_row: dict[int, list[dict]] = {}
    for error in errors:
        by_row.setdefault(error["row"], []).append(error)
    header_names = [normalize_header(h) for h in header]

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("错误报告")
    sheet.append([_cell(sheet, "错误说明", font=BOLD)] + [_cell(sheet, h, font=BOLD) for h in header])
    for number, cells in enumerate(body, start=2):
        row_errors = by_row.get(number, [])
        bad_columns = {e["column"] for e in row_errors}
        message = "；".join(f"【{e['column']}】{e['message']}" for e in row_errors)
        out = [_cell(sheet, message, fill=BAD if message else None)]
        for position, value in enumerate(cells):
            name = header_names[position] if position < len(header_names) else ""
            out.append(_cell(sheet, value, fill=BAD if name in bad_columns else None))
        sheet.append(out)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _cell(sheet, value, *, fill=None, font=None) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=escape_formula(value) if value != "" else None)
    if fill is not None:
        cell.fill = fill
    if font is not None:
        cell.font = font
    return cell
