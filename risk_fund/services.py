"""Every write to the risk compensation fund: deposits, bank agreements, compensation claims
(bank files → county verifies → county pays) and recoveries.

The claim's steps after filing are ClaimWorkflow's table (common.workflow). Maker-checker on
claims: the filer cannot verify, and the verifier cannot pay (a second county clerk pays). Paying
locks the claim and then the county (the fund's lock): two clerks paying at once pay once, and two
claims paid at once cannot both spend the same balance.
"""

import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from common.audit import audit_record
from common.clock import now, today
from common.errors import ApplicationError, Forbidden
from common.money import money
from common.workflow import Refusal, Step, Workflow
from organization.models import Bank, Role
from organization.scoping import has_role_over
from organization.selectors import policy_for

from . import selectors
from .models import BankAgreement, ClaimStatus, CompensationClaim, FundEntry, Recovery
from .shares import recovery_parts, split


class FundError(ApplicationError):
    pass


def may_manage_fund(user, county_code: str) -> bool:
    """County staff of the county (and admins) keep its fund: deposits, agreements, claims."""
    return has_role_over(user, county_code, (Role.COUNTY_STAFF,))


def _require_manager(actor, county_code: str, what: str) -> None:
    if not may_manage_fund(actor, county_code):
        raise Forbidden(f"只有本县金融扶贫服务中心可以{what}。")


def _positive(amount, field: str = "amount") -> Decimal:
    amount = money(amount)
    if amount <= 0:
        raise FundError("invalid", "金额须大于0。", {field: ["须大于0。"]})
    return amount


def _not_future(day: datetime.date, field: str) -> None:
    if day > today():
        raise FundError("invalid", "日期不能晚于今天。", {field: ["晚于今天。"]})


# --- the audit trail (common.audit) ------------------------------------------------------------


def _audit_fund_entry(entry: FundEntry, actor) -> FundEntry:
    """Every ledger row written: its kind is the action, its amount (signed) the detail."""
    audit_record(
        actor=actor, action=entry.kind, obj_type="fund_entry", obj_id=entry.pk, label=str(entry),
        region=entry.county_id, detail={"amount": entry.amount, "received_on": entry.received_on,
                                        "source": entry.source, "reference": entry.reference},
    )  # fmt: skip
    return entry


# --- deposits ----------------------------------------------------------------------------------


@transaction.atomic
def deposit_record(
    *, actor, county_code: str, amount: Decimal, received_on: datetime.date, source: str = "",
    reference: str = "", kind: str = FundEntry.Kind.DEPOSIT,
) -> FundEntry:  # fmt: skip
    """Money into the fund: the county budget's deposits, city contributions, interest earned."""
    _require_manager(actor, county_code, "登记风险补偿金存入")
    if kind not in FundEntry.MONEY_IN:
        raise FundError("invalid", "只能登记存入、市级补充或利息收入。", {"kind": ["类型不对。"]})
    amount = _positive(amount)
    _not_future(received_on, "received_on")
    entry = FundEntry.objects.create(
        county_id=county_code, kind=kind, amount=amount, received_on=received_on,
        source=(source or "").strip()[:100], reference=(reference or "").strip()[:100], created_by=actor,
    )  # fmt: skip
    return _audit_fund_entry(entry, actor)


# --- bank agreements ---------------------------------------------------------------------------


