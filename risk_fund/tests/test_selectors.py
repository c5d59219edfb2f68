"""The fund's reads: the agreement in force, shares, leverage (with agreements' multiples and
compensated loans), leverage warnings, who reads which fund and which claims, the loss of a loan."""

import datetime
from decimal import Decimal

import pytest
from django.http import Http404

from common.clock import today
from organization.tests.factories import approved_policy
from risk_fund import selectors, services

from .factories import agreement, fund_deposit, overdue_loan

pytestmark = pytest.mark.django_db
D = Decimal


def test_agreement_for_is_the_latest_started_unless_it_ended(funds, banks, p):
    county, bank = funds["shangcai"], banks["x"]
    assert selectors.agreement_for("411722", bank.pk, datetime.date(2018, 1, 1)) is None
    old = agreement(county, bank, actor=p["admin"], valid_from=datetime.date(2017, 1, 1))
    new = agreement(county, bank, actor=p["admin"], valid_from=datetime.date(2019, 1, 1),
                    valid_until=datetime.date(2019, 12, 31), fund_share=D(70), bank_share=D(30))  # fmt: skip
    assert selectors.agreement_for("411722", bank.pk, datetime.date(2018, 6, 1)) == old
    assert selectors.agreement_for("411722", bank.pk, datetime.date(2019, 6, 1)) == new
    assert selectors.agreement_for("411722", bank.pk, datetime.date(2020, 1, 1)) is None  # superseded, ended
    assert selectors.agreement_for("411721", bank.pk, datetime.date(2018, 6, 1)) is None
    assert selectors.agreements_in_force("411722", on=datetime.date(2019, 6, 1)) == [new]


def test_shares_from_the_agreement_else_the_policy(funds, banks, p):
    on = datetime.date(2020, 1, 1)
    assert selectors.shares_for("411722", banks["x"].pk, on=on).percents == (80, 0, 20)
    approved_policy(county=funds["shangcai"], effective_from=datetime.date(2018, 1, 1),
                                fund_share=D(60), bank_share=D(30))  # fmt: skip
    assert selectors.shares_for("411722", banks["x"].pk, on=on).percents == (60, 0, 40)  # the gap on the bank
    agreement(funds["shangcai"], banks["x"], actor=p["admin"], fund_share=D(70), guarantee_share=D(10),
              bank_share=D(20), guarantee_agency="担保公司")  # fmt: skip
    shares = selectors.shares_for("411722", banks["x"].pk, on=on)
    assert shares.percents == (70, 10, 20) and shares.guarantee_agency == "担保公司"


def test_leverage_takes_the_lowest_multiple_of_the_agreements_in_force(funds, banks, p):
    assert selectors.leverage_for("411722", on=today()).multiple == 10
    agreement(funds["shangcai"], banks["x"], actor=p["admin"], leverage_multiple=D(5))
    lev = selectors.leverage_for("411722", on=today())
    assert (lev.multiple, lev.cap) == (5, D("100000000.00"))
    assert selectors.leverage_for("411721", on=today()).multiple == 10  # 西平 has no agreement


def test_compensated_loans_leave_the_covered_outstanding(loan, p):
    assert selectors.covered_outstanding("411722") == D("10000.00")
    claim = services.claim_verify(
        actor=p["county_staff"], claim=services.claim_file(actor=p["bank_x"], loan=loan)
    )
    assert selectors.covered_outstanding("411722") == D("10000.00")  # not yet paid
    services.claim_pay(actor=p["county2"], claim=claim)
    assert selectors.covered_outstanding("411722") == 0
    assert selectors.compensated(loan)


def test_leverage_refusal_keeps_its_meaning(regions, banks, p):
    assert "尚未存入" in selectors.leverage_refusal("411722", amount=D(1000), on=today())
    fund_deposit(regions["shangcai"], actor=p["admin"], amount=D("3000.00"))  # cap 30,000
    overdue_loan(regions, banks, p, amount="25000.00")
    assert selectors.leverage_refusal("411722", amount=D("5000.00"), on=today()) is None
    message = selectors.leverage_refusal("411722", amount=D("5000.01"), on=today())
    assert "剩余额度5,000.00元" in message


