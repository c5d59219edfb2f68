"""The household file importer (建档立卡 national export): every validation rule, dry run, commit,
all-or-nothing, re-import, changes and their history, scope.

Validation tests call the importer's check() on Row objects, as the runner does after reading and
matching headers; the end-to-end tests run whole xlsx files through imports.services.import_run.
"""

import datetime
import io
import os
import time
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from openpyxl import Workbook
from stdnum.cn import ric

from common import pii
from common.identity import parse_resident_id
from common.testing import make_resident_id
from households import importers
from households.importers import COLUMNS, HouseholdImporter, editable_village_test
from households.models import Household, Member
from households.services import ID_REGISTERED_OUT_OF_SCOPE
from households.tests.factories import HouseholdFactory
from imports import registry
from imports.base import ErrorReport, Row
from imports.models import ImportJob
from imports.services import import_run
from organization.permissions import can_edit_households_in

pytestmark = pytest.mark.django_db

A1, A2, B1, X1 = "411722100201", "411722100202", "411722101201", "411721100201"
HEAD = make_resident_id("411722", datetime.date(1968, 3, 12), 101)
WIFE = make_resident_id("411722", datetime.date(1970, 6, 2), 102, male=False)
SON = make_resident_id("411722", datetime.date(1995, 9, 30), 103)
WIDOW = make_resident_id("411722", datetime.date(1948, 1, 5), 104, male=False)
KEY = {c.header: c.key for c in COLUMNS}
HEADER = [c.header for c in COLUMNS]