@transaction.atomic
def agreement_create(
    *, actor, county_code: str, bank: Bank, valid_from: datetime.date, fund_share: Decimal = Decimal(80),
    bank_share: Decimal = Decimal(20), guarantee_share: Decimal = Decimal(0), guarantee_agency: str = "",
    guarantee_fee_rate: Decimal = Decimal(0), guarantee_fee_subsidized: bool = False,
    leverage_multiple: Decimal = Decimal(10), valid_until: datetime.date | None = None, reference: str = "",
) -> BankAgreement:  # fmt: skip
    """A new agreement; from its start it supersedes the bank's earlier ones in the county."""
    _require_manager(actor, county_code, "登记银行合作协议")
    guarantee_agency = (guarantee_agency or "").strip()
    errors = {}
    if not bank.branches.filter(counties=county_code).exists():
        errors["bank"] = [f"{bank.name}不在本县开展业务。"]
    shares = (fund_share, guarantee_share, bank_share)
    if any(s < 0 for s in shares) or sum(shares) != 100:
        errors["fund_share"] = ["补偿金、担保机构、银行的分担比例须合计100%。"]
    if guarantee_share and not guarantee_agency:
        errors["guarantee_agency"] = ["有担保机构分担时须写明担保机构。"]
    if guarantee_fee_subsidized and not guarantee_agency:
        errors["guarantee_fee_subsidized"] = ["没有担保机构，无担保费可补贴。"]
    if leverage_multiple <= 0:
        errors["leverage_multiple"] = ["放大倍数须大于0。"]
    if valid_until is not None and valid_until < valid_from:
        errors["valid_until"] = ["截止日期早于生效日期。"]
    if BankAgreement.objects.filter(county_id=county_code, bank=bank, valid_from=valid_from).exists():
        errors["valid_from"] = ["该银行在这一天已有协议生效。"]
    if errors:
        raise FundError("invalid", next(iter(errors.values()))[0], errors)
    agreement = BankAgreement.objects.create(
        county_id=county_code, bank=bank, fund_share=fund_share, guarantee_share=guarantee_share,
        bank_share=bank_share, guarantee_agency=guarantee_agency, guarantee_fee_rate=guarantee_fee_rate,
        guarantee_fee_subsidized=guarantee_fee_subsidized, leverage_multiple=leverage_multiple,
        valid_from=valid_from, valid_until=valid_until, reference=(reference or "").strip(), created_by=actor,
    )  # fmt: skip
    audit_record(
        actor=actor, action="create", obj_type="agreement", obj_id=agreement.pk, label=str(agreement),
        region=county_code, detail={"split": [fund_share, guarantee_share, bank_share],
                                    "leverage_multiple": leverage_multiple, "valid_from": valid_from},
    )  # fmt: skip
    return agreement


# --- compensation claims -----------------------------------------------------------------------


def _assess(loan, *, on: datetime.date) -> dict:
    """The claim's figures for the loan on `on`: DPD, the loss, and everyone's share of it."""
    loss = selectors.loss_of(loan, on=on)
    shares = selectors.shares_for(loan.county_id, loan.bank_id, on=on)
    fund, guarantee, bank = split(loss.total, shares.percents)
    return {
        "dpd": loss.dpd, "loss_principal": loss.principal, "loss_interest": loss.interest,
        "fund_percent": shares.fund, "guarantee_percent": shares.guarantee, "bank_percent": shares.bank,
        "fund_share": fund, "guarantee_share": guarantee, "bank_share": bank,
        "guarantee_agency": shares.guarantee_agency, "agreement": shares.agreement,
    }  # fmt: skip


def _claimable_refusals(loan, figures: dict, *, on: datetime.date) -> list[Refusal]:
    min_dpd = policy_for(loan.county_id, on=on).compensation_min_dpd
    if figures["dpd"] < min_dpd:
        return [Refusal(
            "dpd_too_low", f"逾期{min_dpd}天及以上的贷款方可申请代偿，该笔贷款目前逾期{figures['dpd']}天。"
        )]  # fmt: skip
    if figures["fund_share"] <= 0:
        return [Refusal("nothing_to_claim", "该笔贷款已无应由风险补偿金分担的损失，无需代偿。")]
    return []


def _check_claimable(loan, figures: dict, *, on: datetime.date) -> None:
    for code, message in _claimable_refusals(loan, figures, on=on):
        raise FundError(code, message)


def _claim_exists(loan) -> FundError:
    return FundError("claim_exists", f"贷款{loan}已有代偿申请，不能重复申请。")


# --- the claim workflow (common.workflow) ------------------------------------------------------

C = ClaimStatus
COUNTY = (Role.COUNTY_STAFF,)
CLAIM_STEPS = {
    "verify": Step((C.FILED,), C.VERIFIED, COUNTY, "核实", checker=True, guards=("no_other_live_claim", "claimable")),
    "pay": Step((C.VERIFIED,), C.PAID, COUNTY, "拨付", checker=True, guards=("fund_covers",)),
    "reject": Step((C.FILED, C.VERIFIED), C.REJECTED, COUNTY, "驳回", reason=True),
}  # fmt: skip
# Maker-checker per step: whom the step checks, in the words of its refusal.
CHECKER_TEXT = {
    "verify": "代偿申请须由他人核实：您是该申请的申请人。",
    "pay": "代偿须由核实人以外的人拨付：您已核实该申请。",
}


def _no_other_live_claim_guard(workflow, claim: CompensationClaim, context) -> list[Refusal]:
    others = CompensationClaim.objects.filter(loan_id=claim.loan_id).exclude(pk=claim.pk)
    if others.exclude(status=C.REJECTED).exists():
        error = _claim_exists(claim.loan)
        return [Refusal(error.code, error.message)]
    return []


def _claimable_guard(workflow, claim: CompensationClaim, context) -> list[Refusal]:
    """Still past the DPD line, with a fund share, by the figures as of the step's day."""
    return _claimable_refusals(claim.loan, _assess(claim.loan, on=context.on), on=context.on)


