"""Every database access of async code, and the reads and writes the sync code shares with it.

Each function is plain sync code (for views, commands, admin actions and the sync API); the
``a``-prefixed twin is the same function wrapped with ``channels.db.database_sync_to_async``,
for async code. No async code in the app touches the ORM otherwise: the consumers and the hub
call only the ``a`` functions below (the features' own sync functions included).

- :mod:`~django_livechat.store.connections`: joining and leaving (admission, connection rows,
  participants);
- :mod:`~django_livechat.store.rooms`: presence, what a joining or resuming connection reads,
  the hub's recovery reads, read positions, presence upkeep;
- :mod:`~django_livechat.store.commit`: the group commit's SQL (``write_messages``);
- :mod:`~django_livechat.store.thread`: the writer thread, where the hot path's writes run
  (messages, connection rows, read positions) apart from the reads.
"""

from __future__ import annotations

from channels.db import database_sync_to_async

from django_livechat import changes, inbox, moderation, notices, permissions, privacy, support
from django_livechat.store.commit import (
    NewMessage,
    Written,
    write_each,
    write_messages,
)
from django_livechat.store.connections import (
    Join,
    Joined,
    JoinReads,
    join_room,
    leave_room,
    record_connections,
)
from django_livechat.store.content import decorate, mine
from django_livechat.store.rooms import (
    REPLAY_LIMIT,
    Roster,
    Snapshot,
    backlog,
    changes_after,
    heartbeat,
    history,
    messages_between,
    presence,
    presence_counts,
    reap,
    room_heads,
    roster,
    save_reads,
    snapshot,
    welcome,
)
from django_livechat.store.thread import on_notify_thread, on_writer_thread

__all__ = [
    "REPLAY_LIMIT",
    "Join",
    "JoinReads",
    "Joined",
    "NewMessage",
    "Roster",
    "Snapshot",
    "Written",
    "backlog",
    "changes_after",
    "decorate",
    "mine",
    "heartbeat",
    "history",
    "join_room",
    "leave_room",
    "save_reads",
    "messages_between",
    "presence",
    "presence_counts",
    "reap",
    "record_connections",
    "room_heads",
    "roster",
    "snapshot",
    "welcome",
    "write_each",
    "write_messages",
]

ajoin_room = database_sync_to_async(join_room)
aleave_room = database_sync_to_async(leave_room)
arecord_connections = on_writer_thread(record_connections)
asnapshot = database_sync_to_async(snapshot)
aroster = database_sync_to_async(roster)
awelcome = database_sync_to_async(welcome)
abacklog = database_sync_to_async(backlog)
ahistory = database_sync_to_async(history)
amessages_between = database_sync_to_async(messages_between)
aroom_heads = database_sync_to_async(room_heads)
achanges_after = database_sync_to_async(changes_after)
awrite_messages = on_writer_thread(write_messages)
awrite_each = on_writer_thread(write_each)
asave_reads = on_writer_thread(save_reads)
apresence_counts = database_sync_to_async(presence_counts)
aheartbeat = database_sync_to_async(heartbeat)
areap = database_sync_to_async(reap)
# The features' sync functions that the room consumer calls.
amay_stay = database_sync_to_async(permissions.may_stay)
astill_member = database_sync_to_async(permissions.still_member)
anot_members = database_sync_to_async(permissions.not_members)
amoderate = database_sync_to_async(moderation.perform)
aapply_changes = on_writer_thread(changes.apply)
amine = database_sync_to_async(mine)
avisitor_status = database_sync_to_async(support.visitor_status)
# The inbox consumer's.
ainbox_watched = database_sync_to_async(inbox.watched)
ainbox_listing = database_sync_to_async(inbox.listing)
ainbox_entry = database_sync_to_async(inbox.entry)
ainbox_is_listed = database_sync_to_async(inbox.is_listed)
aoffline_notice = database_sync_to_async(support.offline_notice)
# The notification sender, on a thread of its own (mail servers may be slow).
asend_notices = on_notify_thread(notices.send_due)
# Retention, once a day in the server process (docs/privacy.md), on the same thread: a purge of
# many rows holds up neither the reads of joins nor the writes of messages.
apurge = on_notify_thread(privacy.purge)
