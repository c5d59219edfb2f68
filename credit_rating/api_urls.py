"""The credit-rating routes of /api/v1/ (included by config/urls.py)."""

from django.urls import path

from . import api

urlpatterns = [
    path("scorecards/current/", api.ScorecardCurrentApi.as_view(), name="scorecard-current"),
    path("ratings/", api.RatingListCreateApi.as_view(), name="rating-list"),
    path("ratings/prerate/", api.RatingPrerateApi.as_view(), name="rating-prerate"),
    path("ratings/<int:pk>/", api.RatingDetailApi.as_view(), name="rating-detail"),
    path("ratings/<int:pk>/submit/", api.RatingSubmitApi.as_view(), name="rating-submit"),
    path("ratings/<int:pk>/review/", api.RatingReviewApi.as_view(), name="rating-review"),
    path("ratings/<int:pk>/approve/", api.RatingApproveApi.as_view(), name="rating-approve"),
    path("ratings/<int:pk>/return/", api.RatingReturnApi.as_view(), name="rating-return"),
    path("ratings/<int:pk>/reject/", api.RatingRejectApi.as_view(), name="rating-reject"),
    path("ratings/<int:pk>/opinions/", api.RatingOpinionListCreateApi.as_view(), name="rating-opinions"),
    path("households/<int:pk>/rating/", api.HouseholdRatingApi.as_view(), name="household-rating"),
]