def _fund_covers_guard(workflow, claim: CompensationClaim, context) -> list[Refusal]:
    """The fund's balance covers its share. Taken under the county fund's lock (to the end of the
    step's transaction), so two payouts at once cannot both spend the same balance."""
    if transaction.get_connection().in_atomic_block:
        selectors.fund_lock(claim.county_id)
    balance = selectors.fund_balance(claim.county_id, on=context.on)
    if balance < claim.fund_share:
        return [Refusal(
            "fund_insufficient",
            f"风险补偿金余额{balance:,}元，不足代偿{claim.fund_share:,}元。请县财政补充后再拨付。",
        )]  # fmt: skip
    return []


class ClaimWorkflow(Workflow):
    """A compensation claim after the bank filed it (claim_file, recorded through `record`):
    county staff verify it, another clerk pays it, or it is rejected. Claims keep no event table:
    the audit trail is their history (selectors.claim_history)."""

    obj_type = "claim"
    model = CompensationClaim
    steps = CLAIM_STEPS
    guards = {
        "no_other_live_claim": _no_other_live_claim_guard,
        "claimable": _claimable_guard,
        "fund_covers": _fund_covers_guard,
    }
    error = FundError
    forbidden_text = "只有本县金融扶贫服务中心可以{label}代偿申请。"
    state_text = "该代偿申请当前为“{state}”，不能{label}。"

    def lock(self, obj):
        return CompensationClaim.objects.select_for_update(of=("self",)).select_related("loan").get(pk=obj.pk)

    def holds_role(self, user, obj, role):
        return has_role_over(user, obj.county_id, (role,))

    def worked_on(self, obj, user, action):
        if action == "pay":
            return obj.verified_by_id == user.pk
        return obj.filed_by_id == user.pk

    def check(self, actor, obj, action):
        """The engine's checks, with a paid claim's own refusal and each checker step's words."""
        try:
            return super().check(actor, obj, action)
        except FundError as exc:
            if exc.code == "invalid_transition" and action == "pay" and obj.status == C.PAID:
                raise FundError(
                    "already_paid", f"{obj}已于{obj.paid_at:%Y-%m-%d}代偿，不能重复拨付。"
                ) from None
            if exc.code == "same_person_checker":
                raise FundError(exc.code, CHECKER_TEXT[action]) from None
            raise

    def subject(self, obj):
        return {
            "obj_type": "claim",
            "obj_id": obj.pk,
            "label": f"{obj} 贷款{obj.loan}",
            "region": obj.county_id,
        }

    def audit_detail(self, obj, *, action, comment, detail):
        return {"dpd": obj.dpd, "fund_share": obj.fund_share, "reason": obj.reject_reason}


CLAIM_WORKFLOW = ClaimWorkflow()


def claim_actions_for(*, user, claim: CompensationClaim) -> list[str]:
    """The steps the user may take on the claim now, for its page's buttons."""
    return CLAIM_WORKFLOW.actions_for(user, claim)


@transaction.atomic
def claim_file(*, actor, loan) -> CompensationClaim:
    """The lending bank claims on the fund for a loan at least compensation_min_dpd days past due:
    a loan still outstanding (a write-off proposed included) or written off."""
    from loans.models import OUTSTANDING_STATUSES, Loan, LoanStatus
    from loans.services import may_act

    loan = Loan.objects.select_for_update().get(pk=loan.pk)
    if not may_act(actor, loan, Role.BANK_OFFICER):
        raise Forbidden("只有贷款银行可以申请代偿。")
    if loan.status not in (*OUTSTANDING_STATUSES, LoanStatus.WRITTEN_OFF):
        raise FundError("invalid_transition", f"该笔贷款当前为“{loan.get_status_display()}”，不能申请代偿。")
    if selectors.live_claim(loan) is not None:
        raise _claim_exists(loan)
    day = today()
    figures = _assess(loan, on=day)
    _check_claimable(loan, figures, on=day)
    try:
        with transaction.atomic():
            claim = CompensationClaim.objects.create(
                loan=loan,
                county_id=loan.county_id,
                bank_id=loan.bank_id,
                filed_by=actor,
                filed_at=now(),
                **figures,
            )
    except IntegrityError:
        if selectors.live_claim(loan) is None:
            raise
        raise _claim_exists(loan) from None  # filed meanwhile by someone else
    CLAIM_WORKFLOW.record(claim, action="file", actor=actor, from_state="", to_state=claim.status)
    return claim


