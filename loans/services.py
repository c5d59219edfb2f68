"""Every write to a loan: the application, the five-step workflow (五步法) and what follows
disbursement (repayments, extension, renewal, write-off, post-loan checks).

Each transition locks the loan, checks the starting state against TRANSITIONS, the actor's role
and maker-checker, and records a LoanEvent in the same transaction.
"""

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.audit import audit_record
from common.clock import today
from common.errors import ApplicationError, Forbidden
from common.identity import clean_identifier
from common.money import money
from common.workflow import Refusal, Step, Workflow
from organization.models import Role
from organization.scoping import has_role_over, serves_bank_loan
from organization.selectors import policy_for

from . import schedules
from .eligibility import RULES, Application, duplicate_household_loan
from .models import (
    OUTSTANDING_STATUSES,
    BenchmarkRate,
    Classification,
    Instalment,
    Loan,
    LoanEvent,
    LoanStatus,
    PostLoanCheck,
    Repayment,
    RepaymentAllocation,
    WriteOffReason,
)  # fmt: skip


class LoanError(ApplicationError):
    pass


# --- the workflow table ------------------------------------------------------------------------

S = LoanStatus
BEFORE_DISBURSEMENT = (S.DRAFT, S.RETURNED, S.SUBMITTED, S.TOWNSHIP_REVIEWED, S.RECOMMENDED, S.APPROVED)
# The rules that decide whether money may go out, run on the day of each money step (eligibility).
MONEY_RULES = tuple(RULES)
VILLAGE = (Role.VILLAGE_CLERK, Role.COUNTY_STAFF)
REVIEWERS = (Role.TOWNSHIP_OFFICER, Role.COUNTY_STAFF, Role.BANK_OFFICER)
STEPS = {
    "submit": Step((S.DRAFT, S.RETURNED), S.SUBMITTED, VILLAGE, "村级提交", guards=MONEY_RULES),
    "township-review": Step((S.SUBMITTED,), S.TOWNSHIP_REVIEWED, (Role.TOWNSHIP_OFFICER,), "乡镇审核", checker=True),
    "county-recommend": Step((S.TOWNSHIP_REVIEWED,), S.RECOMMENDED, (Role.COUNTY_STAFF,), "县级推荐", checker=True),
    "approve": Step((S.RECOMMENDED,), S.APPROVED, (Role.BANK_OFFICER,), "银行审批", checker=True,
                    guards=("notice_period", *MONEY_RULES)),
    "return": Step((S.SUBMITTED, S.TOWNSHIP_REVIEWED, S.RECOMMENDED), S.RETURNED, REVIEWERS, "退回修改",
                   checker=True, reason=True),
    "reject": Step((S.SUBMITTED, S.TOWNSHIP_REVIEWED, S.RECOMMENDED, S.APPROVED), S.REJECTED, REVIEWERS, "拒绝",
                   checker=True, reason=True),
    "disburse": Step((S.APPROVED,), S.ACTIVE, (Role.BANK_OFFICER,), "放款",
                     guards=("renewed_loan_closed", "disbursement_date", *MONEY_RULES)),
    "withdraw": Step(BEFORE_DISBURSEMENT, S.WITHDRAWN, VILLAGE, "撤回"),
    "extend": Step((S.ACTIVE,), None, (Role.BANK_OFFICER,), "展期", reason=True,
                   guards=("extension_limit", "rating", "breaker")),
    "renew": Step((S.ACTIVE, S.CLOSED), None, VILLAGE, "续贷",
                  guards=("renewal_limit", "household_status", "rating", "breaker")),
    "write-off": Step((S.ACTIVE,), S.WRITE_OFF_PROPOSED, (Role.BANK_OFFICER,), "核销申请", reason=True,
                      guards=("write_off_reason", "write_off_eligible")),
    "write-off-approve": Step((S.WRITE_OFF_PROPOSED,), S.WRITTEN_OFF, (Role.BANK_OFFICER, Role.COUNTY_STAFF),
                              "核销审批", checker=True, guards=("write_off_eligible",)),
    "write-off-reject": Step((S.WRITE_OFF_PROPOSED,), S.ACTIVE, (Role.BANK_OFFICER, Role.COUNTY_STAFF),
                             "核销退回", checker=True, reason=True),
}  # fmt: skip
TRANSITIONS = STEPS  # the name pages and older callers know
# Who reviews each step, and so may return or refuse it there.
REVIEWER_BY_STATUS = {
    S.SUBMITTED: Role.TOWNSHIP_OFFICER, S.TOWNSHIP_REVIEWED: Role.COUNTY_STAFF,
    S.RECOMMENDED: Role.BANK_OFFICER, S.APPROVED: Role.BANK_OFFICER,
}  # fmt: skip
# Work on an application that keeps the worker from checking it (maker-checker).
WORK_ACTIONS = ("create", "edit", "submit", "township-review", "county-recommend", "approve")
WRITE_OFF_CHECKS = ("write-off-approve", "write-off-reject")


