"""The policy pages (/policies/): the county's and the city's rows, proposals and their review."""

from django.urls import path

from . import views

app_name = "policies"
urlpatterns = [
    path("", views.policy_index_view, name="index"),
    path("county/<str:code>/", views.county_policy_view, name="county"),
    path("county/<str:code>/propose/", views.county_policy_propose_view, name="county-propose"),
    path("county-rows/<int:pk>/review/", views.county_policy_review_view, name="county-review"),
    path("city/<str:code>/", views.city_policy_view, name="city"),
    path("city/<str:code>/propose/", views.city_policy_propose_view, name="city-propose"),
    path("city-rows/<int:pk>/review/", views.city_policy_review_view, name="city-review"),
]
