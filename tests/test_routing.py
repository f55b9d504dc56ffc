"""WebSocket routes and the paths the JS client is given."""

from __future__ import annotations

import pytest

from django_livechat.consumers import EchoConsumer, RoomConsumer, StaffConsumer
from django_livechat.routing import STAFF_WS_PATH, room_ws_path, websocket_urlpatterns


def resolve(path: str):
    """Resolve like channels' URLRouter: the scope path without its leading slash."""
    for pattern in websocket_urlpatterns:
        match = pattern.resolve(path.lstrip("/"))
        if match:
            return match.func.consumer_class, match.kwargs
    return None


@pytest.mark.parametrize(
    ("path", "consumer", "kwargs"),
    [
        ("/ws/livechat/rooms/lobby/", RoomConsumer, {"slug": "lobby"}),
        ("/ws/livechat/rooms/support-9f2a_x/", RoomConsumer, {"slug": "support-9f2a_x"}),
        ("/ws/livechat/echo/", EchoConsumer, {}),
        ("/ws/livechat/admin/", StaffConsumer, {}),
    ],
)
def test_paths_resolve_to_their_consumers(path, consumer, kwargs):
    assert resolve(path) == (consumer, kwargs)


@pytest.mark.parametrize(
    "path",
    [
        "/ws/livechat/rooms/",
        "/ws/livechat/rooms/lobby",
        "/ws/livechat/rooms/a b/",
        "/ws/livechat/rooms/lobby/extra/",
        "/ws/livechat/echo/x/",
        "/livechat/echo/",
    ],
)
def test_other_paths_do_not_resolve(path):
    assert resolve(path) is None


def test_room_ws_path_resolves_to_the_room():
    assert room_ws_path("lobby") == "/ws/livechat/rooms/lobby/"
    assert resolve(room_ws_path("lobby")) == (RoomConsumer, {"slug": "lobby"})


def test_staff_ws_path_resolves_to_the_console():
    assert resolve(STAFF_WS_PATH) == (StaffConsumer, {})


def test_routes_are_named():
    names = {pattern.name for pattern in websocket_urlpatterns}
    assert names == {"livechat-room", "livechat-staff", "livechat-inbox", "livechat-echo"}
