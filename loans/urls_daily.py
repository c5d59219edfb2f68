"""Routes of the daily job and the circuit breakers under /api/v1/ (config/urls.py includes them:
`path("", include("loans.urls_daily"))` in api_v1)."""

from django.urls import path

from . import api_daily

urlpatterns = [
    path("jobs/daily/", api_daily.DailyJobStartApi.as_view(), name="jobs-daily"),
    path("breakers/", api_daily.BreakerListApi.as_view(), name="breaker-list"),
    path("breakers/<str:region_code>/resume/", api_daily.BreakerResumeApi.as_view(), name="breaker-resume"),
]
