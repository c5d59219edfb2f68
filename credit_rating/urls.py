from django.urls import path

from . import views

app_name = "credit_rating"
urlpatterns = [
    path("", views.rating_list_view, name="list"),
    path("bulk/", views.rating_bulk_view, name="bulk"),
    path("expiring/", views.rating_expiring_view, name="expiring"),
    path("coverage/", views.rating_coverage_view, name="coverage"),
    path("prerate/", views.rating_prerate_view, name="prerate"),
    path("new/<int:household_id>/", views.rating_create_view, name="create"),
    path("<int:pk>/", views.rating_detail_view, name="detail"),
    path("<int:pk>/edit/", views.rating_edit_view, name="edit"),
]
