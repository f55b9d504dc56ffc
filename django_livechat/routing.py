"""WebSocket routes; include them in your ``URLRouter``::

from django_livechat.routing import websocket_urlpatterns
"""

from django.urls import path

from django_livechat.consumers import EchoConsumer, InboxConsumer, RoomConsumer, StaffConsumer

websocket_urlpatterns = [
    path("ws/livechat/rooms/<slug:slug>/", RoomConsumer.as_asgi(), name="livechat-room"),
    path("ws/livechat/admin/", StaffConsumer.as_asgi(), name="livechat-staff"),
    path("ws/livechat/inbox/", InboxConsumer.as_asgi(), name="livechat-inbox"),
    path("ws/livechat/echo/", EchoConsumer.as_asgi(), name="livechat-echo"),
]

STAFF_WS_PATH = "/ws/livechat/admin/"
INBOX_WS_PATH = "/ws/livechat/inbox/"


ROOM_WS_PREFIX = "/ws/livechat/rooms/"


def room_ws_path(slug: str) -> str:
    """The WebSocket path of a room, as the JS client needs it."""
    return f"{ROOM_WS_PREFIX}{slug}/"
