"""The reporting routes of /api/v1/ (config/urls.py includes them: `path("", include("reporting.api_urls"))`
in api_v1): dashboards, assessment, their exports, and the daily job, which ends with the rollups."""

from django.urls import path

from . import api

urlpatterns = [
    path("dashboard/", api.DashboardApi.as_view(), name="dashboard"),
    path("dashboard/trend/", api.DashboardTrendApi.as_view(), name="dashboard-trend"),
    path("dashboard/export.xlsx", api.DashboardExportApi.as_view(), name="dashboard-export"),
    path("assessment/", api.AssessmentApi.as_view(), name="assessment"),
    path("reports/monthly.xlsx", api.MonthlyReportApi.as_view(), name="report-monthly"),
    path("jobs/daily/", api.DailyJobStartApi.as_view(), name="jobs-daily"),
]
