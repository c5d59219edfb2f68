from django.urls import path

from . import views

app_name = "enterprises"
urlpatterns = [
    path("", views.enterprise_list_view, name="list"),
    path("export.xlsx", views.enterprise_export_view, name="export"),
    path("new/", views.enterprise_create_view, name="create"),
    path("<int:pk>/", views.enterprise_detail_view, name="detail"),
    path("<int:pk>/edit/", views.enterprise_edit_view, name="edit"),
    path("<int:pk>/recognize/", views.enterprise_recognize_view, name="recognize"),
    path("<int:pk>/withdraw/", views.enterprise_withdraw_view, name="withdraw"),
    path("<int:pk>/links/", views.link_create_view, name="link-create"),
    path("<int:pk>/links/<int:link_id>/end/", views.link_end_view, name="link-end"),
]
