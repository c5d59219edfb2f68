"""Workbooks for the tests, good and hostile, built in memory (no binaries in the repository).

Every builder returns the file's bytes. The hostile ones start from a small valid workbook and
change one thing, so that each test shows that one thing is what gets the file refused."""

import io
import struct
import zipfile
import zlib

from openpyxl import Workbook

SHEET = "xl/worksheets/sheet1.xml"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def workbook(rows, *, formulas_as_text: bool = True, title: str | None = None) -> bytes:
    """An ordinary xlsx whose first sheet holds `rows`. A string starting with "=" is written as
    text (what a user typing it into the template's text-formatted cells gets) unless
    formulas_as_text is False, when openpyxl writes it as a formula."""
    book = Workbook()
    sheet = book.active
    if title:
        sheet.title = title
    for row in rows:
        sheet.append(list(row))
    if formulas_as_text:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def rezip(data: bytes, *, replace=None, add=None, drop=(), duplicate=()) -> bytes:
    """The same archive with some entries replaced (name -> bytes, or a function of the old
    bytes), added, dropped, or written twice."""
    replace, add = replace or {}, add or {}
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename in drop:
                continue
            content = source.read(info.filename)
            if info.filename in replace:
                new = replace[info.filename]
                content = new(content) if callable(new) else new
            target.writestr(info.filename, content)
            if info.filename in duplicate:
                with _quiet():
                    target.writestr(info.filename, content)
        for name, content in add.items():
            target.writestr(name, content)
    return out.getvalue()


class _quiet:
    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)


def valid(rows=None) -> bytes:
    return workbook(rows or [["标题", "备注"], ["第一条", "说明"]])


# --- not a workbook at all ------------------------------------------------------------------------


def text_file() -> bytes:
    return "户编号,姓名\n4117221002010001,王建国\n".encode()


def png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


def pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def legacy_xls() -> bytes:
    """The OLE2 compound-file signature that .xls (and password-protected .xlsx) start with."""
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504


def docx_like() -> bytes:
    """A zip with content types but no workbook (a Word file, say)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return out.getvalue()


def corrupted() -> bytes:
    """A real workbook with bytes of its sheet's compressed data overwritten."""
    data = bytearray(valid())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(SHEET)
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + name_length + extra_length
    for i in range(start + 10, start + min(info.compress_size, 40)):
        data[i] ^= 0x5A
    return bytes(data)


