"""The household list as an xlsx download, with the list's filters.

- Rows are exactly what households.selectors.household_list gives the user (scope and filters).
- ID and bank-account numbers are masked, except in the households whose full numbers the user's
  role may see (organization.permissions.can_view_full_pii: county staff of the county, bank
  officers for their own bank's applicants and borrowers in the counties their branch serves,
  admins). Every household exported with full numbers gets one
  PiiAccessLog row (channel "web-xlsx" or "api-xlsx"), written in bulk: the log keeps answering
  "who has seen this household's numbers" one household at a time, as for the detail page.
- Every text cell goes through common.spreadsheets.escape_formula (CWE-1236); numbers stay
  numbers; ID and account numbers are text cells, so Excel cannot turn them into 4.1E+17.
"""

import tempfile

from django.conf import settings
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from common import pii
from common.clock import today
from common.errors import ApplicationError
from common.spreadsheets import escape_formula
from organization.models import Role
from organization.permissions import bank_applicants
from organization.scoping import is_admin

from . import selectors
from .models import HouseholdAttribute, HouseholdStatus, IdentificationStandard, PiiAccessLog, PovertyCause

# (header, width)
COLUMNS = [
    ("县", 10), ("乡镇", 12), ("行政村", 14), ("行政区划代码", 15), ("户编号", 20), ("户主姓名", 10),
    ("证件号码", 21), ("人数", 6), ("劳动力人数", 10), ("识别标准", 10), ("贫困户属性", 12), ("致贫原因", 18),
    ("人均纯收入", 12), ("联系电话", 14), ("开户银行", 26), ("银行账号", 24), ("脱贫状态", 10),
]  # fmt: skip
TEXT_COLUMNS = {"行政区划代码", "户编号", "证件号码", "联系电话", "银行账号"}
MAX_ROWS_DEFAULT = 200_000


class ExportError(ApplicationError):
    pass


def full_pii_test(user):
    """household -> may the user see its full numbers: can_view_full_pii, with the user's roles
    and their bank's applicants read once instead of once per household."""
    if is_admin(user):
        return lambda household: True
    prefixes = tuple(
        a.unit.region.prefix
        for a in user.role_assignments.select_related("unit__region")
        if a.role == Role.COUNTY_STAFF and a.unit_id
    )
    applicants = set(bank_applicants(user).values_list("household_id", flat=True))
    return lambda household: household.village_id.startswith(prefixes) or household.pk in applicants


def export_filename() -> str:
    return f"建档立卡户-{today():%Y%m%d}.xlsx"


def export_households(*, user, filters: dict | None = None, channel: str = "web", ip_address=None):
    """Write the user's filtered household list to a temporary file and return it, positioned at
    its start (the caller streams it and closes it)."""
    households = selectors.household_list(user=user, filters=filters).select_related(
        "village__parent__parent"
    )
    limit = getattr(settings, "HOUSEHOLD_EXPORT_MAX_ROWS", MAX_ROWS_DEFAULT)
    if households.count() > limit:
        raise ExportError(
            "too_many_rows",
            f"符合条件的户超过{limit}户，请按区域或状态筛选后分批导出。",
            {"filters": ["范围过大。"]},
        )
    full = full_pii_test(user)
    statuses = dict(HouseholdStatus.choices)
    attributes = dict(HouseholdAttribute.choices)
    standards = dict(IdentificationStandard.choices)
    causes = dict(PovertyCause.choices)

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("建档立卡户")
    for index, (_header, width) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header_cells = []
    for header, _width in COLUMNS:
        cell = WriteOnlyCell(sheet, value=header)
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    text_positions = [i for i, (header, _w) in enumerate(COLUMNS) if header in TEXT_COLUMNS]

    revealed: list[int] = []
    for household in households.iterator(chunk_size=2000):
        village = household.village
        township = village.parent
        county = township.parent if township else None
        if full(household):
            id_number = pii.decrypt(household.head_id_enc)
            account = pii.decrypt(household.bank_account_enc)
            revealed.append(household.pk)
        else:
            id_number, account = household.head_id_masked, household.bank_account_masked
        row = [
            county.name if county else "",
            township.name if township else "",
            village.name,
            village.code,
            household.household_no,
            household.head_name,
            id_number,
            household.member_count,
            household.labor_count,
            standards.get(household.identification_standard, household.identification_standard),
            attributes.get(household.attribute, household.attribute),
            "、".join(causes.get(c, c) for c in household.poverty_causes),
            household.per_capita_income,
            household.phone,
            household.bank_name,
            account,
            statuses.get(household.status, household.status),
        ]
        row = [escape_formula(value) if isinstance(value, str) else value for value in row]
        for position in text_positions:  # keep numbers-as-text as text in Excel
            if row[position]:
                cell = WriteOnlyCell(sheet, value=row[position])
                cell.number_format = "@"
                row[position] = cell
        sheet.append(row)

    if revealed:
        PiiAccessLog.objects.bulk_create(
            [
                PiiAccessLog(
                    user=user,
                    household_id=pk,
                    fields="head_id_number,bank_account",
                    channel=f"{channel}-xlsx"[:10],
                    ip_address=ip_address,
                )  # fmt: skip
                for pk in revealed
            ],
            batch_size=2000,
        )
    output = tempfile.TemporaryFile()
    workbook.save(output)
    output.seek(0)
    return output
