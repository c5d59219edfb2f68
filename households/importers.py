"""The household file importer: the 建档立卡 national export, one row per person.

Households are grouped by 户编号; the head is the row whose 与户主关系 is 户主; household-level
columns (village, 人数, status, attribute, standard, causes, income, phone, bank) repeat on each
member row and must agree (a blank on a member row is allowed and takes the household's value).
A column missing from the file leaves that field of existing households as it is. Households
absent from the file are left alone (the file updates, it does not delete).

Set-based, in three steps:

1. check(): every row is read once in Python with the shared validators (common.identity); a
   member row's household-level cells are looked at only where they differ from the household's
   first row, and values that repeat across the file (village, status, causes...) are parsed once.
   Then a few large queries (one `= ANY(array)` each on PostgreSQL): the existing households by 户编号, their members,
   the ID hashes found elsewhere, the villages named. A number already on file was checked when it
   was stored, so only new numbers get the full GB 11643 check. The diff compares normalised
   values and keyed hashes (nothing is decrypted) and gives a plan: households to create, to
   update (with the fields that changed), member rows to add, change, move or remove. Unchanged
   households cost nothing more.
2. The runner stops on any error (nothing is written) or, for a dry run, reports plan.counts.
3. commit(): inside the runner's transaction, bulk writes; only new or changed ID and account
   numbers are encrypted (in two processes when there are many, see encrypt_many). Every created
   or changed household and member gets a history row (django-simple-history's bulk helpers, or
   the same rows through COPY) with the importing user, one timestamp and CHANGE_REASON; a
   household whose members changed gets a history row too. Old and new values are the difference
   between a history row and the one before it (HistoricalRecords.diff_against).

On PostgreSQL new households, members and their history rows go in with COPY (copy_insert);
elsewhere, or with settings.IMPORT_USE_COPY = False, through bulk_create_with_history.
"""

from __future__ import annotations

import datetime
import gc
import hashlib
import hmac
import io
import json
import logging
import os
import re
import select
import signal
import time
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from unicodedata import normalize

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import BooleanField
from django.db.models.deletion import Collector
from django.db.models.expressions import RawSQL
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from common import clock, pii
from common.identity import (
    ResidentId,
    check_gender,
    invisible_characters,
    invisible_refusal,
    normalize_phone,
    parse_resident_id,
    validate_phone,
)
from common.identity import normalize as normalize_id
from common.money import money
from common.spreadsheets import cell_text
from imports.base import Column, Counts, ErrorReport, Importer, Row
from organization.models import Region
from organization.permissions import HOUSEHOLD_EDITORS
from organization.scoping import is_admin

from .models import (
    HEAD_RELATION,
    Gender,
    Household,
    HouseholdAttribute,
    HouseholdStatus,
    IdentificationStandard,
    Member,
    PovertyCause,
)
from .services import id_registered_elsewhere

logger = logging.getLogger(__name__)

CHANGE_REASON = "导入建档立卡文件"
PARALLEL_ENCRYPT_MIN = 20_000
ENCRYPT_CHILD_TIMEOUT = 120  # seconds after this process finished its own half
BATCH_SIZE = 2000
QUERY_CHUNK = 5000  # values per IN list (SQLite allows 32,766 parameters)
PROGRESS_EVERY = 2000

# 劳动能力 as the national system words it; the first three count as labour-capable.
LABOR_ABILITIES = {
    "普通劳动力": True,
    "技能劳动力": True,
    "弱劳动力或半劳动力": True,
    "丧失劳动力": False,
    "无劳动力": False,
}
# 脱贫状态 in the file -> HouseholdStatus (非贫困户 is not in the national file).
STATUS_LABELS = {
    HouseholdStatus.POOR.label: HouseholdStatus.POOR.value,
    HouseholdStatus.LIFTED.label: HouseholdStatus.LIFTED.value,
    HouseholdStatus.MONITORED.label: HouseholdStatus.MONITORED.value,
}
ATTRIBUTE_LABELS = {label: value for value, label in HouseholdAttribute.choices}
STANDARD_LABELS = {label: value for value, label in IdentificationStandard.choices}
CAUSE_LABELS = {label: value for value, label in PovertyCause.choices}
GENDER_LABELS = {label: value for value, label in Gender.choices}
GENDER_NAMES = dict(Gender.choices)
CAUSE_SEPARATORS = re.compile(r"[、,;/\s]+")  # after NFKC, ，；become , ;
ACCOUNT = re.compile(r"^\d{10,30}$")
VILLAGE_CODE = re.compile(r"^\d{12}$")

LOST_DIGITS = "{header}被Excel存成了数字，末尾几位已丢失，请把该列设为文本格式后重新填写。"

COLUMNS = [
    Column("county", "县", required=False, width=10, example="上蔡县"),
    Column("township", "乡镇", required=False, width=10, example="黄埠镇"),
    Column("village", "行政村", required=False, width=12, example="东王庄村"),
    Column(
        "village_code", "行政区划代码", width=16, aliases=("行政村代码", "区划代码"), example="411722100201"
    ),
    Column("household_no", "户编号", width=20, example="4117221002010001"),
    Column("name", "姓名", width=10, example="王建国"),
    Column(
        "id_number", "证件号码", width=22, aliases=("身份证号", "身份证号码"), example="411722198005061234"
    ),
    Column("relation", "与户主关系", width=12, example="户主"),
    Column("gender", "性别", required=False, choices=tuple(GENDER_LABELS), width=6),
    Column("member_count", "人数", aliases=("家庭人数",), width=6, example="3"),
    Column("labor", "劳动能力", required=False, choices=tuple(LABOR_ABILITIES), width=16),
    Column("identification_standard", "识别标准", required=False, choices=tuple(STANDARD_LABELS), width=10),
    Column("attribute", "贫困户属性", required=False, choices=tuple(ATTRIBUTE_LABELS), width=12),
    Column(
        "poverty_causes",
        "致贫原因",
        required=False,
        choices=tuple(CAUSE_LABELS),
        multiple=True,
        width=16,
        example="因病、缺资金",
    ),
    Column(
        "per_capita_income",
        "人均纯收入",
        required=False,
        aliases=("人均纯收入(元)",),
        width=12,
        example="3200.00",
    ),
    Column("phone", "联系电话", required=False, width=14, example="13800138000"),
    Column("bank_name", "开户银行", required=False, width=24, example="上蔡县农村信用合作联社"),
    Column("bank_account", "银行账号", required=False, width=24, example="6230590000000000001"),
    Column("status", "脱贫状态", choices=tuple(STATUS_LABELS), width=10),
]
HEADERS = {c.key: c.header for c in COLUMNS}

