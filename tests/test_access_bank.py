"""Bank Y's officers against bank X's loans (issue 9): guessing ids reads nothing and changes nothing.

Bank X (邮储银行, 上蔡) has, in village A1, a loan at each step a bank acts on: recommended
(approve, reject), approved (disburse), active with a repayment (repay, extend, write off, renew),
past due with a filed claim, past due without one (file a claim), and compensated (recoveries).

Three officers of bank Y try every loan and claim route, API and pages, by id:
- bank_y, whose branch serves 西平 only, and bank_y_shangcai, whose branch serves 上蔡 too (it sees
  上蔡's households and fund, never bank X's loans): 404, exactly as for an id that does not exist;
- bank_y_clerk, a bank Y officer who is also the clerk of village A1 (DOMAIN.md: a bank officer
  posted at the village desk): sees the loans as a clerk, so the bank's actions answer 403.
Every refusal leaves every table as it was (no LoanEvent, repayment, claim, status or balance).
Bank Y's repayment file naming bank X's loan numbers is refused row by row and posts nothing.
"""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from common.clock import today
from households.tests.factories import HouseholdFactory
from imports.models import ImportJob
from imports.tests.hostile import workbook
from loans import services as loan_services
from loans.importers import REPAYMENT_COLUMNS
from loans.models import Loan, LoanEvent, LoanStatus, Repayment
from loans.tests.factories import SHANGHAI, apply, fund_deposit, rate, walk
from organization.models import Role
from organization.tests.factories import BankBranchFactory, UserFactory, assign
from risk_fund import services as fund_services
from risk_fund.models import CompensationClaim
from risk_fund.tests.factories import overdue_loan
from tests.access import changed_tables, db_fingerprint

pytestmark = pytest.mark.django_db

# The loans are applied for on START and disbursed when their notice ends; the tests run a month on.
START = datetime.datetime(2026, 3, 2, 10, tzinfo=SHANGHAI)
LATER = START + datetime.timedelta(days=30)

OUTSIDERS = ("bank_y", "bank_y_shangcai")  # cannot see bank X's loans: 404
ALL_BANK_Y = (*OUTSIDERS, "bank_y_clerk")


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def officers(personas, regions, banks):
    shangcai_branch = BankBranchFactory(
        bank=banks["y"], code="ZYRCB-411722", name="中原农商银行上蔡支行", counties=[regions["shangcai"]]
    )
    clerk = assign(UserFactory(username="bank_y_clerk"), Role.BANK_OFFICER, branch=banks["branch_y"])
    return {
        **personas,
        "bank_y_shangcai": assign(
            UserFactory(username="bank_y_sc"), Role.BANK_OFFICER, branch=shangcai_branch
        ),
        "bank_y_clerk": assign(clerk, Role.VILLAGE_CLERK, region=regions["village_a1"]),
        "payer": assign(UserFactory(username="county2"), Role.COUNTY_STAFF, region=regions["shangcai"]),
    }


def _applied(regions, personas, banks, to):
    household = HouseholdFactory(village=regions["village_a1"])
    rate(household, actor=personas["county_staff"])
    return walk(apply(household, actor=personas["village_a1"], bank=banks["x"]), to=to, personas=personas)


@pytest.fixture
def bank_x(officers, regions, banks, clock):
    """Bank X's loans in A1, one at each step a bank acts on, and the claims on them."""
    p = officers
    for county in ("shangcai", "xiping"):
        fund_deposit(regions[county], actor=p["admin"])
    recommended = _applied(regions, p, banks, LoanStatus.RECOMMENDED)
    approved = _applied(regions, p, banks, LoanStatus.APPROVED)
    active = _applied(regions, p, banks, LoanStatus.ACTIVE)
    clock.move_to(LATER)
    repayment = loan_services.repayment_post(
        actor=p["bank_x"],
        loan=active,
        amount=Decimal("100.00"),
        paid_on=today(),
        reference="X-1",
        channel="api",
    )
    claimed, free, compensated = (
        overdue_loan(regions, banks, p, loan_no=f"L-X-{name.upper()}")
        for name in ("claimed", "free", "compensated")
    )
    paid = fund_services.claim_file(actor=p["bank_x"], loan=compensated)
    paid = fund_services.claim_verify(actor=p["county_staff"], claim=paid)
    return {
        "recommended": recommended,
        "approved": approved,
        "active": Loan.objects.get(pk=active.pk),
        "repayment": repayment,
        "claimed": claimed,
        "free": free,
        "compensated": compensated,
        "claim": fund_services.claim_file(actor=p["bank_x"], loan=claimed),
        "paid_claim": fund_services.claim_pay(actor=p["payer"], claim=paid),
    }