def test_leverage_warnings_past_the_warning_line(regions, banks, p):
    fund_deposit(regions["shangcai"], actor=p["admin"], amount=D("1000.00"))  # cap 10,000
    fund_deposit(regions["xiping"], actor=p["admin"], amount=D("100000.00"))
    overdue_loan(regions, banks, p, amount="8999.99", days=10)
    overdue_loan(regions, banks, p, village="village_x1", bank="y", days=10)
    assert selectors.leverage_warnings(on=today()) == []
    overdue_loan(regions, banks, p, amount="0.01", days=10)  # 9,000 of 10,000: the 90 % line
    [(county, lev)] = selectors.leverage_warnings(on=today())
    assert (county.code, lev.used_percent, lev.warning, lev.over_cap) == ("411722", D("90.00"), True, False)
    assert selectors.leverage_warnings(on=today(), counties=["411721"]) == []


WHO_READS = {
    "county_staff": {"411722"}, "township_a": {"411722"}, "township_b": {"411722"}, "village_a1": {"411722"},
    "bank_x": {"411722"}, "bank_y": {"411721"}, "city": {"411722", "411721"}, "admin": {"411722", "411721"},
    "nobody": set(),
}  # fmt: skip


@pytest.mark.parametrize("persona", WHO_READS)
def test_who_reads_which_fund(funds, p, persona):
    assert {c.code for c in selectors.fund_list(user=p[persona])} == WHO_READS[persona]
    for code in ("411722", "411721"):
        if code in WHO_READS[persona]:
            assert selectors.fund_county_for_user(user=p[persona], code=code).code == code
        else:
            with pytest.raises(Http404):
                selectors.fund_county_for_user(user=p[persona], code=code)
    with pytest.raises(Http404):  # a township is not a fund
        selectors.fund_county_for_user(user=p["admin"], code="411722100")


CLAIMS_SEEN = {
    "county_staff": {"a1", "b1"}, "township_a": {"a1"}, "township_b": {"b1"}, "village_a1": {"a1"},
    "bank_x": {"a1", "b1"}, "bank_y": {"x1"}, "city": {"a1", "b1", "x1"}, "admin": {"a1", "b1", "x1"}, "nobody": set(),
}  # fmt: skip


@pytest.mark.parametrize("persona", CLAIMS_SEEN)
def test_who_sees_which_claims(funds, banks, p, persona):
    made = {}
    for key, bank, officer in (("a1", "x", "bank_x"), ("b1", "x", "bank_x"), ("x1", "y", "bank_y")):
        loan = overdue_loan(funds, banks, p, village=f"village_{key}", bank=bank)
        made[services.claim_file(actor=p[officer], loan=loan).pk] = key
    assert {made[c.pk] for c in selectors.claim_list(user=p[persona])} == CLAIMS_SEEN[persona]


def test_loss_of_a_loan_counts_interest_due_and_unpaid(loan):
    loss = selectors.loss_of(loan, on=today())
    assert (loss.dpd, loss.principal, loss.interest, loss.total) == (
        120,
        D("10000.00"),
        D("200.00"),
        D("10200.00"),
    )
    first = loan.instalments.order_by("seq").first()
    first.interest_paid = D("40.00")
    first.save()
    assert selectors.loss_of(loan, on=today()).interest == D("160.00")
    assert selectors.loss_of(loan, on=first.due_date).dpd == 0  # due that day: not yet past due


def test_claimable_loans_for_the_bank(funds, banks, p, loan):
    overdue_loan(funds, banks, p, days=89)
    assert list(selectors.claimable_loans(user=p["bank_x"], on=today())) == [loan]
    assert list(selectors.claimable_loans(user=p["bank_y"], on=today())) == []
    assert list(selectors.claimable_loans(user=p["county_staff"], on=today())) == []
    services.claim_file(actor=p["bank_x"], loan=loan)
    assert list(selectors.claimable_loans(user=p["bank_x"], on=today())) == []
