from django.urls import path

from . import views

app_name = "risk_fund"
urlpatterns = [
    path("", views.fund_list_view, name="list"),
    path("claims/", views.claim_list_view, name="claims"),
    path("claims/new/<int:loan_id>/", views.claim_create_view, name="claim-create"),
    path("claims/<int:pk>/", views.claim_detail_view, name="claim"),
    path("claims/<int:pk>/do/<slug:action>/", views.claim_action_view, name="claim-action"),
    path("claims/<int:pk>/recoveries/", views.claim_recovery_view, name="claim-recovery"),
    path("<str:county_code>/", views.fund_detail_view, name="detail"),
    path("<str:county_code>/deposit/", views.fund_deposit_view, name="deposit"),
    path("<str:county_code>/agreements/", views.agreement_create_view, name="agreement-create"),
]
