"""Blank templates: Chinese headers, widths, drop-down lists for enumerated columns."""

import io

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from .registry import TemplateSpec

HEADER_FILL = PatternFill("solid", fgColor="F2DCDB")
TEMPLATE_ROWS = 200_000


def build_template(spec: TemplateSpec) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = spec.label[:31]
    lists = workbook.create_sheet("可选值")  # drop-down sources; long lists don't fit inline
    for index, column in enumerate(spec.columns, start=1):
        letter = get_column_letter(index)
        cell = sheet.cell(row=1, column=index, value=column.header)
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(horizontal="center")
        if column.example:
            cell.comment = Comment(f"示例：{column.example}", "系统")
        sheet.column_dimensions[letter].width = column.width
        # Text format keeps ID and account numbers from turning into 4.1172E+17.
        sheet.column_dimensions[letter].number_format = "@"
        if column.choices:
            for row, choice in enumerate(column.choices, start=1):
                lists.cell(row=row, column=index, value=choice)
            source = f"'可选值'!${letter}$1:${letter}${len(column.choices)}"
            validation = DataValidation(
                type="list", formula1=source, allow_blank=True, showErrorMessage=not column.multiple
            )
            validation.error = f"请从下拉列表中选择{column.header}。"
            validation.errorTitle = "取值不在列表中"
            validation.add(f"{letter}2:{letter}{TEMPLATE_ROWS}")
            sheet.add_data_validation(validation)
    sheet.freeze_panes = "A2"
    lists.sheet_state = "hidden"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
