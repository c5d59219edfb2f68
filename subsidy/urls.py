from django.urls import path

from . import views

app_name = "subsidy"
urlpatterns = [
    path("", views.batch_list_view, name="list"),
    path("new/", views.batch_create_view, name="create"),
    path("<int:pk>/", views.batch_detail_view, name="detail"),
    path("<int:pk>/do/<slug:action>/", views.batch_action_view, name="action"),
]