def with_check(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


def person(**cells) -> dict:
    """One person row, keyed by Chinese header; the first household (H1, 3 people) by default."""
    row = {
        "县": "上蔡县", "乡镇": "甲镇", "行政村": "甲一村", "行政区划代码": A1, "户编号": "H1", "姓名": "王建国",
        "证件号码": HEAD, "与户主关系": "户主", "性别": "男", "人数": 3.0, "劳动能力": "普通劳动力",
        "识别标准": "国家标准", "贫困户属性": "一般贫困户", "致贫原因": "因病、缺资金", "人均纯收入": 3200.5,
        "联系电话": "13800138000", "开户银行": "上蔡县农村信用合作联社", "银行账号": "6230590000000000001",
        "脱贫状态": "未脱贫",
    }  # fmt: skip
    row.update(cells)
    return row


def family() -> list[dict]:
    """H1 in village A1 (head, wife, son) and H2 in A2 (a widow living alone)."""
    return [
        person(),
        person(姓名="李秀英", 证件号码=WIFE, 与户主关系="配偶", 性别="女"),
        person(姓名="王小军", 证件号码=SON, 与户主关系="之子", 劳动能力="技能劳动力"),
        person(
            户编号="H2",
            行政村="甲二村",
            行政区划代码=A2,
            姓名="赵桂兰",
            证件号码=WIDOW,
            性别="女",
            人数=1,
            劳动能力="丧失劳动力",
            贫困户属性="五保户",
            致贫原因="因残",
            人均纯收入=2800,
            联系电话="",
            开户银行="",
            银行账号="",
            脱贫状态="已脱贫",
        ),  # fmt: skip
    ]


def as_rows(people: list[dict], *, drop: tuple = ()) -> list[Row]:
    return [
        Row(number=n, values={KEY[h]: v for h, v in p.items() if h not in drop})
        for n, p in enumerate(people, start=2)
    ]


def check(actor, people, *, drop=()):
    """(errors, plan) of the importer's check on these rows."""
    report = ErrorReport()
    plan = HouseholdImporter(actor=actor).check(as_rows(people, drop=drop), report)
    return report.errors, plan


def one_error(actor, people, **expected) -> dict:
    """The file has exactly one error, and it is `expected` (row, column, value, message)."""
    errors, _ = check(actor, people)
    assert len(errors) == 1, errors
    for key, value in expected.items():
        assert errors[0][key] == value, (key, errors[0])
    return errors[0]


def xlsx(people: list[dict], header=HEADER) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("建档立卡户")
    sheet.append(header)
    for p in people:
        sheet.append([p.get(h, "") for h in header])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def run(actor, people, *, dry_run=False, header=HEADER) -> ImportJob:
    """The whole job, as the Celery task runs it."""
    job = ImportJob(kind="households", dry_run=dry_run, created_by=actor, original_name="户档.xlsx")
    job.file.save("户档.xlsx", ContentFile(xlsx(people, header)), save=False)
    job.save()
    import_run(job_id=job.pk)
    job.refresh_from_db()
    return job


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture(params=["bulk", "copy"])
def write_path(request, settings):
    """Both ways of writing: bulk_create everywhere, COPY on PostgreSQL."""
    from django.db import connection

    from conftest import require_service

    if request.param == "copy":
        require_service(connection.vendor == "postgresql", "PostgreSQL (the COPY path)")
    settings.IMPORT_USE_COPY = request.param == "copy"
    return request.param


@pytest.fixture
def county(personas):
    return personas["county_staff"]


# --- registration -------------------------------------------------------------------------------


def test_registered_with_the_import_framework():
    assert registry.get("households") is HouseholdImporter
    spec = registry.template("households")
    assert [c.header for c in spec.columns] == [
        "县", "乡镇", "行政村", "行政区划代码", "户编号", "姓名", "证件号码", "与户主关系", "性别", "人数",
        "劳动能力", "识别标准", "贫困户属性", "致贫原因", "人均纯收入", "联系电话", "开户银行", "银行账号",
        "脱贫状态",
    ]  # fmt: skip
    choices = {c.header: c.choices for c in spec.columns}
    assert choices["脱贫状态"] == ("未脱贫", "已脱贫", "监测户")
    assert choices["劳动能力"] == ("普通劳动力", "技能劳动力", "弱劳动力或半劳动力", "丧失劳动力", "无劳动力")
    assert choices["识别标准"] == ("国家标准", "省定标准", "市定标准")
    assert choices["贫困户属性"] == ("一般贫困户", "低保贫困户", "五保户")
    assert len(choices["致贫原因"]) == 12


def test_a_clean_file_has_no_errors(county):
    errors, plan = check(county, family())
    assert errors == []
    assert (plan.counts.created, plan.counts.updated, plan.counts.unchanged) == (2, 0, 0)


# --- validation, one rule per test: row, column, value, message -------------------------------


def test_id_number_of_wrong_length(county):
    people = family()
    people[1]["证件号码"] = WIFE[:17]
    one_error(
        county, people, row=3, column="证件号码", value=WIFE[:17], message="身份证号应为18位，实际为17位。"
    )


def test_id_number_with_wrong_check_character(county):
    wrong = WIFE[:17] + ("0" if WIFE[17] != "0" else "1")
    people = family()
    people[1]["证件号码"] = wrong
    one_error(
        county, people, row=3, column="证件号码", value=wrong, message="身份证号校验位不正确，请核对号码。"
    )


def test_id_number_with_impossible_birth_date(county):
    impossible = with_check("41172219800230102")  # 30 February
    people = family()
    people[1]["证件号码"] = impossible
    one_error(
        county, people, row=3, column="证件号码", value=impossible, message="身份证号中的出生日期不存在。"
    )


def test_id_number_in_the_future(county):
    future = with_check("41172230000101102")
    people = family()
    people[1]["证件号码"] = future
    one_error(county, people, row=3, column="证件号码", value=future, message="身份证号中的出生日期不合理。")


def test_id_number_stored_as_a_number_by_excel(county):
    people = family()
    people[2]["证件号码"] = float(SON[:15] + "000")  # what Excel keeps of an 18-digit number
    error = one_error(county, people, row=4, column="证件号码")
    assert error["message"] == "证件号码被Excel存成了数字，末尾几位已丢失，请把该列设为文本格式后重新填写。"
    assert error["value"] == str(float(SON[:15] + "000"))


def test_id_number_in_lower_case_and_full_width_is_accepted(county):
    x_id = next(
        make_resident_id("411722", datetime.date(1970, 6, 2), n, male=False)
        for n in range(200, 500)
        if make_resident_id("411722", datetime.date(1970, 6, 2), n, male=False).endswith("X")
    )
    people = family()
    people[1]["证件号码"] = (
        " " + x_id[:6].translate(str.maketrans("0123456789", "０１２３４５６７８９")) + x_id[6:-1] + "x"
    )
    errors, plan = check(county, people)
    assert errors == []
    assert plan.create[0].members[1].number == x_id


def test_empty_id_number(county):
    people = family()
    people[2]["证件号码"] = ""
    one_error(county, people, row=4, column="证件号码", value="", message="证件号码不能为空。")


def test_gender_contradicting_the_id_number(county):
    people = family()
    people[1]["性别"] = "男"  # WIFE's number is a woman's
    one_error(
        county, people, row=3, column="性别", value="男", message="性别与身份证号不符：按身份证号应为女。"
    )


def test_unknown_gender(county):
    people = family()
    people[1]["性别"] = "F"
    one_error(county, people, row=3, column="性别", value="F", message="性别“F”不在可选范围内：男、女。")


def test_same_id_number_in_two_households(county):
    people = family()
    people[3]["证件号码"] = WIFE  # H2's widow has H1's wife's number
    people[3]["性别"] = "女"
    one_error(
        county, people, row=5, column="证件号码", value=WIFE,
        message="证件号码与第3行（户编号“H1”）重复：同一人不能登记在两户。",
    )  # fmt: skip


def test_same_id_number_twice_in_one_household(county):
    people = family()
    people[2]["证件号码"] = WIFE
    people[2]["性别"] = "女"
    one_error(
        county, people, row=4, column="证件号码", value=WIFE, message="证件号码在本户中重复（与第3行相同）。"
    )


def test_id_number_registered_to_a_household_the_importer_may_see(county, regions):
    other = HouseholdFactory(village=regions["village_b1"], household_no="B-OLD")
    number = pii.decrypt(other.head_id_enc)
    people = family()
    people[2].update(证件号码=number, 性别="男" if parse_resident_id(number).gender == "male" else "女")
    one_error(
        county,
        people,
        row=4,
        column="证件号码",
        value=number,
        message="该身份证号已登记在另一户（户编号“B-OLD”）。",
    )


def test_id_number_registered_to_a_household_the_importer_may_not_see(county, regions):
    other = HouseholdFactory(village=regions["village_x1"], household_no="XP-SECRET")  # 西平县
    number = pii.decrypt(other.head_id_enc)
    people = family()
    people[2].update(证件号码=number, 性别="")
    error = one_error(
        county, people, row=4, column="证件号码", value=number, message=ID_REGISTERED_OUT_OF_SCOPE
    )
    assert "XP-SECRET" not in error["message"]


def test_household_without_a_head(county):
    people = family()
    people[0]["与户主关系"] = "之父"
    one_error(
        county, people, row=2, column="与户主关系", value="之父",
        message="户编号“H1”没有“户主”：每户须有且只有一位户主。",
    )  # fmt: skip


def test_household_with_two_heads(county):
    people = family()
    people[2]["与户主关系"] = "户主"
    one_error(
        county, people, row=4, column="与户主关系", value="户主",
        message="户编号“H1”有多位户主（第2行已是户主）：每户须有且只有一位户主。",
    )  # fmt: skip


def test_member_count_not_matching_the_rows(county):
    people = family()
    for p in people[:3]:
        p["人数"] = 4
    one_error(county, people, row=2, column="人数", value="4", message="人数为4，但本户在文件中有3行成员。")


def test_member_count_not_a_whole_number(county):
    people = family()
    people[3]["人数"] = 1.5
    one_error(county, people, row=5, column="人数", value="1.5", message="人数应为整数。")


def test_household_fields_must_agree_across_member_rows(county):
    people = family()
    people[2]["联系电话"] = "13900139000"
    one_error(
        county, people, row=4, column="联系电话", value="13900139000",
        message="同一户各行的联系电话须一致：第2行为“13800138000”。",
    )  # fmt: skip


def test_blank_household_fields_on_member_rows_are_fine(county):
    people = family()
    for p in people[1:3]:
        for header in ("行政区划代码", "人数", "致贫原因", "人均纯收入", "联系电话", "银行账号", "脱贫状态"):
            p[header] = ""
    errors, plan = check(county, people)
    assert errors == []
    assert plan.create[0].values["phone"] == "13800138000"


def test_the_same_value_written_differently_is_the_same(county):
    people = family()
    people[1]["人数"] = "3"
    people[2]["人均纯收入"] = "3200.50"
    people[2]["致贫原因"] = "因病，缺资金"
    assert check(county, people)[0] == []


def test_unknown_village_code(county):
    people = family()
    people[3]["行政区划代码"] = "411722100299"
    one_error(
        county, people, row=5, column="行政区划代码", value="411722100299",
        message="行政村代码“411722100299”不存在或不在您的管辖范围内。",
    )  # fmt: skip


def test_village_code_that_is_not_a_village_code(county):
    people = family()
    people[3]["行政区划代码"] = "411722100"
    one_error(
        county, people, row=5, column="行政区划代码", value="411722100",
        message="行政区划代码应为12位行政村代码（如411722100201）。",
    )  # fmt: skip


def test_village_outside_the_importers_scope(county):
    people = family()
    people[3]["行政区划代码"] = X1  # 西平县: exists, not 上蔡's
    one_error(
        county, people, row=5, column="行政区划代码", value=X1,
        message=f"行政村代码“{X1}”不存在或不在您的管辖范围内。",
    )  # fmt: skip


def test_village_clerk_may_import_only_their_village(personas):
    errors, plan = check(personas["village_a1"], family())  # H2 is in A2
    assert [(e["row"], e["column"], e["value"]) for e in errors] == [(5, "行政区划代码", A2)]
    assert plan.counts.created == 1


def test_township_officer_may_not_import_at_all(personas):
    errors, _ = check(personas["township_a"], family())
    assert {(e["row"], e["column"]) for e in errors} == {(2, "行政区划代码"), (5, "行政区划代码")}


def test_non_numeric_income(county):
    people = family()
    people[3]["人均纯收入"] = "三千元"
    one_error(county, people, row=5, column="人均纯收入", value="三千元", message="人均纯收入应为数字。")


def test_negative_income(county):
    people = family()
    people[3]["人均纯收入"] = -5.0
    one_error(
        county, people, row=5, column="人均纯收入", value="-5.0", message="人均纯收入不能为负数或过大。"
    )


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        ("脱贫状态", "已脱贫户", "脱贫状态“已脱贫户”不在可选范围内：未脱贫、已脱贫、监测户。"),
        ("贫困户属性", "低保户", "贫困户属性“低保户”不在可选范围内：一般贫困户、低保贫困户、五保户。"),
        ("识别标准", "县定标准", "识别标准“县定标准”不在可选范围内：国家标准、省定标准、市定标准。"),
        (
            "劳动能力", "半劳动力",
            "劳动能力“半劳动力”不在可选范围内：普通劳动力、技能劳动力、弱劳动力或半劳动力、丧失劳动力、无劳动力。",
        ),
        (
            "致贫原因", "因病、没钱",
            "未知的致贫原因：没钱。可选：因病、因残、因学、因灾、缺土地、缺水、缺技术、缺劳动力、缺资金、交通条件落后、"
            "自身发展动力不足、其他。",
        ),
    ],
)  # fmt: skip
def test_unknown_enumerated_value(county, header, value, message):
    people = family()
    people[3][header] = value
    one_error(county, people, row=5, column=header, value=value, message=message)


