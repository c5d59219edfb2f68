from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from common import job_api
from common.schema_views import CachedSpectacularAPIView, SwaggerSplitView
from common.security import content_security_policy
from enterprises import api as enterprise_api
from households import api as household_api
from imports import api as import_api
from organization import api as org_api

api_v1 = [
    path("auth/token/", org_api.TokenApi.as_view(), name="auth-token"),
    path("auth/logout/", org_api.LogoutApi.as_view(), name="auth-logout"),
    path("auth/password/", org_api.PasswordChangeApi.as_view(), name="auth-password"),
    path("me/", org_api.MeApi.as_view(), name="me"),
    path("regions/", org_api.RegionListApi.as_view(), name="region-list"),
    path("regions/<str:code>/", org_api.RegionDetailApi.as_view(), name="region-detail"),
    path("banks/", org_api.BankListApi.as_view(), name="bank-list"),
    path("users/", org_api.UserCreateApi.as_view(), name="user-create"),
    path("policies/", org_api.PolicyListCreateApi.as_view(), name="policy-list"),
    path("policies/current/", org_api.PolicyCurrentApi.as_view(), name="policy-current"),
    path("policies/<int:pk>/approve/", org_api.policy_approve_view, name="policy-approve"),
    path("policies/<int:pk>/reject/", org_api.policy_reject_view, name="policy-reject"),
    path("city-policies/", org_api.CityPolicyListCreateApi.as_view(), name="city-policy-list"),
    path("city-policies/<int:pk>/approve/", org_api.city_policy_approve_view, name="city-policy-approve"),
    path("city-policies/<int:pk>/reject/", org_api.city_policy_reject_view, name="city-policy-reject"),
    path("households/", household_api.HouseholdListCreateApi.as_view(), name="household-list"),
    path("households/export.xlsx", household_api.HouseholdExportApi.as_view(), name="household-export"),
    path("households/<int:pk>/", household_api.HouseholdDetailApi.as_view(), name="household-detail"),
    path("households/<int:pk>/pii/", household_api.HouseholdPiiApi.as_view(), name="household-pii"),
    path("imports/", import_api.ImportCreateApi.as_view(), name="import-create"),
    path(
        "imports/templates/<slug:kind>.xlsx", import_api.ImportTemplateApi.as_view(), name="import-template"
    ),
    path("imports/<int:pk>/", import_api.ImportDetailApi.as_view(), name="import-detail"),
    path(
        "imports/<int:pk>/error-report.xlsx",
        import_api.ImportErrorReportApi.as_view(),
        name="import-error-report",
    ),
    path("enterprises/", enterprise_api.EnterpriseListCreateApi.as_view(), name="enterprise-list"),
    path("enterprises/<int:pk>/", enterprise_api.EnterpriseDetailApi.as_view(), name="enterprise-detail"),
    path(
        "enterprises/<int:pk>/recognize/",
        enterprise_api.EnterpriseRecognizeApi.as_view(),
        name="enterprise-recognize",
    ),
    path(
        "enterprises/<int:pk>/withdraw-recognition/",
        enterprise_api.EnterpriseWithdrawRecognitionApi.as_view(),
        name="enterprise-withdraw-recognition",
    ),
    path(
        "enterprises/<int:pk>/links/",
        enterprise_api.EnterpriseLinkListCreateApi.as_view(),
        name="enterprise-links",
    ),
    path(
        "enterprises/<int:pk>/links/<int:link_id>/end/",
        enterprise_api.EnterpriseLinkEndApi.as_view(),
        name="enterprise-link-end",
    ),
    path(
        "enterprises/<int:pk>/eligibility/",
        enterprise_api.EnterpriseEligibilityApi.as_view(),
        name="enterprise-eligibility",
    ),
    path("", include("credit_rating.api_urls")),
    path("", include("loans.api_urls")),
    path("", include("loans.urls_daily")),
    path("", include("subsidy.api_urls")),
    path("", include("risk_fund.api_urls")),
    path("", include("reporting.api_urls")),
    path("jobs/<int:pk>/", job_api.JobDetailApi.as_view(), name="job-detail"),
    path("schema/", CachedSpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file of its own (no inline <script>).
    path(
        "docs/",
        content_security_policy(settings.CONTENT_SECURITY_POLICY_API_DOCS)(
            SwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("", include("organization.urls")),
    path("", include("reporting.urls")),
    path("policies/", include("organization.policy_urls")),
    path("households/", include("households.urls")),
    path("imports/", include("imports.urls")),
    path("ratings/", include("credit_rating.urls")),
    path("enterprises/", include("enterprises.urls")),
    path("loans/", include("loans.urls")),
    path("subsidy/", include("subsidy.urls")),
    path("risk-fund/", include("risk_fund.urls")),
]