# Household-level columns, in the order their errors are reported.
HOUSEHOLD_KEYS = (
    "village_code", "member_count", "status", "identification_standard", "attribute", "poverty_causes",
    "per_capita_income", "phone", "bank_name", "bank_account",
)  # fmt: skip
REQUIRED_HOUSEHOLD_KEYS = ("village_code", "member_count", "status")
# Household model fields the file sets, keyed by what the diff compares.
COMPARED_FIELDS = (
    "village_id", "head_name", "head_id_hash", "member_count", "labor_count", "status", "attribute",
    "identification_standard", "poverty_causes", "per_capita_income", "phone", "bank_name",
    "bank_account_hash",
)  # fmt: skip
# File column whose absence leaves a compared field alone.
FIELD_COLUMN = {
    "labor_count": "labor",
    "attribute": "attribute",
    "identification_standard": "identification_standard",
    "poverty_causes": "poverty_causes",
    "per_capita_income": "per_capita_income",
    "phone": "phone",
    "bank_name": "bank_name",
    "bank_account_hash": "bank_account",
}
MISSING = object()


class _Bad(Exception):
    """A cell's value is refused; the message is Chinese and names no row (the report does)."""


# --- cells ---------------------------------------------------------------------------------------


def _blank(raw) -> bool:
    return raw is None or raw == ""


def _text(raw) -> str:
    if type(raw) is str:
        return raw.strip() if raw.isascii() else unicodedata.normalize("NFKC", raw).strip()
    return cell_text(raw)


def _number_cell(raw) -> bool:
    return type(raw) in (float, int)


def _village_code(raw) -> str:
    if _number_cell(raw) and abs(raw) >= 1e15:
        raise _Bad(LOST_DIGITS.format(header=HEADERS["village_code"]))
    code = _text(raw)
    if not VILLAGE_CODE.match(code):
        raise _Bad("行政区划代码应为12位行政村代码（如411722100201）。")
    return code


def _member_count(raw) -> int:
    if type(raw) is float and raw.is_integer():
        value = int(raw)
    else:
        try:
            value = int(_text(raw))
        except ValueError:
            raise _Bad("人数应为整数。") from None
    if value < 1 or value > 99:
        raise _Bad("人数超出合理范围（1到99）。")
    return value


def _choice(labels: dict, header: str):
    def parse(raw) -> str:
        text = _text(raw)
        if text not in labels:
            raise _Bad(f"{header}“{text}”不在可选范围内：{'、'.join(labels)}。")
        return labels[text]

    return parse


def _poverty_causes(raw) -> list[str]:
    labels = [label for label in CAUSE_SEPARATORS.split(_text(raw)) if label]
    unknown = [label for label in labels if label not in CAUSE_LABELS]
    if unknown:
        raise _Bad(f"未知的致贫原因：{'、'.join(unknown)}。可选：{'、'.join(CAUSE_LABELS)}。")
    return list(dict.fromkeys(CAUSE_LABELS[label] for label in labels))


INCOME_LIMIT = Decimal("1e10")


def _income(raw) -> Decimal:
    """Money from a number or numeric text (never through float arithmetic: repr keeps what
    Excel showed), rounded to the cent by common.money."""
    if type(raw) is bool or isinstance(raw, datetime.date):
        raise _Bad("人均纯收入应为数字。")
    try:
        value = Decimal(repr(raw)) if type(raw) is float else Decimal(_text(raw).replace(",", ""))
    except InvalidOperation:
        raise _Bad("人均纯收入应为数字。") from None
    if not value.is_finite() or value < 0 or value >= INCOME_LIMIT:
        raise _Bad("人均纯收入不能为负数或过大。")
    return money(value)


def _phone(raw) -> str:
    phone = normalize_phone(_text(raw))
    try:
        validate_phone(phone)
    except ValidationError as exc:
        raise _Bad(exc.messages[0]) from None
    return phone


def _bank_name(raw) -> str:
    name = _text(raw)
    if len(name) > 100:
        raise _Bad("开户银行名称过长（最多100个字）。")
    return name


def _bank_account(raw) -> str:
    if _number_cell(raw) and abs(raw) >= 1e15:
        raise _Bad(LOST_DIGITS.format(header=HEADERS["bank_account"]))
    account = normalize_phone(_text(raw)).replace("-", "")
    if not ACCOUNT.match(account):
        raise _Bad("银行账号应为10到30位数字。")
    return account


PARSERS = {
    "village_code": _village_code,
    "member_count": _member_count,
    "status": _choice(STATUS_LABELS, "脱贫状态"),
    "identification_standard": _choice(STANDARD_LABELS, "识别标准"),
    "attribute": _choice(ATTRIBUTE_LABELS, "贫困户属性"),
    "poverty_causes": _poverty_causes,
    "per_capita_income": _income,
    "phone": _phone,
    "bank_name": _bank_name,
    "bank_account": _bank_account,
}
# Household-level columns with few distinct values in a file: each distinct cell is parsed once.
CACHED_KEYS = frozenset(
    (
        "village_code",
        "member_count",
        "status",
        "identification_standard",
        "attribute",
        "poverty_causes",
        "bank_name",
    )
)
# The cells of the member-level enumerated columns as the template writes them.
GENDER_CELLS = {**GENDER_LABELS, "": ""}
LABOR_CELLS = {**LABOR_ABILITIES, "": False}