def _loan_state():
    """What a refused request must leave alone, in words a failure can show."""
    return {
        "statuses": dict(Loan.objects.values_list("loan_no", "status")),
        "balances": dict(Loan.objects.values_list("loan_no", "principal_outstanding")),
        "events": LoanEvent.objects.count(),
        "repayments": Repayment.objects.count(),
        "claims": dict(CompensationClaim.objects.values_list("pk", "status")),
    }


# --- the API -------------------------------------------------------------------------------------

DAY = lambda: today().isoformat()  # noqa: E731

# (method, path, body), the loan or claim each names (a key of the bank_x fixture), and whether it
# is a bank's own action (the clerk persona may see the loan but not do it: 403).
API_READS = [
    ("/api/v1/loans/{pk}/", "active"),
    ("/api/v1/loans/{pk}/schedule/", "active"),
    ("/api/v1/loans/{pk}/eligibility/", "recommended"),
    ("/api/v1/loans/{pk}/repayments/", "active"),
    ("/api/v1/loans/{pk}/checks/", "active"),
    ("/api/v1/loans/{pk}/recoveries/", "compensated"),
    ("/api/v1/compensation-claims/{pk}/", "claim"),
    ("/api/v1/compensation-claims/{pk}/", "paid_claim"),
]
BANK_WRITES = [
    ("/api/v1/loans/{pk}/approve/", "recommended", {"comment": "乙行"}),
    ("/api/v1/loans/{pk}/reject/", "recommended", {"reason": "乙行"}),
    ("/api/v1/loans/{pk}/disburse/", "approved", {"disbursed_on": None}),
    ("/api/v1/loans/{pk}/repayments/", "active", {"amount": "100.00", "paid_on": None}),
    ("/api/v1/loans/{pk}/extend/", "active", {"months": 3, "reason": "乙行"}),
    ("/api/v1/loans/{pk}/write-off/", "compensated", {"reason": "compensated"}),
    ("/api/v1/loans/{pk}/recoveries/", "compensated", {"amount": "100.00", "received_on": None}),
    ("/api/v1/compensation-claims/", "free", {"loan": "pk"}),
    ("/api/v1/compensation-claims/{pk}/verify/", "claim", {}),
    ("/api/v1/compensation-claims/{pk}/reject/", "claim", {"reason": "乙行"}),
    ("/api/v1/compensation-claims/{pk}/pay/", "claim", {}),
]
# Region roles' actions: the clerk persona may take some of them as the clerk it also is.
OTHER_WRITES = [
    ("/api/v1/loans/{pk}/renew/", "active", {}),
    ("/api/v1/loans/{pk}/withdraw/", "approved", {}),
    ("/api/v1/loans/{pk}/county-recommend/", "recommended", {}),
    ("/api/v1/loans/{pk}/checks/", "active", {"tier": "township", "finding": "normal"}),
]


def _request(world, path, key, body=None):
    target = world[key]
    filled = {k: (DAY() if v is None else target.pk if v == "pk" else v) for k, v in (body or {}).items()}
    return path.format(pk=target.pk), filled


