"""A bank's officers reach its loans only in the counties their branch serves (issue point 7).

Bank X (邮储银行) has three branches here: 上蔡支行 (the `bank_x` persona), 西平支行 and a city-level
驻马店市分行 serving both counties. In each county bank X has a loan at each step a bank acts on
(as in tests/test_access_bank.py) and the claims on them. The 上蔡 officer, on bank X's 西平 loans:
- every read, bank action, claim and recovery, API and pages, answers 404, byte for byte what an
  id that does not exist answers, and leaves every table as it was;
- its repayment file naming a 西平 loan is refused exactly like an unknown loan number;
while the same requests on its own county's loans go through, the 西平 officer's go through in 西平,
and the city-level officer reaches the loans of both counties. Full ID and account numbers: a bank
officer sees them only for its own bank's applicants and borrowers in the counties it serves.
"""

import datetime
import re
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
from loans.models import Loan, LoanStatus, Repayment
from loans.selectors import loan_list
from loans.tests.factories import SHANGHAI, apply, fund_deposit, rate, walk
from organization.models import Role
from organization.scoping import bank_loans_q, scope_for, serves_bank_loan
from organization.tests.factories import BankBranchFactory, UserFactory, assign
from risk_fund import services as fund_services
from risk_fund.tests.factories import overdue_loan
from subsidy.services import batch_create
from tests.access import changed_tables, db_fingerprint
from tests.test_access_bank import (
    API_READS,
    HEADER,
    PAGE_BANK_WRITES,
    PAGE_READS,
    UNKNOWN,
    _loan_state,
    _request,
    assert_not_found,
)

pytestmark = pytest.mark.django_db

START = datetime.datetime(2026, 3, 2, 10, tzinfo=SHANGHAI)
LATER = START + datetime.timedelta(days=30)
MISSING = 10**7  # an id no row has

# What the lending bank does to a loan (API): the request, the loan or claim it names (a key of a
# county's world), and what a success answers.
BANK_ACTIONS = {
    "approve": ("/api/v1/loans/{pk}/approve/", "recommended", {"comment": "同意"}, 200),
    "disburse": ("/api/v1/loans/{pk}/disburse/", "approved", {"disbursed_on": None}, 200),
    "repay": ("/api/v1/loans/{pk}/repayments/", "active", {"amount": "100.00", "paid_on": None}, 201),
    "extend": ("/api/v1/loans/{pk}/extend/", "active", {"months": 3, "reason": "受灾"}, 200),
    "reject": ("/api/v1/loans/{pk}/reject/", "recommended", {"reason": "不符"}, 200),
    "write-off": ("/api/v1/loans/{pk}/write-off/", "compensated", {"reason": "compensated"}, 200),
    "claim": ("/api/v1/compensation-claims/", "free", {"loan": "pk"}, 201),
    "recovery": ("/api/v1/loans/{pk}/recoveries/", "compensated", {"amount": "100.00", "received_on": None}, 201),
}  # fmt: skip


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def people(personas, regions, banks):
    """The personas, bank X's 西平 and city-level officers, 西平's region roles (who walk 西平's loans
    through the workflow) and a second county staff member in each county (who pays claims)."""
    x = banks["x"]
    xiping_branch = BankBranchFactory(
        bank=x, code="PSBC-411721", name="邮储银行西平支行", counties=[regions["xiping"]]
    )
    city_branch = BankBranchFactory(
        bank=x, code="PSBC-411700", name="邮储银行驻马店市分行", counties=[regions["shangcai"], regions["xiping"]]
    )  # fmt: skip
    user = lambda name, role, **where: assign(UserFactory(username=name), role, **where)  # noqa: E731
    return {
        **personas,
        "bank_x_xiping": user("bank_x_xp", Role.BANK_OFFICER, branch=xiping_branch),
        "bank_x_city": user("bank_x_city", Role.BANK_OFFICER, branch=city_branch),
        "village_x1": user("village_x1", Role.VILLAGE_CLERK, region=regions["village_x1"]),
        "township_x": user("town_x", Role.TOWNSHIP_OFFICER, region=regions["town_x"]),
        "county_xiping": user("county_xp", Role.COUNTY_STAFF, region=regions["xiping"]),
        "payer_shangcai": user("county_sc2", Role.COUNTY_STAFF, region=regions["shangcai"]),
        "payer_xiping": user("county_xp2", Role.COUNTY_STAFF, region=regions["xiping"]),
    }


