"""Reading and writing xlsx safely.

Uploaded workbooks are inspected before any parser sees them: size, zip structure (the sizes the
directory declares and the sizes the entries really inflate to, compression ratio, duplicate or
odd names, encryption), macros, XML declarations (DOCTYPE/ENTITY) and encodings. The first sheet
is then read with python-calamine (fast, Rust), first in a throw-away child process with a memory
cap: calamine sizes its grid from the cells' addresses, so one cell at XFD1048576 next to A1 makes
it ask for 512 GB and abort the whole process; in the child that kills the child, not the worker.
Exports escape any cell that a spreadsheet program would run as a formula (CWE-1236).
"""

import datetime
import faulthandler
import io
import json
import logging
import os
import re
import select
import signal
import struct
import time
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings

from .errors import ApplicationError

logger = logging.getLogger(__name__)

XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls, and encrypted xlsx
MAIN_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MAX_ENTRIES = 10_000
XML_SUFFIXES = (".xml", ".rels", ".vml")
CHUNK = 1 << 20
_DTD_WORDS = (b"DOCTYPE", b"ENTITY")


class SpreadsheetError(ApplicationError):
    pass


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int
    max_unzipped_bytes: int
    max_compression_ratio: int
    max_rows: int
    max_columns: int = 200
    read_memory_bytes: int = 2 * 1024**3  # the reading child's address space, above what it starts with
    read_timeout_seconds: int = 600

    @classmethod
    def from_settings(cls) -> "Limits":
        return cls(
            max_upload_bytes=settings.IMPORT_MAX_UPLOAD_BYTES,
            max_unzipped_bytes=settings.IMPORT_MAX_UNZIPPED_BYTES,
            max_compression_ratio=settings.IMPORT_MAX_COMPRESSION_RATIO,
            max_rows=settings.IMPORT_MAX_ROWS,
            max_columns=getattr(settings, "IMPORT_MAX_COLUMNS", 200),
            read_memory_bytes=getattr(settings, "IMPORT_READ_MEMORY_BYTES", 2 * 1024**3),
            read_timeout_seconds=getattr(settings, "IMPORT_READ_TIMEOUT_SECONDS", 600),
        )

    @property
    def max_text_chars(self) -> int:
        """All the text of the sheet's cells together. A shared string is stored once in the file
        but becomes one Python string per cell that uses it: without a cap, a 2 MB string used by
        a million cells would need terabytes."""
        return self.max_unzipped_bytes


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB"


NOT_XLSX = "文件不是Excel工作簿（.xlsx），请使用下载的模板填写后上传。"
CORRUPT = "文件已损坏或不是Excel工作簿（.xlsx）。"
BOMB = "工作簿压缩比异常（疑似压缩炸弹），已拒绝。"
LYING = "工作簿内部文件解压后的大小与其声明不符（疑似压缩炸弹），已拒绝。"


