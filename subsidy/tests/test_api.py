"""The subsidy endpoints (API.md "Interest subsidy"): shapes, the workflow by its personas, scope on
every endpoint (outsiders 404, readers 403 on actions), constant queries for the lists, and the
xlsx payment list with formula-safe cells."""

import datetime
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from households.tests.factories import HouseholdFactory
from subsidy import services

from .factories import Q1_2024, make_loan, pay

pytestmark = pytest.mark.django_db

BATCHES = "/api/v1/subsidy/batches/"
D = datetime.date
BODY = {"county": "411722", "bank": "PSBC", "period_start": "2024-01-01", "period_end": "2024-03-31"}
ACTIONS = ("recompute", "approve", "mark-paid", "cancel")
READERS = ("county_staff", "bank_x", "city", "admin")
OUTSIDERS = ("township_a", "township_b", "village_a1", "bank_y", "nobody")


def paid_loan(regions, banks, personas, village="village_a1", bank="x", **kwargs):
    item = make_loan(regions[village], bank=banks[bank], actor=personas["admin"], **kwargs)
    pay(item, on=D(2024, 2, 15), actor=personas[f"bank_{bank}"])
    return item


@pytest.fixture
def batch(regions, banks, personas, api):
    paid_loan(regions, banks, personas)
    response = api(personas["county_staff"]).post(BATCHES, BODY, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def xiping_batch(regions, banks, personas):
    """西平's batch with bank Y, computed by the admin."""
    paid_loan(regions, banks, personas, village="village_x1", bank="y")
    return services.batch_create(actor=personas["admin"], county=regions["xiping"], bank=banks["y"],
                                 period_start=Q1_2024[0])  # fmt: skip


def refused(response, code, status=400):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "detail", "errors"} and body["code"] == code, body
    return body


def test_create_answers_with_the_computed_draft(batch):
    assert {"id", "status", "total_amount", "line_count"} <= set(batch)
    assert (batch["status"], batch["total_amount"], batch["line_count"]) == ("draft", "364.17", 1)
    assert (batch["county"], batch["bank"], batch["period_end"], batch["excluded_count"]) == (
        "411722",
        "PSBC",
        "2024-03-31",
        0,
    )
    assert [e["action"] for e in batch["events"]] == ["create"]


def test_lines_show_loan_amount_basis_and_reason(batch, api, personas, regions, banks):
    response = api(personas["bank_x"]).get(f"{BATCHES}{batch['id']}/lines/")
    assert response.status_code == 200
    (line,) = response.json()["results"]
    assert {"loan", "amount", "basis", "excluded_reason"} <= set(line)
    assert (line["amount"], line["excluded_reason"], line["kind"], line["payee"]) == (
        "364.17",
        "",
        "interest",
        "邮储银行",
    )
    assert line["basis"] | {} == {
        "kind": "interest", "interest_paid": "364.17", "principal": None, "days": None, "day_basis": None,
        "rate": "4.75", "loan_rate": "4.75", "share": "100.00", "households_led": None, "cap_per_household": None,
    }  # fmt: skip
    excluded = api(personas["bank_x"]).get(f"{BATCHES}{batch['id']}/lines/", {"excluded": "true"})
    assert excluded.json()["count"] == 0


