"""Reading and writing xlsx safely.

Uploaded workbooks are inspected before any parser sees them (size, zip structure, compression
ratio, macros, XML entities), then read with python-calamine (fast, Rust). Exports escape any cell
that a spreadsheet program would run as a formula (CWE-1236).
"""

import datetime
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass

from django.conf import settings

from .errors import ApplicationError

XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls, and encrypted xlsx
MAIN_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_DTD = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


class SpreadsheetError(ApplicationError):
    pass


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int
    max_unzipped_bytes: int
    max_compression_ratio: int
    max_rows: int

    @classmethod
    def from_settings(cls) -> "Limits":
        return cls(
            max_upload_bytes=settings.IMPORT_MAX_UPLOAD_BYTES,
            max_unzipped_bytes=settings.IMPORT_MAX_UNZIPPED_BYTES,
            max_compression_ratio=settings.IMPORT_MAX_COMPRESSION_RATIO,
            max_rows=settings.IMPORT_MAX_ROWS,
        )


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB"


def inspect_xlsx(data: bytes, limits: Limits) -> None:
    """Refuse anything that is not a plain, reasonably sized xlsx workbook. Reads only the zip
    directory and the small XML parts, so a zip bomb is never inflated."""
    if len(data) > limits.max_upload_bytes:
        raise SpreadsheetError(
            "file_too_large", f"文件过大（{_mb(len(data))}），上限为{_mb(limits.max_upload_bytes)}。"
        )
    if not data:
        raise SpreadsheetError("empty_file", "上传的文件是空的。")
    if data.startswith(OLE_MAGIC):
        raise SpreadsheetError(
            "not_xlsx", "这是旧版.xls或加密的工作簿，请在Excel中“另存为”.xlsx格式（不加密）后再上传。"
        )
    if not data.startswith(XLSX_MAGIC):
        raise SpreadsheetError("not_xlsx", "文件不是Excel工作簿（.xlsx），请使用下载的模板填写后上传。")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError):
        raise SpreadsheetError("not_xlsx", "文件已损坏或不是Excel工作簿（.xlsx）。") from None
    names = {e.filename for e in entries}
    if len(entries) > 10_000:
        raise SpreadsheetError("unsafe_file", "工作簿内部文件数量异常，已拒绝。")
    total = sum(e.file_size for e in entries)
    if total > limits.max_unzipped_bytes:
        raise SpreadsheetError(
            "unsafe_file",
            f"工作簿解压后过大（{_mb(total)}），上限为{_mb(limits.max_unzipped_bytes)}，疑似压缩炸弹。",
        )
    for entry in entries:
        if entry.compress_size and entry.file_size / entry.compress_size > limits.max_compression_ratio:
            raise SpreadsheetError("unsafe_file", "工作簿压缩比异常（疑似压缩炸弹），已拒绝。")
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise SpreadsheetError("not_xlsx", "文件不是Excel工作簿（.xlsx），请使用下载的模板填写后上传。")
    content_types = archive.read("[Content_Types].xml")
    if any(n.lower().endswith("vbaproject.bin") for n in names) or b"macroEnabled" in content_types:
        raise SpreadsheetError(
            "macro_workbook", "工作簿含有宏（.xlsm），为安全起见不予导入，请另存为普通.xlsx后再上传。"
        )
    if MAIN_CONTENT_TYPE.encode() not in content_types:
        raise SpreadsheetError("not_xlsx", "文件不是普通的Excel工作簿（.xlsx）。")
    for entry in entries:
        if entry.filename.endswith((".xml", ".rels")) and _DTD.search(archive.read(entry.filename)[:4096]):
            raise SpreadsheetError("unsafe_file", "工作簿含有不安全的XML声明（DOCTYPE/ENTITY），已拒绝。")


def read_first_sheet(data: bytes, limits: Limits) -> list[list]:
    """All rows of the first sheet as Python values (str, float, int, bool, date, datetime, "")."""
    from python_calamine import CalamineWorkbook

    inspect_xlsx(data, limits)
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheet = workbook.get_sheet_by_index(0)
    except Exception:  # calamine raises its own error types for malformed parts
        raise SpreadsheetError("not_xlsx", "无法读取工作簿内容，文件可能已损坏。") from None
    if sheet.total_height > limits.max_rows + 1:
        raise SpreadsheetError(
            "too_many_rows",
            f"行数过多（{sheet.total_height - 1}行），单个文件上限为{limits.max_rows}行，请拆分后上传。",
        )
    rows = sheet.to_python(skip_empty_area=False)
    # Drop trailing blank rows: Excel often keeps formatted empty rows at the end.
    while rows and all(v in ("", None) for v in rows[-1]):
        rows.pop()
    if len(rows) < 2:
        raise SpreadsheetError("empty_sheet", "工作表中没有数据行（第一行须为表头）。")
    return rows


def normalize_header(value) -> str:
    return unicodedata.normalize("NFKC", str(value or "")).replace(" ", "").replace("\n", "").strip()


def cell_text(value) -> str:
    """A cell as text: whole floats lose their ".0", dates become ISO, text is NFKC-normalised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return unicodedata.normalize("NFKC", str(value)).strip()


def looks_like_formula(value) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def escape_formula(value):
    """For exports: a text cell that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value
