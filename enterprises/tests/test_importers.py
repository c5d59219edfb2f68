"""The two import kinds, run through the importer framework (imports.services.import_run):
dry run, per-row errors naming row, column and value, all or nothing."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from openpyxl import Workbook

from enterprises.importers import EnterpriseImporter, EnterpriseLinkImporter, date_cell
from enterprises.models import BenefitLink, Enterprise
from enterprises.tests.factories import BenefitLinkFactory, EnterpriseFactory, credit_code_for
from households.tests.factories import HouseholdFactory
from imports import registry
from imports.models import ImportJob
from imports.services import import_run

pytestmark = pytest.mark.django_db

D = datetime.date
ENTERPRISE_HEADERS = [
    "企业名称",
    "统一社会信用代码",
    "类型",
    "成立日期",
    "乡镇代码",
    "法定代表人",
    "联系电话",
]
LINK_HEADERS = ["统一社会信用代码", "户编号", "联结方式", "开始日期", "结束日期", "年收益"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def workbook(headers, rows) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def run(kind, user, headers, rows, *, dry_run=False) -> ImportJob:
    job = ImportJob(kind=kind, dry_run=dry_run, created_by=user, original_name="test.xlsx")
    job.file.save("test.xlsx", ContentFile(workbook(headers, rows)), save=False)
    job.save()
    return import_run(job_id=job.pk)


def test_both_kinds_are_registered():
    assert registry.get("enterprises") is EnterpriseImporter
    assert registry.get("enterprise_links") is EnterpriseLinkImporter
    assert [c.header for c in registry.template("enterprise_links").columns][:3] == LINK_HEADERS[:3]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (datetime.datetime(2016, 3, 1, 0, 0), D(2016, 3, 1)),
        (D(2016, 3, 1), D(2016, 3, 1)),
        ("2016-03-01", D(2016, 3, 1)),
        ("2016/3/1", D(2016, 3, 1)),
        ("2016.3.1", D(2016, 3, 1)),
        ("2016年3月1日", D(2016, 3, 1)),
        ("20160301", D(2016, 3, 1)),
        (20160301.0, D(2016, 3, 1)),
        ("", None),
        (None, None),
        ("2016-02-30", "2016-02-30"),
        ("去年", "去年"),
    ],
)
def test_date_cells(cell, expected):
    assert date_cell(cell) == expected


def enterprise_rows():
    return [
        [
            "甲镇绿源种植专业合作社",
            credit_code_for(500),
            "农民专业合作社",
            D(2015, 3, 1),
            "411722100",
            "王大山",
            "13912345678",
        ],
        [
            "乙镇金穗面粉有限公司",
            credit_code_for(501, prefix="91"),
            "企业",
            "2012/8/8",
            "411722101",
            "李金穗",
            "",
        ],
    ]


def test_enterprises_dry_run_counts_and_writes_nothing(personas):
    job = run("enterprises", personas["county_staff"], ENTERPRISE_HEADERS, enterprise_rows(), dry_run=True)
    assert job.status == "succeeded", (job.message, job.errors)
    assert (job.created, job.updated, job.unchanged) == (2, 0, 0)
    assert not Enterprise.objects.exists()


def test_enterprises_import_creates_then_updates(personas):
    staff = personas["county_staff"]
    job = run("enterprises", staff, ENTERPRISE_HEADERS, enterprise_rows())
    assert job.status == "succeeded", job.errors
    assert job.created == 2
    coop = Enterprise.objects.get(credit_code=credit_code_for(500))
    assert (coop.kind, coop.founded_on, coop.county_id) == ("cooperative", D(2015, 3, 1), "411722")
    assert coop.history.first().history_user == staff
    company = Enterprise.objects.get(credit_code=credit_code_for(501, prefix="91"))
    assert company.kind == "company" and company.founded_on == D(2012, 8, 8)

    rows = enterprise_rows()
    rows[1][5] = "李银穗"
    job = run("enterprises", staff, ENTERPRISE_HEADERS, rows)
    assert (job.status, job.created, job.updated, job.unchanged) == ("succeeded", 0, 1, 1)
    company.refresh_from_db()
    assert company.legal_rep == "李银穗"


def test_enterprise_errors_name_row_column_and_value_and_nothing_is_written(personas):
    good = credit_code_for(502)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")  # wrong check character
    rows = enterprise_rows() + [
        ["坏代码合作社", bad, "合作社", "2015-02-30", "411722100", "张三", ""],
        ["外县合作社", credit_code_for(503), "农场", "2015-01-01", "411721100", "", "123"],
        ["重复", credit_code_for(500), "合作社", "2015-01-01", "411722100", "张三", ""],
    ]  # fmt: skip
    job = run("enterprises", personas["county_staff"], ENTERPRISE_HEADERS, rows)
    assert job.status == "failed"
    assert not Enterprise.objects.exists()  # the two good rows are not written either
    found = {(e["row"], e["column"]) for e in job.errors}
    assert found == {
        (4, "统一社会信用代码"), (4, "成立日期"),
        (5, "类型"), (5, "乡镇代码"), (5, "法定代表人"), (5, "联系电话"),
        (6, "统一社会信用代码"),
    }  # fmt: skip
    by_cell = {(e["row"], e["column"]): e for e in job.errors}
    assert (
        by_cell[(4, "统一社会信用代码")]["message"]
        == "统一社会信用代码校验位不正确，请核对号码（可能有字符录错）。"
    )
    assert by_cell[(4, "成立日期")]["value"] == "2015-02-30"
    assert by_cell[(5, "乡镇代码")] == {
        "row": 5, "column": "乡镇代码", "value": "411721100",
        "message": "乡镇代码“411721100”不存在或不在您的管辖范围内。",
    }  # fmt: skip
    assert by_cell[(6, "统一社会信用代码")]["message"] == "与第2行的统一社会信用代码重复。"
    assert job.error_report  # the workbook with an error column


def test_township_officer_imports_own_township_only(personas):
    job = run("enterprises", personas["township_a"], ENTERPRISE_HEADERS, enterprise_rows())
    assert job.status == "failed"
    assert [(e["row"], e["column"]) for e in job.errors] == [(3, "乡镇代码")]


def test_existing_enterprise_of_another_area_is_not_overwritten(personas, regions):
    EnterpriseFactory(township=regions["town_b"], credit_code=credit_code_for(500))
    job = run("enterprises", personas["township_a"], ENTERPRISE_HEADERS, enterprise_rows()[:1])
    assert job.status == "failed"
    assert job.errors[0]["message"] == "该统一社会信用代码已由其他辖区登记，您无权修改。"


# --- links -------------------------------------------------------------------------------------


@pytest.fixture
def linkable(regions, households):
    coop = EnterpriseFactory(
        township=regions["town_a"], credit_code=credit_code_for(600), founded_on=D(2014, 1, 1)
    )
    return {
        "coop": coop,
        "a1": households["a1"],
        "b1": households["b1"],
        "x1": households["x1"],
        "rich": HouseholdFactory(village=regions["village_a2"], status="non_poor"),
    }


def link_rows(w):
    code = w["coop"].credit_code
    return [
        [code, w["a1"].household_no, "劳务增收", "2017-01-01", "2019-12-31", 3000],
        [code, w["b1"].household_no, "产权入股+劳务", D(2017, 3, 1), "", "2500.50"],
    ]


def test_links_import_and_reimport(personas, linkable):
    staff = personas["county_staff"]
    dry = run("enterprise_links", staff, LINK_HEADERS, link_rows(linkable), dry_run=True)
    assert (dry.status, dry.created) == ("succeeded", 2)
    assert not BenefitLink.objects.exists()

    job = run("enterprise_links", staff, LINK_HEADERS, link_rows(linkable))
    assert (job.status, job.created) == ("succeeded", 2), job.errors
    second = BenefitLink.objects.get(household=linkable["b1"])
    assert (second.mode, second.end_date, second.annual_benefit) == ("equity_labor", None, Decimal("2500.50"))
    assert second.created_by == staff

    again = run("enterprise_links", staff, LINK_HEADERS, link_rows(linkable))
    assert (again.status, again.created, again.unchanged) == ("succeeded", 0, 2)
    assert BenefitLink.objects.count() == 2


def test_link_errors_and_all_or_nothing(personas, linkable):
    w = linkable
    code = w["coop"].credit_code
    rows = link_rows(w) + [
        [code, w["x1"].household_no, "劳务增收", "2017-01-01", "", 100],  # another county
        [code, w["rich"].household_no, "劳务增收", "2017-01-01", "", 100],  # non-poor
        [code, w["a1"].household_no, "订单农业", "2019-06-01", "", 100],  # overlaps row 2 of this file
        [credit_code_for(699), w["a1"].household_no, "劳务增收", "2017-01-01", "", 100],  # unknown enterprise
        [code, "NO-SUCH", "捐赠", "2017-01-01", "2016-01-01", -5],
    ]
    job = run("enterprise_links", personas["county_staff"], LINK_HEADERS, rows)
    assert job.status == "failed"
    assert not BenefitLink.objects.exists()
    by_cell = {(e["row"], e["column"]): e["message"] for e in job.errors}
    assert by_cell[(4, "户编号")].startswith("户不存在，或不在本企业所在的上蔡县")
    assert "是非贫困户" in by_cell[(5, "户编号")]
    assert "已有2017-01-01至2019-12-31的利益联结，时间重叠" in by_cell[(6, "开始日期")]
    assert "未登记或不在您的管辖范围内" in by_cell[(7, "统一社会信用代码")]
    assert {k for k in by_cell if k[0] == 8} == {
        (8, "户编号"),
        (8, "联结方式"),
        (8, "结束日期"),
        (8, "年收益"),
    }
    assert [e["value"] for e in job.errors if e["row"] == 8 and e["column"] == "户编号"] == ["NO-SUCH"]


def test_overlap_with_an_existing_link(personas, linkable):
    BenefitLinkFactory(
        enterprise=linkable["coop"], household=linkable["a1"], created_by=personas["county_staff"],
        start_date=D(2018, 1, 1), end_date=None,
    )  # fmt: skip
    job = run("enterprise_links", personas["county_staff"], LINK_HEADERS, link_rows(linkable))
    assert job.status == "failed"
    assert [(e["row"], e["column"]) for e in job.errors] == [(2, "开始日期")]


def test_township_officer_cannot_import_links(personas, linkable):
    job = run("enterprise_links", personas["township_a"], LINK_HEADERS, link_rows(linkable))
    assert job.status == "failed"
    assert {e["message"] for e in job.errors} == {"只有本县金融扶贫服务中心可以登记利益联结。"}
    job = run("enterprise_links", personas["township_b"], LINK_HEADERS, link_rows(linkable))
    assert "未登记或不在您的管辖范围内" in job.errors[0]["message"]


def test_missing_header_refuses_the_file(personas, linkable):
    job = run("enterprise_links", personas["county_staff"], LINK_HEADERS[:2], [["x", "y"]])
    assert job.status == "failed"
    assert "缺少表头：联结方式、开始日期、年收益" in job.message


# --- through the imports API, as a user would ------------------------------------------------


def test_template_has_the_chinese_headers(api, personas):
    from openpyxl import load_workbook

    for kind, headers in (("enterprises", ENTERPRISE_HEADERS[:6]), ("enterprise_links", LINK_HEADERS)):
        response = api(personas["county_staff"]).get(f"/api/v1/imports/templates/{kind}.xlsx")
        assert response.status_code == 200
        sheet = load_workbook(io.BytesIO(response.content)).active
        assert [c.value for c in sheet[1]][: len(headers)] == headers


def _upload(client, kind, content, dry_run):
    upload = ContentFile(content, name=f"{kind}.xlsx")
    return client.post(
        "/api/v1/imports/", {"kind": kind, "file": upload, "dry_run": dry_run}, format="multipart"
    )


def test_upload_dry_run_then_for_real(api, personas, django_capture_on_commit_callbacks):
    client = api(personas["county_staff"])
    content = workbook(ENTERPRISE_HEADERS, enterprise_rows())
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, "enterprises", content, "true")
    assert response.status_code == 202, response.content
    job = client.get(f"/api/v1/imports/{response.json()['id']}/").json()
    assert (job["status"], job["created"], job["error_count"]) == ("succeeded", 2, 0)
    assert not Enterprise.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, "enterprises", content, "false")
    job = client.get(f"/api/v1/imports/{response.json()['id']}/").json()
    assert (job["status"], job["created"]) == ("succeeded", 2)
    assert Enterprise.objects.count() == 2


@pytest.mark.parametrize(("persona", "kind"), [("bank_x", "enterprises"), ("township_a", "enterprise_links")])
def test_upload_refused_to_other_roles(api, personas, persona, kind):
    response = _upload(api(personas[persona]), kind, workbook(LINK_HEADERS, []), "true")
    assert response.status_code == 403, response.content
