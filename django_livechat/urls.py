"""HTTP URLs; include them with ``path("chat/", include("django_livechat.urls"))``."""

from django.urls import path

from django_livechat import (
    attachment_views,
    member_views,
    notification_views,
    push_views,
    views,
)

app_name = "livechat"

urlpatterns = [
    path("", views.room_list, name="room-list"),
    path("rooms/new/", member_views.room_create, name="room-create"),
    path("inbox/", views.inbox_page, name="inbox"),
    path("rooms/<slug:slug>/", views.room_detail, name="room"),
    path("rooms/<slug:slug>/history/", views.history, name="history"),
    path("rooms/<slug:slug>/members/", member_views.members, name="members"),
    path("rooms/<slug:slug>/attachments/", attachment_views.upload, name="attachments"),
    path("rooms/<slug:slug>/attachments/<int:pk>/", attachment_views.serve, name="attachment"),
    path(
        "rooms/<slug:slug>/attachments/<int:pk>/thumbnail/",
        attachment_views.thumbnail,
        name="attachment-thumbnail",
    ),
    path("rooms/<slug:slug>/messages/<int:seq>/revisions/", views.revisions, name="revisions"),
    path("users/", member_views.users, name="users"),
    path("direct/", member_views.direct, name="direct"),
    path("support/start/", views.support_start, name="support-start"),
    path("support/current/", views.support_current, name="support-current"),
    path("console/", views.console, name="console"),
    path("notifications/", notification_views.notification_settings, name="notifications"),
    path("unsubscribe/<str:token>/", notification_views.unsubscribe, name="unsubscribe"),
    path("push/subscription/", push_views.subscription, name="push-subscription"),
    path("push/subscription/renew/", push_views.renew, name="push-renew"),
    path("sw.js", push_views.service_worker, name="service-worker"),
]
