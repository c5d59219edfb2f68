"""Reads of loans, already scoped. Region roles see the loans of their area (by division-code
prefix of the loan's village or township); bank officers see their own bank's loans."""

from django.db.models import Q, QuerySet
from django.http import Http404

from organization.scoping import prefix_q, scope_for

from .models import Breaker, Instalment, Loan, LoanStatus


def loan_scope_q(user) -> Q:
    scope = scope_for(user)
    if scope.everything:
        return Q()
    return prefix_q("area__code", scope.region_prefixes) | Q(bank_id__in=scope.bank_ids)


def loan_list(*, user, filters: dict | None = None) -> QuerySet[Loan]:
    """filters: region (code prefix), status (one or a list), bank (code), classification,
    household, enterprise, q (loan number or borrower name)."""
    filters = filters or {}
    loans = Loan.objects.filter(loan_scope_q(user)).select_related(
        "household", "borrower", "enterprise", "bank", "area"
    )
    if filters.get("region"):
        loans = loans.filter(area__code__startswith=filters["region"])
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
        q = filters["q"].strip()
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


def loan_repayments(loan: Loan):
    return loan.repayments.select_related("posted_by").order_by("paid_on", "id")


def principal_outstanding_from_ledger(loan: Loan):
    """The balance from its ledger rows (the cached Loan.principal_outstanding must equal it)."""
    from django.db.models import Sum

    if loan.status not in (LoanStatus.ACTIVE, LoanStatus.CLOSED, LoanStatus.WRITTEN_OFF):
        return loan.principal_outstanding
    paid = loan.instalments.aggregate(s=Sum("principal_paid"))["s"] or 0
    return loan.amount - paid


def tripped_breakers_for(codes) -> list[Breaker]:
    return list(Breaker.objects.filter(region_id__in=[c for c in codes if c], state=Breaker.State.TRIPPED))


def work_queue(*, user) -> dict[str, QuerySet[Loan]]:
    """What waits for the user, by the step they can take (the services check again)."""
    from organization.models import Role
    from organization.scoping import roles_of

    roles, mine = roles_of(user), loan_list(user=user)
    queue = {}
    if Role.VILLAGE_CLERK in roles or Role.COUNTY_STAFF in roles:
        queue["submit"] = mine.filter(status=LoanStatus.DRAFT)
    if Role.TOWNSHIP_OFFICER in roles:
        queue["township-review"] = mine.filter(status=LoanStatus.SUBMITTED)
    if Role.COUNTY_STAFF in roles:
        queue["county-recommend"] = mine.filter(status=LoanStatus.TOWNSHIP_REVIEWED)
    if Role.BANK_OFFICER in roles:
        queue["approve"] = mine.filter(status=LoanStatus.RECOMMENDED)
        queue["disburse"] = mine.filter(status=LoanStatus.APPROVED)
    return queue


def overdue_loans(*, user) -> QuerySet[Loan]:
    return loan_list(user=user, filters={"status": LoanStatus.ACTIVE}).filter(dpd__gt=0).order_by("-dpd")
