from django.urls import path

from . import pot_views, views

app_name = "subsidy"
urlpatterns = [
    path("", views.batch_list_view, name="list"),
    path("new/", views.batch_create_view, name="create"),
    path("<int:pk>/", views.batch_detail_view, name="detail"),
    path("<int:pk>/do/<slug:action>/", views.batch_action_view, name="action"),
    path("pot/", pot_views.pot_list_view, name="pots"),
    path("pot/<str:code>/", pot_views.pot_detail_view, name="pot"),
    path("pot/<str:code>/deposit/", pot_views.pot_deposit_view, name="pot-deposit"),
    path("pot/<str:code>/payout/", pot_views.pot_payout_view, name="pot-payout"),
]