def test_missing_status(county):
    people = family()
    people[3]["脱贫状态"] = ""
    one_error(county, people, row=5, column="脱贫状态", value="", message="脱贫状态不能为空。")


def test_bad_phone_number(county):
    people = family()
    people[3]["联系电话"] = "1380013"
    one_error(
        county, people, row=5, column="联系电话", value="1380013",
        message="联系电话格式不正确：应为11位手机号或带区号的固定电话。",
    )  # fmt: skip


def test_bad_bank_account(county):
    people = family()
    people[3]["银行账号"] = "6230-59A"
    one_error(
        county, people, row=5, column="银行账号", value="6230-59A", message="银行账号应为10到30位数字。"
    )


def test_bank_account_stored_as_a_number_by_excel(county):
    people = family()
    people[3]["银行账号"] = 6.23059000000000e18
    one_error(
        county, people, row=5, column="银行账号",
        message="银行账号被Excel存成了数字，末尾几位已丢失，请把该列设为文本格式后重新填写。",
    )  # fmt: skip


def test_empty_name(county):
    people = family()
    people[2]["姓名"] = "  "
    one_error(county, people, row=4, column="姓名", value="  ", message="姓名不能为空。")


def test_empty_household_number(county):
    people = family()
    people[3]["户编号"] = ""
    one_error(county, people, row=5, column="户编号", value="", message="户编号不能为空。")