# Who walks a county's loans through the workflow (walk() names the steps by the 上蔡 personas).
WALKERS = {
    "shangcai": {"village_a1": "village_a1", "township_a": "township_a", "county_staff": "county_staff",
                 "bank_x": "bank_x", "payer": "payer_shangcai"},
    "xiping": {"village_a1": "village_x1", "township_a": "township_x", "county_staff": "county_xiping",
               "bank_x": "bank_x_xiping", "payer": "payer_xiping"},
}  # fmt: skip
VILLAGE = {"shangcai": "village_a1", "xiping": "village_x1"}


@pytest.fixture
def world(people, regions, banks, clock):
    """county -> bank X's loans there, one at each step a bank acts on, and the claims on them."""
    for county in ("shangcai", "xiping"):
        fund_deposit(regions[county], actor=people["admin"])
    steps = {county: {k: people[v] for k, v in WALKERS[county].items()} for county in WALKERS}

    def applied(county, to):
        household = HouseholdFactory(village=regions[VILLAGE[county]])
        rate(household, actor=steps[county]["county_staff"])
        loan = apply(household, actor=steps[county]["village_a1"], bank=banks["x"])
        return walk(loan, to=to, personas=steps[county])

    loans = {
        county: {
            "recommended": applied(county, LoanStatus.RECOMMENDED),
            "approved": applied(county, LoanStatus.APPROVED),
            "active": applied(county, LoanStatus.ACTIVE),
        }
        for county in WALKERS
    }
    clock.move_to(LATER)
    for county, tag in (("shangcai", "SC"), ("xiping", "XP")):
        w, who = loans[county], steps[county]
        w["active"] = Loan.objects.get(pk=w["active"].pk)
        w["repayment"] = loan_services.repayment_post(
            actor=who["bank_x"], loan=w["active"], amount=Decimal("100.00"), paid_on=today(),
            reference=f"{tag}-1", channel="api",
        )  # fmt: skip
        for name in ("claimed", "free", "compensated"):
            w[name] = overdue_loan(
                regions, banks, people, village=VILLAGE[county], loan_no=f"L-{tag}-{name.upper()}"
            )
        w["claim"] = fund_services.claim_file(actor=who["bank_x"], loan=w["claimed"])
        paid = fund_services.claim_file(actor=who["bank_x"], loan=w["compensated"])
        paid = fund_services.claim_verify(actor=who["county_staff"], claim=paid)
        w["paid_claim"] = fund_services.claim_pay(actor=who["payer"], claim=paid)
        w["batch"] = batch_create(
            actor=people["admin"], county=regions[county], bank=banks["x"], period_start=datetime.date(2025, 1, 1)
        )  # fmt: skip
    return loans


def _fill(target_pk, body):
    return {k: (today().isoformat() if v is None else target_pk if v == "pk" else v) for k, v in body.items()}


CSRF_TOKEN = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')


def _page(response) -> tuple[int, bytes]:
    """A page's status and bytes, but for the CSRF token of the logout form (masked afresh on
    every response)."""
    return response.status_code, CSRF_TOKEN.sub(b'name="csrfmiddlewaretoken"', response.content)


def _missing(path, body):
    """The same request naming an id that does not exist."""
    return path.format(pk=MISSING), _fill(MISSING, body)


def test_world_is_what_the_tests_say(world, banks):
    for county, code in (("shangcai", "411722"), ("xiping", "411721")):
        w = world[county]
        assert {w[k].status for k in ("recommended", "approved", "active")} == {
            "recommended", "approved", "active",
        }  # fmt: skip
        loans = [w[k] for k in ("recommended", "approved", "active", "claimed", "free", "compensated")]
        assert {(loan.bank_id, loan.county_id) for loan in loans} == {(banks["x"].pk, code)}
        assert (w["claim"].status, w["paid_claim"].status) == ("filed", "paid")