def may_act(user, loan: Loan, role: str) -> bool:
    """Does the user hold `role` for this loan: over its area, or for its bank in its county?"""
    if role == Role.BANK_OFFICER:
        return serves_bank_loan(user, loan.bank_id, loan.county_id)
    return has_role_over(user, loan.area_id, (role,))


def has_worked_on(loan: Loan, actor) -> bool:
    if loan.created_by_id == actor.pk:
        return True
    return loan.events.filter(actor=actor, action__in=WORK_ACTIONS).exists()


def _rule_guard(name: str):
    """A lending rule of eligibility.RULES as a guard of the workflow, judged on the step's date."""
    return lambda workflow, loan, context: RULES[name](Application.of(loan), context.on)


def _notice_period_guard(workflow, loan: Loan, context) -> list[Refusal]:
    if loan.notice_ends_on is None or context.on >= loan.notice_ends_on:
        return []
    return [
        Refusal("notice_period_not_over", f"公示期至{loan.notice_ends_on:%Y-%m-%d}届满，届满当日起方可审批。")
    ]


def _disbursement_date_guard(workflow, loan: Loan, context) -> list[Refusal]:
    """Money out is recorded when it happens: not in the future (9999-12-31 has no schedule),
    not before the bank's approval."""
    if context.on > today():
        return [Refusal("invalid", "放款日期不能晚于今天。")]
    approved_at = loan.events.filter(action="approve").order_by("-at").values_list("at", flat=True).first()
    if approved_at and context.on < timezone.localdate(approved_at):
        return [Refusal("invalid", "放款日期不能早于审批日期。")]
    return []


def _renewed_loan_closed_guard(workflow, loan: Loan, context) -> list[Refusal]:
    if loan.renewed_from_id and loan.renewed_from.status != LoanStatus.CLOSED:
        return [Refusal("invalid_transition", f"续贷须先结清原贷款{loan.renewed_from}。")]
    return []


def _extension_limit_guard(workflow, loan: Loan, context) -> list[Refusal]:
    limit = policy_for(loan.county_id, on=context.on).extension_limit
    if loan.extension_count < limit:
        return []
    return [Refusal("extension_limit", f"每笔贷款最多展期{limit}次，该笔已展期{loan.extension_count}次。")]


def _renewal_limit_guard(workflow, loan: Loan, context) -> list[Refusal]:
    limit = policy_for(loan.county_id, on=context.on).renewal_limit
    if loan.renewal_count >= limit or loan.renewals.exclude(status__in=(S.REJECTED, S.WITHDRAWN)).exists():
        return [Refusal("renewal_limit", f"每笔贷款最多续贷{limit}次。")]
    return []


def _write_off_reason_guard(workflow, loan: Loan, context) -> list[Refusal]:
    if context.inputs.get("reason_code") in WriteOffReason.values:
        return []
    listed = "；".join(f"{r.value}（{r.label}）" for r in WriteOffReason)
    return [Refusal("invalid_reason", f"请从核销事由中选择一项：{listed}。")]


