"""Reads of loans, already scoped. Region roles see the loans of their area (by division-code
prefix of the loan's village or township); bank officers see their own bank's loans in the counties
their branch serves (organization.scoping.bank_loans_q)."""

from django.db.models import Q, QuerySet
from django.http import Http404

from common.audit import audit_trail
from common.identity import search_term
from organization.models import Role, code_prefix
from organization.scoping import bank_loans_q, roles_of, scope_for

from .models import Breaker, Instalment, Loan, LoanEvent, LoanStatus, PostLoanCheck


def in_area_q(prefix: str) -> Q:
    """Loans of the region whose codes start with `prefix`. A county, township or village is an
    equality on the loan's own county, township or area column (indexed, and cheap to count on
    PostgreSQL, where LIKE cannot use the index under a non-C collation); a city or province
    is a prefix of the county column."""
    column = {6: "county_id", 9: "township_id", 12: "area_id"}.get(len(prefix))
    return Q(**{column: prefix}) if column else Q(county__code__startswith=prefix)


def loan_scope_q(user) -> Q:
    scope = scope_for(user)
    if scope.everything:
        return Q()
    q = bank_loans_q(scope)
    for prefix in sorted(scope.region_prefixes):
        q |= in_area_q(prefix)
    return q


def loan_list(*, user, filters: dict | None = None) -> QuerySet[Loan]:
    """filters: region (code prefix), status (one or a list), bank (code), classification,
    household, enterprise, q (loan number or borrower name)."""
    filters = filters or {}
    loans = Loan.objects.filter(loan_scope_q(user)).select_related(
        "household", "borrower", "enterprise", "bank", "area"
    )
    if filters.get("region"):
        loans = loans.filter(in_area_q(code_prefix(filters["region"])))
    status = filters.get("status")
    if status:
        loans = loans.filter(status__in=status if isinstance(status, (list, tuple)) else [status])
    if filters.get("bank"):
        loans = loans.filter(bank__code=filters["bank"])
    if filters.get("classification"):
        loans = loans.filter(classification=filters["classification"], status=LoanStatus.ACTIVE)
    if filters.get("household"):
        loans = loans.filter(household_id=filters["household"])
    if filters.get("enterprise"):
        loans = loans.filter(enterprise_id=filters["enterprise"])
    if filters.get("q"):
        q = search_term(filters["q"])
        loans = loans.filter(
            Q(loan_no__iexact=q) | Q(household__head_name__startswith=q) | Q(enterprise__name__contains=q)
        )
    return loans.order_by("-id")


def loan_get_for_user(*, user, pk) -> Loan:
    """The loan, or 404 exactly like a missing one when it is outside the user's scope."""
    try:
        return loan_list(user=user).get(pk=pk)
    except (Loan.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def loan_schedule(loan: Loan) -> QuerySet[Instalment]:
    return loan.instalments.order_by("seq")


def loan_events(loan: Loan):
    return loan.events.select_related("actor").order_by("at", "id")


def loan_audit_trail(loan: Loan):
    """The loan's audit trail, oldest first: its transitions, repayments, classification changes
    and post-loan checks (common.audit). The loan itself has been scoped by the caller."""
    return audit_trail(obj_type="loan", obj_id=loan.pk)


def loan_repayments(loan: Loan):
    return loan.repayments.select_related("posted_by").order_by("paid_on", "id")


def principal_outstanding_from_ledger(loan: Loan):
    """The balance from its ledger rows: disbursed − principal repaid − principal written off (the
    cached Loan.principal_outstanding must equal it)."""
    from django.db.models import Sum

    if loan.disbursed_on is None:
        return loan.principal_outstanding
    paid = loan.instalments.aggregate(s=Sum("principal_paid"))["s"] or 0
    return loan.amount - paid - loan.written_off_principal


def tripped_breakers_for(codes) -> list[Breaker]:
    return list(Breaker.objects.filter(region_id__in=[c for c in codes if c], state=Breaker.State.TRIPPED))


# The steps of the work queue: the action, the status it starts from, the roles that take it.
QUEUE_STEPS = (
    ("submit", LoanStatus.DRAFT, (Role.VILLAGE_CLERK, Role.COUNTY_STAFF)),
    ("township-review", LoanStatus.SUBMITTED, (Role.TOWNSHIP_OFFICER,)),
    ("county-recommend", LoanStatus.TOWNSHIP_REVIEWED, (Role.COUNTY_STAFF,)),
    ("approve", LoanStatus.RECOMMENDED, (Role.BANK_OFFICER,)),
    ("disburse", LoanStatus.APPROVED, (Role.BANK_OFFICER,)),
    ("write-off-approve", LoanStatus.WRITE_OFF_PROPOSED, (Role.BANK_OFFICER, Role.COUNTY_STAFF)),
)


def _queue_steps(user) -> list[tuple]:
    roles = roles_of(user)
    return [step for step in QUEUE_STEPS if roles & set(step[2])]


def work_queue(*, user) -> dict[str, QuerySet[Loan]]:
    """What waits for the user, by the step they can take (the services check again). The village's
    drafts come with the applications returned to it for correction, which it submits again."""
    mine = loan_list(user=user)
    queue = {}
    for action, status, _ in _queue_steps(user):
        statuses = (status, LoanStatus.RETURNED) if action == "submit" else (status,)
        queue[action] = mine.filter(status__in=statuses)
    return queue


def work_queue_count(*, user) -> int:
    """How many loans wait for the user, in one query (the menu's badge)."""
    statuses = [status for _, status, _ in _queue_steps(user)]
    return loan_list(user=user).filter(status__in=statuses).count() if statuses else 0


def loans_worked_on(*, user, loan_ids) -> set[int]:
    """Those of `loan_ids` the user created, submitted or reviewed, in one query: maker-checker
    keeps them from the user's next steps (services.has_worked_on, for a list)."""
    from .services import WORK_ACTIONS

    events = LoanEvent.objects.filter(loan_id__in=list(loan_ids), actor=user, action__in=WORK_ACTIONS)
    return set(events.values_list("loan_id", flat=True))


def loan_checks(loan: Loan) -> QuerySet[PostLoanCheck]:
    return loan.checks.select_related("checker").order_by("-checked_on", "-id")


def overdue_loans(*, user) -> QuerySet[Loan]:
    return loan_list(user=user, filters={"status": LoanStatus.ACTIVE}).filter(dpd__gt=0).order_by("-dpd")