class Hasher:
    """common.pii.lookup_hash, with the keyed HMAC state made once and copied per value (about
    twice as fast; a test checks the two agree)."""

    def __init__(self) -> None:
        base = hmac.new(settings.PII_HASH_KEY.encode(), digestmod=hashlib.sha256)
        # The OpenSSL object inside hmac.HMAC copies without the Python wrapper around it.
        self._base = getattr(base, "_hmac", None) or base

    def __call__(self, value: str) -> str:
        if not value:
            return ""
        h = self._base.copy()
        h.update(value.encode())
        return h.hexdigest()


# --- what check() finds -------------------------------------------------------------------------


@dataclass(slots=True)
class FileHousehold:
    no: str
    first_row: int
    sig: tuple  # the household-level cells of its first row, raw
    values: dict = field(default_factory=dict)  # household key -> normalised value
    late: dict | None = None  # household key -> (raw cell, row) for a value first given further down
    members: list = field(default_factory=list)
    heads: list = field(default_factory=list)
    bad: bool = False

    @property
    def head(self) -> Person:
        return self.heads[0]


@dataclass(slots=True)
class Person:
    row: int
    household: FileHousehold
    name: str
    relation: str
    raw_id: object  # the cell as read, for error messages
    number: str  # normalised; "" when the cell could not be read at all
    hash: str
    gender_label: str  # "male" / "female" from the 性别 column, "" when blank
    labor: bool
    gender: str = ""  # from the ID number
    birth_date: datetime.date | None = None  # from the ID number, when it was parsed
    valid: bool = False


@dataclass
class Existing:
    """What the database holds for the households and people of a file."""

    households: dict  # 户编号 -> (pk, *COMPARED_FIELDS)
    pk_to_no: dict  # household pk -> 户编号
    members: dict  # id_hash -> (pk, household_id, name, relation, labor_capable), of those households
    members_of: dict  # household pk -> [id_hash]
    elsewhere: dict  # id_hash -> (户编号, village code) of a household not in the file
    villages: set  # the file's village codes that exist


@dataclass
class HouseholdImportPlan:
    counts: Counts
    labor_given: bool = True
    create: list = field(default_factory=list)  # FileHousehold
    update: list = field(default_factory=list)  # (pk, FileHousehold, changed compared fields)
    member_create: list = field(default_factory=list)  # Person
    member_update: list = field(default_factory=list)  # (member pk, Person)
    member_delete: list = field(default_factory=list)  # member pks
    timings: dict = field(default_factory=dict)


@contextmanager
def no_cyclic_gc():
    """Pause the cycle collector while hundreds of thousands of objects are made and kept: each of
    its full passes walks every object of the file (measured: a third of check()'s time). Nothing
    made here needs it; reference counting frees everything as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def chunks(items: list, size: int | None = None) -> Iterator[list]:
    size = size or QUERY_CHUNK
    for start in range(0, len(items), size):
        yield items[start : start + size]


def matching(queryset, field_name: str, values: list) -> list:
    """Querysets that together give queryset's rows whose field is in values: one query with
    `= ANY(array)` on PostgreSQL (one parameter, not tens of thousands for Django to compile),
    chunks of IN lists elsewhere (SQLite allows 32,766 parameters)."""
    if not values:
        return []
    if connection.vendor != "postgresql":
        return [queryset.filter(**{f"{field_name}__in": chunk}) for chunk in chunks(values)]
    meta = queryset.model._meta
    quote = connection.ops.quote_name
    column = f"{quote(meta.db_table)}.{quote(meta.get_field(field_name).column)}"
    return [queryset.filter(RawSQL(f"{column} = ANY(%s)", (list(values),), output_field=BooleanField()))]


def editable_village_test(actor):
    """code -> may the actor edit households there: organization.permissions.can_edit_households_in,
    with the actor's units read once instead of once per call."""
    if is_admin(actor):
        return lambda code: True
    prefixes = tuple(
        a.unit.region.prefix
        for a in actor.role_assignments.select_related("unit__region")
        if a.role in HOUSEHOLD_EDITORS and a.unit_id
    )
    return lambda code: bool(prefixes) and code.startswith(prefixes)


def _gender_of(number: str) -> str:
    return "male" if int(number[16]) % 2 == 1 else "female"