def write_off_grounds(loan: Loan, *, on: datetime.date) -> str | None:
    """Why the loan may be written off (DOMAIN.md "Write-off"), or None: classified loss, overdue
    at least the policy's days, or its compensation claim paid by the fund."""
    from risk_fund.selectors import compensated

    min_dpd = policy_for(loan.county_id, on=on).write_off_min_dpd
    if loan.classification == Classification.LOSS:
        return "五级分类为损失类"
    if loan.dpd >= min_dpd:
        return f"逾期{loan.dpd}天，达到{min_dpd}天"
    if compensated(loan):
        return "风险补偿金已代偿"
    return None


def _write_off_eligible_guard(workflow, loan: Loan, context) -> list[Refusal]:
    if write_off_grounds(loan, on=context.on) is not None:
        return []
    min_dpd = policy_for(loan.county_id, on=context.on).write_off_min_dpd
    return [Refusal(
        "write_off_not_allowed",
        f"贷款{loan}为“{loan.get_classification_display()}”类、逾期{loan.dpd}天，且未经风险补偿金代偿。"
        f"只有损失类、逾期{min_dpd}天及以上或已代偿的贷款才能核销。",
    )]  # fmt: skip


class LoanWorkflow(Workflow):
    """The five steps (五步法) and what follows disbursement: STEPS is the whole table."""

    obj_type = "loan"
    model = Loan
    steps = STEPS
    guards = {name: _rule_guard(name) for name in RULES} | {
        "notice_period": _notice_period_guard,
        "disbursement_date": _disbursement_date_guard,
        "renewed_loan_closed": _renewed_loan_closed_guard,
        "extension_limit": _extension_limit_guard,
        "renewal_limit": _renewal_limit_guard,
        "write_off_reason": _write_off_reason_guard,
        "write_off_eligible": _write_off_eligible_guard,
    }
    error = LoanError
    forbidden_text = "您的角色不能对该笔贷款执行“{label}”。"
    state_text = "该笔贷款当前为“{state}”，不能执行“{label}”。"
    checker_text = "审核、推荐、审批须由他人进行：您已参与该笔贷款的申请、提交、审核或核销申请。"

    def lock(self, obj):
        return (
            Loan.objects.select_for_update(of=("self",))
            .select_related("household", "borrower", "enterprise", "area", "township", "renewed_from")
            .get(pk=obj.pk)
        )

    def holds_role(self, user, obj, role):
        return may_act(user, obj, role)

    def step_roles(self, obj, action, step):
        if action in ("return", "reject") and obj.status in REVIEWER_BY_STATUS:
            return (REVIEWER_BY_STATUS[obj.status],)
        return step.roles

    def worked_on(self, obj, user, action=""):
        if action in WRITE_OFF_CHECKS:  # the second person is anyone but the proposer
            return obj.events.filter(action="write-off", actor=user).exists()
        return has_worked_on(obj, user)

    def subject(self, obj):
        return loan_subject(obj)

    def write_event(self, obj, *, action, actor, from_state, to_state, comment):
        LoanEvent.objects.create(
            loan=obj,
            action=action,
            actor=actor,
            from_status=from_state,
            to_status=to_state,
            comment=comment[:500],
        )

    def actions_for(self, user, obj):
        """A write-off is offered only for a loan that has its grounds (a healthy loan's would
        always be refused)."""
        actions = super().actions_for(user, obj)
        if "write-off" in actions and write_off_grounds(obj, on=today()) is None:
            actions.remove("write-off")
        return actions

    def integrity_refusal(self, obj, exc):
        """The database's one-live-loan-per-household indexes, reached by a race the rule's query
        could not see (two submissions or disbursements at once)."""
        if "household" in str(exc) or "one_" in str(exc):
            return duplicate_household_loan(None)
        return None


