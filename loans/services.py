"""Every write to a loan: the application, the five-step workflow (五步法) and what follows
disbursement (repayments, extension, renewal, write-off, post-loan checks).

Each transition locks the loan, checks the starting state against TRANSITIONS, the actor's role
and maker-checker, and records a LoanEvent in the same transaction.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from common.audit import audit_record
from common.clock import today
from common.errors import ApplicationError, Forbidden
from common.identity import clean_identifier
from common.money import money
from organization.models import Role
from organization.scoping import has_role_over, serves_bank_loan
from organization.selectors import policy_for

from . import schedules
from .eligibility import Application, refusals
from .models import (
    BenchmarkRate,
    Instalment,
    Loan,
    LoanEvent,
    LoanStatus,
    PostLoanCheck,
    Repayment,
    RepaymentAllocation,
)  # fmt: skip


class LoanError(ApplicationError):
    pass


# --- the transition table ----------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    sources: tuple[str, ...]
    target: str | None  # None: the status does not change (extend, renew)
    roles: tuple[str, ...]
    label: str
    checks_others: bool = False  # maker-checker: the actor must not have worked on it before


S = LoanStatus
BEFORE_DISBURSEMENT = (S.DRAFT, S.SUBMITTED, S.TOWNSHIP_REVIEWED, S.RECOMMENDED, S.APPROVED)
TRANSITIONS = {
    "submit": Transition((S.DRAFT,), S.SUBMITTED, (Role.VILLAGE_CLERK, Role.COUNTY_STAFF), "村级提交"),
    "township-review": Transition((S.SUBMITTED,), S.TOWNSHIP_REVIEWED, (Role.TOWNSHIP_OFFICER,), "乡镇审核", True),
    "county-recommend": Transition((S.TOWNSHIP_REVIEWED,), S.RECOMMENDED, (Role.COUNTY_STAFF,), "县级推荐", True),
    "approve": Transition((S.RECOMMENDED,), S.APPROVED, (Role.BANK_OFFICER,), "银行审批", True),
    "reject": Transition(
        (S.SUBMITTED, S.TOWNSHIP_REVIEWED, S.RECOMMENDED, S.APPROVED), S.REJECTED,
        (Role.TOWNSHIP_OFFICER, Role.COUNTY_STAFF, Role.BANK_OFFICER), "拒绝", True,
    ),
    "disburse": Transition((S.APPROVED,), S.ACTIVE, (Role.BANK_OFFICER,), "放款"),
    "withdraw": Transition(BEFORE_DISBURSEMENT, S.WITHDRAWN, (Role.VILLAGE_CLERK, Role.COUNTY_STAFF), "撤回"),
    "extend": Transition((S.ACTIVE,), None, (Role.BANK_OFFICER,), "展期"),
    "renew": Transition((S.ACTIVE, S.CLOSED), None, (Role.VILLAGE_CLERK, Role.COUNTY_STAFF), "续贷"),
    "write-off": Transition((S.ACTIVE,), S.WRITTEN_OFF, (Role.BANK_OFFICER,), "核销"),
}  # fmt: skip
# Who may refuse at each step of the way (the reviewer of that step).
REJECTER_BY_STATUS = {
    S.SUBMITTED: Role.TOWNSHIP_OFFICER, S.TOWNSHIP_REVIEWED: Role.COUNTY_STAFF,
    S.RECOMMENDED: Role.BANK_OFFICER, S.APPROVED: Role.BANK_OFFICER,
}  # fmt: skip
WORK_ACTIONS = ("create", "submit", "township-review", "county-recommend", "approve")


def may_act(user, loan: Loan, role: str) -> bool:
    """Does the user hold `role` for this loan: over its area, or for its bank in its county?"""
    if role == Role.BANK_OFFICER:
        return serves_bank_loan(user, loan.bank_id, loan.county_id)
    return has_role_over(user, loan.area_id, (role,))


def _check_step(actor, loan: Loan, action: str) -> Transition:
    step = TRANSITIONS.get(action)
    if step is None:
        raise LoanError("invalid_transition", f"未知操作“{action}”。")
    roles = (
        (REJECTER_BY_STATUS[loan.status],)
        if action == "reject" and loan.status in REJECTER_BY_STATUS
        else step.roles
    )
    if not any(may_act(actor, loan, role) for role in roles):
        raise Forbidden(f"您的角色不能对该笔贷款执行“{step.label}”。")
    if loan.status not in step.sources:
        raise LoanError(
            "invalid_transition", f"该笔贷款当前为“{loan.get_status_display()}”，不能执行“{step.label}”。"
        )
    if step.checks_others and has_worked_on(loan, actor):
        raise LoanError(
            "same_person_checker", "审核、推荐、审批须由他人进行：您已参与该笔贷款的申请、提交或审核。"
        )
    return step


def loan_actions_for(*, user, loan: Loan) -> list[str]:
    """The actions of TRANSITIONS the user may take on the loan now, for the buttons of the loan
    page: the same role, state and maker-checker checks the transitions make (the transition
    itself may still refuse, e.g. a second extension)."""
    allowed = []
    for action, step in TRANSITIONS.items():
        if loan.status not in step.sources:
            continue
        try:
            _check_step(user, loan, action)
        except ApplicationError:
            continue
        allowed.append(action)
    return allowed


def has_worked_on(loan: Loan, actor) -> bool:
    if loan.created_by_id == actor.pk:
        return True
    return loan.events.filter(actor=actor, action__in=WORK_ACTIONS).exists()


def _lock(loan: Loan) -> Loan:
    return (
        Loan.objects.select_for_update(of=("self",))
        .select_related("household", "borrower", "enterprise", "area", "township")
        .get(pk=loan.pk)
    )


def loan_subject(loan: Loan) -> dict:
    """What the audit trail says about the loan (common.audit)."""
    return {"obj_type": "loan", "obj_id": loan.pk, "label": str(loan), "region": loan.area_id}


def _record(loan: Loan, action: str, actor, from_status: str, to_status: str, comment: str = "") -> LoanEvent:
    """The loan's own event and the audit entry of the transition."""
    audit_record(
        actor=actor, action=action, **loan_subject(loan), from_state=from_status, to_state=to_status,
        detail={"comment": comment[:200]} if comment else None,
    )  # fmt: skip
    return LoanEvent.objects.create(
        loan=loan,
        action=action,
        actor=actor,
        from_status=from_status,
        to_status=to_status,
        comment=comment[:500],
    )