class HouseholdImporter(Importer):
    kind = "households"
    label = "建档立卡户"
    columns = COLUMNS

    # --- check ----------------------------------------------------------------------------------

    def check(self, rows: list[Row], report: ErrorReport) -> HouseholdImportPlan:
        with no_cyclic_gc():
            return self._check(rows, report)

    def _check(self, rows: list[Row], report: ErrorReport) -> HouseholdImportPlan:
        started = time.perf_counter()
        present = set(rows[0].values) if rows else set()
        self.keys = [k for k in HOUSEHOLD_KEYS if k in present]
        self.key_index = {k: i for i, k in enumerate(self.keys)}
        self.hasher = Hasher()
        self._parsed: dict = {}
        plan = HouseholdImportPlan(counts=Counts(), labor_given="labor" in present)

        households, people = self._read_rows(rows, report, present)
        read = time.perf_counter()
        existing = self._load(households, people)
        loaded = time.perf_counter()
        self._check_people(people, report, existing)
        for household in households.values():
            self._check_household(household, report)
        self._check_places(households, report, existing)
        self._diff(households, existing, plan, present)
        plan.timings.update(
            check_rows=read - started,
            check_queries=loaded - read,
            check_diff=time.perf_counter() - loaded,
        )
        self.progress(len(rows))
        return plan

    def source(self, household: FileHousehold, key: str) -> tuple[object, int]:
        """The raw cell a household-level value came from, and its row."""
        if household.late and key in household.late:
            return household.late[key]
        return household.sig[self.key_index[key]], household.first_row

    def _read_rows(self, rows: list[Row], report: ErrorReport, present: set):
        """Every cell that needs no database; ID numbers are normalised and hashed here and
        validated in _check_people (a number already on file needs no second look)."""
        add = report.add
        hasher = self.hasher
        keys = self.keys
        households: dict[str, FileHousehold] = {}
        people: list[Person] = []
        gender_given, labor_given = "gender" in present, "labor" in present
        progress = self.progress
        id_header, name_header, relation_header = HEADERS["id_number"], HEADERS["name"], HEADERS["relation"]

        for index, row in enumerate(rows, start=1):
            if index % PROGRESS_EVERY == 0:
                progress(index)
            number_of_row = row.number
            values = row.values

            raw_no = values.get("household_no")
            if type(raw_no) is str:
                no = raw_no.strip() if raw_no.isascii() else normalize("NFKC", raw_no).strip()
            elif _number_cell(raw_no) and abs(raw_no) >= 1e15:
                add(number_of_row, HEADERS["household_no"], raw_no, LOST_DIGITS.format(header="户编号"))
                continue
            else:
                no = _text(raw_no)
            if not no:
                add(number_of_row, HEADERS["household_no"], raw_no, "户编号不能为空。")
                continue
            if len(no) > 40:
                add(number_of_row, HEADERS["household_no"], raw_no, "户编号过长（最多40个字符）。")
                continue
            if not no.isprintable() and invisible_characters(no):  # as households.services refuses them
                add(number_of_row, HEADERS["household_no"], raw_no, invisible_refusal("户编号"))
                continue

            sig = tuple(map(values.get, keys))
            household = households.get(no)
            if household is None:
                household = households[no] = FileHousehold(no, number_of_row, sig)
                self._first_cells(household, add)
            elif sig != household.sig:
                self._later_cells(household, sig, number_of_row, add)

            ok = True
            raw_name = values.get("name")
            name = normalize("NFKC", raw_name).strip() if type(raw_name) is str else _text(raw_name)
            if not name:
                add(number_of_row, name_header, raw_name, "姓名不能为空。")
                ok = False
            elif len(name) > 50:
                add(number_of_row, name_header, raw_name, "姓名过长（最多50个字）。")
                ok = False
            raw_relation = values.get("relation")
            if type(raw_relation) is str:
                relation = normalize("NFKC", raw_relation).strip()
            else:
                relation = _text(raw_relation)
            if not relation:
                add(number_of_row, relation_header, raw_relation, "与户主关系不能为空。")
                ok = False
            elif len(relation) > 20:
                add(number_of_row, relation_header, raw_relation, "与户主关系过长（最多20个字）。")
                ok = False
            gender_label = ""
            if gender_given:
                raw_gender = values.get("gender")
                gender_label = GENDER_CELLS.get(raw_gender) if type(raw_gender) is str else None
                if gender_label is None:
                    text = _text(raw_gender)
                    gender_label = GENDER_LABELS.get(text, "")
                    if text and not gender_label:
                        add(
                            number_of_row,
                            HEADERS["gender"],
                            raw_gender,
                            f"性别“{text}”不在可选范围内：男、女。",
                        )
                        ok = False
            labor = False
            if labor_given:
                raw_labor = values.get("labor")
                labor = LABOR_CELLS.get(raw_labor) if type(raw_labor) is str else None
                if labor is None:
                    text = _text(raw_labor)
                    labor = LABOR_ABILITIES.get(text, False)
                    if text and text not in LABOR_ABILITIES:
                        add(number_of_row, HEADERS["labor"], raw_labor,
                            f"劳动能力“{text}”不在可选范围内：{'、'.join(LABOR_ABILITIES)}。")  # fmt: skip
                        ok = False

            raw_id = values.get("id_number")
            number = ""
            if _number_cell(raw_id) and abs(raw_id) >= 1e15:
                add(number_of_row, id_header, raw_id, LOST_DIGITS.format(header="证件号码"))
                ok = False
            elif _blank(raw_id):
                add(number_of_row, id_header, raw_id, "证件号码不能为空。")
                ok = False
            elif type(raw_id) is str and raw_id.isascii():
                number = raw_id.replace(" ", "").strip().upper()
            else:
                number = normalize_id(_text(raw_id))
            person = Person(
                number_of_row, household, name, relation, raw_id, number, hasher(number), gender_label, labor
            )
            people.append(person)
            household.members.append(person)
            if relation == HEAD_RELATION:
                household.heads.append(person)
            if not ok:
                household.bad = True
        return households, people

    def parse(self, key: str, raw):
        """A household-level cell's value; raises _Bad. Columns whose values repeat across the
        file (village, status, causes, ...) are parsed once per distinct cell."""
        if key not in CACHED_KEYS:
            return PARSERS[key](raw)
        cache_key = (key, type(raw), raw)
        cached = self._parsed.get(cache_key, MISSING)
        if cached is MISSING:
            try:
                cached = PARSERS[key](raw)
            except _Bad as exc:
                cached = exc
            self._parsed[cache_key] = cached
        if isinstance(cached, _Bad):
            raise cached
        return cached

    def _first_cells(self, household: FileHousehold, add) -> None:
        values, row = household.values, household.first_row
        parsed = self._parsed
        for key, raw in zip(self.keys, household.sig, strict=True):
            if raw is None or raw == "":
                continue
            value = parsed.get((key, type(raw), raw), MISSING)  # the usual case: seen before
            if value is MISSING or isinstance(value, _Bad):
                try:
                    value = self.parse(key, raw)
                except _Bad as exc:
                    add(row, HEADERS[key], raw, str(exc))
                    household.bad = True
                    continue
            values[key] = value

    def _later_cells(self, household: FileHousehold, sig: tuple, row: int, add) -> None:
        """A member row whose household-level cells differ from the household's first row: a
        blank is fine, the same value written differently is fine, another value is an error."""
        values = household.values
        for key, raw, first in zip(self.keys, sig, household.sig, strict=True):
            if raw is None or raw == "" or (type(first) is type(raw) and first == raw):
                continue
            try:
                value = self.parse(key, raw)
            except _Bad as exc:
                add(row, HEADERS[key], raw, str(exc))
                household.bad = True
                continue
            if key not in values:  # first given here
                values[key] = value
                if household.late is None:
                    household.late = {}
                household.late[key] = (raw, row)
            elif value != values[key]:
                source, source_row = self.source(household, key)
                add(row, HEADERS[key], raw,
                    f"同一户各行的{HEADERS[key]}须一致：第{source_row}行为“{_text(source)}”。")  # fmt: skip
                household.bad = True

    def _load(self, households: dict[str, FileHousehold], people: list[Person]) -> Existing:
        """The few large queries: households by 户编号, their members, ID numbers elsewhere,
        the villages named."""
        found: dict[str, tuple] = {}
        for qs in matching(Household.objects.all(), "household_no", list(households)):
            for values in qs.values_list("household_no", "pk", *COMPARED_FIELDS):
                found[values[0]] = values[1:]
        pk_to_no = {values[0]: no for no, values in found.items()}

        members: dict[str, tuple] = {}
        members_of: dict[int, list[str]] = {}
        for qs in matching(Member.objects.all(), "household", list(pk_to_no)):
            for pk, household_id, id_hash, name, relation, labor in qs.values_list(
                "pk", "household_id", "id_hash", "name", "relation", "labor_capable"
            ):
                members[id_hash] = (pk, household_id, name, relation, labor)
                members_of.setdefault(household_id, []).append(id_hash)

        elsewhere: dict[str, tuple[str, str]] = {}
        unknown = [p.hash for p in people if p.hash and p.hash not in members]
        for qs in matching(Member.objects.all(), "id_hash", unknown):
            for id_hash, no, village in qs.values_list(
                "id_hash", "household__household_no", "household__village_id"
            ):
                elsewhere[id_hash] = (no, village)
        heads = [p.hash for p in people if p.relation == HEAD_RELATION and p.hash and p.hash not in members]
        for qs in matching(Household.objects.all(), "head_id_hash", heads):
            for head_hash, no, village in qs.values_list("head_id_hash", "household_no", "village_id"):
                if no not in households:
                    elsewhere.setdefault(head_hash, (no, village))

        codes = sorted({h.values["village_code"] for h in households.values() if "village_code" in h.values})
        villages: set[str] = set()
        for qs in matching(Region.objects.filter(level=Region.Level.VILLAGE), "code", codes):
            villages.update(qs.values_list("code", flat=True))
        return Existing(found, pk_to_no, members, members_of, elsewhere, villages)

    def _check_people(self, people: list[Person], report: ErrorReport, existing: Existing) -> None:
        """ID numbers (skipping the full check for numbers already on file, which were checked on
        the way in), gender against the number, one person in two places."""
        add = report.add
        today = clock.today()
        id_header = HEADERS["id_number"]
        on_file, elsewhere = existing.members, existing.elsewhere
        seen: dict[str, Person] = {}
        for person in people:
            if not person.number:
                continue  # unreadable, already reported
            household = person.household
            if person.hash in on_file or person.hash in elsewhere:
                person.gender = _gender_of(person.number)
            else:
                try:
                    resident = parse_resident_id(person.number, today=today)
                except ValidationError as exc:
                    add(person.row, id_header, person.raw_id, exc.messages[0])
                    household.bad = True
                    continue
                person.gender, person.birth_date = resident.gender, resident.birth_date
            if person.gender_label and person.gender_label != person.gender:
                try:
                    check_gender(
                        ResidentId(person.number, person.birth_date, person.gender), person.gender_label
                    )
                except ValidationError as exc:
                    add(person.row, HEADERS["gender"], GENDER_NAMES[person.gender_label], exc.messages[0])
                household.bad = True
            first = seen.get(person.hash)
            if first is not None:
                if first.household is household:
                    message = f"证件号码在本户中重复（与第{first.row}行相同）。"
                else:
                    message = f"证件号码与第{first.row}行（户编号“{first.household.no}”）重复：同一人不能登记在两户。"
                add(person.row, id_header, person.raw_id, message)
                household.bad = True
                continue
            seen[person.hash] = person
            other = elsewhere.get(person.hash)
            if other is not None:
                message = id_registered_elsewhere(self.actor, *other)
                add(person.row, id_header, person.raw_id, message)
                household.bad = True
                continue
            person.valid = True
        for person in people:
            if not person.valid:
                person.household.bad = True

    def _check_household(self, household: FileHousehold, report: ErrorReport) -> None:
        """Required fields, one head, 人数 equal to the member rows."""
        first = household.first_row
        for key in REQUIRED_HOUSEHOLD_KEYS:
            if key in self.key_index and key not in household.values and not household.bad:
                report.add(first, HEADERS[key], "", f"{HEADERS[key]}不能为空。")
                household.bad = True
        if not household.heads:
            report.add(first, HEADERS["relation"], household.members[0].relation,
                       f"户编号“{household.no}”没有“{HEAD_RELATION}”：每户须有且只有一位户主。")  # fmt: skip
            household.bad = True
        for extra in household.heads[1:]:
            report.add(extra.row, HEADERS["relation"], extra.relation,
                       f"户编号“{household.no}”有多位户主（第{household.heads[0].row}行已是户主）：每户须有且只有一位户主。")  # fmt: skip
            household.bad = True
        count = household.values.get("member_count")
        if count is not None and count != len(household.members):
            raw, row = self.source(household, "member_count")
            report.add(row, HEADERS["member_count"], raw,
                       f"人数为{count}，但本户在文件中有{len(household.members)}行成员。")  # fmt: skip
            household.bad = True

    def _check_places(
        self, households: dict[str, FileHousehold], report: ErrorReport, existing: Existing
    ) -> None:
        """The village must exist and be the actor's to edit; so must the village a household is
        in now (a household may move between two villages of the actor's)."""
        may_edit = editable_village_test(self.actor)
        editable = {code for code in existing.villages if may_edit(code)}
        for household in households.values():
            code = household.values.get("village_code")
            if code is not None and code not in editable:
                raw, row = self.source(household, "village_code")
                report.add(
                    row, HEADERS["village_code"], raw, f"行政村代码“{code}”不存在或不在您的管辖范围内。"
                )
                household.bad = True
        for no, values in existing.households.items():
            if not may_edit(values[1]):
                household = households[no]
                report.add(household.first_row, HEADERS["household_no"], no,
                           f"户编号“{no}”已存在，所属行政村不在您的管辖范围内，不能修改。")  # fmt: skip
                household.bad = True

    def _diff(self, households, existing: Existing, plan: HouseholdImportPlan, present) -> None:
        """Created / updated / unchanged households (by comparing normalised values and hashes,
        never decrypting), and the member rows to add, change, move or remove."""
        counts = plan.counts
        labor_given = plan.labor_given
        skipped = {
            i for i, f in enumerate(COMPARED_FIELDS) if f in FIELD_COLUMN and FIELD_COLUMN[f] not in present
        }
        on_file, pk_to_no = existing.members, existing.pk_to_no
        in_file: set[str] = set()
        touched: set[str] = set()  # households whose member rows change
        for household in households.values():
            if household.bad:
                continue
            for person in household.members:
                in_file.add(person.hash)
                current = on_file.get(person.hash)
                if current is None:
                    plan.member_create.append(person)
                    touched.add(household.no)
                    continue
                pk, household_id, name, relation, labor = current
                moved = pk_to_no[household_id] != household.no
                if (
                    moved
                    or name != person.name
                    or relation != person.relation
                    or (labor_given and labor != person.labor)
                ):
                    plan.member_update.append((pk, person))
                    touched.add(household.no)
                    if moved:
                        touched.add(pk_to_no[household_id])
        for household_id, hashes in existing.members_of.items():
            no = pk_to_no[household_id]
            for id_hash in hashes:
                if id_hash not in in_file and not households[no].bad:
                    plan.member_delete.append(on_file[id_hash][0])
                    touched.add(no)

        hasher = self.hasher
        for household in households.values():
            if household.bad:
                continue
            current = existing.households.get(household.no)
            if current is None:
                plan.create.append(household)
                counts.created += 1
                continue
            old = current[1:]
            wanted = self.compared_values(household, labor_given, hasher)
            if skipped:  # columns the file lacks keep the household's values
                wanted = tuple(old[i] if i in skipped else value for i, value in enumerate(wanted))
            if wanted == old:
                changed = set()
            else:
                changed = {
                    COMPARED_FIELDS[i] for i, (a, b) in enumerate(zip(wanted, old, strict=True)) if a != b
                }
            if changed or household.no in touched:
                plan.update.append((current[0], household, changed))
                counts.updated += 1
            else:
                counts.unchanged += 1

    @staticmethod
    def compared_values(household: FileHousehold, labor_given: bool, hasher) -> tuple:
        """The COMPARED_FIELDS of a household as the file gives them (hashes, not numbers)."""
        values = household.values
        head = household.head
        return (
            values["village_code"],
            head.name,
            head.hash,
            values["member_count"],
            sum(p.labor for p in household.members) if labor_given else None,
            values["status"],
            values.get("attribute", ""),
            values.get("identification_standard", ""),
            values.get("poverty_causes", []),
            values.get("per_capita_income"),
            values.get("phone", ""),
            values.get("bank_name", ""),
            hasher(values.get("bank_account", "")),
        )

    # --- commit ---------------------------------------------------------------------------------

    def commit(self, plan: HouseholdImportPlan) -> Counts:
        writer = _Writer(actor=self.actor, plan=plan)
        with no_cyclic_gc():
            writer.run()
        plan.timings.update(writer.timings)
        return plan.counts


