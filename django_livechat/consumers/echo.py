"""``ws/livechat/echo/``: a diagnostics endpoint for checking a proxy's WebSocket setup."""

from __future__ import annotations

from typing import Any

from channels.consumer import SyncConsumer
from channels.exceptions import StopConsumer

from django_livechat import protocol

SAFE_HEADERS = frozenset(
    {
        "host",
        "origin",
        "user-agent",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-real-ip",
        "sec-websocket-protocol",
        "sec-websocket-version",
    }
)


def safe_headers(scope: dict[str, Any]) -> dict[str, str]:
    """The headers of ``scope`` worth showing; never cookies or credentials."""
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", [])
        if name.decode("latin-1").lower() in SAFE_HEADERS
    }


class EchoConsumer(SyncConsumer):
    """Echoes each text frame with the path and safe headers the server received.

    A ``SyncConsumer``: it runs in a thread, needs no channel layer and touches no data.
    """

    channel_layer_alias = None  # no layer channel per connection: nothing ever sends to one

    def websocket_connect(self, message: dict[str, Any]) -> None:
        self.send({"type": "websocket.accept"})

    def websocket_receive(self, message: dict[str, Any]) -> None:
        data = message.get("text")
        if data is None:
            data = message.get("bytes", b"").decode("utf-8", "replace")
        frame = protocol.echo_frame(self.scope.get("path", ""), safe_headers(self.scope), data)
        self.send({"type": "websocket.send", "text": protocol.encode(frame)})

    def websocket_disconnect(self, message: dict[str, Any]) -> None:
        raise StopConsumer()