def test_the_workflow_through_the_api(batch, api, personas, checker):
    url = f"{BATCHES}{batch['id']}"
    refused(api(personas["county_staff"]).post(f"{url}/approve/", {}, format="json"), "same_person_checker")
    response = api(checker).post(f"{url}/approve/", {"comment": "同意"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "approved"
    refused(api(personas["county_staff"]).post(f"{url}/recompute/", {}, format="json"), "invalid_transition")
    response = api(personas["county_staff"]).post(f"{url}/mark-paid/", {"reference": "国库-1"}, format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["payment_reference"]) == ("paid", "国库-1")
    assert [e["action"] for e in response.json()["events"]] == ["create", "approve", "mark-paid"]


def test_create_refusals(batch, api, personas):
    client = api(personas["county_staff"])
    refused(client.post(BATCHES, BODY, format="json"), "batch_exists")
    refused(client.post(BATCHES, BODY | {"period_start": "2024-02-01"}, format="json"), "invalid_period")
    refused(client.post(BATCHES, BODY | {"period_start": "2024-04-01", "period_end": "2024-05-31"},
                        format="json"), "invalid_period")  # fmt: skip
    refused(client.post(BATCHES, BODY | {"bank": "ZYRCB"}, format="json"), "invalid")  # does not serve 上蔡
    refused(client.post(BATCHES, BODY | {"bank": "NOPE"}, format="json"), "invalid")
    refused(client.post(BATCHES, {"county": "411722"}, format="json"), "invalid")


# --- scope ---------------------------------------------------------------------------------------


def test_list_shows_each_persona_its_batches(batch, xiping_batch, api, personas):
    expected = {
        "county_staff": {batch["id"]}, "bank_x": {batch["id"]}, "bank_y": {xiping_batch.pk},
        "city": {batch["id"], xiping_batch.pk}, "admin": {batch["id"], xiping_batch.pk},
        "township_a": set(), "village_a1": set(), "nobody": set(),
    }  # fmt: skip
    for persona, ids in expected.items():
        response = api(personas[persona]).get(BATCHES)
        assert {b["id"] for b in response.json()["results"]} == ids, persona


@pytest.mark.parametrize("persona", OUTSIDERS)
def test_outsiders_get_404_on_every_endpoint(batch, api, personas, persona):
    client, url = api(personas[persona]), f"{BATCHES}{batch['id']}"
    for path in ("/", "/lines/", "/export.xlsx"):
        refused(client.get(f"{url}{path}"), "not_found", 404)
    for action in ACTIONS:
        refused(client.post(f"{url}/{action}/", {"reason": "x"}, format="json"), "not_found", 404)
    assert services.SettlementBatch.objects.get(pk=batch["id"]).status == "draft"


def test_bank_y_cannot_see_xiping_from_shangcai_nor_county_staff_xiping(xiping_batch, api, personas):
    url = f"{BATCHES}{xiping_batch.pk}/"
    assert api(personas["bank_y"]).get(url).status_code == 200
    for persona in ("county_staff", "bank_x", "township_a"):
        refused(api(personas[persona]).get(url), "not_found", 404)


@pytest.mark.parametrize("persona", ["bank_x", "city"])
def test_readers_may_read_but_not_act(batch, api, personas, persona):
    client, url = api(personas[persona]), f"{BATCHES}{batch['id']}"
    for path in ("/", "/lines/", "/export.xlsx"):
        assert client.get(f"{url}{path}").status_code == 200
    for action in ACTIONS:
        refused(client.post(f"{url}/{action}/", {"reason": "x"}, format="json"), "permission_denied", 403)


def test_create_outside_scope(regions, banks, personas, api):
    paid_loan(regions, banks, personas)
    refused(api(personas["county_staff"]).post(BATCHES, BODY | {"county": "411721", "bank": "ZYRCB"},
                                                format="json"), "not_found", 404)  # fmt: skip
    for persona in ("township_a", "bank_y", "nobody"):
        refused(api(personas[persona]).post(BATCHES, BODY, format="json"), "not_found", 404)
    for persona in ("bank_x", "city"):
        refused(api(personas[persona]).post(BATCHES, BODY, format="json"), "permission_denied", 403)
    assert not services.SettlementBatch.objects.exists()


def test_anonymous_is_refused(batch, api):
    assert api().get(BATCHES).status_code in (401, 403)
    assert api().get(f"{BATCHES}{batch['id']}/lines/").status_code in (401, 403)


# --- queries -------------------------------------------------------------------------------------


def count_queries(client, url, user) -> int:
    user._scope_cache = None  # as in a new request
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def test_lists_take_a_constant_number_of_queries(batch, api, personas, regions, banks, checker):
    city = personas["city"]
    client, lines_url = api(city), f"{BATCHES}{batch['id']}/lines/"
    few_lines, few_batches = count_queries(client, lines_url, city), count_queries(client, BATCHES, city)
    for _ in range(4):
        paid_loan(regions, banks, personas)
    paid_loan(regions, banks, personas, village="village_b1", enterprise=None)
    services.batch_recompute(actor=personas["county_staff"], batch=services.SettlementBatch.objects.get())
    services.batch_create(
        actor=checker, county=regions["shangcai"], bank=banks["x"], period_start=D(2024, 4, 1)
    )
    assert count_queries(client, lines_url, city) == few_lines
    assert count_queries(client, BATCHES, city) == few_batches == 3  # roles, COUNT, the page


# --- export --------------------------------------------------------------------------------------


def test_export_is_the_payment_list_with_formula_safe_cells(regions, banks, personas, api):
    household = HouseholdFactory(village=regions["village_a1"], head_name='=HYPERLINK("http://x","点我")')
    paid_loan(regions, banks, personas, household=household)
    overdue = make_loan(regions["village_a1"], bank=banks["x"], actor=personas["admin"])
    pay(overdue, on=D(2024, 3, 1), actor=personas["bank_x"])
    created = api(personas["county_staff"]).post(BATCHES, BODY, format="json").json()
    response = api(personas["city"]).get(f"{BATCHES}{created['id']}/export.xlsx")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert book.sheetnames == ["拨付清单", "汇总", "不予补贴"]
    header, first, total = list(book["拨付清单"].iter_rows(values_only=True))
    row = dict(zip(header, first, strict=True))
    assert row["借款人"] == '\'=HYPERLINK("http://x","点我")'  # text, never a formula
    assert (row["收款单位"], row["补贴金额（元）"], row["补贴类型"]) == ("邮储银行", 364.17, "贷款贴息")
    assert total[0] == "合计" and total[header.index("补贴金额（元）")] == 364.17
    excluded = list(book["不予补贴"].iter_rows(values_only=True))
    assert len(excluded) == 2 and excluded[1][5] == "逾期期次（到期日后才还）不贴息"
    summary = {r[0]: r[1] for r in book["汇总"].iter_rows(values_only=True) if r and r[0]}
    assert summary["补贴合计（元）"] == 364.17 and summary["邮储银行"] == "贷款贴息"
    for sheet in book:
        for cells in sheet.iter_rows():
            for cell in cells:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
