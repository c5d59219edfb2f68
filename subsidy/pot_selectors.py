"""Reads of the city's subsidy pot (贴息资金池): who may read which pot, its balance (the sum of
its rows, never stored) and its ledger. The city's finance office reads the city's pot and its
counties'; county staff their county's; admins all. Outside the user's area: 404; a role inside
it that the pot is not for (township, village, bank): 403."""

from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, Sum
from django.http import Http404

from common.money import money
from organization.models import Region, Role
from organization.scoping import has_role_over
from organization.selectors import region_get_for_user, region_list

from .models import BatchStatus, SettlementBatch, SubsidyPotEntry

POT_ROLES = (Role.CITY_FINANCE, Role.COUNTY_STAFF)


def may_read_pot(user, region_code: str) -> bool:
    return has_role_over(user, region_code, POT_ROLES)


def pot_region_for_user(*, user, code: str) -> Region:
    region = region_get_for_user(user=user, code=code)  # 404 outside the user's own area
    if region.level not in (Region.Level.CITY, Region.Level.COUNTY):
        raise Http404
    if not may_read_pot(user, region.code):
        raise PermissionDenied
    return region


def pot_regions(*, user) -> list[Region]:
    """The pots the user may read: cities and counties of the user's own area."""
    regions = region_list(user=user).filter(level__in=(Region.Level.CITY, Region.Level.COUNTY))
    return [r for r in regions if may_read_pot(user, r.code)]


def pot_balances(codes) -> dict[str, Decimal]:
    rows = (
        SubsidyPotEntry.objects.filter(region_id__in=list(codes))
        .values_list("region_id")
        .annotate(s=Sum("amount"))
    )
    return {code: money(total or 0) for code, total in rows.order_by()}


def pot_balance(region_code: str) -> Decimal:
    return pot_balances([region_code]).get(region_code, money(0))


def pot_ledger(region_code: str) -> QuerySet[SubsidyPotEntry]:
    return (
        SubsidyPotEntry.objects.filter(region_id=region_code)
        .select_related("created_by", "batch__bank")
        .order_by("-entry_date", "-id")
    )


def payable_batches(county_code: str) -> QuerySet[SettlementBatch]:
    """The county's paid batches without a pot payout yet."""
    return (
        SettlementBatch.objects.filter(
            county_id=county_code, status=BatchStatus.PAID, pot_payout__isnull=True
        )
        .select_related("bank")
        .order_by("-paid_on", "-id")
    )
