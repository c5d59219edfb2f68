"""The subsidy routes of /api/v1/ (to be included by config/urls.py)."""

from django.urls import path

from . import api

urlpatterns = [
    path("subsidy/batches/", api.BatchListCreateApi.as_view(), name="subsidy-batch-list"),
    path("subsidy/batches/<int:pk>/", api.BatchDetailApi.as_view(), name="subsidy-batch-detail"),
    path("subsidy/batches/<int:pk>/lines/", api.BatchLinesApi.as_view(), name="subsidy-batch-lines"),
    path("subsidy/batches/<int:pk>/export.xlsx", api.BatchExportApi.as_view(), name="subsidy-batch-export"),
    *(
        path(f"subsidy/batches/<int:pk>/{action}/", api.action_view(action), name=f"subsidy-batch-{action}")
        for action in api.ACTIONS
    ),
]
