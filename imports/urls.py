from django.urls import path

from . import views

app_name = "imports"
urlpatterns = [
    path("", views.import_page_view, name="list"),
    path("<int:pk>/", views.import_detail_view, name="detail"),
    path("<int:pk>/commit/", views.import_commit_view, name="commit"),
    path("<int:pk>/error-report.xlsx", views.import_error_report_view, name="error-report"),
    path("templates/<slug:kind>.xlsx", views.import_template_view, name="template"),
]
