"""``ws/livechat/admin/``: the staff console's live queue, claims, presence and moderation.

A sync consumer (``JsonWebsocketConsumer``), on purpose: it carries few frames and does much
database work for each (queue summaries, assignments, audit entries), so plain Django code in
the consumer's thread reads better than a ``database_sync_to_async`` hop per query, and blocks
no event loop. The channel layer (``LIVECHAT["CHANNEL_LAYER"]``, where the notices are sent) is
reached with ``async_to_sync``; while it is down the console still opens and gets its queue, and
it gets the queue again once it has joined the staff group (``ConsumerLife``).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.generic.websocket import JsonWebsocketConsumer
from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from django_livechat import events, identity, moderation, protocol, support
from django_livechat.consumers.base import ConsumerLife
from django_livechat.fanout import get_hub
from django_livechat.models import Conversation
from django_livechat.permissions import user_is_staff
from django_livechat.protocol import Close, Code, ProtocolError


class StaffConsumer(ConsumerLife, JsonWebsocketConsumer):
    """Staff only: checked on connect and again before every action."""

    user: Any = None  # the staff member, once accepted
    refused = False  # closed out since connecting (demoted)

    def connect(self) -> None:
        self.accept()  # then close with a code: a refusal before accept is a bare HTTP 403
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            self.close(code=Close.LOGIN_REQUIRED)
            return
        if not user_is_staff(user):
            self.close(code=Close.FORBIDDEN)
            return
        self.user = user
        async_to_sync(self.join_group)(events.STAFF_GROUP)
        support.staff_seen(user, self.channel_name, "online")
        self._send_queue()
        support.staff_presence_changed()

    def _send_queue(self) -> None:
        queue = support.queue(self.user)
        self.send_json(
            protocol.queue_frame(identity.user_author(self.user), queue, support.staff_list())
        )

    def disconnect(self, code: int) -> None:
        if self.user is None:
            return
        support.staff_gone(self.channel_name)
        support.staff_presence_changed()

    def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.user is None or self.refused:
            return
        try:
            command = protocol.parse(text_data, bytes_data, protocol.STAFF_PARSERS)
            if self._still_staff():
                getattr(self, f"on_{command.type}")(command)
        except ProtocolError as error:
            self.send_json(error.frame())

    def _still_staff(self) -> bool:
        """Read the user again: one demoted or deactivated since connecting is closed (4403),
        whether it sends a frame or only receives the queue's updates."""
        user = get_user_model().objects.filter(pk=self.user.pk).first()
        if user_is_staff(user):
            self.user = user
            return True
        self.refused = True  # nothing more is handled or sent on this socket
        self.close(code=Close.FORBIDDEN)
        return False

    # -- frames from the console ----------------------------------------------------------

    def on_ping(self, command: protocol.Ping) -> None:
        support.staff_seen(self.user, self.channel_name)
        self.send_json(protocol.pong_frame(command.ts))

    def on_status(self, command: protocol.StaffStatus) -> None:
        support.staff_seen(self.user, self.channel_name, command.status)
        support.staff_presence_changed()

    def _conversation(self, command: protocol.ConversationAction) -> Conversation:
        conversation = (
            Conversation.objects.select_related("room", "assignee")
            .filter(room__slug=command.conversation)
            .first()
        )
        if conversation is None:
            raise ProtocolError(Code.NOT_FOUND, _("No such conversation."))
        return conversation

    def on_claim(self, command: protocol.ConversationAction) -> None:
        support.set_assignee(self._conversation(command), self.user, self.user)

    def on_assign(self, command: protocol.ConversationAction) -> None:
        conversation = self._conversation(command)
        assignee = None
        if command.user is not None:
            assignee = get_user_model().objects.filter(pk=command.user).first()
            if not user_is_staff(assignee):
                raise ProtocolError(Code.INVALID_FRAME, _("Conversations go to staff members."))
        support.set_assignee(conversation, assignee, self.user)

    def on_close(self, command: protocol.ConversationAction) -> None:
        support.set_status(self._conversation(command), Conversation.Status.CLOSED, self.user)

    def on_reopen(self, command: protocol.ConversationAction) -> None:
        support.set_status(self._conversation(command), Conversation.Status.OPEN, self.user)

    def on_moderation(self, command: Any) -> None:
        if command.room is None and not (command.type == "ban" and command.site):
            raise ProtocolError(Code.INVALID_FRAME, _("Name the room."))
        async_to_sync(self._publish)(moderation.perform(command, self.user.pk, command.room))

    @staticmethod
    async def _publish(room_events: list[events.Event]) -> None:
        """Through this process's hub, like the room consumer's moderation: its own sockets get
        the change at once, the other processes by the layer."""
        hub = get_hub()
        for event in room_events:
            await hub.publish(event)

    on_delete = on_mute = on_ban = on_lock = on_unreact = on_remove_attachment = on_moderation

    # -- events from the channel layer ----------------------------------------------------

    def livechat_conversation(self, event: dict[str, Any]) -> None:
        """A conversation changed (a new message, a claim...): send its fresh summary."""
        if self.refused or not self._still_staff():
            return
        rows = support.summaries(Conversation.objects.filter(room_id=event["room"]), self.user)
        for row in rows:
            self.send_json(protocol.conversation_frame(row))

    def livechat_layer_back(self, event: dict[str, Any]) -> None:
        """Joined the staff group after a layer outage: what was announced meanwhile never came
        (this console's arrival included)."""
        if self.refused or not self._still_staff():
            return
        self._send_queue()
        support.staff_presence_changed()

    def livechat_removed(self, event: dict[str, Any]) -> None:
        """A staff member's chat data was erased (``privacy``): their consoles close (4403)."""
        mine = self.user is not None and event["key"] == identity.user_key(self.user.pk)
        if event.get("erased") and mine:
            self.refused = True
            self.close(code=Close.FORBIDDEN)

    def livechat_staff(self, event: dict[str, Any]) -> None:
        if self.refused or not self._still_staff():
            return
        self.send_json(protocol.staff_list_frame(event["staff"]))

    @classmethod
    def encode_json(cls, content: dict[str, Any]) -> str:
        return protocol.encode(content)
