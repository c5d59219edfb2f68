from django.urls import path

from . import views

app_name = "loans"
urlpatterns = [
    path("", views.loan_list_view, name="list"),
    path("queue/", views.loan_queue_view, name="queue"),
    path("breakers/", views.breaker_list_view, name="breakers"),
    path("breakers/<str:region_code>/resume/", views.breaker_resume_view, name="breaker-resume"),
    path("new/", views.loan_create_view, name="create"),
    path("<int:pk>/", views.loan_detail_view, name="detail"),
    path("<int:pk>/edit/", views.loan_edit_view, name="edit"),
    path("<int:pk>/do/<slug:action>/", views.loan_action_view, name="action"),
    path("<int:pk>/repayments/", views.loan_repayment_view, name="repayment"),
    path("<int:pk>/checks/", views.loan_check_view, name="check"),
]