def assert_not_found(response):
    assert response.status_code == 404, (response.status_code, response.content[:200])
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("persona", OUTSIDERS)
def test_other_banks_officer_reads_nothing_of_bank_x(api, officers, bank_x, persona):
    client = api(officers[persona])
    for path, key in API_READS:
        assert_not_found(client.get(_request(bank_x, path, key)[0]))
    # Nor through the lists' filters.
    for path, query in (
        ("/api/v1/loans/", {"q": bank_x["active"].loan_no}),
        ("/api/v1/loans/", {"household": bank_x["active"].household_id}),
        ("/api/v1/compensation-claims/", {"loan": bank_x["claimed"].pk}),
    ):
        assert client.get(path, query).json()["count"] == 0, (path, query)
    # The same reads reach bank X's officer: the 404 is about scope.
    insider = api(officers["bank_x"])
    for path, key in API_READS:
        assert insider.get(_request(bank_x, path, key)[0]).status_code == 200, path


@pytest.mark.parametrize("persona", ALL_BANK_Y)
def test_other_banks_officer_changes_nothing_at_bank_x(api, officers, bank_x, persona):
    client = api(officers[persona])
    writes = BANK_WRITES + (OTHER_WRITES if persona in OUTSIDERS else [])
    before, state = db_fingerprint(), _loan_state()
    for number, (path, key, body) in enumerate(writes):
        path, body = _request(bank_x, path, key, body)
        response = client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=f"guess-{number}")
        if persona in OUTSIDERS:
            assert_not_found(response)
        else:  # sees it as the village clerk, may not act as its bank
            assert (response.status_code, response.json()["code"]) == (403, "permission_denied"), (
                path,
                response.content,
            )
    assert _loan_state() == state
    assert changed_tables(before, db_fingerprint()) == []