LOAN_WORKFLOW = LoanWorkflow()


def loan_actions_for(*, user, loan: Loan) -> list[str]:
    """The actions the user may take on the loan now, for the buttons of the loan page (a guard
    may still refuse, e.g. a second extension)."""
    return LOAN_WORKFLOW.actions_for(user, loan)


def loan_subject(loan: Loan) -> dict:
    """What the audit trail says about the loan (common.audit)."""
    return {"obj_type": "loan", "obj_id": loan.pk, "label": str(loan), "region": loan.area_id}


def _record(loan: Loan, action: str, actor, from_status: str, to_status: str, comment: str = "") -> None:
    """For what is not a step of the table (creation, an edit, the close on the last repayment)."""
    LOAN_WORKFLOW.record(loan, action=action, actor=actor, from_state=from_status, to_state=to_status,
                         comment=comment)  # fmt: skip


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
    if not has_role_over(actor, area.code, VILLAGE):
        raise Forbidden("只有村级服务站和县级服务中心可以录入贷款申请。")
    _check_terms(bank=bank, county_code=county_code, amount=amount, term_months=term_months,
                 repayment_method=repayment_method)  # fmt: skip
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


def _check_terms(*, bank, county_code: str, amount, term_months: int, repayment_method: str) -> None:
    """What a draft must make sense of (the lending rules come at submission)."""
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


EDITABLE_STATUSES = (S.DRAFT, S.RETURNED)
EDITABLE_FIELDS = ("bank", "amount", "term_months", "purpose", "repayment_method", "other_subsidy", "borrower",
                   "rate")  # fmt: skip


def may_edit(user, loan: Loan) -> bool:
    return loan.status in EDITABLE_STATUSES and has_role_over(user, loan.area_id, VILLAGE)


@transaction.atomic
def loan_update(*, actor, loan: Loan, changes: dict) -> Loan:
    """The village corrects a draft, a returned application or one refused at submission (which
    stayed a draft), then submits it again. The rate follows the new term."""
    loan = LOAN_WORKFLOW.lock(loan)
    if not has_role_over(actor, loan.area_id, VILLAGE):
        raise Forbidden("只有村级服务站和县级服务中心可以修改贷款申请。")
    if loan.status not in EDITABLE_STATUSES:
        raise LoanError(
            "invalid_transition",
            f"该笔贷款当前为“{loan.get_status_display()}”，只有草稿或退回的申请可以修改。",
        )
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise LoanError("invalid", f"不能修改：{'、'.join(sorted(unknown))}。")
    if "rate" in changes and not loan.is_enterprise_loan and changes["rate"] is not None:
        raise LoanError("invalid", "户贷按基准利率，不能指定利率。", {"rate": ["仅带贫企业贷款可指定利率。"]})
    before = {field: getattr(loan, field) for field in changes}
    for field, value in changes.items():
        setattr(loan, field, money(value) if field == "amount" else value)
    if loan.borrower_id and loan.household_id and loan.borrower.household_id != loan.household_id:
        raise LoanError("invalid", "借款人须为本户家庭成员。", {"borrower": ["不是本户成员。"]})
    _check_terms(bank=loan.bank, county_code=loan.county_id, amount=loan.amount, term_months=loan.term_months,
                 repayment_method=loan.repayment_method)  # fmt: skip
    loan.rate = loan_rate(county_code=loan.county_id, term_months=loan.term_months, enterprise=loan.is_enterprise_loan,
                          requested=changes.get("rate", loan.rate if loan.is_enterprise_loan else None), on=today())  # fmt: skip
    loan.save()
    changed = {f: f"{before[f]}→{getattr(loan, f)}" for f in changes if before[f] != getattr(loan, f)}
    _record(loan, "edit", actor, loan.status, loan.status, "；".join(f"{k}：{v}" for k, v in changed.items()))
    return loan


