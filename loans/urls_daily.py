"""Routes of the circuit breakers under /api/v1/ (config/urls.py includes them:
`path("", include("loans.urls_daily"))` in api_v1). The daily job's POST /jobs/daily/ is in
reporting.api_urls."""

from django.urls import path

from . import api_daily

urlpatterns = [
    path("breakers/", api_daily.BreakerListApi.as_view(), name="breaker-list"),
    path("breakers/<str:region_code>/resume/", api_daily.BreakerResumeApi.as_view(), name="breaker-resume"),
]
