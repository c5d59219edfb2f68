"""ClaimWorkflow (common.workflow): filing and every step write exactly one audit entry (claims
keep no event table: the trail is their history, and the claim page reads it), maker-checker on
verification and payment, the payout guard under the fund's lock, the loan statuses a bank may
claim on, and the buttons each persona gets from actions_for."""

from decimal import Decimal

import pytest

from common.audit import audit_trail
from common.clock import today
from common.models import AuditEntry
from common.workflow import all_workflows
from risk_fund import services
from risk_fund.models import ClaimStatus, CompensationClaim, FundEntry
from risk_fund.services import FundError

from .factories import fund_deposit

pytestmark = pytest.mark.django_db
D = Decimal


def trail(claim) -> list[tuple]:
    """The claim's trail as (action, username, from, to)."""
    entries = audit_trail(obj_type="claim", obj_id=claim.pk).select_related("actor")
    return [(e.action, e.actor.username, e.from_state, e.to_state) for e in entries]


def refused(code, call, **kwargs):
    with pytest.raises(FundError) as exc:
        call(**kwargs)
    assert exc.value.code == code, exc.value.message
    return exc.value


def test_the_workflow_is_listed():
    assert "claim" in [w.obj_type for w in all_workflows()]
    assert set(services.ClaimWorkflow.steps) == {"verify", "pay", "reject"}


def test_filing_and_each_step_write_one_audit_entry(loan, p):
    claim = services.claim_file(actor=p["bank_x"], loan=loan)
    assert trail(claim) == [("file", "bank_x", "", "filed")]
    claim = services.claim_verify(actor=p["county_staff"], claim=claim)
    assert len(trail(claim)) == 2
    claim = services.claim_pay(actor=p["county2"], claim=claim)
    assert trail(claim) == [
        ("file", "bank_x", "", "filed"),
        ("verify", "county", "filed", "verified"),
        ("pay", "county2", "verified", "paid"),
    ]
    last = audit_trail(obj_type="claim", obj_id=claim.pk).last()
    assert last.detail == {"dpd": 120, "fund_share": "8160.00", "reason": ""} and last.region == "411722"
    # The payout is the ledger's own entry, once.
    assert AuditEntry.objects.filter(object_type="fund_entry", action="payout").count() == 1


def test_reject_writes_one_entry_with_its_reason(loan, p):
    claim = services.claim_file(actor=p["bank_x"], loan=loan)
    claim = services.claim_verify(actor=p["county_staff"], claim=claim)
    claim = services.claim_reject(actor=p["county2"], claim=claim, reason="材料不全")
    assert trail(claim)[-1] == ("reject", "county2", "verified", "rejected")
    assert audit_trail(obj_type="claim", obj_id=claim.pk).last().detail["reason"] == "材料不全"
    assert claim.reject_reason == "材料不全" and claim.rejected_by == p["county2"]


def test_a_refused_step_writes_nothing(loan, p):
    claim = services.claim_file(actor=p["bank_x"], loan=loan)
    refused("reason_required", services.claim_reject, actor=p["county_staff"], claim=claim, reason="  ")
    refused("invalid_transition", services.claim_pay, actor=p["county2"], claim=claim)
    assert len(trail(claim)) == 1
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.FILED and claim.verified_by is None


def test_the_verifier_is_not_the_filer(loan, p):
    claim = services.claim_file(actor=p["admin"], loan=loan)
    assert "verify" not in services.claim_actions_for(user=p["admin"], claim=claim)
    e = refused("same_person_checker", services.claim_verify, actor=p["admin"], claim=claim)
    assert "申请人" in e.message
    assert services.claim_verify(actor=p["county_staff"], claim=claim).verified_by == p["county_staff"]


def test_the_payer_is_not_the_verifier(loan, p):
    claim = services.claim_verify(
        actor=p["county_staff"], claim=services.claim_file(actor=p["bank_x"], loan=loan)
    )
    assert "pay" not in services.claim_actions_for(user=p["county_staff"], claim=claim)
    e = refused("same_person_checker", services.claim_pay, actor=p["county_staff"], claim=claim)
    assert "核实人以外" in e.message
    assert not FundEntry.objects.filter(kind="payout").exists()
    claim = services.claim_pay(actor=p["county2"], claim=claim)
    assert (claim.status, claim.paid_by, claim.payout.amount) == (
        ClaimStatus.PAID,
        p["county2"],
        D("-8160.00"),
    )
    refused("already_paid", services.claim_pay, actor=p["admin"], claim=claim)