def last_return(loan: Loan) -> LoanEvent | None:
    """The reviewer's latest return of the application (退回修改), whose reason the village fixes."""
    if loan.status != S.RETURNED:
        return None
    return loan.events.filter(action="return").select_related("actor").order_by("-at", "-id").first()


# --- the five steps and what follows ------------------------------------------------------------


def loan_transition(*, actor, loan: Loan, action: str, comment: str = "") -> Loan:
    """submit, township-review, county-recommend, approve, return, reject, withdraw, and the two
    checks of a write-off (its proposal is loan_write_off)."""
    if action in ("disburse", "extend", "renew", "write-off"):
        raise LoanError("invalid_transition", f"“{LOAN_WORKFLOW.step(action).label}”请使用对应的办理功能。")

    def change(loan: Loan) -> None:
        day = today()
        if action == "county-recommend":
            loan.notice_ends_on = day + datetime.timedelta(
                days=policy_for(loan.county_id, on=day).notice_period_days
            )
        elif action == "write-off-approve":
            loan.written_off_principal, loan.principal_outstanding = (
                loan.principal_outstanding,
                Decimal("0.00"),
            )
            loan.written_off_on = day
        elif action == "write-off-reject":
            loan.write_off_reason = ""

    return LOAN_WORKFLOW.run(actor=actor, obj=loan, action=action, comment=comment, change=change)


def loan_write_off(*, actor, loan: Loan, reason: str, comment: str = "") -> Loan:
    """核销, first step: a bank officer proposes it with a reason from WriteOffReason; a second
    person approves (write-off-approve) or sends it back (write-off-reject)."""
    reason = _write_off_reason_code(reason)
    label = WriteOffReason(reason).label if reason in WriteOffReason.values else reason
    text = f"{label}：{comment.strip()}" if (comment or "").strip() else label

    def change(loan: Loan) -> None:
        loan.write_off_reason = reason

    return LOAN_WORKFLOW.run(actor=actor, obj=loan, action="write-off", comment=text, change=change,
                             inputs={"reason_code": reason}, detail={"reason": reason})  # fmt: skip


def _write_off_reason_code(reason: str) -> str:
    """The reason's code, from its code or its Chinese label (as a form or a bank's system sends it)."""
    reason = (reason or "").strip()
    by_label = {r.label: r.value for r in WriteOffReason}
    return by_label.get(reason, reason)


def loan_disburse(*, actor, loan: Loan, disbursed_on: datetime.date) -> Loan:
    """Money out, after every lending rule passed again on the disbursement date (a village that
    tripped since approval, a fund now short, a rating lapsed): the schedule is fixed now."""

    def change(loan: Loan) -> None:
        basis = policy_for(loan.county_id, on=disbursed_on).interest_day_basis
        plan = schedules.build_schedule(
            method=loan.repayment_method, principal=loan.amount, annual_rate=loan.rate, start=disbursed_on,
            term_months=loan.term_months, day_basis=basis,
        )  # fmt: skip
        Instalment.objects.bulk_create(
            Instalment(loan=loan, seq=p.seq, start_date=p.start_date, due_date=p.due_date,
                       principal_due=p.principal_due, interest_due=p.interest_due)
            for p in plan
        )  # fmt: skip
        loan.disbursed_on = disbursed_on
        loan.maturity_date = schedules.maturity_date(disbursed_on, loan.term_months)
        loan.principal_outstanding = loan.amount

    return LOAN_WORKFLOW.run(actor=actor, obj=loan, action="disburse", on=disbursed_on, change=change,
                             comment=f"放款日期{disbursed_on:%Y-%m-%d}")  # fmt: skip