def truncated() -> bytes:
    data = valid()
    return data[: len(data) // 2]


# --- macros -----------------------------------------------------------------------------------------


def macro_content_type() -> bytes:
    """Saved as .xlsm: the main part's content type says macroEnabled."""
    return rezip(
        valid(),
        replace={
            "[Content_Types].xml": lambda c: c.replace(
                b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
            )
        },
    )


def macro_vba_project() -> bytes:
    """An otherwise plain workbook carrying a VBA project."""
    return rezip(valid(), add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\x00" * 100})


# --- size -------------------------------------------------------------------------------------------


def rows_file(count: int, header=("标题", "备注")) -> bytes:
    return workbook([list(header)] + [[f"第{i}条", "备注"] for i in range(count)])


def zip_bomb(megabytes: int = 20) -> bytes:
    """A workbook whose sheet part is padded with megabytes of spaces: tiny zipped, huge unzipped
    (deflate packs spaces about 1000 to 1). Written in pieces, so the test never holds it."""
    base = valid()
    source = zipfile.ZipFile(io.BytesIO(base))
    sheet = source.read(SHEET)
    head, tail = sheet.split(b"<sheetData>", 1)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info in source.infolist():
            if info.filename != SHEET:
                target.writestr(info.filename, source.read(info.filename))
                continue
            with target.open(SHEET, "w", force_zip64=True) as part:
                part.write(head)
                spaces = b" " * (1024 * 1024)
                for _ in range(megabytes):
                    part.write(spaces)
                part.write(b"<sheetData>" + tail)
    return out.getvalue()


def lying_sizes() -> bytes:
    """A zip bomb that lies: its directory records declare the sheet part far smaller than it
    inflates to, so no declared size or ratio gives it away."""
    data = bytearray(zip_bomb(megabytes=2))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(SHEET)
    declared = 4000
    # The local header's sizes live in its zip64 extra field (force_zip64); the central record too.
    local = info.header_offset
    name_length, extra_length = struct.unpack("<HH", data[local + 26 : local + 30])
    _patch_zip64(data, local + 30 + name_length, extra_length, declared)
    central = _central_record(bytes(data), SHEET)
    cd_name, cd_extra = struct.unpack("<HH", data[central + 28 : central + 32])
    if struct.unpack("<I", data[central + 24 : central + 28])[0] == 0xFFFFFFFF:
        _patch_zip64(data, central + 46 + cd_name, cd_extra, declared)
    else:
        data[central + 24 : central + 28] = struct.pack("<I", declared)
    return bytes(data)


def _central_record(data: bytes, name: str) -> int:
    at = data.index(b"PK\x01\x02")
    while at != -1:
        name_length = struct.unpack("<H", data[at + 28 : at + 30])[0]
        if data[at + 46 : at + 46 + name_length] == name.encode():
            return at
        at = data.find(b"PK\x01\x02", at + 4)
    raise ValueError(name)


def _patch_zip64(data: bytearray, start: int, length: int, declared: int) -> None:
    """Set the uncompressed size in a zip64 extra field (its first 8-byte value)."""
    at = start
    while at < start + length:
        kind, size = struct.unpack("<HH", data[at : at + 4])
        if kind == 0x0001:
            data[at + 4 : at + 12] = struct.pack("<Q", declared)
            return
        at += 4 + size
    raise ValueError("no zip64 field")


def encrypted_entry() -> bytes:
    """The sheet entry flagged as encrypted (zip's own encryption)."""
    data = bytearray(valid())
    central = _central_record(bytes(data), SHEET)
    flags = struct.unpack("<H", data[central + 8 : central + 10])[0]
    data[central + 8 : central + 10] = struct.pack("<H", flags | 0x1)
    return bytes(data)


def duplicate_entry() -> bytes:
    return rezip(valid(), duplicate={SHEET})


def odd_path() -> bytes:
    return rezip(valid(), add={"xl/../../evil.xml": b"<x/>"})


# --- XML tricks ---------------------------------------------------------------------------------------


def _with_doctype(doctype: bytes, part: str = SHEET, *, pad: int = 0) -> bytes:
    def change(content: bytes) -> bytes:
        declaration = b'<?xml version="1.0" encoding="UTF-8"?>\n'
        body = content.split(b"?>", 1)[1] if content.startswith(b"<?xml") else content
        return declaration + b"<!--" + b" " * pad + b"-->" + doctype + body

    return rezip(valid(), replace={part: change})


def xxe_sheet() -> bytes:
    """An external entity in the sheet: a reader that resolves it would put /etc/passwd in A2."""
    return _with_doctype(b'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>')


def xxe_shared_strings() -> bytes:
    doctype = b'<!DOCTYPE sst [<!ENTITY xxe SYSTEM "http://169.254.169.254/latest/meta-data/">]>'
    strings = b'<sst xmlns="' + MAIN_NS.encode() + b'" count="1" uniqueCount="1"><si><t>&xxe;</t></si></sst>'
    data = rezip(valid(), add={"xl/sharedStrings.xml": b'<?xml version="1.0"?>' + doctype + strings})
    return data


def xxe_far_down() -> bytes:
    """The DOCTYPE after 8 KB of comment: a check of the first few KB only would miss it."""
    return _with_doctype(b'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', pad=8192)


def billion_laughs() -> bytes:
    entities = [b'<!ENTITY lol0 "lol">'] + [
        b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)
    ]
    return _with_doctype(b"<!DOCTYPE worksheet [" + b"".join(entities) + b"]>")


def utf16_part() -> bytes:
    def change(content: bytes) -> bytes:
        return (
            content.decode()
            .replace("<worksheet", '<?xml version="1.0" encoding="UTF-16"?><worksheet', 1)
            .encode("utf-16")
        )

    return rezip(valid(), replace={SHEET: change})


# --- grids that make a reader allocate --------------------------------------------------------------


def sparse_cells(far: str = "XFD1048576") -> bytes:
    """A1 and one cell far away: 5 KB that a grid reader sizes as rows x columns (XFD1048576: 17
    billion cells)."""
    row = far.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    cell = f'<row r="{row}"><c r="{far}" t="inlineStr"><is><t>x</t></is></c></row>'.encode()
    return rezip(valid(), replace={SHEET: lambda c: c.replace(b"</sheetData>", cell + b"</sheetData>")})


def shared_string_amplifier(cells: int = 300, length: int = 2000) -> bytes:
    """One long shared string used by many cells: small in the file, cells x length in memory."""
    import random

    rng = random.Random(7)
    text = "".join(chr(0x4E00 + rng.randrange(20000)) for _ in range(length))
    strings = f'<sst xmlns="{MAIN_NS}" count="{cells}" uniqueCount="2"><si><t>标题</t></si><si><t>{text}</t></si></sst>'
    rows = '<row r="1"><c r="A1" t="s"><v>0</v></c></row>' + "".join(
        f'<row r="{i}"><c r="A{i}" t="s"><v>1</v></c></row>' for i in range(2, cells + 2)
    )
    sheet = f'<worksheet xmlns="{MAIN_NS}"><sheetData>{rows}</sheetData></worksheet>'

    def types(content: bytes) -> bytes:
        return content.replace(
            b"</Types>",
            b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
            b'officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        )

    def rels(content: bytes) -> bytes:
        return content.replace(
            b"</Relationships>",
            b'<Relationship Id="rIdSS" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            b'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        )

    return rezip(
        valid(),
        replace={SHEET: sheet.encode(), "[Content_Types].xml": types, "xl/_rels/workbook.xml.rels": rels},
        add={"xl/sharedStrings.xml": strings.encode()},
    )
