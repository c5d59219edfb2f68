"""The risk-fund routes of /api/v1/ (included by config/urls.py), with the recoveries of a loan."""

from django.urls import path

from . import api

urlpatterns = [
    path("risk-funds/<str:county_code>/", api.FundDetailApi.as_view(), name="risk-fund-detail"),
    path("risk-funds/<str:county_code>/deposits/", api.FundDepositApi.as_view(), name="risk-fund-deposits"),
    path("compensation-claims/", api.ClaimListCreateApi.as_view(), name="claim-list"),
    path("compensation-claims/<int:pk>/", api.ClaimDetailApi.as_view(), name="claim-detail"),
    *(
        path(f"compensation-claims/<int:pk>/{action}/", api.claim_action_view(action), name=f"claim-{action}")
        for action in api.CLAIM_ACTIONS
    ),
    path("loans/<int:pk>/recoveries/", api.LoanRecoveriesApi.as_view(), name="loan-recoveries"),
]
