"""The bank repayment file (kind "repayments", loans.importers): every row rule, dry run, commit
through the repayment service, all or nothing, re-upload, other banks, a loan closed by the file.

Whole xlsx files run through imports.services.import_run, as the worker does; a few go through
the API. The clock is fixed: loans are disbursed on 2026-01-10 and files uploaded on 2026-06-15.
"""

import datetime
import io
from decimal import Decimal

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import load_workbook

from common.errors import Forbidden
from households.tests.factories import HouseholdFactory
from imports import registry
from imports import services as import_services
from imports.models import ImportJob
from imports.services import import_run
from imports.tests import hostile
from loans import services
from loans.importers import REPAYMENT_COLUMNS, RepaymentImporter
from loans.models import Instalment, LoanStatus, Repayment
from loans.selectors import principal_outstanding_from_ledger

from .factories import SHANGHAI, apply, rate, walk

pytestmark = pytest.mark.django_db

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = [c.header for c in REPAYMENT_COLUMNS]
START = datetime.datetime(2026, 1, 5, 10, tzinfo=SHANGHAI)  # applications; approved on the 10th
DISBURSED = datetime.date(2026, 1, 10)
TODAY = datetime.date(2026, 6, 15)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def loans(clock, lending, personas, banks, regions):
    """Two active loans of bank X in village A1, disbursed 2026-01-10: "a" 10,000 for 6 months,
    "b" 20,000 for 12 months (both interest quarterly, principal at maturity); then it is
    2026-06-15."""
    neighbour = HouseholdFactory(village=regions["village_a1"])
    rate(neighbour, actor=personas["county_staff"])
    made = {}
    for name, household, amount, term in (
        ("a", lending["a1"], "10000.00", 6),
        ("b", neighbour, "20000.00", 12),
    ):
        loan = apply(
            household, actor=personas["village_a1"], bank=banks["x"], amount=amount, term_months=term
        )
        made[name] = walk(loan, to=LoanStatus.ACTIVE, personas=personas, disbursed_on=DISBURSED)
    clock.move_to(datetime.datetime.combine(TODAY, datetime.time(10), tzinfo=SHANGHAI))
    return made


def owed(loan) -> Decimal:
    return sum(
        (
            i.principal_due - i.principal_paid + i.interest_due - i.interest_paid
            for i in loan.instalments.all()
        ),
        Decimal(0),
    )


def line(loan_no, paid_on="2026-04-10", amount="100.00", reference="T1") -> list:
    """One row of the file; `loan_no` may be a loan or any cell value."""
    return [getattr(loan_no, "loan_no", loan_no), paid_on, amount, reference]


def posted(loan, actor, paid_on="2026-04-10", amount="100.00", reference="T1") -> Repayment:
    """The repayment that `line` with the same values describes, posted through the service
    before any file comes."""
    return services.repayment_post(
        actor=actor,
        loan=loan,
        amount=Decimal(amount),
        paid_on=datetime.date.fromisoformat(paid_on),
        reference=reference,
    )


def workbook(*lines) -> bytes:
    return hostile.workbook([HEADER, *lines])


def run(user, *lines, dry_run: bool = False) -> ImportJob:
    """The file through the runner, as the worker runs it; returns the finished job."""
    job = ImportJob(kind="repayments", dry_run=dry_run, created_by=user, original_name="还款.xlsx")
    job.file.save("还款.xlsx", ContentFile(workbook(*lines)), save=False)
    job.save()
    return import_run(job_id=job.pk)


def errors_of(job: ImportJob) -> list[tuple]:
    return [(e["row"], e["column"], e["value"]) for e in job.errors]


def only_error(job: ImportJob) -> dict:
    assert job.status == "failed" and len(job.errors) == 1, job.errors
    return job.errors[0]


# --- the kind ---------------------------------------------------------------------------------


def test_repayments_is_an_importable_kind_with_the_same_template(api, personas):
    assert registry.get("repayments") is RepaymentImporter
    response = api(personas["bank_x"]).get("/api/v1/imports/templates/repayments.xlsx")
    assert response.status_code == 200 and response["Content-Type"] == XLSX
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    assert [c.value for c in sheet[1]] == ["贷款编号", "还款日期", "还款金额", "流水号"]