class _Writer:
    """Carries out a plan in the order the unique columns (member id_hash, household
    head_id_hash) allow: remove members, update households, create households, change or move
    members, add members. Encrypts only numbers that are new or changed, each once."""

    def __init__(self, *, actor, plan: HouseholdImportPlan):
        self.actor = actor
        self.plan = plan
        self.when = clock.now()
        self.timings: dict[str, float] = {}
        self.tokens: dict[str, str] = {}  # plaintext -> ciphertext: a head's serves its member row too
        self.household_pks: dict[str, int] = {}
        self.copy = connection.vendor == "postgresql" and getattr(settings, "IMPORT_USE_COPY", True)

    def run(self) -> None:
        started = time.perf_counter()
        self.tokens = encrypt_many(self.plaintexts())
        self.timings["encrypt"] = time.perf_counter() - started
        for step in (
            self.delete_members, self.update_households, self.create_households, self.update_members,
            self.create_members,
        ):  # fmt: skip
            started = time.perf_counter()
            step()
            self.timings[step.__name__] = time.perf_counter() - started

    def plaintexts(self) -> list[str]:
        """Every ID and account number the plan writes anew, each once."""
        plan = self.plan
        values: dict[str, None] = {}
        for fh in plan.create:
            values[fh.head.number] = None
            values[fh.values.get("bank_account", "")] = None
        for _pk, fh, changed in plan.update:
            if "head_id_hash" in changed:
                values[fh.head.number] = None
            if "bank_account_hash" in changed:
                values[fh.values.get("bank_account", "")] = None
        for person in plan.member_create:
            values[person.number] = None
        values.pop("", None)
        return list(values)

    def encrypt(self, value: str) -> str:
        token = self.tokens.get(value)
        if token is None:
            token = self.tokens[value] = pii.encrypt(value)
        return token

    def delete_members(self) -> None:
        pks = self.plan.member_delete
        if not pks:
            return
        members: list[Member] = []
        for qs in matching(Member.objects.all(), "id", pks):
            members += qs
        for member in members:  # the "-" history rows name the importer
            member._history_user = self.actor
            member._history_date = self.when
            member._change_reason = CHANGE_REASON
        collector = Collector(using=Member.objects.db, origin=Member)
        collector.collect(members)
        collector.delete()

    def _apply(self, household: Household, fh: FileHousehold, changed: set) -> None:
        values = fh.values
        if "village_id" in changed:
            household.village_id = values["village_code"]
        if "head_name" in changed:
            household.head_name = fh.head.name
        if "head_id_hash" in changed:
            number = fh.head.number
            household.head_id_enc = self.encrypt(number)
            household.head_id_hash = fh.head.hash
            household.head_id_masked = pii.mask(number)
        if "member_count" in changed:
            household.member_count = values["member_count"]
        if "labor_count" in changed:
            household.labor_count = sum(p.labor for p in fh.members)
        for name in ("status", "attribute", "identification_standard", "phone", "bank_name"):
            if name in changed:
                setattr(household, name, values.get(name, ""))
        if "poverty_causes" in changed:
            household.poverty_causes = values.get("poverty_causes", [])
        if "per_capita_income" in changed:
            household.per_capita_income = values.get("per_capita_income")
        if "bank_account_hash" in changed:
            account = values.get("bank_account", "")
            household.bank_account_enc = self.encrypt(account)
            household.bank_account_hash = pii.lookup_hash(account)
            household.bank_account_masked = pii.mask_account(account)

    def update_households(self) -> None:
        updates = self.plan.update
        if not updates:
            return
        by_pk = {pk: (fh, changed) for pk, fh, changed in updates}
        objs: list[Household] = []
        for qs in matching(Household.objects.select_for_update(), "id", list(by_pk)):
            objs += qs
        old_heads = {o.head_id_hash: o.pk for o in objs}
        fields = {"updated_at"}
        swap = False
        for obj in objs:
            fh, changed = by_pk[obj.pk]
            self._apply(obj, fh, changed)
            obj.updated_at = self.when
            self.household_pks[fh.no] = obj.pk
            fields |= _model_fields(changed)
            swap = swap or old_heads.get(obj.head_id_hash, obj.pk) != obj.pk
        if swap:
            # Households trade heads: park the changed ones first, the unique index checks each row.
            parked = [
                Household(pk=o.pk, head_id_hash=f"~{o.pk}") for o in objs if "head_id_hash" in by_pk[o.pk][1]
            ]
            Household.objects.bulk_update(parked, ["head_id_hash"], batch_size=BATCH_SIZE)
        bulk_update_with_history(
            objs, Household, sorted(fields), batch_size=500, default_user=self.actor,
            default_change_reason=CHANGE_REASON, default_date=self.when,
        )  # fmt: skip

    def create_households(self) -> None:
        creates = self.plan.create
        if not creates:
            return
        labor_given = self.plan.labor_given
        hasher = Hasher()
        when = self.when

        def records():
            for fh in creates:
                values, head = fh.values, fh.head
                account = values.get("bank_account", "")
                yield {
                    "household_no": fh.no,
                    "village_id": values["village_code"],
                    "head_name": head.name,
                    "head_id_enc": self.encrypt(head.number),
                    "head_id_hash": head.hash,
                    "head_id_masked": pii.mask(head.number),
                    "phone": values.get("phone", ""),
                    "member_count": values["member_count"],
                    "labor_count": sum(p.labor for p in fh.members) if labor_given else 0,
                    "status": values["status"],
                    "attribute": values.get("attribute", ""),
                    "identification_standard": values.get("identification_standard", ""),
                    "poverty_causes": values.get("poverty_causes", []),
                    "per_capita_income": values.get("per_capita_income"),
                    "bank_name": values.get("bank_name", ""),
                    "bank_account_enc": self.encrypt(account),
                    "bank_account_hash": hasher(account),
                    "bank_account_masked": pii.mask_account(account),
                    "created_at": when,
                    "updated_at": when,
                }

        pks = self.insert(Household, records(), len(creates))
        for fh, pk in zip(creates, pks, strict=True):
            self.household_pks[fh.no] = pk

    def update_members(self) -> None:
        updates = self.plan.member_update
        if not updates:
            return
        wanted = dict(updates)
        objs: list[Member] = []
        for qs in matching(Member.objects.select_for_update(), "id", list(wanted)):
            objs += qs
        for obj in objs:
            person = wanted[obj.pk]
            obj.household_id = self.household_pks[person.household.no]
            obj.name = person.name
            obj.relation = person.relation
            if self.plan.labor_given:
                obj.labor_capable = person.labor
        bulk_update_with_history(
            objs, Member, ["household", "name", "relation", "labor_capable"], batch_size=500,
            default_user=self.actor, default_change_reason=CHANGE_REASON, default_date=self.when,
        )  # fmt: skip

    def create_members(self) -> None:
        creates = self.plan.member_create
        if not creates:
            return
        pks = self.household_pks
        records = (
            {
                "household_id": pks[p.household.no],
                "name": p.name,
                "relation": p.relation,
                "id_enc": self.encrypt(p.number),
                "id_hash": p.hash,
                "id_masked": pii.mask(p.number),
                "gender": p.gender,
                "birth_date": p.birth_date,
                "labor_capable": p.labor,
            }
            for p in creates
        )
        self.insert(Member, records, len(creates))

    def insert(self, model, records: Iterable[dict], count: int) -> list[int]:
        """Insert rows and their "+" history rows; the new primary keys, in order."""
        if self.copy:
            return copy_insert(model, records, count, user=self.actor, when=self.when)
        objs = [model(**record) for record in records]
        objs = bulk_create_with_history(
            objs, model, batch_size=BATCH_SIZE, default_user=self.actor,
            default_change_reason=CHANGE_REASON, default_date=self.when,
        )  # fmt: skip
        return [obj.pk for obj in objs]