def test_the_pay_guard_refuses_a_short_balance_with_no_ledger_row(loan, p):
    claim = services.claim_verify(
        actor=p["county_staff"], claim=services.claim_file(actor=p["bank_x"], loan=loan)
    )
    fund_deposit(loan.county, actor=p["admin"], amount=D("-19991840.01"))  # balance 8,159.99: a fen short
    rows = FundEntry.objects.count()
    e = refused("fund_insufficient", services.claim_pay, actor=p["county2"], claim=claim)
    assert "8,159.99" in e.message and e.errors["refusals"][0]["code"] == "fund_insufficient"
    assert FundEntry.objects.count() == rows and not FundEntry.objects.filter(kind="payout").exists()
    claim.refresh_from_db()
    assert (claim.status, claim.payout, claim.paid_by) == (ClaimStatus.VERIFIED, None, None)
    assert len(trail(claim)) == 2
    fund_deposit(loan.county, actor=p["admin"], amount=D("0.01"))
    assert services.claim_pay(actor=p["county2"], claim=claim).status == ClaimStatus.PAID


def test_verification_refuses_another_live_claim(loan, p):
    """The database keeps one live claim per loan; the guard says so in words before the save."""
    claim = services.claim_file(actor=p["bank_x"], loan=loan)
    other = CompensationClaim(loan=loan, county_id=loan.county_id, bank_id=loan.bank_id)  # not saved
    found = services.CLAIM_WORKFLOW.refusals(other, actor=p["county_staff"], action="verify", on=today())
    assert [r.code for r in found] == ["claim_exists"]
    assert services.CLAIM_WORKFLOW.refusals(claim, actor=p["county_staff"], action="verify", on=today()) == []


@pytest.mark.parametrize("status", ["active", "write_off_proposed", "written_off"])
def test_a_bank_claims_on_an_outstanding_or_written_off_loan(loan, p, status):
    loan.status = status
    loan.save(update_fields=["status"])
    assert services.claim_file(actor=p["bank_x"], loan=loan).status == ClaimStatus.FILED


@pytest.mark.parametrize(
    ("persona", "filed", "verified"),
    [
        ("county_staff", ["verify", "reject"], ["reject"]),  # verifies it, so does not pay it
        ("county2", ["verify", "reject"], ["pay", "reject"]),
        ("admin", ["verify", "reject"], ["pay", "reject"]),
        ("bank_x", [], []),
        ("bank_y", [], []),
        ("city", [], []),
        ("township_a", [], []),
        ("village_a1", [], []),
        ("nobody", [], []),
    ],
)
def test_actions_for_shows_exactly_the_permitted_buttons(loan, p, persona, filed, verified):
    claim = services.claim_file(actor=p["bank_x"], loan=loan)
    assert services.claim_actions_for(user=p[persona], claim=claim) == filed
    claim = services.claim_verify(actor=p["county_staff"], claim=claim)
    assert services.claim_actions_for(user=p[persona], claim=claim) == verified
    claim = services.claim_pay(actor=p["county2"], claim=claim)
    assert services.claim_actions_for(user=p[persona], claim=claim) == []


def test_the_claim_page_timeline_reads_the_trail(loan, p, client_for):
    claim = services.claim_file(actor=p["bank_x"], loan=loan)
    claim = services.claim_verify(actor=p["county_staff"], claim=claim)
    services.claim_reject(actor=p["county2"], claim=claim, reason="材料不全")
    page = client_for(p["bank_x"]).get(f"/risk-fund/claims/{claim.pk}/").content.decode()
    timeline = page[page.index('id="claim-events"') : page.index("</ol>", page.index('id="claim-events"'))]
    for said in ("银行申请", "县级核实", "驳回", "材料不全", str(p["county2"]), str(p["bank_x"])):
        assert said in timeline, said
    page = client_for(p["county2"]).get(f"/risk-fund/claims/{claim.pk}/").content.decode()
    assert 'id="do-' not in page  # rejected: no step left
