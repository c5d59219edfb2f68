from django.urls import path

from . import views

app_name = "households"
urlpatterns = [
    path("", views.household_list_view, name="list"),
    path("export.xlsx", views.household_export_view, name="export"),
    path("new/", views.household_create_view, name="create"),
    path("<int:pk>/", views.household_detail_view, name="detail"),
    path("<int:pk>/edit/", views.household_edit_view, name="edit"),
]