def claim_verify(*, actor, claim: CompensationClaim) -> CompensationClaim:
    """County staff check the claim: the loan is still past the DPD line, no other claim exists,
    and the amounts are worked out again as of today (repayments may have come in)."""

    def change(claim: CompensationClaim) -> None:
        for field, value in _assess(claim.loan, on=today()).items():
            setattr(claim, field, value)
        claim.verified_by, claim.verified_at = actor, now()

    return CLAIM_WORKFLOW.run(actor=actor, obj=claim, action="verify", change=change)


def claim_pay(*, actor, claim: CompensationClaim) -> CompensationClaim:
    """The fund pays its share of the verified loss: a payout row of the ledger, written under the
    fund's lock the step's guard took."""

    def change(claim: CompensationClaim) -> None:
        claim.payout = FundEntry.objects.create(
            county_id=claim.county_id, kind=FundEntry.Kind.PAYOUT, amount=-claim.fund_share, received_on=today(),
            source=f"代偿贷款{claim.loan}", reference=f"代偿申请#{claim.pk}", created_by=actor,
        )  # fmt: skip
        _audit_fund_entry(claim.payout, actor)
        claim.paid_by, claim.paid_at = actor, now()

    return CLAIM_WORKFLOW.run(actor=actor, obj=claim, action="pay", change=change)


def claim_reject(*, actor, claim: CompensationClaim, reason: str) -> CompensationClaim:
    """Before payment the county may turn a claim down; the bank may file again later."""

    def change(claim: CompensationClaim) -> None:
        claim.rejected_by, claim.rejected_at = actor, now()
        claim.reject_reason = (reason or "").strip()[:200]

    return CLAIM_WORKFLOW.run(actor=actor, obj=claim, action="reject", comment=reason, change=change)


# --- recoveries --------------------------------------------------------------------------------


def may_record_recovery(user, loan) -> bool:
    from loans.services import may_act

    return may_act(user, loan, Role.BANK_OFFICER) or may_manage_fund(user, loan.county_id)


@transaction.atomic
def recovery_record(*, actor, loan, amount: Decimal, received_on: datetime.date) -> Recovery:
    """Money recovered on a compensated loan goes back in the claim's shares. Altogether no more
    than the loss comes back."""
    if not may_record_recovery(actor, loan):
        raise Forbidden("只有贷款银行或本县金融扶贫服务中心可以登记追偿收回。")
    claim = CompensationClaim.objects.select_for_update().filter(loan=loan, status=ClaimStatus.PAID).first()
    if claim is None:
        raise FundError("not_compensated", f"贷款{loan}尚未代偿，追回的款项按还款登记。")
    amount = _positive(amount)
    _not_future(received_on, "received_on")
    if received_on < timezone.localdate(claim.paid_at):
        raise FundError("invalid", "收回日期不能早于代偿日期。", {"received_on": ["早于代偿日期。"]})
    back = selectors.recovered(claim)
    left = claim.loss - back["amount"]
    if amount > left:
        raise FundError(
            "recovery_exceeds_loss",
            f"追偿金额{amount:,}元超过尚未收回的损失{left:,}元（损失{claim.loss:,}元，已收回{back['amount']:,}元）。",
            {"amount": ["超过尚未收回的损失。"]},
        )
    remaining = [claim.fund_share - back["fund"], claim.guarantee_share - back["guarantee"],
                 claim.bank_share - back["bank"]]  # fmt: skip
    fund, guarantee, bank = recovery_parts(amount, (claim.fund_percent, claim.guarantee_percent,
                                                    claim.bank_percent), remaining)  # fmt: skip
    entry = None
    if fund > 0:
        entry = _audit_fund_entry(FundEntry.objects.create(
            county_id=claim.county_id, kind=FundEntry.Kind.RECOVERY, amount=fund, received_on=received_on,
            source=f"追偿贷款{loan}", reference=f"代偿申请#{claim.pk}", created_by=actor,
        ), actor)  # fmt: skip
    recovery = Recovery.objects.create(
        claim=claim, amount=amount, received_on=received_on, fund_part=fund, guarantee_part=guarantee,
        bank_part=bank, fund_entry=entry, recorded_by=actor,
    )  # fmt: skip
    audit_record(
        actor=actor, action="create", obj_type="recovery", obj_id=recovery.pk, label=str(recovery),
        region=claim.county_id, detail={"amount": amount, "fund": fund, "guarantee": guarantee, "bank": bank},
    )  # fmt: skip
    return recovery


def claim_preview(*, loan, on: datetime.date) -> tuple[dict, str | None]:
    """What a claim filed on `on` would say, and why it would be refused (None: it would not)."""
    figures = _assess(loan, on=on)
    try:
        if selectors.live_claim(loan) is not None:
            raise _claim_exists(loan)
        _check_claimable(loan, figures, on=on)
    except FundError as exc:
        return figures, exc.message
    return figures, None