def test_refused_idempotency_key_stays_free_for_the_loans_bank(api, officers, bank_x):
    """Bank Y's refused repayment stores nothing under its key: bank X posts with the same key."""
    path, body = _request(
        bank_x, "/api/v1/loans/{pk}/repayments/", "active", {"amount": "50.00", "paid_on": None}
    )
    assert_not_found(api(officers["bank_y"]).post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1"))
    response = api(officers["bank_x"]).post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response


def test_guessed_ids_answer_exactly_as_missing_ones(api, officers, bank_x):
    """Every loan and claim id there is, and one past the last: bank Y gets the same bytes."""
    client = api(officers["bank_y_shangcai"])
    for model, path in ((Loan, "/api/v1/loans/{}/"), (CompensationClaim, "/api/v1/compensation-claims/{}/")):
        ids = list(model.objects.values_list("pk", flat=True))
        missing = client.get(path.format(max(ids) + 1))
        for pk in ids:
            response = client.get(path.format(pk))
            assert (response.status_code, response.content) == (missing.status_code, missing.content), path


# --- the pages -----------------------------------------------------------------------------------

PAGE_READS = [
    ("/loans/{pk}/", "active"),
    ("/risk-fund/claims/new/{pk}/", "free"),
    ("/risk-fund/claims/{pk}/", "claim"),
]
PAGE_BANK_WRITES = [
    ("/loans/{pk}/do/approve/", "recommended", {"approve-comment": "乙行"}),
    ("/loans/{pk}/do/reject/", "recommended", {"reject-reason": "乙行"}),
    ("/loans/{pk}/do/disburse/", "approved", {"disburse-disbursed_on": None}),
    ("/loans/{pk}/do/extend/", "active", {"extend-months": "3", "extend-reason": "乙行"}),
    ("/loans/{pk}/do/write-off/", "compensated", {"write-off-reason": "compensated"}),
    ("/loans/{pk}/repayments/", "active", {"amount": "100.00", "paid_on": None}),
    ("/risk-fund/claims/new/{pk}/", "free", {}),
    ("/risk-fund/claims/{pk}/do/verify/", "claim", {}),
    ("/risk-fund/claims/{pk}/do/pay/", "claim", {}),
    ("/risk-fund/claims/{pk}/do/reject/", "claim", {"reject-reason": "乙行"}),
    ("/risk-fund/claims/{pk}/recoveries/", "paid_claim", {"amount": "100.00", "received_on": None}),
]
PAGE_OTHER_WRITES = [("/loans/{pk}/do/renew/", "active", {}), ("/loans/{pk}/checks/", "active", {})]


@pytest.mark.parametrize("persona", ALL_BANK_Y)
def test_other_banks_officer_on_bank_x_pages(officers, bank_x, persona):
    client = Client()
    client.force_login(officers[persona])
    outsider = persona in OUTSIDERS
    for path, key in PAGE_READS:
        status = client.get(_request(bank_x, path, key)[0]).status_code
        assert status == (404 if outsider else 200), (path, status)
    before, state = db_fingerprint(), _loan_state()
    for path, key, body in PAGE_BANK_WRITES + (PAGE_OTHER_WRITES if outsider else []):
        path, body = _request(bank_x, path, key, body)
        status = client.post(path, body).status_code
        assert status == (404 if outsider else 403), (path, status)
    assert _loan_state() == state
    assert changed_tables(before, db_fingerprint()) == []


# --- the bank's repayment file -------------------------------------------------------------------

HEADER = [c.header for c in REPAYMENT_COLUMNS]
UNKNOWN = "L4117229999999"


@pytest.fixture
def upload(api, settings, tmp_path, django_capture_on_commit_callbacks):
    """upload(user, loan numbers) -> the finished job of a repayment file (100 yuan today on
    each loan), posted for real (dry_run false) through the API; the job runs after commit."""
    settings.MEDIA_ROOT = tmp_path

    def run(user, loan_numbers):
        rows = [[no, today().isoformat(), "100.00", f"Y-{i}"] for i, no in enumerate(loan_numbers)]
        body = {
            "kind": "repayments",
            "dry_run": "false",
            "file": SimpleUploadedFile("还款.xlsx", workbook([HEADER, *rows])),
        }
        with django_capture_on_commit_callbacks(execute=True):
            response = api(user).post("/api/v1/imports/", body, format="multipart")
        assert response.status_code == 202, response.content
        return ImportJob.objects.get(pk=response.json()["id"])

    return run


@pytest.mark.parametrize("persona", ALL_BANK_Y)
def test_other_banks_repayment_file_is_refused_row_by_row(upload, officers, bank_x, persona):
    numbers = [bank_x[k].loan_no for k in ("active", "approved", "recommended", "claimed", "compensated")]
    before, state = db_fingerprint(), _loan_state()
    job = upload(officers[persona], [*numbers, UNKNOWN])
    assert (job.status, job.created, job.error_count) == ("failed", 0, len(numbers) + 1)
    by_row = {e["row"]: e for e in job.errors}
    assert sorted(by_row) == list(range(2, len(numbers) + 3)), "every row is refused"
    # A bank X number reads exactly like one that does not exist.
    unknown = by_row[len(numbers) + 2]
    for row, number in enumerate(numbers, start=2):
        assert by_row[row]["column"] == unknown["column"] == "贷款编号"
        assert by_row[row]["message"] == unknown["message"].replace(UNKNOWN, number)
    assert _loan_state() == state
    # The upload itself is the only thing written.
    assert changed_tables(before, db_fingerprint()) == ["imports.importjob"]


def test_the_same_file_from_bank_x_is_posted(upload, officers, bank_x):
    """The file bank Y is refused is a good one: from bank X it posts (the refusal is about scope)."""
    job = upload(officers["bank_x"], [bank_x["active"].loan_no])
    assert (job.status, job.created) == ("succeeded", 1)
    assert Repayment.objects.filter(loan=bank_x["active"], reference="Y-0").exists()


def test_world_is_what_the_tests_say(bank_x):
    """Each loan is at the step its refusals are about (else a 400 could hide a missing check)."""
    statuses = {k: bank_x[k].status for k in ("recommended", "approved", "active")}
    assert statuses == {"recommended": "recommended", "approved": "approved", "active": "active"}
    assert bank_x["claim"].status == "filed" and bank_x["paid_claim"].status == "paid"
    assert {bank_x[k].bank.code for k in ("recommended", "claimed", "free", "compensated")} == {"PSBC"}
    assert today() > bank_x["active"].disbursed_on