def encrypt_many(values: list[str]) -> dict[str, str]:
    """pii.encrypt of each value. Fernet costs about 20 µs a value on one core, a few seconds for
    a county's file: with many values, half are encrypted in a forked child at the same time
    (as common.spreadsheets reads workbooks in a child). Falls back to one process if the child
    cannot be made or fails."""
    if len(values) < PARALLEL_ENCRYPT_MIN or not hasattr(os, "fork"):
        return {value: pii.encrypt(value) for value in values}
    pii.encrypt(values[0])  # the key objects exist before the fork, in both processes
    half = len(values) // 2
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return {value: pii.encrypt(value) for value in values}
    if pid == 0:  # the child: encrypt the second half, write the tokens, never return
        code = 1
        try:
            os.close(read_end)
            payload = memoryview("\n".join(pii.encrypt(v) for v in values[half:]).encode())
            while payload:
                payload = payload[os.write(write_end, payload) :]
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    tokens = {value: pii.encrypt(value) for value in values[:half]}
    data, status = _collect(pid, read_end, timeout=ENCRYPT_CHILD_TIMEOUT)
    received = data.decode().split("\n")
    rest = values[half:]
    if status != 0 or len(received) != len(rest):
        logger.warning("parallel encryption failed (status %s); encrypting in this process", status)
        received = [pii.encrypt(value) for value in rest]
    tokens.update(zip(rest, received, strict=True))
    return tokens


