"""The fund's writes: deposits, agreements, the claim workflow with its rules and maker-checker,
payouts on the ledger, recoveries and their caps."""

import datetime
from decimal import Decimal

import pytest

from common.clock import today
from common.errors import Forbidden
from organization.tests.factories import approved_policy
from risk_fund import selectors, services
from risk_fund.models import BankAgreement, ClaimStatus, FundEntry
from risk_fund.services import FundError

from .factories import agreement, fund_deposit, overdue_loan

pytestmark = pytest.mark.django_db
D = Decimal


def refused(code, call, **kwargs):
    with pytest.raises(FundError) as exc:
        call(**kwargs)
    assert exc.value.code == code, exc.value.message
    return exc.value


def paid_claim(loan, p):
    claim = services.claim_file(actor=p["bank_x"], loan=loan)
    claim = services.claim_verify(actor=p["county_staff"], claim=claim)
    return services.claim_pay(actor=p["county2"], claim=claim)


# --- deposits ----------------------------------------------------------------------------------


def test_deposit_adds_a_ledger_row_and_the_balance_is_their_sum(funds, p):
    services.deposit_record(actor=p["county_staff"], county_code="411722", amount=D("1000.50"),
                            received_on=today(), source="县财政", reference="P-1")  # fmt: skip
    services.deposit_record(actor=p["admin"], county_code="411722", amount=D("99.50"), received_on=today(),
                            kind=FundEntry.Kind.CITY_CONTRIBUTION)  # fmt: skip
    assert selectors.fund_balance("411722", on=today()) == D("20001100.00")
    assert FundEntry.objects.filter(county_id="411722").count() == 3


@pytest.mark.parametrize("persona", ["township_a", "village_a1", "bank_x", "city", "nobody"])
def test_only_county_staff_and_admins_deposit(funds, p, persona):
    with pytest.raises(Forbidden):
        services.deposit_record(actor=p[persona], county_code="411722", amount=D(1), received_on=today())


def test_deposit_refusals(funds, p):
    kw = {"actor": p["county_staff"], "county_code": "411722"}
    refused("invalid", services.deposit_record, amount=D(0), received_on=today(), **kw)
    refused(
        "invalid", services.deposit_record, amount=D(5), received_on=today() + datetime.timedelta(1), **kw
    )
    refused("invalid", services.deposit_record, amount=D(5), received_on=today(), kind="payout", **kw)
    with pytest.raises(Forbidden):  # another county's fund
        services.deposit_record(
            actor=p["county_staff"], county_code="411721", amount=D(5), received_on=today()
        )


# --- agreements --------------------------------------------------------------------------------


def test_agreement_create_checks_shares_bank_and_guarantor(funds, banks, p):
    kw = {"actor": p["county_staff"], "county_code": "411722", "valid_from": datetime.date(2018, 1, 1)}
    e = refused(
        "invalid", services.agreement_create, bank=banks["x"], fund_share=D(80), bank_share=D(10), **kw
    )
    assert "合计100%" in e.message
    e = refused(
        "invalid", services.agreement_create, bank=banks["x"], fund_share=D(70), guarantee_share=D(10), **kw
    )
    assert "担保机构" in e.errors["guarantee_agency"][0]
    refused("invalid", services.agreement_create, bank=banks["y"], **kw)  # bank Y does not serve 上蔡
    made = services.agreement_create(bank=banks["x"], fund_share=D(70), guarantee_share=D(10), bank_share=D(20),
                                     guarantee_agency="上蔡担保", guarantee_fee_subsidized=True, **kw)  # fmt: skip
    assert made.guarantee_fee_eligible and made.split_label == "补偿金70%：上蔡担保10%：银行20%"
    refused("invalid", services.agreement_create, bank=banks["x"], **kw)  # same start day
    with pytest.raises(Forbidden):
        services.agreement_create(**{**kw, "actor": p["bank_x"]}, bank=banks["x"])


# --- filing ------------------------------------------------------------------------------------


def test_bank_files_a_claim_with_the_loss_and_default_shares(loan, p):
    claim = services.claim_file(actor=p["bank_x"], loan=loan)
    assert claim.status == ClaimStatus.FILED and claim.dpd == 120
    assert (claim.loss_principal, claim.loss_interest) == (D("10000.00"), D("200.00"))
    assert (claim.fund_share, claim.bank_share, claim.guarantee_share) == (D("8160.00"), D("2040.00"), 0)
    assert claim.agreement is None and (claim.fund_percent, claim.bank_percent) == (80, 20)