def test_scope_records_bank_and_county_pairs(people, banks):
    x = banks["x"].pk
    assert scope_for(people["bank_x"]).bank_counties == {(x, "411722")}
    assert scope_for(people["bank_x_city"]).bank_counties == {(x, "411722"), (x, "411721")}
    assert serves_bank_loan(people["bank_x"], x, "411722")
    assert not serves_bank_loan(people["bank_x"], x, "411721")
    assert not serves_bank_loan(people["bank_x"], banks["y"].pk, "411722")
    assert serves_bank_loan(people["bank_x_city"], x, "411721")
    assert serves_bank_loan(people["admin"], banks["y"].pk, "411722")
    assert not serves_bank_loan(people["county_staff"], x, "411722")


def test_two_bank_roles_do_not_cross(world, people, regions, banks):
    """An officer of bank X in 上蔡 and of bank Y in 西平 reaches X's 上蔡 loans and Y's 西平 loans,
    never X's 西平 loans (the pairs are kept, not the product of banks and counties)."""
    both = assign(UserFactory(username="two_banks"), Role.BANK_OFFICER, branch=banks["branch_x"])
    assign(both, Role.BANK_OFFICER, branch=banks["branch_y"])
    y_xiping = overdue_loan(regions, banks, people, village="village_x1", bank="y", loan_no="L-Y-XP")
    seen = set(loan_list(user=both).values_list("pk", flat=True))
    x_shangcai = set(Loan.objects.filter(bank=banks["x"], county_id="411722").values_list("pk", flat=True))
    assert seen == x_shangcai | {y_xiping.pk}
    assert set(Loan.objects.filter(bank_loans_q(scope_for(both))).values_list("pk", flat=True)) == seen
    assert not serves_bank_loan(both, banks["x"].pk, "411721")


# --- the API -------------------------------------------------------------------------------------


def test_another_countys_loans_read_exactly_as_missing_ones(api, world, people):
    client = api(people["bank_x"])
    xiping = world["xiping"]
    for path, key in API_READS:
        response = client.get(_request(xiping, path, key)[0])
        assert_not_found(response)
        missing = client.get(path.format(pk=MISSING))
        assert (response.status_code, response.content) == (missing.status_code, missing.content), path
    for path, query in (
        ("/api/v1/loans/", {"q": xiping["active"].loan_no}),
        ("/api/v1/loans/", {"household": xiping["active"].household_id}),
        ("/api/v1/compensation-claims/", {"loan": xiping["claimed"].pk}),
    ):
        assert client.get(path, query).json()["count"] == 0, (path, query)
    assert_not_found(client.get(f"/api/v1/subsidy/batches/{xiping['batch'].pk}/"))
    batches = client.get("/api/v1/subsidy/batches/").json()["results"]
    assert [b["id"] for b in batches] == [world["shangcai"]["batch"].pk]
    # Its own county's: every read answers.
    for path, key in API_READS:
        assert client.get(_request(world["shangcai"], path, key)[0]).status_code == 200, path
    # 西平's branch reads 西平's.
    for path, key in API_READS:
        assert api(people["bank_x_xiping"]).get(_request(xiping, path, key)[0]).status_code == 200, path


@pytest.mark.parametrize("action", BANK_ACTIONS)
def test_bank_action_on_another_countys_loan_is_404_and_writes_nothing(api, world, people, action):
    path, key, body, _ = BANK_ACTIONS[action]
    target = world["xiping"][key]
    client = api(people["bank_x"])
    missing = client.post(*_missing(path, body), format="json", HTTP_IDEMPOTENCY_KEY="guess-0")
    before, state = db_fingerprint(), _loan_state()
    response = client.post(
        path.format(pk=target.pk), _fill(target.pk, body), format="json", HTTP_IDEMPOTENCY_KEY="guess-1"
    )
    assert_not_found(response)
    assert (response.status_code, response.content) == (missing.status_code, missing.content)
    assert _loan_state() == state
    assert changed_tables(before, db_fingerprint()) == []


