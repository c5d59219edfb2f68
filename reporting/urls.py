from django.urls import include, path

from . import views

dashboard_urls = (
    [
        path("", views.dashboard_view, name="index"),
        path("assessment/", views.assessment_view, name="assessment"),
        path("assessment/export.xlsx", views.assessment_export_view, name="assessment-export"),
    ],
    "dashboard",
)

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", include(dashboard_urls)),
]
