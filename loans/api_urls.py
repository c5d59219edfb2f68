"""The loan routes of /api/v1/ (included by config/urls.py)."""

from django.urls import path

from . import api

urlpatterns = [
    path("loans/", api.LoanListCreateApi.as_view(), name="loan-list"),
    path("loans/<int:pk>/", api.LoanDetailApi.as_view(), name="loan-detail"),
    path("loans/<int:pk>/schedule/", api.LoanScheduleApi.as_view(), name="loan-schedule"),
    path("loans/<int:pk>/eligibility/", api.LoanEligibilityApi.as_view(), name="loan-eligibility"),
    path("loans/<int:pk>/repayments/", api.LoanRepaymentsApi.as_view(), name="loan-repayments"),
    path("loans/<int:pk>/checks/", api.LoanChecksApi.as_view(), name="loan-checks"),
    *(
        path(f"loans/<int:pk>/{action}/", api.action_view(action), name=f"loan-{action}")
        for action in api.ACTIONS
    ),
]