def test_every_error_of_a_file_is_reported(county):
    people = family()
    people[0]["联系电话"] = "12345"
    people[1]["证件号码"] = "123"
    people[2]["姓名"] = ""
    people[3]["脱贫状态"] = "脱了"
    people[3]["人均纯收入"] = "很多"
    errors, _ = check(county, people)
    assert sorted((e["row"], e["column"]) for e in errors) == [
        (2, "联系电话"), (3, "证件号码"), (4, "姓名"), (5, "人均纯收入"), (5, "脱贫状态"),
    ]  # fmt: skip


def test_a_cell_that_would_act_as_a_formula_is_refused(county):
    people = family()
    people[2]["姓名"] = "=cmd|' /C calc'!A0"
    job = run(county, people, dry_run=True)
    assert job.status == ImportJob.Status.FAILED
    assert {"row": 4, "column": "姓名", "value": "=cmd|' /C calc'!A0"}.items() <= job.errors[0].items()
    assert "公式" in job.errors[0]["message"]
    assert not Household.objects.exists()


# --- dry run, commit, all-or-nothing ------------------------------------------------------------


def test_dry_run_reports_and_writes_nothing(county):
    job = run(county, family(), dry_run=True)
    assert job.status == ImportJob.Status.SUCCEEDED, job.message
    assert (job.total_rows, job.created, job.updated, job.unchanged, job.error_count) == (4, 2, 0, 0, 0)
    assert not Household.objects.exists() and not Member.objects.exists()