def inspect_xlsx(data: bytes, limits: Limits) -> None:
    """Refuse anything that is not a plain, reasonably sized xlsx workbook. Every entry is inflated
    once, in pieces and never past the size its directory record declares, so a zip bomb is
    refused without ever being held in memory."""
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
        raise SpreadsheetError("not_xlsx", NOT_XLSX)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError):
        raise SpreadsheetError("not_xlsx", CORRUPT) from None
    if len(entries) > MAX_ENTRIES:
        raise SpreadsheetError("unsafe_file", "工作簿内部文件数量异常，已拒绝。")
    names = [e.filename for e in entries]
    if len(set(names)) != len(names):
        # Two entries of one name: we might check one while the reader reads the other.
        raise SpreadsheetError("unsafe_file", "工作簿内部有重名的部件，已拒绝。")
    for entry in entries:
        parts = entry.filename.split("/")
        if entry.filename.startswith("/") or "\\" in entry.filename or ".." in parts:
            raise SpreadsheetError("unsafe_file", "工作簿内部的文件路径异常，已拒绝。")
        if entry.flag_bits & 0x1:
            raise SpreadsheetError("not_xlsx", "工作簿已加密，请取消密码保护后另存为.xlsx再上传。")
        if entry.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise SpreadsheetError("not_xlsx", CORRUPT)
    total = sum(e.file_size for e in entries)
    if total > limits.max_unzipped_bytes:
        raise SpreadsheetError(
            "unsafe_file",
            f"工作簿解压后过大（{_mb(total)}），上限为{_mb(limits.max_unzipped_bytes)}，疑似压缩炸弹。",
        )
    for entry in entries:
        if entry.file_size and (
            not entry.compress_size or entry.file_size / entry.compress_size > limits.max_compression_ratio
        ):
            raise SpreadsheetError("unsafe_file", BOMB)
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise SpreadsheetError("not_xlsx", NOT_XLSX)
    content_types = b"".join(_inflate(data, archive.getinfo("[Content_Types].xml")))
    if any(n.lower().endswith("vbaproject.bin") for n in names) or b"macroenabled" in content_types.lower():
        raise SpreadsheetError(
            "macro_workbook", "工作簿含有宏（.xlsm），为安全起见不予导入，请另存为普通.xlsx后再上传。"
        )
    if MAIN_CONTENT_TYPE.encode() not in content_types:
        raise SpreadsheetError("not_xlsx", "文件不是普通的Excel工作簿（.xlsx）。")
    for entry in entries:
        _check_entry(data, entry)


