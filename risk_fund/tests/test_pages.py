"""The browser pages: the funds, a fund's page with its gauge, ledger, agreements and forms, and
the claim workflow from the bank's list to payment and recovery."""

from decimal import Decimal

import pytest
from django.template import Context, Template
from django.test import RequestFactory

from common.clock import today
from risk_fund import services
from risk_fund.models import BankAgreement, ClaimStatus, CompensationClaim, FundEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_fund_list_shows_the_readable_funds(browser, funds, p):
    page = text(browser(p["city"]).get("/risk-fund/"))
    assert "上蔡县" in page and "西平县" in page and "20,000,000.00" in page
    page = text(browser(p["bank_y"]).get("/risk-fund/"))
    assert "西平县" in page and "上蔡县" not in page


def test_fund_page_with_gauge_ledger_and_forms_for_county_staff(browser, funds, p, loan):
    page = text(browser(p["county_staff"]).get("/risk-fund/411722/"))
    assert 'id="fund-balance">20,000,000.00' in page and "已用 0.01%" in page
    assert 'id="deposit-form"' in page and 'id="agreement-form"' in page
    page = text(browser(p["township_a"]).get("/risk-fund/411722/"))  # read-only
    assert 'id="fund-balance"' in page and 'id="deposit-form"' not in page
    assert browser(p["bank_y"]).get("/risk-fund/411722/").status_code == 404
    assert browser(p["nobody"]).get("/risk-fund/411722/").status_code == 404


def test_fund_page_warns_past_the_line(browser, regions, banks, p):
    from .factories import fund_deposit, overdue_loan

    fund_deposit(regions["shangcai"], actor=p["admin"], amount=Decimal("1000.00"))
    overdue_loan(regions, banks, p, amount="9500.00", days=10)
    page = text(browser(p["county_staff"]).get("/risk-fund/411722/"))
    assert 'id="leverage-warning"' in page and "95.00%" in page


def test_deposit_and_agreement_forms(browser, funds, p):
    client = browser(p["county_staff"])
    day = today().isoformat()
    response = client.post(
        "/risk-fund/411722/deposit/", {"kind": "deposit", "amount": "500.00", "received_on": day}
    )
    assert response.status_code == 302 and FundEntry.objects.filter(amount=Decimal("500.00")).exists()
    page = text(
        client.post("/risk-fund/411722/deposit/", {"kind": "deposit", "amount": "0", "received_on": day})
    )
    assert "金额须大于0" in page
    form = {"bank": "PSBC", "fund_share": "70", "guarantee_share": "10", "bank_share": "20", "guarantee_agency": "",
            "leverage_multiple": "8", "valid_from": day}  # fmt: skip
    page = text(client.post("/risk-fund/411722/agreements/", form))
    assert "须写明担保机构" in page and not BankAgreement.objects.exists()
    response = client.post("/risk-fund/411722/agreements/", {**form, "guarantee_agency": "担保公司"})
    assert response.status_code == 302 and BankAgreement.objects.get().guarantee_share == 10
    assert browser(p["township_a"]).post("/risk-fund/411722/deposit/", {"kind": "deposit", "amount": "5",
                                                                         "received_on": day}).status_code == 403  # fmt: skip