def _collect(pid: int, read_end: int, *, timeout: float) -> tuple[bytes, int | None]:
    """Everything the child writes, and its exit status; a child that takes longer than
    timeout is killed (status None)."""
    pieces: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_end], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return b"", None
            piece = os.read(read_end, 1 << 20)
            if not piece:
                break
            pieces.append(piece)
    finally:
        os.close(read_end)
    return b"".join(pieces), os.waitpid(pid, 0)[1]


def _model_fields(changed: Iterable[str]) -> set[str]:
    """Compared names -> the model fields to write (a hash comes with its ciphertext and mask)."""
    out = set()
    for name in changed:
        if name == "village_id":
            out.add("village")
        elif name == "head_id_hash":
            out |= {"head_id_enc", "head_id_hash", "head_id_masked"}
        elif name == "bank_account_hash":
            out |= {"bank_account_enc", "bank_account_hash", "bank_account_masked"}
        else:
            out.add(name)
    return out


# --- PostgreSQL: COPY ---------------------------------------------------------------------------

COPY_BATCH = 20_000
NULL = "\\N"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_str(value: str) -> str:
    """Text in COPY's text format: backslash, tab, newline and carriage return escaped."""
    if value.isprintable() and "\\" not in value:
        return value
    return value.translate(_COPY_ESCAPES)