def _check_entry(data: bytes, entry: zipfile.ZipInfo) -> None:
    """Inflate one entry (verifying its real size and checksum) and look for DTDs. Every entry,
    whatever its name: a workbook's relationships may point a sheet at any part."""
    carry = b""
    first = True
    for piece in _inflate(data, entry):
        if first and entry.filename.lower().endswith(XML_SUFFIXES):
            # Excel writes UTF-8; our checks (and the DTD scan below) read bytes as UTF-8.
            head = piece[:4]
            if head.startswith((b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")):
                raise SpreadsheetError("unsafe_file", "工作簿内部的XML编码异常（非UTF-8），已拒绝。")
        first = False
        window = carry + piece
        at = window.find(b"<!")
        while at != -1:
            word = window[at + 2 : at + 9].upper()
            if word.startswith(_DTD_WORDS):
                raise SpreadsheetError("unsafe_file", "工作簿含有不安全的XML声明（DOCTYPE/ENTITY），已拒绝。")
            at = window.find(b"<!", at + 2)
        carry = window[-9:]


def _inflate(data: bytes, entry: zipfile.ZipInfo) -> Iterator[bytes]:
    """An entry's bytes as they really inflate, in pieces. Refuses an entry that inflates past the
    size its directory record declares (the record is the attacker's to write) or whose checksum
    does not match."""
    offset = entry.header_offset
    header = data[offset : offset + 30]
    if len(header) < 30 or not header.startswith(XLSX_MAGIC):
        raise SpreadsheetError("not_xlsx", CORRUPT)
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    start = offset + 30 + name_length + extra_length
    raw = memoryview(data)[start : start + entry.compress_size]
    if len(raw) != entry.compress_size:
        raise SpreadsheetError("not_xlsx", CORRUPT)
    produced, crc = 0, 0

    def account(piece: bytes) -> bytes:
        nonlocal produced, crc
        produced += len(piece)
        if produced > entry.file_size:
            raise SpreadsheetError("unsafe_file", LYING)
        crc = zlib.crc32(piece, crc)
        return piece

    if entry.compress_type == zipfile.ZIP_STORED:
        for at in range(0, len(raw), CHUNK):
            yield account(bytes(raw[at : at + CHUNK]))
    else:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        position = 0
        try:
            while not inflater.eof:
                if inflater.unconsumed_tail:
                    feed = inflater.unconsumed_tail
                elif position < len(raw):
                    feed = raw[position : position + CHUNK]
                    position += len(feed)
                else:
                    feed = b""
                piece = inflater.decompress(feed, CHUNK)
                if piece:
                    yield account(piece)
                elif not feed:
                    break
        except zlib.error:
            raise SpreadsheetError("not_xlsx", CORRUPT) from None
        if not inflater.eof:
            raise SpreadsheetError("not_xlsx", CORRUPT)
    if produced != entry.file_size or crc != entry.CRC:
        raise SpreadsheetError("not_xlsx", CORRUPT)


def read_first_sheet(data: bytes, limits: Limits) -> list[list]:
    """All rows of the first sheet as Python values (str, float, int, bool, date, datetime, ""),
    row 1 first, column A first, trailing blank rows dropped."""
    inspect_xlsx(data, limits)
    _probe_in_child(data, limits)
    return _load_rows(data, limits)


def _load_rows(data: bytes, limits: Limits, *, keep: bool = True) -> list[list]:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheet = workbook.get_sheet_by_index(0)
    except Exception:  # calamine raises its own error types for malformed parts
        raise SpreadsheetError("not_xlsx", "无法读取工作簿内容，文件可能已损坏。") from None
    if sheet.end is None:
        raise SpreadsheetError("empty_sheet", "工作表是空的：第一行须为表头，从第二行起为数据。")
    if sheet.end[1] + 1 > limits.max_columns:
        raise SpreadsheetError(
            "too_many_columns",
            f"列数过多（{sheet.end[1] + 1}列），上限为{limits.max_columns}列。请删去多余的列后上传。",
        )
    pad = [""] * sheet.start[1]  # iter_rows starts at row 1 but at the first used column
    rows: list[list] = []
    text = 0
    last_filled = -1
    for index, row in enumerate(sheet.iter_rows()):
        text += sum(len(v) for v in row if type(v) is str)
        if text > limits.max_text_chars:
            raise SpreadsheetError("unsafe_file", "工作表中的文字总量异常（疑似恶意构造的文件），已拒绝。")
        if any(v not in ("", None) for v in row):
            last_filled = index
            if index > limits.max_rows:  # index 0 is the header
                raise SpreadsheetError(
                    "too_many_rows",
                    f"行数过多（超过{limits.max_rows}行），单个文件上限为{limits.max_rows}行，请拆分后上传。",
                )
        if keep:
            rows.append(pad + row if pad else row)
    if last_filled < 0:
        raise SpreadsheetError("empty_sheet", "工作表是空的：第一行须为表头，从第二行起为数据。")
    if last_filled < 1:
        raise SpreadsheetError("empty_sheet", "工作表中没有数据行：第一行为表头，请从第二行起填写数据。")
    del rows[last_filled + 1 :]
    return rows


def _probe_in_child(data: bytes, limits: Limits) -> None:
    """Read the workbook once in a forked child whose address space is capped, and report how it
    went. A workbook that makes calamine abort or exhaust memory takes the child down only."""
    if not hasattr(os, "fork"):
        return
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns, never runs the parent's clean-ups
        try:
            os.close(read_end)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)  # an abort's backtrace would only clutter the worker's log
            faulthandler.disable()  # and so would Python's (pytest and PYTHONFAULTHANDLER turn it on)
            outcome = {"ok": True}
            try:
                _cap_address_space(limits.read_memory_bytes)
                _load_rows(data, limits, keep=False)
            except SpreadsheetError as exc:
                outcome = {"ok": False, "code": exc.code, "message": exc.message}
            except BaseException:  # noqa: B036 (MemoryError, a Rust panic: anything)
                outcome = {"ok": False}
            payload = json.dumps(outcome).encode()
            while payload:
                payload = payload[os.write(write_end, payload) :]
        finally:
            os._exit(0)
    os.close(write_end)
    received = b""
    poller = select.poll()
    poller.register(read_end, select.POLLIN | select.POLLHUP)
    deadline = time.monotonic() + limits.read_timeout_seconds
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            if not poller.poll(left * 1000):  # poll, not select: a busy worker's fds may pass 1024
                continue
            piece = os.read(read_end, 65536)
            if not piece:
                break
            received += piece
    finally:
        os.close(read_end)
        if timed_out:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if timed_out:
        raise SpreadsheetError("unsafe_file", "读取工作簿超时（疑似恶意构造的文件），已拒绝。")
    try:
        outcome = json.loads(received) if received else None
    except ValueError:
        outcome = None
    if outcome and outcome.get("ok"):
        return
    if outcome and outcome.get("code"):
        raise SpreadsheetError(outcome["code"], outcome["message"])
    logger.warning("reading an uploaded workbook failed in the child (wait status %s)", status)
    raise SpreadsheetError(
        "unsafe_file",
        "工作簿无法安全读取（结构异常或疑似恶意构造的文件），已拒绝。请用Excel另存为.xlsx后重试。",
    )


def _cap_address_space(extra_bytes: int) -> None:
    try:
        import resource

        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = current + extra_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, ValueError):
        pass  # no /proc (macOS): the child still keeps a crash away from the worker


