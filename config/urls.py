from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from households import api as household_api
from organization import api as org_api

api_v1 = [
    path("auth/token/", org_api.TokenApi.as_view(), name="auth-token"),
    path("me/", org_api.MeApi.as_view(), name="me"),
    path("regions/", org_api.RegionListApi.as_view(), name="region-list"),
    path("regions/<str:code>/", org_api.RegionDetailApi.as_view(), name="region-detail"),
    path("banks/", org_api.BankListApi.as_view(), name="bank-list"),
    path("users/", org_api.UserCreateApi.as_view(), name="user-create"),
    path("policies/", org_api.PolicyListCreateApi.as_view(), name="policy-list"),
    path("policies/current/", org_api.PolicyCurrentApi.as_view(), name="policy-current"),
    path("households/", household_api.HouseholdListCreateApi.as_view(), name="household-list"),
    path("households/<int:pk>/", household_api.HouseholdDetailApi.as_view(), name="household-detail"),
    path("households/<int:pk>/pii/", household_api.HouseholdPiiApi.as_view(), name="household-pii"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("", include("organization.urls")),
    path("", include("reporting.urls")),
    path("households/", include("households.urls")),
]
