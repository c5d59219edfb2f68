"""The fund in the admin: for looking things up. Every write goes through the services (the
pages and the API), so nothing is added, changed or deleted here."""

from django.contrib import admin

from common.admin import ReadOnlyAdminMixin

from .models import BankAgreement, CompensationClaim, FundEntry, Recovery


@admin.register(FundEntry)
class FundEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("county", "received_on", "kind", "amount", "source", "reference", "created_by")
    list_filter = ("kind", "county")
    date_hierarchy = "received_on"


@admin.register(BankAgreement)
class BankAgreementAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("county", "bank", "split_label", "leverage_multiple", "valid_from", "valid_until")
    list_filter = ("county", "bank")


@admin.register(CompensationClaim)
class CompensationClaimAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "loan", "county", "bank", "status", "dpd", "fund_share", "filed_at", "paid_at")
    list_filter = ("status", "county", "bank")


@admin.register(Recovery)
class RecoveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("claim", "received_on", "amount", "fund_part", "guarantee_part", "bank_part")
