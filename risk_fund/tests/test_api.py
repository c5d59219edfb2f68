"""The fund's API per endpoint (API.md "Risk compensation fund"): shapes, money as strings, the
refusal codes, 403 for those who see but may not act, and 404 for every outsider."""

from decimal import Decimal

import pytest

from common.clock import today
from risk_fund import services
from risk_fund.models import FundEntry

from .factories import agreement

pytestmark = pytest.mark.django_db
D = Decimal
FUND_OUTSIDERS = {
    "411722": ["bank_y", "nobody"],
    "411721": ["county_staff", "township_a", "village_a1", "bank_x"],
}
# Who may not see a 上蔡 village A1 loan at bank X, or its claim.
LOAN_OUTSIDERS = ["township_b", "bank_y", "nobody"]


def error(response, status, code=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "detail", "errors"}
    if code:
        assert body["code"] == code, body
    return body


@pytest.fixture
def filed(loan, p):
    return services.claim_file(actor=p["bank_x"], loan=loan)


@pytest.fixture
def paid(filed, p):
    return services.claim_pay(
        actor=p["county2"], claim=services.claim_verify(actor=p["county_staff"], claim=filed)
    )


# --- the fund ----------------------------------------------------------------------------------


def test_fund_detail(api, funds, banks, p, loan):
    agreement(funds["shangcai"], banks["x"], actor=p["admin"])
    body = api(p["township_a"]).get("/api/v1/risk-funds/411722/").json()
    assert {k: body[k] for k in ("balance", "covered_outstanding", "leverage_multiple", "leverage_cap", "headroom")} == {
        "balance": "20000000.00", "covered_outstanding": "10000.00", "leverage_multiple": "10.00",
        "leverage_cap": "200000000.00", "headroom": "199990000.00",
    }  # fmt: skip
    assert body["warning"] is False and body["agreements"][0]["fund_share"] == "80.00"
    assert body["ledger"] == [
        {"id": body["ledger"][0]["id"], "kind": "deposit", "amount": "20000000.00", "received_on": "2017-01-01",
         "source": "县财政", "reference": "", "created_by": "admin"}
    ]  # fmt: skip
    earlier = api(p["city"]).get("/api/v1/risk-funds/411722/", {"on": "2016-12-31"}).json()
    assert (earlier["balance"], earlier["ledger"]) == ("0.00", [])


@pytest.mark.parametrize(("county", "persona"), [(c, x) for c, xs in FUND_OUTSIDERS.items() for x in xs])
def test_fund_outsiders_get_404(api, funds, p, county, persona):
    client = api(p[persona])
    error(client.get(f"/api/v1/risk-funds/{county}/"), 404, "not_found")
    body = {"amount": "5.00", "received_on": today().isoformat()}
    error(client.post(f"/api/v1/risk-funds/{county}/deposits/", body, format="json"), 404, "not_found")
    assert FundEntry.objects.count() == 2


def test_deposit(api, funds, p):
    body = {"amount": "1234.56", "source": "县财政", "received_on": today().isoformat(), "reference": "P-9"}
    response = api(p["county_staff"]).post("/api/v1/risk-funds/411722/deposits/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json() | {"id": 0} == {
        "id": 0, "kind": "deposit", "amount": "1234.56", "received_on": today().isoformat(), "source": "县财政",
        "reference": "P-9", "created_by": "county",
    }  # fmt: skip
    assert api(p["admin"]).get("/api/v1/risk-funds/411722/").json()["balance"] == "20001234.56"
    for persona in ("township_a", "village_a1", "bank_x", "city"):  # they read the fund, may not deposit
        error(api(p[persona]).post("/api/v1/risk-funds/411722/deposits/", body, format="json"), 403)
    error(api(p["county_staff"]).post("/api/v1/risk-funds/411722/deposits/", {**body, "amount": "-1"}, format="json"),
          400, "invalid")  # fmt: skip


def test_deposit_with_an_idempotency_key_posts_once(api, funds, p):
    client, body = api(p["county_staff"]), {"amount": "10.00", "received_on": today().isoformat()}
    first = client.post("/api/v1/risk-funds/411722/deposits/", body, format="json", HTTP_IDEMPOTENCY_KEY="K1")
    again = client.post("/api/v1/risk-funds/411722/deposits/", body, format="json", HTTP_IDEMPOTENCY_KEY="K1")
    assert first.json() == again.json() and FundEntry.objects.filter(amount=D("10.00")).count() == 1