def test_commit_creates_households_and_members(county, write_path):
    job = run(county, family())
    assert job.status == ImportJob.Status.SUCCEEDED, job.message
    assert (job.created, job.updated, job.unchanged) == (2, 0, 0)
    h1 = Household.objects.get(household_no="H1")
    assert h1.village_id == A1 and h1.head_name == "王建国"
    assert pii.decrypt(h1.head_id_enc) == HEAD
    assert h1.head_id_hash == pii.lookup_hash(HEAD) and h1.head_id_masked == pii.mask(HEAD)
    assert pii.decrypt(h1.bank_account_enc) == "6230590000000000001"
    assert h1.bank_account_masked == "6230***********0001"
    assert (h1.member_count, h1.labor_count) == (3, 3)
    assert (h1.status, h1.attribute, h1.identification_standard) == ("poor", "general", "national")
    assert h1.poverty_causes == ["illness", "lack_funds"]
    assert h1.per_capita_income == Decimal("3200.50")
    members = {m.name: m for m in h1.members.all()}
    assert set(members) == {"王建国", "李秀英", "王小军"}
    wife = members["李秀英"]
    assert (wife.relation, wife.gender, wife.birth_date, wife.labor_capable) == (
        "配偶", "female", datetime.date(1970, 6, 2), True,
    )  # fmt: skip
    assert pii.decrypt(wife.id_enc) == WIFE and wife.id_hash == pii.lookup_hash(WIFE)
    h2 = Household.objects.get(household_no="H2")
    assert (h2.status, h2.attribute, h2.labor_count, h2.phone, h2.bank_account_enc) == (
        "lifted", "five_guarantee", 0, "", "",
    )  # fmt: skip
    assert h2.per_capita_income == Decimal("2800.00")