def _raise_refusals(found) -> None:
    if found:
        first = found[0]
        raise LoanError(
            first.code, first.message, {"refusals": [{"code": r.code, "detail": r.message} for r in found]}
        )


# --- application -------------------------------------------------------------------------------


def benchmark_rate(term_months: int, *, on: datetime.date) -> Decimal:
    """The benchmark rate in force on `on` for a loan of `term_months`."""
    latest = BenchmarkRate.objects.filter(effective_from__lte=on).order_by("-effective_from").first()
    if latest is None:
        raise LoanError("no_benchmark_rate", f"{on:%Y-%m-%d}没有生效的基准利率，请管理员在后台录入。")
    band = (
        BenchmarkRate.objects.filter(effective_from=latest.effective_from, max_term_months__gte=term_months)
        .order_by("max_term_months")
        .first()
    )
    if band is None:
        raise LoanError("no_benchmark_rate", f"没有{term_months}个月期限对应的基准利率。")
    return band.rate


def loan_rate(
    *, county_code: str, term_months: int, enterprise: bool, requested: Decimal | None, on
) -> Decimal:
    """Household loans: the benchmark rate for the term. Enterprise loans: the bank's rate, at
    most the benchmark raised by the county's markup (default 10 %), the benchmark if none given."""
    base = benchmark_rate(term_months, on=on)
    if not enterprise or requested is None:
        return base
    if requested <= 0:
        raise LoanError("invalid", "利率须大于0。", {"rate": ["须大于0。"]})
    ceiling = (base * (1 + Decimal(policy_for(county_code, on=on).enterprise_rate_markup) / 100)).quantize(
        Decimal("0.0001")
    )
    if requested > ceiling:
        raise LoanError(
            "rate_too_high",
            f"带贫企业贷款利率不超过基准利率{base}%上浮后的{ceiling.normalize()}%。",
            {"rate": ["利率过高。"]},
        )
    return requested