@pytest.mark.parametrize("action", BANK_ACTIONS)
def test_the_same_action_goes_through_where_the_branch_serves(api, world, people, action):
    """The request refused above is a good one: by the 上蔡 officer in 上蔡 and by the 西平 officer
    in 西平 (so the 404 is about the county, nothing else)."""
    path, key, body, status = BANK_ACTIONS[action]
    for county, persona in (("shangcai", "bank_x"), ("xiping", "bank_x_xiping")):
        target = world[county][key]
        response = api(people[persona]).post(
            path.format(pk=target.pk), _fill(target.pk, body), format="json",
            HTTP_IDEMPOTENCY_KEY=f"ok-{county}-{persona}",
        )  # fmt: skip
        assert response.status_code == status, (county, persona, response.content)


def test_city_level_branch_reaches_every_county_of_its_bank(api, world, people, regions, banks):
    y_xiping = overdue_loan(regions, banks, people, village="village_x1", bank="y", loan_no="L-Y-XP")
    client = api(people["bank_x_city"])
    listed = {row["loan_no"] for row in client.get("/api/v1/loans/", {"page_size": 500}).json()["results"]}
    assert listed == set(Loan.objects.filter(bank=banks["x"]).values_list("loan_no", flat=True))
    assert {loan.county_id for loan in Loan.objects.filter(loan_no__in=listed)} == {"411722", "411721"}
    assert y_xiping.loan_no not in listed
    for county in ("shangcai", "xiping"):
        for path, key in API_READS:
            assert client.get(_request(world[county], path, key)[0]).status_code == 200, (county, path)
    claims = {row["id"] for row in client.get("/api/v1/compensation-claims/").json()["results"]}
    assert {world[c][k].pk for c in ("shangcai", "xiping") for k in ("claim", "paid_claim")} <= claims
    batches = {b["id"] for b in client.get("/api/v1/subsidy/batches/").json()["results"]}
    assert batches == {world["shangcai"]["batch"].pk, world["xiping"]["batch"].pk}
    # And it acts in both: approves 西平's recommended loan, files a claim in 上蔡.
    loan = world["xiping"]["recommended"]
    assert (
        client.post(f"/api/v1/loans/{loan.pk}/approve/", {"comment": "市分行"}, format="json").status_code
        == 200
    )
    free = world["shangcai"]["free"]
    response = client.post("/api/v1/compensation-claims/", {"loan": free.pk}, format="json")
    assert response.status_code == 201, response.content


# --- the pages -----------------------------------------------------------------------------------


def test_another_countys_loan_pages_are_404_and_write_nothing(world, people):
    client = Client()
    client.force_login(people["bank_x"])
    xiping = world["xiping"]
    for path, key in PAGE_READS:
        response, missing = client.get(_request(xiping, path, key)[0]), client.get(path.format(pk=MISSING))
        assert _page(response) == _page(missing) and response.status_code == 404, path
    batch, missing = client.get(f"/subsidy/{xiping['batch'].pk}/"), client.get(f"/subsidy/{MISSING}/")
    assert _page(batch) == _page(missing) and batch.status_code == 404
    before, state = db_fingerprint(), _loan_state()
    for path, key, body in PAGE_BANK_WRITES:
        target = xiping[key]
        response = client.post(path.format(pk=target.pk), _fill(target.pk, body))
        missing = client.post(*_missing(path, body))
        assert _page(response) == _page(missing) and response.status_code == 404, path
    assert _loan_state() == state
    assert changed_tables(before, db_fingerprint()) == []
    # Its own county's pages answer.
    for path, key in PAGE_READS:
        assert client.get(_request(world["shangcai"], path, key)[0]).status_code == 200, path


def test_loan_list_page_shows_only_the_branchs_counties(world, people):
    client = Client()
    client.force_login(people["bank_x"])
    page = client.get("/loans/", {"page_size": 500}).content.decode()
    assert world["shangcai"]["active"].loan_no in page
    assert "L-SC-FREE" in page
    assert "L-XP-FREE" not in page and world["xiping"]["active"].loan_no not in page
    client.force_login(people["bank_x_city"])
    page = client.get("/loans/", {"status": "active"}).content.decode()
    assert "L-SC-FREE" in page and "L-XP-FREE" in page