def test_who_may_upload_repayment_files(personas):
    allowed = {name for name, user in personas.items() if import_services.may_import(user, "repayments")}
    assert allowed == {"bank_x", "bank_y", "admin"}
    with pytest.raises(Forbidden):
        import_services.import_create(
            actor=personas["county_staff"], kind="repayments",
            uploaded=SimpleUploadedFile("还款.xlsx", workbook(line("L1")), content_type=XLSX), dry_run=True,
        )  # fmt: skip
    assert not ImportJob.objects.exists()


# --- dry run, commit, re-upload ----------------------------------------------------------------


def test_dry_run_reports_what_would_be_posted_and_writes_nothing(loans, personas):
    a, b = loans["a"], loans["b"]
    job = run(personas["bank_x"], line(a, reference="T1"), line(b, reference="T2"), dry_run=True)
    assert (job.status, job.total_rows, job.created, job.updated, job.unchanged) == ("succeeded", 2, 2, 0, 0)
    assert "试运行通过" in job.message
    assert not Repayment.objects.exists()
    assert not Instalment.objects.filter(interest_paid__gt=0).exists()


def test_commit_posts_every_row_through_the_service_and_allocates(loans, personas):
    a, b = loans["a"], loans["b"]
    first, second = a.instalments.order_by("seq")
    paid = first.interest_due + second.interest_due + 5  # all interest, then 5 yuan of principal
    job = run(
        personas["bank_x"],
        line(a, "2026-04-10", f"{paid}", "PSBC-1"),
        line(b, "2026-04-10", "50", "PSBC-2"),
    )
    assert (job.status, job.created, job.unchanged, job.message) == ("succeeded", 2, 0, "导入完成。")
    repayment = Repayment.objects.get(reference="PSBC-1")
    assert (repayment.loan, repayment.channel, repayment.posted_by) == (a, "file", personas["bank_x"])
    assert (repayment.paid_on, repayment.amount, repayment.principal_part) == (
        datetime.date(2026, 4, 10), paid, Decimal(5),
    )  # fmt: skip
    assert repayment.allocations.count() == 2
    first.refresh_from_db(), second.refresh_from_db()
    assert first.settled and second.principal_paid == 5 and not second.settled
    a.refresh_from_db()
    assert a.principal_outstanding == Decimal("9995.00") == principal_outstanding_from_ledger(a)
    assert Repayment.objects.get(reference="PSBC-2").principal_part == 0  # interest first


def test_the_same_file_uploaded_again_posts_nothing_and_says_so(loans, personas):
    a, b = loans["a"], loans["b"]
    rows = [line(a, reference="R1"), line(a, "2026-05-10", "200", "R2"), line(b, reference="R3")]
    assert run(personas["bank_x"], *rows).created == 3
    for dry_run in (True, False):
        again = run(personas["bank_x"], *rows, dry_run=dry_run)
        assert (again.status, again.created, again.unchanged) == ("succeeded", 0, 3)
    assert again.message == "文件与现有数据一致，没有任何变化。"
    assert Repayment.objects.count() == 3


def test_a_file_with_new_and_already_posted_rows_posts_only_the_new(loans, personas):
    a = loans["a"]
    posted(a, personas["bank_x"])
    job = run(personas["bank_x"], line(a, reference="T1"), line(a, reference="T2"))
    assert (job.status, job.created, job.unchanged) == ("succeeded", 1, 1)
    assert sorted(a.repayments.values_list("reference", flat=True)) == ["T1", "T2"]


def test_one_bad_row_and_nothing_is_posted(loans, personas):
    a, b = loans["a"], loans["b"]
    job = run(
        personas["bank_x"],
        line(a, reference="T1"),
        line(b, amount="abc", reference="T2"),
        line(b, reference="T3"),
    )
    assert job.status == "failed" and errors_of(job) == [(3, "还款金额", "abc")]
    assert "未写入任何数据" in job.message and job.error_report
    assert not Repayment.objects.exists()


def test_a_refusal_while_posting_undoes_the_whole_file(loans, personas, monkeypatch):
    """What was checked can change before the commit (a teller posts the same 流水号 meanwhile):
    the service refuses, the rows posted before are undone and the job names the row."""
    a, b = loans["a"], loans["b"]
    original = services.repayment_post

    def teller_first(**kwargs):
        if kwargs["reference"] == "T2":
            original(**{**kwargs, "channel": "manual"})
        return original(**kwargs)

    monkeypatch.setattr(services, "repayment_post", teller_first)
    job = run(personas["bank_x"], line(a, reference="T1"), line(b, reference="T2"))
    assert job.status == "failed" and job.message.startswith("第3行：流水号T2已登记过")
    assert not Repayment.objects.exists()