@transaction.atomic
def loan_create(
    *, actor, bank, amount: Decimal, term_months: int, purpose: str, repayment_method: str,
    household=None, borrower=None, enterprise=None, other_subsidy: bool = False, rate: Decimal | None = None,
    renewed_from: Loan | None = None,
) -> Loan:  # fmt: skip
    """A draft application. Rules are checked on submit; the draft only has to make sense."""
    if (household is None) == (enterprise is None):
        raise LoanError("invalid", "贷款对象须为一个农户或一个带贫企业。")
    if household is not None:
        area, township = household.village, household.village.parent
        borrower = borrower or household.members.filter(relation="户主").first()
        if borrower is not None and borrower.household_id != household.pk:
            raise LoanError("invalid", "借款人须为本户家庭成员。", {"borrower": ["不是本户成员。"]})
    else:
        area = township = enterprise.township
    county_code = area.code[:6]
    if not has_role_over(actor, area.code, (Role.VILLAGE_CLERK, Role.COUNTY_STAFF)):
        raise Forbidden("只有村级服务站和县级服务中心可以录入贷款申请。")
    if not bank.branches.filter(counties=county_code).exists():
        raise LoanError(
            "invalid", f"{bank.name}不在本县开展扶贫小额信贷业务。", {"bank": ["请选择本县合作银行。"]}
        )
    if amount is None or money(amount) <= 0:
        raise LoanError("invalid", "贷款金额须大于0。", {"amount": ["须大于0。"]})
    if term_months < 1:
        raise LoanError("invalid", "贷款期限至少1个月。", {"term_months": ["至少1个月。"]})
    if repayment_method not in schedules.METHODS:
        raise LoanError("invalid", "未知的还款方式。", {"repayment_method": ["未知的还款方式。"]})
    day = today()
    loan = Loan.objects.create(
        household=household, borrower=borrower, enterprise=enterprise, area=area, township=township,
        county_id=county_code, bank=bank, amount=money(amount), term_months=term_months, purpose=purpose,
        repayment_method=repayment_method, other_subsidy=other_subsidy, created_by=actor,
        rate=loan_rate(county_code=county_code, term_months=term_months, enterprise=enterprise is not None,
                       requested=rate, on=day),
        renewed_from=renewed_from, renewal_count=(renewed_from.renewal_count + 1) if renewed_from else 0,
    )  # fmt: skip
    loan.loan_no = f"L{county_code}{loan.pk:07d}"
    loan.save(update_fields=["loan_no"])
    _record(loan, "create", actor, "", LoanStatus.DRAFT, f"续贷自{renewed_from}" if renewed_from else "")
    return loan


# --- the five steps ----------------------------------------------------------------------------


@transaction.atomic
def loan_transition(*, actor, loan: Loan, action: str, comment: str = "") -> Loan:
    """submit, township-review, county-recommend, approve, reject, withdraw, write-off."""
    loan = _lock(loan)
    step = _check_step(actor, loan, action)
    comment = (comment or "").strip()
    day = today()
    if action in ("reject", "write-off") and not comment:
        raise LoanError("reason_required", f"{step.label}须填写原因。", {"reason": ["请填写原因。"]})
    if action == "submit":
        _raise_refusals(refusals(Application.of(loan), on=day))
    elif action == "county-recommend":
        loan.notice_ends_on = day + datetime.timedelta(
            days=policy_for(loan.county_id, on=day).notice_period_days
        )
    elif action == "approve":
        if day < loan.notice_ends_on:
            raise LoanError(
                "notice_period_not_over", f"公示期至{loan.notice_ends_on:%Y-%m-%d}届满，届满当日起方可审批。"
            )
        _raise_refusals(refusals(Application.of(loan), on=day))
    elif action not in ("township-review", "reject", "withdraw", "write-off"):
        raise LoanError("invalid_transition", f"“{step.label}”请使用对应的办理功能。")
    previous, loan.status = loan.status, step.target
    loan.save(update_fields=["status", "notice_ends_on", "updated_at"])
    _record(loan, action, actor, previous, step.target, comment)
    return loan