def _copy_converter(field):
    """value -> its COPY text, for one model field."""
    kind = field.get_internal_type()
    if kind in ("CharField", "TextField"):
        convert = _copy_str
    elif kind == "BooleanField":
        convert = {True: "t", False: "f"}.__getitem__
    elif kind == "JSONField":
        convert = lambda value: _copy_str(json.dumps(value))  # noqa: E731
    elif kind == "DateTimeField":
        convert = datetime.datetime.isoformat
    else:  # integers, foreign keys, Decimal, date
        convert = str
    if field.null:
        return lambda value: NULL if value is None else convert(value)
    return convert


class _CopyStream:
    """Lines for one table's COPY, sent COPY_BATCH at a time so that memory stays flat."""

    def __init__(self, table: str, columns: list[str]):
        quote = connection.ops.quote_name
        self.sql = f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append(line)
        if len(self.lines) >= COPY_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.lines:
            with connection.cursor() as cursor:
                cursor.cursor.copy_expert(self.sql, io.BytesIO("".join(self.lines).encode()))
            self.lines.clear()


def copy_insert(model, records: Iterable[dict], count: int, *, user, when) -> list[int]:
    """Insert `count` records (attname -> value) and their "+" history rows with COPY; primary
    keys come from the table's sequence first. Writes what bulk_create_with_history writes,
    without two model instances per row; each value is formatted once for both tables."""
    if not count:
        return []
    meta = model._meta
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, count],
        )
        pks = [row[0] for row in cursor.fetchall()]
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    convert = [(f.attname, _copy_converter(f), f.get_default()) for f in fields]
    history = model.history.model
    tracked = [f.attname for f in history.tracked_fields]
    history_columns = [history._meta.get_field(name).column for name in tracked] + [
        history._meta.get_field(name).column
        for name in ("history_date", "history_change_reason", "history_type", "history_user")
    ]
    user_id = getattr(user, "pk", None)
    user_text = NULL if user_id is None else str(user_id)
    tail = "\t" + "\t".join([when.isoformat(), _copy_str(CHANGE_REASON), "+", user_text]) + "\n"
    pk_name = meta.pk.attname
    rows = _CopyStream(meta.db_table, [meta.pk.column, *(f.column for f in fields)])
    history_rows = _CopyStream(history._meta.db_table, history_columns)
    for pk, record in zip(pks, records, strict=True):
        text = {pk_name: str(pk)}
        for attname, to_text, default in convert:
            text[attname] = to_text(record[attname] if attname in record else default)
        rows.add("\t".join(text.values()) + "\n")
        history_rows.add("\t".join([text[name] for name in tracked]) + tail)
    rows.flush()
    history_rows.flush()
    return pks