def test_rows_are_posted_by_loan_then_date_and_a_loan_closed_by_the_file(loans, personas):
    a, b = loans["a"], loans["b"]
    rest = owed(a) - 300
    job = run(
        personas["bank_x"],
        line(a, "2026-06-01", f"{rest}", "C3"),  # the last payment comes first in the file
        line(b, "2026-02-01", "40", "C4"),
        line(a, "2026-03-01", "100", "C1"),
        line(a, "2026-03-01", "200", "C2"),
    )
    assert (job.status, job.created) == ("succeeded", 4)
    assert list(Repayment.objects.order_by("id").values_list("reference", flat=True)) == [
        "C1",
        "C2",
        "C3",
        "C4",
    ]
    a.refresh_from_db()
    assert (a.status, a.closed_on, a.principal_outstanding) == (
        LoanStatus.CLOSED,
        datetime.date(2026, 6, 1),
        0,
    )
    assert a.events.last().action == "close"
    assert not a.instalments.filter(settled=False).exists()
    # Uploaded again: every row skipped, no complaint that the loan is closed now.
    again = run(
        personas["bank_x"], line(a, "2026-06-01", f"{rest}", "C3"), line(a, "2026-03-01", "100", "C1")
    )
    assert (again.status, again.created, again.unchanged) == ("succeeded", 0, 2)


def test_date_cells_and_number_cells_are_read_as_excel_gives_them(loans, personas):
    a = loans["a"]
    job = run(personas["bank_x"], [a.loan_no, datetime.date(2026, 4, 10), 123.4, 20260410000123])
    assert job.status == "succeeded", job.errors
    repayment = Repayment.objects.get()
    assert (repayment.paid_on, repayment.amount, repayment.reference) == (
        datetime.date(2026, 4, 10), Decimal("123.40"), "20260410000123",
    )  # fmt: skip


# --- who may post to which loan ---------------------------------------------------------------


def test_another_banks_officer_gets_every_row_refused_and_nothing_posted(loans, personas):
    a = loans["a"]
    job = run(personas["bank_y"], line(a, reference="T1"))
    assert only_error(job) == {
        "row": 2, "column": "贷款编号", "value": a.loan_no,
        "message": f"贷款编号“{a.loan_no}”不存在，或不是本行发放的贷款。",
    }  # fmt: skip
    assert not Repayment.objects.exists()


def test_an_admin_may_post_any_banks_file(loans, personas):
    job = run(personas["admin"], line(loans["a"], reference="T1"))
    assert (job.status, job.created) == ("succeeded", 1)
    assert Repayment.objects.get().bank == loans["a"].bank


# --- the rules of a row -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "column", "words"),
    [
        ({"loan_no": "L4117229999999"}, "贷款编号", "不存在，或不是本行发放的贷款"),
        ({"loan_no": ""}, "贷款编号", "贷款编号不能为空"),
        ({"paid_on": "2026-13-01"}, "还款日期", "无法识别"),
        ({"paid_on": "上月"}, "还款日期", "无法识别"),
        ({"paid_on": ""}, "还款日期", "不能为空"),
        ({"paid_on": "2026-06-16"}, "还款日期", "晚于今天（2026-06-15）"),
        ({"paid_on": "2026-01-09"}, "还款日期", "早于该笔贷款的放款日期2026-01-10"),
        ({"amount": "一百元"}, "还款金额", "须为数字"),
        ({"amount": ""}, "还款金额", "不能为空"),
        ({"amount": 0}, "还款金额", "须大于0"),
        ({"amount": -5.5}, "还款金额", "须大于0"),
        ({"amount": "12.345"}, "还款金额", "最多两位小数"),
        ({"reference": ""}, "流水号", "流水号不能为空"),
        ({"reference": "X" * 65}, "流水号", "不超过64个字符"),
    ],
)
def test_each_bad_cell_is_reported_with_its_row_column_and_value(loans, personas, cells, column, words):
    values = {"loan_no": loans["a"].loan_no, "paid_on": "2026-04-10", "amount": "100.00", "reference": "T1"}
    values.update(cells)
    job = run(personas["bank_x"], line(loans["b"], reference="OK"), line(**values))
    error = only_error(job)
    value = cells[next(iter(cells))]
    assert (error["row"], error["column"], error["value"]) == (3, column, "" if value == "" else str(value))
    assert words in error["message"], error["message"]
    assert not Repayment.objects.exists()