def test_claim_refused_below_the_policy_dpd(funds, banks, p):
    loan = overdue_loan(funds, banks, p, days=89)
    e = refused("dpd_too_low", services.claim_file, actor=p["bank_x"], loan=loan)
    assert "90天" in e.message and "89天" in e.message
    approved_policy(county=funds["shangcai"], effective_from=datetime.date(2017, 1, 1),
                                compensation_min_dpd=60)  # fmt: skip
    assert services.claim_file(actor=p["bank_x"], loan=loan).dpd == 89


def test_a_loan_is_claimed_once_until_rejected(loan, p):
    first = services.claim_file(actor=p["bank_x"], loan=loan)
    refused("claim_exists", services.claim_file, actor=p["bank_x"], loan=loan)
    services.claim_reject(actor=p["county_staff"], claim=first, reason="材料不全")
    assert services.claim_file(actor=p["bank_x"], loan=loan).status == ClaimStatus.FILED


@pytest.mark.parametrize("persona", ["bank_y", "county_staff", "township_a", "village_a1", "city"])
def test_only_the_lending_bank_files(loan, p, persona):
    with pytest.raises(Forbidden):
        services.claim_file(actor=p[persona], loan=loan)


def test_a_closed_loan_cannot_be_claimed(loan, p):
    loan.status = "closed"
    loan.save()
    refused("invalid_transition", services.claim_file, actor=p["bank_x"], loan=loan)


def test_the_agreement_in_force_sets_the_shares_three_ways_remainder_on_the_bank(loan, banks, p):
    agreement(loan.county, banks["x"], actor=p["admin"], fund_share=D("33.33"), guarantee_share=D("33.33"),
              bank_share=D("33.34"), guarantee_agency="担保公司")  # fmt: skip
    loan.principal_outstanding = D("9999.99")  # loss 10,199.99
    loan.save()
    claim = services.claim_file(actor=p["bank_x"], loan=loan)
    # 33.33 % of 10,199.99 = 3,399.6567 → 3,399.66; 66.66 % = 6,799.3133 → 6,799.31; the rest to the bank.
    assert (claim.fund_share, claim.guarantee_share, claim.bank_share) == (
        D("3399.66"),
        D("3399.65"),
        D("3400.68"),
    )
    assert claim.fund_share + claim.guarantee_share + claim.bank_share == claim.loss == D("10199.99")
    assert claim.guarantee_agency == "担保公司" and claim.agreement is not None


# --- verify and pay ----------------------------------------------------------------------------


def test_verify_then_pay_posts_the_fund_share_as_a_payout(loan, p):
    claim = paid_claim(loan, p)
    assert claim.status == ClaimStatus.PAID and selectors.compensated(loan)
    assert (claim.payout.kind, claim.payout.amount, claim.payout.received_on) == (
        "payout",
        D("-8160.00"),
        today(),
    )
    assert selectors.fund_balance("411722", on=today()) == D("20000000.00") - D("8160.00")
    assert selectors.covered_outstanding("411722") == 0  # a compensated loan is no longer covered


def test_maker_checker_filer_verifier_payer_are_three_people(loan, p):
    admin_claim = services.claim_file(actor=p["admin"], loan=loan)
    refused("same_person_checker", services.claim_verify, actor=p["admin"], claim=admin_claim)
    claim = services.claim_verify(actor=p["county_staff"], claim=admin_claim)
    refused("same_person_checker", services.claim_pay, actor=p["county_staff"], claim=claim)
    assert services.claim_pay(actor=p["county2"], claim=claim).status == ClaimStatus.PAID


@pytest.mark.parametrize("persona", ["bank_x", "township_a", "village_a1", "city"])
def test_only_county_staff_verify_and_pay(loan, p, persona):
    claim = services.claim_file(actor=p["bank_x"], loan=loan)
    with pytest.raises(Forbidden):
        services.claim_verify(actor=p[persona], claim=claim)
    claim = services.claim_verify(actor=p["county_staff"], claim=claim)
    with pytest.raises(Forbidden):
        services.claim_pay(actor=p[persona], claim=claim)


def test_pay_needs_verification_and_happens_once(loan, p):
    claim = services.claim_file(actor=p["bank_x"], loan=loan)
    refused("invalid_transition", services.claim_pay, actor=p["county2"], claim=claim)
    claim = services.claim_pay(
        actor=p["county2"], claim=services.claim_verify(actor=p["county_staff"], claim=claim)
    )
    refused("already_paid", services.claim_pay, actor=p["admin"], claim=claim)
    refused("invalid_transition", services.claim_reject, actor=p["admin"], claim=claim, reason="晚了")
    assert FundEntry.objects.filter(kind="payout").count() == 1


def test_verification_counts_again_as_of_its_day(loan, p):
    claim = services.claim_file(actor=p["bank_x"], loan=loan)
    first = loan.instalments.order_by("seq").first()
    first.interest_paid, first.settled = first.interest_due, False
    first.save()  # the oldest instalment's interest came in: 100 less interest lost
    claim = services.claim_verify(actor=p["county_staff"], claim=claim)
    assert (claim.loss_interest, claim.fund_share) == (D("100.00"), D("8080.00"))