def test_commit_writes_history_with_the_importer(county, write_path):
    run(county, family())
    h1 = Household.objects.get(household_no="H1")
    (record,) = h1.history.all()
    assert (record.history_type, record.history_user, record.history_change_reason) == (
        "+", county, importers.CHANGE_REASON,
    )  # fmt: skip
    assert Member.history.filter(household_id=h1.pk, history_type="+", history_user=county).count() == 3


def test_one_bad_row_writes_nothing(county):
    people = family()
    people[3]["联系电话"] = "123"
    job = run(county, people)
    assert job.status == ImportJob.Status.FAILED
    assert [(e["row"], e["column"]) for e in job.errors] == [(5, "联系电话")]
    assert not Household.objects.exists() and not Member.objects.exists()
    assert not Household.history.exists()


def test_a_failure_while_writing_writes_nothing(county, monkeypatch):
    def boom(self):
        raise RuntimeError("disk full")

    monkeypatch.setattr(importers._Writer, "create_members", boom)
    job = run(county, family())
    assert job.status == ImportJob.Status.FAILED
    assert not Household.objects.exists() and not Household.history.exists()


# --- re-import, changes, history ----------------------------------------------------------------


def test_reimporting_the_same_file_changes_nothing(county, write_path):
    run(county, family())
    before = (
        Household.history.count(),
        Member.history.count(),
        Household.objects.values("updated_at").first(),
    )
    job = run(county, family())
    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.created, job.updated, job.unchanged) == (0, 0, 2)
    assert job.message == "文件与现有数据一致，没有任何变化。"
    assert (
        Household.history.count(),
        Member.history.count(),
        Household.objects.values("updated_at").first(),
    ) == before


def test_a_changed_file_updates_only_what_changed(county, personas, write_path):
    run(county, family())
    h1, h2 = Household.objects.get(household_no="H1"), Household.objects.get(household_no="H2")
    h2_history = h2.history.count()
    people = family()
    for p in people[:3]:
        p["联系电话"] = "13900139000"
    people[2]["姓名"] = "王晓军"  # a member's name corrected
    clerk = personas["admin"]  # someone else imports the new file
    job = run(clerk, people)
    assert (job.created, job.updated, job.unchanged) == (0, 1, 1), job.errors

    h1.refresh_from_db()
    assert h1.phone == "13900139000"
    latest, previous = h1.history.all()[:2]
    assert (latest.history_type, latest.history_user) == ("~", clerk)
    delta = latest.diff_against(previous, excluded_fields=["updated_at"])
    assert {(c.field, c.old, c.new) for c in delta.changes} == {("phone", "13800138000", "13900139000")}
    son = Member.objects.get(id_hash=pii.lookup_hash(SON))
    assert son.name == "王晓军"
    latest, previous = son.history.all()[:2]
    assert (latest.history_type, latest.history_user) == ("~", clerk)
    assert {(c.field, c.old, c.new) for c in latest.diff_against(previous).changes} == {
        ("name", "王小军", "王晓军")
    }
    assert h2.history.count() == h2_history  # untouched


def test_a_member_only_change_still_shows_in_the_households_history(county, personas):
    run(county, family())
    h1 = Household.objects.get(household_no="H1")
    people = family()
    people[1]["姓名"] = "李秀英"[:2] + "莹"
    job = run(personas["admin"], people)
    assert (job.updated, job.unchanged) == (1, 1)
    latest, previous = h1.history.all()[:2]
    assert (latest.history_type, latest.history_user) == ("~", personas["admin"])
    assert latest.diff_against(previous, excluded_fields=["updated_at"]).changes == []
    wife = Member.history.filter(household_id=h1.pk, id_hash=pii.lookup_hash(WIFE))
    assert [(r.history_type, r.name, r.history_user) for r in wife] == [
        ("~", "李秀莹", personas["admin"]), ("+", "李秀英", county),
    ]  # fmt: skip


def test_labour_ability_sets_the_labour_count(county):
    run(county, family())
    people = family()
    people[2]["劳动能力"] = "无劳动力"
    run(county, people)
    h1 = Household.objects.get(household_no="H1")
    assert h1.labor_count == 2
    assert not Member.objects.get(id_hash=pii.lookup_hash(SON)).labor_capable