# --- the bank's repayment file -------------------------------------------------------------------


@pytest.fixture
def upload(api, settings, tmp_path, django_capture_on_commit_callbacks):
    """upload(user, [(loan number, 流水号)]) -> the finished job of a repayment file (100 yuan
    today on each loan), posted for real (dry_run false) through the API."""
    settings.MEDIA_ROOT = tmp_path

    def run(user, lines):
        rows = [[no, today().isoformat(), "100.00", ref] for no, ref in lines]
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


def test_repayment_file_row_of_another_countys_loan_is_refused_like_an_unknown_one(upload, world, people):
    number = world["xiping"]["active"].loan_no
    before, state = db_fingerprint(), _loan_state()
    job = upload(people["bank_x"], [(number, "F-1"), (UNKNOWN, "F-2")])
    assert (job.status, job.created, job.error_count) == ("failed", 0, 2)
    by_row = {e["row"]: e for e in job.errors}
    assert by_row[2]["column"] == by_row[3]["column"] == "贷款编号"
    assert by_row[2]["message"] == by_row[3]["message"].replace(UNKNOWN, number)
    assert _loan_state() == state
    assert changed_tables(before, db_fingerprint()) == ["imports.importjob"]
    # The same row from 西平's branch, and its own county's row from the 上蔡 branch, are posted.
    job = upload(people["bank_x_xiping"], [(number, "F-1")])
    assert (job.status, job.created) == ("succeeded", 1)
    job = upload(people["bank_x"], [(world["shangcai"]["active"].loan_no, "F-3")])
    assert (job.status, job.created) == ("succeeded", 1)


def test_serial_number_posted_in_another_county_is_refused_without_naming_that_loan(upload, world, people):
    """The bank's serial numbers are one series: 西平's "XP-1" cannot be posted again in 上蔡, and
    the refusal does not tell the 上蔡 officer which 西平 loan holds it."""
    xiping_loan = world["xiping"]["active"]
    job = upload(people["bank_x"], [(world["shangcai"]["active"].loan_no, "XP-1")])
    assert (job.status, job.created, job.error_count) == ("failed", 0, 1)
    (error,) = job.errors
    assert error["column"] == "流水号" and "XP-1" in error["message"]
    assert xiping_loan.loan_no not in str(job.errors)
    assert Repayment.objects.filter(reference="XP-1").count() == 1


# --- full ID and account numbers -----------------------------------------------------------------


def test_full_numbers_only_for_the_banks_own_applicants_where_it_serves(api, world, people, regions, banks):
    y_shangcai = BankBranchFactory(
        bank=banks["y"], code="ZYRCB-411722", name="中原农商银行上蔡支行", counties=[regions["shangcai"]]
    )
    assert y_shangcai.counties.filter(code="411722").exists()
    households = {
        "x_shangcai": world["shangcai"]["active"].household,  # bank X's borrower in 上蔡
        "x_xiping": world["xiping"]["active"].household,  # bank X's borrower in 西平
        "y_shangcai": HouseholdFactory(village=regions["village_a1"]),  # applied to bank Y in 上蔡
        "none": HouseholdFactory(village=regions["village_a1"]),  # applied nowhere
    }
    apply(households["y_shangcai"], actor=people["village_a1"], bank=banks["y"])
    expected = {
        "bank_x": {"x_shangcai": 200, "x_xiping": 404, "y_shangcai": 403, "none": 403},
        "bank_x_xiping": {"x_shangcai": 404, "x_xiping": 200, "y_shangcai": 404, "none": 404},
        "bank_x_city": {"x_shangcai": 200, "x_xiping": 200, "y_shangcai": 403, "none": 403},
        "county_staff": {"x_shangcai": 200, "x_xiping": 404, "y_shangcai": 200, "none": 200},
    }
    for persona, statuses in expected.items():
        client = api(people[persona])
        got = {
            key: client.get(f"/api/v1/households/{h.pk}/pii/").status_code for key, h in households.items()
        }
        assert got == statuses, persona
