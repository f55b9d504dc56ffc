"""The app's models: rooms and what happens in them (:mod:`.rooms`), support conversations
(:mod:`.support`), sanctions and the audit log (:mod:`.moderation`)."""

from django_livechat.models.content import Attachment, Mention, Reaction, Revision
from django_livechat.models.moderation import AuditEntry, Sanction
from django_livechat.models.notifications import Notice, NotificationSettings, PushSubscription
from django_livechat.models.rooms import (
    Connection,
    Message,
    Participant,
    Room,
    RoomChange,
    WriterOwnedFields,
)
from django_livechat.models.support import Conversation, StaffPresence

__all__ = [
    "Attachment",
    "AuditEntry",
    "Mention",
    "Notice",
    "NotificationSettings",
    "PushSubscription",
    "Reaction",
    "Revision",
    "Connection",
    "Conversation",
    "Message",
    "Participant",
    "Room",
    "RoomChange",
    "Sanction",
    "StaffPresence",
    "WriterOwnedFields",
]