@transaction.atomic
def loan_disburse(*, actor, loan: Loan, disbursed_on: datetime.date) -> Loan:
    """Money out: the schedule is fixed now, from the disbursement date."""
    loan = _lock(loan)
    _check_step(actor, loan, "disburse")
    if loan.renewed_from_id and loan.renewed_from.status != LoanStatus.CLOSED:
        raise LoanError("invalid_transition", f"续贷须先结清原贷款{loan.renewed_from}。")
    if disbursed_on > today():  # money out is recorded when it happens (and 9999-12-31 has no schedule)
        raise LoanError("invalid", "放款日期不能晚于今天。", {"disbursed_on": ["晚于今天。"]})
    approved_at = loan.events.filter(action="approve").order_by("-at").values_list("at", flat=True).first()
    if approved_at and disbursed_on < timezone.localdate(approved_at):
        raise LoanError("invalid", "放款日期不能早于审批日期。", {"disbursed_on": ["早于审批日期。"]})
    basis = policy_for(loan.county_id, on=disbursed_on).interest_day_basis
    plan = schedules.build_schedule(
        method=loan.repayment_method, principal=loan.amount, annual_rate=loan.rate, start=disbursed_on,
        term_months=loan.term_months, day_basis=basis,
    )  # fmt: skip
    Instalment.objects.bulk_create(
        Instalment(loan=loan, seq=p.seq, start_date=p.start_date, due_date=p.due_date, principal_due=p.principal_due,
                   interest_due=p.interest_due)
        for p in plan
    )  # fmt: skip
    loan.status, loan.disbursed_on = LoanStatus.ACTIVE, disbursed_on
    loan.maturity_date = schedules.maturity_date(disbursed_on, loan.term_months)
    loan.principal_outstanding = loan.amount
    loan.save(
        update_fields=["status", "disbursed_on", "maturity_date", "principal_outstanding", "updated_at"]
    )
    _record(
        loan, "disburse", actor, LoanStatus.APPROVED, LoanStatus.ACTIVE, f"放款日期{disbursed_on:%Y-%m-%d}"
    )
    return loan


@transaction.atomic
def loan_extend(*, actor, loan: Loan, months: int, reason: str) -> Loan:
    """展期: the principal still due at maturity moves to new instalments over `months` more
    months, built with the loan's method from the old maturity; they earn no subsidy."""
    loan = _lock(loan)
    _check_step(actor, loan, "extend")
    reason = (reason or "").strip()
    if not reason:
        raise LoanError("reason_required", "展期须填写原因。", {"reason": ["请填写原因。"]})
    if months < 1:
        raise LoanError("invalid", "展期至少1个月。", {"months": ["至少1个月。"]})
    policy = policy_for(loan.county_id, on=today())
    if loan.extension_count >= policy.extension_limit:
        raise LoanError(
            "extension_limit",
            f"每笔贷款最多展期{policy.extension_limit}次，该笔已展期{loan.extension_count}次。",
        )
    last = loan.instalments.order_by("-seq").first()
    moved = last.principal_due - last.principal_paid
    if moved <= 0:
        raise LoanError("invalid_transition", "到期本金已还清，无需展期。")
    last.principal_due -= moved
    last.settled = last.principal_due == last.principal_paid and last.interest_due == last.interest_paid
    last.save(update_fields=["principal_due", "settled"])
    plan = schedules.build_schedule(
        method=loan.repayment_method, principal=moved, annual_rate=loan.rate, start=loan.maturity_date,
        term_months=months, day_basis=policy.interest_day_basis, first_seq=last.seq + 1,
    )  # fmt: skip
    Instalment.objects.bulk_create(
        Instalment(loan=loan, seq=p.seq, start_date=p.start_date, due_date=p.due_date, principal_due=p.principal_due,
                   interest_due=p.interest_due, in_extension=True)
        for p in plan
    )  # fmt: skip
    old_maturity = loan.maturity_date
    loan.maturity_date = schedules.maturity_date(old_maturity, months)
    loan.extension_count += 1
    loan.save(update_fields=["maturity_date", "extension_count", "updated_at"])
    _record(loan, "extend", actor, loan.status, loan.status,
            f"展期{months}个月，到期日{old_maturity:%Y-%m-%d}→{loan.maturity_date:%Y-%m-%d}：{reason}")  # fmt: skip
    return loan


