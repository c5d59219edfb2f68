"""Reads of the household file, always scoped to the user."""

from django.db.models import Q, QuerySet
from django.http import Http404

from organization.models import code_prefix
from organization.scoping import area_q

from .models import Household


def household_list(*, user, filters: dict | None = None) -> QuerySet[Household]:
    """filters: region (a code; its subtree), status, q (head name or 户编号, prefix match)."""
    filters = filters or {}
    qs = Household.objects.filter(area_q(user, "village__code")).select_related("village")
    if filters.get("region"):
        qs = qs.filter(village__code__startswith=code_prefix(filters["region"]))
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("q"):
        term = filters["q"].strip()
        qs = qs.filter(Q(head_name__startswith=term) | Q(household_no__startswith=term))
    return qs.order_by("village_id", "household_no")


def household_get_for_user(*, user, pk) -> Household:
    """The household if the user may see it; 404 for out-of-scope and missing alike."""
    try:
        return (
            Household.objects.filter(area_q(user, "village__code"))
            .select_related("village__parent__parent")
            .prefetch_related("members")
            .get(pk=pk)
        )
    except (Household.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