def test_members_added_and_removed(county, write_path):
    run(county, family())
    h1 = Household.objects.get(household_no="H1")
    daughter = make_resident_id("411722", datetime.date(1998, 4, 4), 105, male=False)
    people = family()
    people[2] = person(姓名="王小芳", 证件号码=daughter, 与户主关系="之女", 性别="女")  # the son left
    job = run(county, people)
    assert (job.created, job.updated, job.unchanged) == (0, 1, 1), job.errors
    assert set(h1.members.values_list("name", flat=True)) == {"王建国", "李秀英", "王小芳"}
    assert not Member.objects.filter(id_hash=pii.lookup_hash(SON)).exists()
    gone = Member.history.get(id_hash=pii.lookup_hash(SON), history_type="-")
    assert (gone.history_user, gone.name, gone.household_id) == (county, "王小军", h1.pk)
    added = Member.history.get(id_hash=pii.lookup_hash(daughter))
    assert (added.history_type, added.history_user) == ("+", county)


def test_a_person_moving_between_households_of_the_file(county):
    run(county, family())
    people = family()
    people[2].update(
        户编号="H2", 行政村="甲二村", 行政区划代码=A2, 人数=2, 劳动能力="技能劳动力"
    )  # the son moves in
    for p in people[:2]:
        p["人数"] = 2
    people[3]["人数"] = 2
    for p in people[2:]:
        p.update(
            贫困户属性="五保户",
            致贫原因="因残",
            人均纯收入=2800,
            联系电话="",
            开户银行="",
            银行账号="",
            脱贫状态="已脱贫",
        )
    job = run(county, people)
    assert (job.created, job.updated, job.unchanged) == (0, 2, 0), job.errors
    son = Member.objects.get(id_hash=pii.lookup_hash(SON))
    assert son.household.household_no == "H2"
    assert son.history.first().history_user == county


def test_two_households_trading_heads(county, write_path):
    run(county, family())
    people = family()
    # H2's widow becomes head of H1 (she is its grandmother now), H1's former head heads H2.
    h1_rows = [
        person(姓名="赵桂兰", 证件号码=WIDOW, 性别="女", 人数=3, 劳动能力="丧失劳动力"),
        people[1],
        people[2],
    ]
    h2_row = dict(people[3], 姓名="王建国", 证件号码=HEAD, 性别="男", 劳动能力="普通劳动力")
    job = run(county, h1_rows + [h2_row])
    assert job.status == ImportJob.Status.SUCCEEDED, (job.message, job.errors)
    assert (job.updated, job.unchanged) == (2, 0)
    h1, h2 = Household.objects.get(household_no="H1"), Household.objects.get(household_no="H2")
    assert (h1.head_name, pii.decrypt(h1.head_id_enc)) == ("赵桂兰", WIDOW)
    assert (h2.head_name, pii.decrypt(h2.head_id_enc)) == ("王建国", HEAD)


def test_a_household_may_move_between_two_villages_in_scope(county):
    run(county, family())
    people = family()
    people[3].update(行政区划代码=B1, 行政村="乙一村")
    job = run(county, people)
    assert (job.updated, job.unchanged) == (1, 1), job.errors
    assert Household.objects.get(household_no="H2").village_id == B1


def test_a_household_may_not_move_out_of_a_village_outside_scope(county, personas):
    run(county, family())
    people = family()
    people[3].update(行政区划代码=A1)  # H2 from A2 into A1, by the clerk of A1 (A2 is not theirs)
    errors, _ = check(personas["village_a1"], people)
    assert errors == [
        {
            "row": 5,
            "column": "户编号",
            "value": "H2",
            "message": "户编号“H2”已存在，所属行政村不在您的管辖范围内，不能修改。",
        }
    ]


def test_importer_outside_the_villages_scope_changes_nothing(personas, regions):
    HouseholdFactory(village=regions["village_a1"], household_no="H1", phone="13700137000")
    outsider = personas["township_b"]
    job = run(outsider, family()[:3])
    assert job.status == ImportJob.Status.FAILED
    assert {(e["row"], e["column"]) for e in job.errors} == {(2, "行政区划代码"), (2, "户编号")}
    assert Household.objects.get(household_no="H1").phone == "13700137000"