@transaction.atomic
def loan_renew(*, actor, loan: Loan, comment: str = "") -> Loan:
    """续贷: a new draft application for the same borrower, bank, amount and term. It goes through
    the five steps again; it may be disbursed once the old loan is closed."""
    loan = _lock(loan)
    _check_step(actor, loan, "renew")
    limit = policy_for(loan.county_id, on=today()).renewal_limit
    if loan.renewal_count >= limit or loan.renewals.exclude(status__in=(S.REJECTED, S.WITHDRAWN)).exists():
        raise LoanError("renewal_limit", f"每笔贷款最多续贷{limit}次。")
    renewal = loan_create(
        actor=actor, bank=loan.bank, amount=loan.amount, term_months=loan.term_months, purpose=loan.purpose,
        repayment_method=loan.repayment_method, household=loan.household, borrower=loan.borrower,
        enterprise=loan.enterprise, other_subsidy=loan.other_subsidy, rate=loan.rate if loan.enterprise_id else None,
        renewed_from=loan,
    )  # fmt: skip
    comment = (comment or "").strip()
    text = f"续贷申请{renewal}：{comment}" if comment else f"续贷申请{renewal}"
    _record(loan, "renew", actor, loan.status, loan.status, text)
    return renewal


# --- repayments --------------------------------------------------------------------------------


def may_post_repayment(user, loan: Loan) -> bool:
    return may_act(user, loan, Role.BANK_OFFICER)


@transaction.atomic
def repayment_post(
    *,
    actor,
    loan: Loan,
    amount: Decimal,
    paid_on: datetime.date,
    reference: str = "",
    channel: str = "manual",
) -> Repayment:
    """Allocate a repayment: interest first, then principal, oldest instalment first. More than
    everything still owed is refused; a loan repaid in full closes."""
    loan = _lock(loan)
    if not may_post_repayment(actor, loan):
        raise Forbidden("只有贷款银行的信贷员可以登记还款。")
    if loan.status != LoanStatus.ACTIVE:
        raise LoanError("invalid_transition", f"该笔贷款当前为“{loan.get_status_display()}”，不能登记还款。")
    amount = money(amount)
    if amount <= 0:
        raise LoanError("invalid", "还款金额须大于0。", {"amount": ["须大于0。"]})
    if paid_on > today():
        raise LoanError("invalid", "还款日期不能晚于今天。", {"paid_on": ["晚于今天。"]})
    if paid_on < loan.disbursed_on:
        raise LoanError("invalid", "还款日期不能早于放款日期。", {"paid_on": ["早于放款日期。"]})
    try:  # a zero-width character would let the same bank serial number through twice
        reference = clean_identifier(reference, "流水号")
    except ValidationError as exc:
        raise LoanError("invalid", exc.messages[0], {"reference": exc.messages}) from None
    if reference and Repayment.objects.filter(bank_id=loan.bank_id, reference=reference).exists():
        raise LoanError(
            "duplicate_reference", f"流水号{reference}已登记过，不重复入账。", {"reference": ["已登记。"]}
        )
    open_items = list(loan.instalments.select_for_update().filter(settled=False).order_by("seq"))
    owed = sum(
        (i.principal_due - i.principal_paid + i.interest_due - i.interest_paid for i in open_items),
        Decimal(0),
    )
    if amount > owed:
        raise LoanError(
            "overpayment",
            f"还款金额{amount:,}元超过尚欠本息{owed:,}元。请核对金额。",
            {"amount": ["超过尚欠本息。"]},
        )

    repayment = Repayment(loan=loan, bank_id=loan.bank_id, paid_on=paid_on, amount=amount, reference=reference,
                          channel=channel, posted_by=actor)  # fmt: skip
    allocations, left = [], amount
    for item in open_items:
        interest = min(left, item.interest_due - item.interest_paid)
        principal = min(left - interest, item.principal_due - item.principal_paid)
        if interest == principal == 0:
            continue
        item.interest_paid += interest
        item.principal_paid += principal
        item.settled = item.interest_paid == item.interest_due and item.principal_paid == item.principal_due
        allocations.append(
            RepaymentAllocation(repayment=repayment, instalment=item, interest=interest, principal=principal)
        )
        left -= interest + principal
        if left == 0:
            break
    repayment.interest_part = sum((a.interest for a in allocations), Decimal(0))
    repayment.principal_part = sum((a.principal for a in allocations), Decimal(0))
    try:
        with transaction.atomic():
            repayment.save()
    except IntegrityError:  # the same reference posted meanwhile to another loan of the bank
        raise LoanError(
            "duplicate_reference", f"流水号{reference}已登记过，不重复入账。", {"reference": ["已登记。"]}
        ) from None
    RepaymentAllocation.objects.bulk_create(allocations)
    Instalment.objects.bulk_update(
        [a.instalment for a in allocations], ["interest_paid", "principal_paid", "settled"]
    )
    Loan.objects.filter(pk=loan.pk).update(
        principal_outstanding=F("principal_outstanding") - repayment.principal_part
    )
    loan.refresh_from_db(fields=["principal_outstanding"])
    audit_record(
        actor=actor, action="repay", **loan_subject(loan), from_state=loan.status, to_state=loan.status,
        detail={"repayment": repayment.pk, "paid_on": paid_on, "amount": amount, "interest": repayment.interest_part,
                "principal": repayment.principal_part, "outstanding": loan.principal_outstanding,
                "reference": reference, "channel": channel},
    )  # fmt: skip
    if amount == owed:  # settled: the "close" transition follows in the trail
        loan.status, loan.closed_on = LoanStatus.CLOSED, paid_on
        loan.save(update_fields=["status", "closed_on", "updated_at"])
        _record(loan, "close", actor, LoanStatus.ACTIVE, LoanStatus.CLOSED, f"{paid_on:%Y-%m-%d}还清")
    return repayment


