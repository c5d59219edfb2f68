"""The fund in the admin: for looking things up. Every write goes through the services (the
pages and the API), so nothing is added, changed or deleted here."""

from django.contrib import admin

from .models import BankAgreement, CompensationClaim, FundEntry, Recovery


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(FundEntry)
class FundEntryAdmin(ReadOnly):
    list_display = ("county", "received_on", "kind", "amount", "source", "reference", "created_by")
    list_filter = ("kind", "county")
    date_hierarchy = "received_on"


@admin.register(BankAgreement)
class BankAgreementAdmin(ReadOnly):
    list_display = ("county", "bank", "split_label", "leverage_multiple", "valid_from", "valid_until")
    list_filter = ("county", "bank")


@admin.register(CompensationClaim)
class CompensationClaimAdmin(ReadOnly):
    list_display = ("id", "loan", "county", "bank", "status", "dpd", "fund_share", "filed_at", "paid_at")
    list_filter = ("status", "county", "bank")


@admin.register(Recovery)
class RecoveryAdmin(ReadOnly):
    list_display = ("claim", "received_on", "amount", "fund_part", "guarantee_part", "bank_part")