def test_every_problem_of_a_row_is_listed(loans, personas):
    job = run(personas["bank_x"], line("", "明天", "0", ""))
    assert [e["column"] for e in job.errors] == ["贷款编号", "还款日期", "还款金额", "流水号"]


@pytest.mark.parametrize("status", [LoanStatus.APPROVED, LoanStatus.CLOSED, LoanStatus.WRITTEN_OFF])
def test_only_an_active_loan_takes_repayments(loans, personas, status):
    a = loans["a"]
    a.status = status
    a.save(update_fields=["status"])
    error = only_error(run(personas["bank_x"], line(a)))
    assert (error["row"], error["column"]) == (2, "贷款编号")
    assert f"当前为“{a.get_status_display()}”" in error["message"]


def test_the_same_reference_twice_in_the_file_is_an_error(loans, personas):
    a, b = loans["a"], loans["b"]
    job = run(personas["bank_x"], line(a, reference="T1"), line(b, reference="T2"), line(b, reference="T1"))
    error = only_error(job)
    assert (error["row"], error["column"], error["value"]) == (4, "流水号", "T1")
    assert "与第2行的流水号重复" in error["message"]


def test_a_reference_posted_before_for_another_payment_is_an_error_not_a_skip(loans, personas):
    a, b = loans["a"], loans["b"]
    posted(a, personas["bank_x"])
    for other in (line(a, amount="99.00"), line(a, paid_on="2026-04-11"), line(b)):
        error = only_error(run(personas["bank_x"], other))
        assert (
            error["column"] == "流水号"
            and "流水号T1已于" in error["message"]
            and "与本行不一致" in error["message"]
        )
    assert Repayment.objects.count() == 1


def test_the_rows_of_a_loan_may_not_add_up_to_more_than_it_owes(loans, personas):
    a, b = loans["a"], loans["b"]
    total = owed(a)
    job = run(
        personas["bank_x"],
        line(a, "2026-05-01", f"{total - 100}", "T1"),
        line(b, "2026-05-01", "10", "T2"),
        line(a, "2026-04-01", "100.01", "T3"),  # earlier date: posted first, so T1 goes over
    )
    error = only_error(job)
    assert (error["row"], error["column"], error["value"]) == (2, "还款金额", f"{total - 100}")
    assert f"合计{total + Decimal('0.01'):,}元，超过尚欠本息{total:,}元" in error["message"]
    assert not Repayment.objects.exists()


def test_overpayment_counts_what_was_repaid_before(loans, personas):
    a = loans["a"]
    posted(a, personas["bank_x"], "2026-03-01", "500.00", reference="")
    error = only_error(run(personas["bank_x"], line(a, amount=f"{owed(a) + Decimal('0.01')}")))
    assert error["column"] == "还款金额" and "超过尚欠本息" in error["message"]


def test_text_that_looks_like_a_formula_is_refused_by_the_runner(loans, personas):
    job = run(personas["bank_x"], line(loans["a"], reference="=HYPERLINK(1)"))
    assert job.status == "failed" and errors_of(job)[0] == (2, "流水号", "=HYPERLINK(1)")
    assert "公式" in job.errors[0]["message"] and not Repayment.objects.exists()


# --- through the API ----------------------------------------------------------------------------


def test_upload_through_the_api_and_read_the_counts(loans, personas, api, django_capture_on_commit_callbacks):
    client = api(personas["bank_x"])
    data = workbook(line(loans["a"], reference="API-1"), line(loans["b"], reference="API-2"))
    for expected in ({"created": 2, "unchanged": 0}, {"created": 0, "unchanged": 2}):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/api/v1/imports/",
                {
                    "kind": "repayments",
                    "dry_run": "false",
                    "file": SimpleUploadedFile("还款.xlsx", data, XLSX),
                },
                format="multipart",
            )
        assert response.status_code == 202, response.content
        body = client.get(f"/api/v1/imports/{response.json()['id']}/").json()
        assert body["status"] == "succeeded" and body["errors"] == []
        assert {k: body[k] for k in expected} == expected
    assert Repayment.objects.filter(channel="file").count() == 2
    refused = api(personas["county_staff"]).post(
        "/api/v1/imports/",
        {"kind": "repayments", "file": SimpleUploadedFile("还款.xlsx", data, XLSX)},
        format="multipart",
    )
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
