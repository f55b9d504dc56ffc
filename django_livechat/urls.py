"""HTTP URLs; include them with ``path("chat/", include("django_livechat.urls"))``."""

from django.urls import path

from django_livechat import views

app_name = "livechat"

urlpatterns = [
    path("", views.room_list, name="room-list"),
    path("inbox/", views.inbox_page, name="inbox"),
    path("rooms/<slug:slug>/", views.room_detail, name="room"),
    path("rooms/<slug:slug>/history/", views.history, name="history"),
    path("support/start/", views.support_start, name="support-start"),
    path("support/current/", views.support_current, name="support-current"),
    path("console/", views.console, name="console"),
]