_FORMULA = re.compile(rb"<f[\s/>]")
_CELL_START = re.compile(rb"<c\s[^>]*?\br\s*=\s*[\"']([A-Za-z]{1,3})([0-9]{1,7})[\"']")
_FORMULA_TEXT = re.compile(rb"<f(?:\s[^>]*)?>([^<]*)</f>")
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_PKG_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def first_sheet_part(archive: zipfile.ZipFile) -> str | None:
    """The zip entry of the workbook's first sheet (the one read), from xl/workbook.xml and its
    relationships; None when they do not say. Parsed with defusedxml (inspect_xlsx has refused
    any DTD already)."""
    from defusedxml import ElementTree

    try:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except Exception:  # missing part, malformed XML, a forbidden construct
        return None
    sheet = workbook.find(f"{_MAIN_NS}sheets/{_MAIN_NS}sheet")
    if sheet is None:
        return None
    rel_id = sheet.get(f"{_REL_NS}id")
    for rel in rels.iter(f"{_PKG_NS}Relationship"):
        if rel.get("Id") == rel_id:
            target = rel.get("Target") or ""
            name = target[1:] if target.startswith("/") else f"xl/{target}"
            return name if name in archive.namelist() else None
    return None


def formula_cells(data: bytes, *, limit: int = 10_000) -> list[tuple[int, int, str]]:
    """(row, column, "=formula") of the first sheet's formula cells, row 1-based and column
    0-based as read_first_sheet's lists are. A formula cell reads as the value Excel last computed
    (none at all when a program wrote the file), which is not what the user sees when typing; the
    importer refuses such cells by name. Call after inspect_xlsx."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    name = first_sheet_part(archive)
    if name is None:
        return []
    found: list[tuple[int, int, str]] = []

    def scan(buffer: bytes, end: int) -> bool:
        for match in _FORMULA.finditer(buffer, 0, end):
            start = buffer.rfind(b"<c ", 0, match.start())
            cell = _CELL_START.match(buffer, start) if start != -1 else None
            if cell is None:
                continue
            column = 0
            for letter in cell.group(1).upper().decode():
                column = column * 26 + ord(letter) - 64
            text = _FORMULA_TEXT.match(buffer, match.start())
            formula = "=" + _xml_text(text.group(1)) if text and text.group(1) else "（共享公式）"
            found.append((int(cell.group(2)), column - 1, formula))
            if len(found) >= limit:
                return False
        return True

    carry = b""
    for piece in _inflate(data, archive.getinfo(name)):
        buffer = carry + piece
        # Keep the last cell whole for the next round: a formula is matched with its cell's tag.
        cut = buffer.rfind(b"<c ")
        if cut == -1:
            cut = max(0, len(buffer) - 2)  # no cell here: keep only what could begin one
        elif cut == 0 and len(buffer) > 4 * CHUNK:
            cut = len(buffer)  # one giant cell
        if not scan(buffer, cut):
            return found
        carry = buffer[cut:]
    scan(carry, len(carry))
    return found


def _xml_text(raw: bytes) -> str:
    import html

    return html.unescape(raw.decode("utf-8", "replace"))


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