def test_a_household_entered_by_hand_is_updated_by_the_file(county, regions):
    existing = HouseholdFactory(
        village=regions["village_a1"], household_no="H1", head_name="王建国",
        head_id_number=HEAD, phone="13700137000",
    )  # fmt: skip
    job = run(county, family())
    assert (job.created, job.updated) == (1, 1), job.errors
    existing.refresh_from_db()
    assert existing.phone == "13800138000" and existing.member_count == 3
    assert existing.members.count() == 3


def test_a_column_missing_from_the_file_is_left_alone(county):
    run(county, family())
    without_accounts = [h for h in HEADER if h not in ("开户银行", "银行账号")]
    job = run(county, family(), header=without_accounts)
    assert (job.updated, job.unchanged) == (0, 2), job.errors
    h1 = Household.objects.get(household_no="H1")
    assert pii.decrypt(h1.bank_account_enc) == "6230590000000000001"


def test_lookups_in_many_small_queries_give_the_same_answer(county, regions, monkeypatch):
    run(county, family())
    HouseholdFactory(village=regions["village_b1"], household_no="B-OLD", head_id_number=make_resident_id(
        "411722", datetime.date(1977, 7, 7), 7))  # fmt: skip
    monkeypatch.setattr(importers, "QUERY_CHUNK", 1)
    people = family() + [
        person(户编号="H3", 证件号码=make_resident_id("411722", datetime.date(1977, 7, 7), 7), 人数=1)
    ]
    errors, plan = check(county, people)
    assert [e["message"] for e in errors] == ["该身份证号已登记在另一户（户编号“B-OLD”）。"]
    assert (plan.counts.created, plan.counts.unchanged) == (0, 2)


# --- pieces -------------------------------------------------------------------------------------


def test_editable_villages_agree_with_the_permission_rule(personas, regions):
    villages = [r.code for r in regions.values() if r.level == "village"]
    for user in personas.values():
        may_edit = editable_village_test(user)
        for code in villages:
            assert may_edit(code) == can_edit_households_in(user, code), (user.username, code)


def test_hasher_is_the_lookup_hash():
    hasher = importers.Hasher()
    assert hasher(HEAD) == pii.lookup_hash(HEAD)
    assert hasher("") == pii.lookup_hash("") == ""


def test_parallel_encryption_gives_tokens_that_decrypt(monkeypatch):
    monkeypatch.setattr(importers, "PARALLEL_ENCRYPT_MIN", 4)
    values = [HEAD, WIFE, SON, WIDOW, "6230590000000000001"]
    tokens = importers.encrypt_many(values)
    assert {value: pii.decrypt(token) for value, token in tokens.items()} == {v: v for v in values}


def test_parallel_encryption_falls_back_when_the_child_fails(monkeypatch):
    monkeypatch.setattr(importers, "PARALLEL_ENCRYPT_MIN", 2)
    monkeypatch.setattr(
        importers, "_collect", lambda pid, fd, timeout: (os.close(fd), os.waitpid(pid, 0), (b"", 1))[2]
    )
    values = [HEAD, WIFE, SON]
    assert {v: pii.decrypt(t) for v, t in importers.encrypt_many(values).items()} == {v: v for v in values}


def test_a_child_that_hangs_is_killed(monkeypatch):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        time.sleep(30)
        os._exit(0)
    os.close(write_end)
    started = time.monotonic()
    assert importers._collect(pid, read_end, timeout=0.2) == (b"", None)
    assert time.monotonic() - started < 5


def test_progress_is_reported(county):
    seen = []
    people = [
        person(
            户编号=f"P{i}",
            人数=1,
            证件号码=make_resident_id("411722", datetime.date(1960, 1, 1 + i // 400), i % 400),
        )
        for i in range(1, 4500)
    ]
    HouseholdImporter(actor=county, progress=seen.append).check(as_rows(people), ErrorReport())
    assert seen[:2] == [2000, 4000] and seen[-1] == len(people)
