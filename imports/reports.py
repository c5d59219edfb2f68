"""The error workbook: the uploaded rows with an error column added and the bad cells in red.

Cells keep the text the user typed, so that fixing the file means fixing only the red cells. Text
is written as text (never as a formula: a cell "=1+1" from the upload stays the string "=1+1",
marked with Excel's quote prefix), so opening the report runs nothing (CWE-1236)."""

import io

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill

from common.spreadsheets import normalize_header

BAD = PatternFill("solid", fgColor="FFC7CE")
BOLD = Font(bold=True)
RED = Font(color="9C0006")
WRAP = Alignment(wrap_text=True, vertical="top")
ERROR_HEADER = "错误说明"


def build_error_workbook(
    header: list, body: list[list], errors: list[dict], *, columns: dict[str, int] | None = None
) -> bytes:
    """header, body: the sheet as read. errors: {"row","column","value","message"}, "column" the
    importer's header. columns: that header -> the column's position in the file (the file may
    have used an alias); without it, headers are matched by name."""
    by_row: dict[int, list[dict]] = {}
    for error in errors:
        by_row.setdefault(error["row"], []).append(error)
    if columns is None:
        columns = {normalize_header(h): i for i, h in enumerate(header) if normalize_header(h)}

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("错误报告")
    sheet.column_dimensions["A"].width = 48
    sheet.freeze_panes = "B2"
    header_errors = by_row.get(1, [])
    sheet.append(
        [_cell(sheet, ERROR_HEADER, font=BOLD)]
        + [
            _cell(sheet, h, font=BOLD, fill=BAD if _bad(position, header_errors, columns) else None)
            for position, h in enumerate(header)
        ]
    )
    for number, cells in enumerate(body, start=2):
        row_errors = by_row.get(number, [])
        message = "；".join(f"【{e['column']}】{e['message']}" for e in row_errors)
        out = [_cell(sheet, message, font=RED, fill=BAD, alignment=WRAP) if message else _cell(sheet, None)]
        for position, value in enumerate(cells):
            out.append(_cell(sheet, value, fill=BAD if _bad(position, row_errors, columns) else None))
        sheet.append(out)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _bad(position: int, row_errors: list[dict], columns: dict[str, int]) -> bool:
    return any(columns.get(e["column"]) == position for e in row_errors)


def _cell(sheet, value, *, fill=None, font=None, alignment=None) -> WriteOnlyCell:
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters openpyxl cannot write
    cell = WriteOnlyCell(sheet, value=None if value == "" else value)
    if isinstance(value, str) and cell.data_type == "f":
        cell.data_type = "s"  # text, as uploaded; Excel shows it and does not run it
        cell.quotePrefix = True
    if fill is not None:
        cell.fill = fill
    if font is not None:
        cell.font = font
    if alignment is not None:
        cell.alignment = alignment
    return cell
