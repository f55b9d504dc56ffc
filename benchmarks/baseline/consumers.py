"""The Channels tutorial's chat consumer, as most Channels chats are written.

Joins one group per room on connect; on every received frame calls ``group_send`` with the body;
each consumer's handler runs ``json.dumps`` for its own socket. It stores nothing. It speaks just
enough of django_livechat's protocol for the same benchmark clients to drive both servers: it
echoes ``{"type": "message", "id", "room", "body", "client_id"}``, where ``id`` is a per-room
counter of this server process (so lost and duplicated messages are counted the same way).
"""

from __future__ import annotations

import collections
import json

from channels.generic.websocket import AsyncWebsocketConsumer

_last_id: collections.Counter[str] = collections.Counter()  # room -> last id, this process


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.room = self.scope["url_route"]["kwargs"]["room"]
        self.group = f"chat_{self.room}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        data = json.loads(text_data)
        if data.get("type") != "message":
            return
        _last_id[self.room] += 1
        await self.channel_layer.group_send(
            self.group,
            {
                "type": "chat.message",
                "id": _last_id[self.room],
                "body": data["body"],
                "client_id": data["client_id"],
            },
        )

    async def chat_message(self, event: dict) -> None:
        await self.send(
            text_data=json.dumps(
                {
                    "type": "message",
                    "id": event["id"],
                    "room": self.room,
                    "body": event["body"],
                    "client_id": event["client_id"],
                }
            )
        )