def loan_extend(*, actor, loan: Loan, months: int, reason: str) -> Loan:
    """展期: the principal still due at maturity moves to new instalments over `months` more
    months, built with the loan's method from the old maturity; they earn no subsidy."""
    if months < 1:
        raise LoanError("invalid", "展期至少1个月。", {"months": ["至少1个月。"]})
    reason = (reason or "").strip()
    if not reason:  # the workflow checks it too; the message names the field the form shows
        raise LoanError("reason_required", "展期须填写原因。", {"reason": ["请填写原因。"]})

    def change(loan: Loan) -> str:
        last = loan.instalments.order_by("-seq").first()
        moved = last.principal_due - last.principal_paid
        if moved <= 0:
            raise LoanError("invalid_transition", "到期本金已还清，无需展期。")
        last.principal_due -= moved
        last.settled = last.principal_due == last.principal_paid and last.interest_due == last.interest_paid
        last.save(update_fields=["principal_due", "settled"])
        plan = schedules.build_schedule(
            method=loan.repayment_method, principal=moved, annual_rate=loan.rate, start=loan.maturity_date,
            term_months=months, day_basis=policy_for(loan.county_id, on=today()).interest_day_basis,
            first_seq=last.seq + 1,
        )  # fmt: skip
        Instalment.objects.bulk_create(
            Instalment(loan=loan, seq=p.seq, start_date=p.start_date, due_date=p.due_date,
                       principal_due=p.principal_due, interest_due=p.interest_due, in_extension=True)
            for p in plan
        )  # fmt: skip
        old_maturity = loan.maturity_date
        loan.maturity_date = schedules.maturity_date(old_maturity, months)
        loan.extension_count += 1
        return f"展期{months}个月，到期日{old_maturity:%Y-%m-%d}→{loan.maturity_date:%Y-%m-%d}：{reason}"

    return LOAN_WORKFLOW.run(actor=actor, obj=loan, action="extend", comment=reason, change=change,
                             detail={"months": months})  # fmt: skip


def loan_renew(*, actor, loan: Loan, comment: str = "") -> Loan:
    """续贷: a new draft application for the same borrower, bank, amount and term. It goes through
    the five steps again; it may be disbursed once the old loan is closed."""
    comment = (comment or "").strip()
    made = {}

    def change(loan: Loan) -> str:
        made["renewal"] = loan_create(
            actor=actor, bank=loan.bank, amount=loan.amount, term_months=loan.term_months, purpose=loan.purpose,
            repayment_method=loan.repayment_method, household=loan.household, borrower=loan.borrower,
            enterprise=loan.enterprise, other_subsidy=loan.other_subsidy,
            rate=loan.rate if loan.enterprise_id else None, renewed_from=loan,
        )  # fmt: skip
        return f"续贷申请{made['renewal']}" + (f"：{comment}" if comment else "")

    LOAN_WORKFLOW.run(actor=actor, obj=loan, action="renew", change=change, comment=comment)
    return made["renewal"]


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
    loan = LOAN_WORKFLOW.lock(loan)
    if not may_post_repayment(actor, loan):
        raise Forbidden("只有贷款银行的信贷员可以登记还款。")
    if loan.status not in OUTSTANDING_STATUSES:
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
    # From the locked row, not F(): SQLite would subtract in floating point (test_repayment_cents).
    Loan.objects.filter(pk=loan.pk).update(
        principal_outstanding=loan.principal_outstanding - repayment.principal_part
    )
    loan.refresh_from_db(fields=["principal_outstanding"])
    audit_record(
        actor=actor, action="repay", **loan_subject(loan), from_state=loan.status, to_state=loan.status,
        detail={"repayment": repayment.pk, "paid_on": paid_on, "amount": amount, "interest": repayment.interest_part,
                "principal": repayment.principal_part, "outstanding": loan.principal_outstanding,
                "reference": reference, "channel": channel},
    )  # fmt: skip
    if amount == owed:  # settled: the "close" transition follows in the trail
        previous, loan.status, loan.closed_on = loan.status, LoanStatus.CLOSED, paid_on
        loan.save(update_fields=["status", "closed_on", "updated_at"])
        _record(loan, "close", actor, previous, LoanStatus.CLOSED, f"{paid_on:%Y-%m-%d}还清")
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