# --- post-loan checks --------------------------------------------------------------------------

CHECK_ROLE = {
    PostLoanCheck.Tier.TOWNSHIP: Role.TOWNSHIP_OFFICER,
    PostLoanCheck.Tier.COUNTY: Role.COUNTY_STAFF,
}


@transaction.atomic
def post_loan_check_record(
    *, actor, loan: Loan, tier: str, checked_on: datetime.date, finding: str, note: str = ""
) -> PostLoanCheck:
    """贷后检查. Non-productive use found at a household loan freezes the household's credit line."""
    from credit_rating.services import credit_line_freeze

    if tier not in CHECK_ROLE or not may_act(actor, loan, CHECK_ROLE[tier]):
        raise Forbidden("乡镇检查由乡镇服务站、县级检查由县级服务中心进行。")
    if loan.status not in (LoanStatus.ACTIVE, LoanStatus.CLOSED, LoanStatus.WRITTEN_OFF):
        raise LoanError("invalid_transition", "放款后才能进行贷后检查。")
    if finding != PostLoanCheck.Finding.NORMAL and not (note or "").strip():
        raise LoanError("reason_required", "发现问题须写明情况。", {"note": ["请写明情况。"]})
    if checked_on > today():  # a check is recorded once it has been made
        raise LoanError("invalid", "检查日期不能晚于今天。", {"checked_on": ["晚于今天。"]})
    check = PostLoanCheck.objects.create(
        loan=loan, tier=tier, checked_on=checked_on, finding=finding, note=(note or "").strip(), checker=actor
    )
    audit_record(
        actor=actor, action="post-loan-check", **loan_subject(loan), from_state=loan.status, to_state=loan.status,
        detail={"tier": tier, "checked_on": checked_on, "finding": finding},
    )  # fmt: skip
    if finding == PostLoanCheck.Finding.NON_PRODUCTIVE and loan.household_id:
        credit_line_freeze(
            actor=actor, household=loan.household, reason=f"贷后检查发现贷款{loan}用于非生产性用途：{note}"
        )
    return check