# --- claims ------------------------------------------------------------------------------------


def test_bank_files_a_claim(api, loan, p):
    response = api(p["bank_x"]).post("/api/v1/compensation-claims/", {"loan": loan.pk}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert {k: body[k] for k in ("status", "loss_principal", "loss_interest", "fund_share", "bank_share")} == {
        "status": "filed", "loss_principal": "10000.00", "loss_interest": "200.00", "fund_share": "8160.00",
        "bank_share": "2040.00",
    }  # fmt: skip
    assert body["id"] and body["recoveries"] == [] and body["recovered"] == "0.00"
    again = api(p["bank_x"]).post("/api/v1/compensation-claims/", {"loan": loan.pk}, format="json")
    error(again, 400, "claim_exists")


def test_filing_refusals(api, funds, banks, p, loan):
    from .factories import overdue_loan

    young = overdue_loan(funds, banks, p, days=30)
    error(
        api(p["bank_x"]).post("/api/v1/compensation-claims/", {"loan": young.pk}, format="json"),
        400,
        "dpd_too_low",
    )
    error(api(p["county_staff"]).post("/api/v1/compensation-claims/", {"loan": loan.pk}, format="json"), 403)
    for persona in LOAN_OUTSIDERS:
        error(
            api(p[persona]).post("/api/v1/compensation-claims/", {"loan": loan.pk}, format="json"),
            404,
            "not_found",
        )
    error(api(p["bank_x"]).post("/api/v1/compensation-claims/", {}, format="json"), 400, "invalid")


def test_claim_list_is_scoped_filtered_and_without_n_plus_1(
    api, funds, banks, p, django_assert_max_num_queries
):
    from .factories import overdue_loan

    for village in ("village_a1", "village_b1", "village_a1"):
        services.claim_file(actor=p["bank_x"], loan=overdue_loan(funds, banks, p, village=village))
    client = api(p["township_a"])
    with django_assert_max_num_queries(6):
        body = client.get("/api/v1/compensation-claims/").json()
    assert body["count"] == 2 and {c["status"] for c in body["results"]} == {"filed"}
    assert api(p["bank_x"]).get("/api/v1/compensation-claims/", {"status": "paid"}).json()["count"] == 0
    assert api(p["city"]).get("/api/v1/compensation-claims/", {"county": "411722"}).json()["count"] == 3
    assert api(p["bank_y"]).get("/api/v1/compensation-claims/").json()["count"] == 0


def test_verify_then_pay(api, filed, p):
    url = f"/api/v1/compensation-claims/{filed.pk}"
    error(api(p["bank_x"]).post(f"{url}/verify/"), 403)
    assert api(p["county_staff"]).post(f"{url}/verify/").json()["status"] == "verified"
    error(api(p["county_staff"]).post(f"{url}/pay/"), 400, "same_person_checker")
    body = api(p["county2"]).post(f"{url}/pay/").json()
    assert (body["status"], body["paid_by"], body["verified_by"]) == ("paid", "county2", "county")
    error(api(p["admin"]).post(f"{url}/pay/"), 400, "already_paid")
    assert api(p["bank_x"]).get(f"{url}/").json()["status"] == "paid"
    assert api(p["city"]).get("/api/v1/risk-funds/411722/").json()["balance"] == "19991840.00"


def test_reject(api, filed, p):
    url = f"/api/v1/compensation-claims/{filed.pk}/reject/"
    error(api(p["county_staff"]).post(url, {}, format="json"), 400, "reason_required")
    body = api(p["county_staff"]).post(url, {"reason": "材料不全"}, format="json").json()
    assert (body["status"], body["reject_reason"]) == ("rejected", "材料不全")


@pytest.mark.parametrize("persona", LOAN_OUTSIDERS)
def test_claim_outsiders_get_404(api, filed, p, persona):
    user = p[persona]
    url = f"/api/v1/compensation-claims/{filed.pk}"
    error(api(user).get(f"{url}/"), 404, "not_found")
    for action in ("verify", "pay", "reject"):
        error(api(user).post(f"{url}/{action}/", {"reason": "x"}, format="json"), 404, "not_found")
    filed.refresh_from_db()
    assert filed.status == "filed"


# --- recoveries --------------------------------------------------------------------------------


def test_recoveries(api, paid, p):
    url = f"/api/v1/loans/{paid.loan_id}/recoveries/"
    day = today().isoformat()
    response = api(p["bank_x"]).post(url, {"amount": "1000.00", "received_on": day}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["amount"], body["fund_part"], body["bank_part"], body["guarantee_part"]) == (
        "1000.00", "800.00", "200.00", "0.00"
    )  # fmt: skip
    error(api(p["county_staff"]).post(url, {"amount": "9200.01", "received_on": day}, format="json"),
          400, "recovery_exceeds_loss")  # fmt: skip
    error(api(p["township_a"]).post(url, {"amount": "1.00", "received_on": day}, format="json"), 403)
    assert [r["amount"] for r in api(p["township_a"]).get(url).json()] == ["1000.00"]
    detail = api(p["bank_x"]).get(f"/api/v1/compensation-claims/{paid.pk}/").json()
    assert detail["recovered"] == "1000.00" and len(detail["recoveries"]) == 1


def test_recovery_on_a_loan_not_compensated(api, loan, p):
    body = {"amount": "1.00", "received_on": today().isoformat()}
    error(
        api(p["bank_x"]).post(f"/api/v1/loans/{loan.pk}/recoveries/", body, format="json"),
        400,
        "not_compensated",
    )
    assert api(p["bank_x"]).get(f"/api/v1/loans/{loan.pk}/recoveries/").json() == []


@pytest.mark.parametrize("persona", LOAN_OUTSIDERS)
def test_recovery_outsiders_get_404(api, paid, p, persona):
    url = f"/api/v1/loans/{paid.loan_id}/recoveries/"
    error(api(p[persona]).get(url), 404, "not_found")
    body = {"amount": "1.00", "received_on": today().isoformat()}
    error(api(p[persona]).post(url, body, format="json"), 404, "not_found")
    assert not paid.recoveries.exists()


def test_anonymous_is_refused(api, paid):
    for path in (
        "/api/v1/risk-funds/411722/",
        "/api/v1/compensation-claims/",
        f"/api/v1/compensation-claims/{paid.pk}/",
    ):
        assert api().get(path).status_code in (401, 403)


def test_the_schema_describes_the_routes(api, p):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    assert {"/api/v1/risk-funds/{county_code}/", "/api/v1/compensation-claims/{id}/pay/",
            "/api/v1/loans/{id}/recoveries/"} <= set(paths)  # fmt: skip


def _approved_and_written_off(regions, banks, p):
    """Beside the `loan` fixture's 10,000 outstanding: a 3,000 loan approved and not yet disbursed
    (committed) and a 7,000 loan written off (its principal no longer outstanding)."""
    from loans.models import LoanStatus

    from .factories import overdue_loan

    approved = overdue_loan(regions, banks, p, amount="3000.00")
    approved.status, approved.disbursed_on, approved.principal_outstanding = LoanStatus.APPROVED, None, D(0)
    approved.save()
    gone = overdue_loan(regions, banks, p, amount="7000.00", days=400)
    gone.status, gone.principal_outstanding = LoanStatus.WRITTEN_OFF, D(0)
    gone.written_off_principal, gone.written_off_on = D("7000.00"), today()
    gone.save()


def test_fund_detail_shows_committed_and_written_off_beside_outstanding(api, funds, banks, p, loan):
    _approved_and_written_off(funds, banks, p)
    body = api(p["county_staff"]).get("/api/v1/risk-funds/411722/").json()
    # The written-off 7,000 is its own figure, not outstanding; the gauge's used = 10,000 + 3,000.
    assert {k: body[k] for k in ("covered_outstanding", "committed", "used", "written_off_principal", "headroom")} == {
        "covered_outstanding": "10000.00", "committed": "3000.00", "used": "13000.00",
        "written_off_principal": "7000.00", "headroom": "199987000.00",
    }  # fmt: skip
    xiping = api(p["city"]).get("/api/v1/risk-funds/411721/").json()
    assert (xiping["committed"], xiping["used"], xiping["written_off_principal"]) == ("0.00", "0.00", "0.00")