def test_the_claim_workflow_in_the_browser(browser, loan, p):
    bank = browser(p["bank_x"])
    page = text(bank.get("/risk-fund/claims/"))
    assert 'id="claimable"' in page and f"/risk-fund/claims/new/{loan.pk}/" in page
    page = text(bank.get(f"/risk-fund/claims/new/{loan.pk}/"))
    assert "8,160.00" in page and 'id="claim-form"' in page
    response = bank.post(f"/risk-fund/claims/new/{loan.pk}/")
    claim = CompensationClaim.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/risk-fund/claims/{claim.pk}/"
    assert "不能申请" in text(bank.get(f"/risk-fund/claims/new/{loan.pk}/"))  # claimed already

    county = browser(p["county_staff"])
    assert 'id="do-verify"' in text(county.get(f"/risk-fund/claims/{claim.pk}/"))
    assert county.post(f"/risk-fund/claims/{claim.pk}/do/verify/").status_code == 302
    page = text(county.post(f"/risk-fund/claims/{claim.pk}/do/pay/"))
    assert "须由核实人以外的人拨付" in page
    assert browser(p["county2"]).post(f"/risk-fund/claims/{claim.pk}/do/pay/").status_code == 302
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.PAID

    page = text(bank.get(f"/risk-fund/claims/{claim.pk}/"))
    assert 'id="recovery-form"' in page and 'id="do-pay"' not in page
    response = bank.post(
        f"/risk-fund/claims/{claim.pk}/recoveries/", {"amount": "100.00", "received_on": today().isoformat()}
    )
    assert response.status_code == 302 and claim.recoveries.get().fund_part == Decimal("80.00")
    page = text(
        bank.post(
            f"/risk-fund/claims/{claim.pk}/recoveries/",
            {"amount": "99999.00", "received_on": today().isoformat()},
        )
    )
    assert "超过尚未收回的损失" in page


def test_reject_in_the_browser_needs_a_reason(browser, loan, p):
    claim = services.claim_file(actor=p["bank_x"], loan=loan)
    page = text(
        browser(p["county_staff"]).post(f"/risk-fund/claims/{claim.pk}/do/reject/", {"reject-reason": ""})
    )
    assert "驳回须填写原因" in page
    browser(p["county_staff"]).post(f"/risk-fund/claims/{claim.pk}/do/reject/", {"reject-reason": "材料不全"})
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REJECTED


def test_claim_pages_are_scoped(browser, loan, p):
    claim = services.claim_file(actor=p["bank_x"], loan=loan)
    for persona in ("township_b", "bank_y", "nobody"):
        client = browser(p[persona])
        assert client.get(f"/risk-fund/claims/{claim.pk}/").status_code == 404
        assert client.post(f"/risk-fund/claims/{claim.pk}/do/verify/").status_code == 404
        assert client.get(f"/risk-fund/claims/new/{loan.pk}/").status_code == 404
        assert "DAILY" not in text(client.get("/risk-fund/claims/"))
    assert browser(p["county_staff"]).post(f"/risk-fund/claims/{claim.pk}/do/nonsense/").status_code == 404


def test_the_loan_page_tag(loan, p):
    request = RequestFactory().get("/")
    template = Template("{% load risk_fund_tags %}{% loan_claim loan %}")

    def render(user):
        request.user = user
        return template.render(Context({"request": request, "loan": loan}))

    assert "申请代偿" in render(p["bank_x"]) and render(p["county_staff"]).strip() == ""
    services.claim_file(actor=p["bank_x"], loan=loan)
    assert "银行已申请" in render(p["county_staff"])


def test_fund_pages_show_committed_and_written_off_beside_outstanding(browser, funds, banks, p, loan):
    from .test_api import _approved_and_written_off

    _approved_and_written_off(funds, banks, p)
    page = text(browser(p["county_staff"]).get("/risk-fund/411722/"))
    assert 'id="fund-outstanding">10,000.00' in page and 'id="fund-committed">3,000.00' in page
    assert 'id="fund-used">13,000.00' in page and 'id="fund-written-off">7,000.00' in page
    gauge = page.split('id="gauge-text"')[1].split("</small>")[0]
    assert "已用额度 13,000.00 = 在保余额 10,000.00 + 已审批待放款 3,000.00" in gauge
    listing = text(browser(p["city"]).get("/risk-fund/"))
    shangcai = listing.split("上蔡县</a>")[1].split("</tr>")[0]
    cells = [c.strip() for c in shangcai.split('<td class="num">')[1:]]
    # balance, multiple, cap, outstanding, committed, written off, headroom
    assert [c.split("<")[0] for c in cells[3:7]] == ["10,000.00", "3,000.00", "7,000.00", "199,987,000.00"]
    xiping = listing.split("西平县</a>")[1].split("</tr>")[0]
    assert [c.split("<")[0].strip() for c in xiping.split('<td class="num">')[1:]][3:6] == [
        "0.00",
        "0.00",
        "0.00",
    ]