def test_verification_refuses_a_loan_back_under_the_line(loan, p):
    claim = services.claim_file(actor=p["bank_x"], loan=loan)
    first = loan.instalments.order_by("seq").first()
    first.interest_paid, first.settled = first.interest_due, True
    first.save()  # the oldest instalment paid: 29 days past due now
    refused("dpd_too_low", services.claim_verify, actor=p["county_staff"], claim=claim)


def test_pay_refused_when_the_fund_cannot_cover_it(loan, p):
    fund_deposit(loan.county, actor=p["admin"], amount=D("-19995000.00"))  # balance 5,000
    claim = services.claim_verify(
        actor=p["county_staff"], claim=services.claim_file(actor=p["bank_x"], loan=loan)
    )
    e = refused("fund_insufficient", services.claim_pay, actor=p["county2"], claim=claim)
    assert "5,000.00" in e.message
    assert not FundEntry.objects.filter(kind="payout").exists()


def test_reject_needs_a_reason(loan, p):
    claim = services.claim_file(actor=p["bank_x"], loan=loan)
    refused("reason_required", services.claim_reject, actor=p["county_staff"], claim=claim, reason=" ")


# --- recoveries --------------------------------------------------------------------------------


def test_recoveries_split_back_in_the_claims_shares_up_to_the_loss(loan, p):
    claim = paid_claim(loan, p)  # loss 10,200: fund 8,160, bank 2,040
    kw = {"actor": p["bank_x"], "loan": loan, "received_on": today()}
    r = services.recovery_record(amount=D("1000.01"), **kw)
    assert (r.fund_part, r.bank_part, r.fund_entry.amount, r.fund_entry.kind) == (
        D("800.01"), D("200.00"), D("800.01"), "recovery"
    )  # fmt: skip
    e = refused("recovery_exceeds_loss", services.recovery_record, amount=D("9200.00"), **kw)
    assert "9,199.99" in e.message
    last = services.recovery_record(
        amount=D("9199.99"), actor=p["county_staff"], loan=loan, received_on=today()
    )
    back = selectors.recovered(claim)
    assert (back["fund"], back["bank"], back["amount"]) == (claim.fund_share, claim.bank_share, claim.loss)
    assert last.fund_part + last.bank_part == D("9199.99")
    refused("recovery_exceeds_loss", services.recovery_record, amount=D("0.01"), **kw)
    assert selectors.fund_balance("411722", on=today()) == D("20000000.00")


def test_recovery_needs_a_paid_claim_and_the_right_people(loan, p):
    kw = {"loan": loan, "amount": D(100), "received_on": today()}
    refused("not_compensated", services.recovery_record, actor=p["bank_x"], **kw)
    paid_claim(loan, p)
    for persona in ("bank_y", "township_a", "city"):
        with pytest.raises(Forbidden):
            services.recovery_record(actor=p[persona], **kw)
    refused("invalid", services.recovery_record, actor=p["bank_x"], **{**kw, "amount": D(0)})
    refused("invalid", services.recovery_record, actor=p["bank_x"],
            **{**kw, "received_on": today() - datetime.timedelta(days=1)})  # before the payout  # fmt: skip


def test_three_way_recovery_returns_each_party_exactly_its_share_in_the_end(loan, banks, p):
    agreement(loan.county, banks["x"], actor=p["admin"], fund_share=D(70), guarantee_share=D(10),
              bank_share=D(20), guarantee_agency="担保公司")  # fmt: skip
    claim = paid_claim(loan, p)  # 10,200: 7,140 / 1,020 / 2,040
    for amount in ("0.01", "0.01", "333.33", "1000.00"):
        services.recovery_record(actor=p["bank_x"], loan=loan, amount=D(amount), received_on=today())
    services.recovery_record(
        actor=p["bank_x"], loan=loan, amount=claim.loss - D("1333.35"), received_on=today()
    )
    back = selectors.recovered(claim)
    assert (back["fund"], back["guarantee"], back["bank"]) == (D("7140.00"), D("1020.00"), D("2040.00"))


def test_agreements_and_the_ledger_keep_their_constraints(funds, banks, p):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        agreement(funds["shangcai"], banks["x"], actor=p["admin"], fund_share=D(90))  # 110 %
    with pytest.raises(IntegrityError), transaction.atomic():
        FundEntry.objects.create(county=funds["shangcai"], kind="payout", amount=D(5), received_on=today(),
                                 created_by=p["admin"])  # fmt: skip
    assert not BankAgreement.objects.exists()
