"""The ``LIVECHAT`` settings dict: defaults and typed, lazy access.

Every property reads ``settings.LIVECHAT`` when it is accessed, so ``override_settings``
works without any cache to clear::

    from django_livechat.conf import conf
    conf.MAX_BODY_LENGTH
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

DEFAULTS: dict[str, Any] = {
    # Anonymous visitors may join and post in public rooms.
    "ALLOW_ANONYMOUS": False,
    # Messages per identity and per server process: "N/S" (N messages per S seconds, burst N),
    # or None / "off" to turn the limit off.
    "RATE_LIMIT": "10/5",
    # Messages per client IP address and server process, on top of RATE_LIMIT: stops one host
    # from posting as many guests. Same format; None or "off" disables it.
    "IP_RATE_LIMIT": "30/5",
    # How many proxies in front of the ASGI server append to X-Forwarded-For. 0: use the
    # socket's peer address (the default; X-Forwarded-For is ignored, since clients can forge
    # it). 1: behind one proxy (nginx), take the last address it appended.
    "TRUSTED_PROXIES": 0,
    # Open connections per identity, across processes; one more is closed with 4429.
    "MAX_CONNECTIONS_PER_IDENTITY": 20,
    # Open room connections per client address and server process (guests without a session
    # are a new identity per connection: this bounds them); one more is closed with 4429.
    "MAX_CONNECTIONS_PER_IP": 200,
    # Longest message body, in characters, after stripping white space.
    "MAX_BODY_LENGTH": 2000,
    # Longest client frame, in bytes of UTF-8 text.
    "MAX_FRAME_BYTES": 16384,
    # Messages sent in ``welcome`` to a client that connects without ``?after``.
    "WELCOME_MESSAGES": 50,
    # Messages per ``welcome``/``backlog`` frame when a client resumes with ``?after``.
    "BACKLOG_PAGE_SIZE": 500,
    # Largest ``limit`` of a ``history`` request (frame or HTTP).
    "HISTORY_PAGE_SIZE": 100,
    # Seconds between presence heartbeats of a server process.
    "PRESENCE_HEARTBEAT": 15,
    # Seconds without a heartbeat after which a connection counts as gone.
    "PRESENCE_TIMEOUT": 45,
    # Seconds between a process's coalesced ``read`` frames (and batched writes of the read
    # positions) per room; the bundled client sends at most one receipt per interval too.
    "READ_INTERVAL": 1.0,
    # Seconds between an inbox socket's coalesced frames (``activity``, ``seen``) per room.
    "INBOX_INTERVAL": 1.0,
    # Identities listed in one ``read`` frame at most (those that read furthest).
    "READ_LIST_MAX": 20,
    # Seconds between a process's coalesced ``presence`` frames per room.
    "PRESENCE_INTERVAL": 1.0,
    # Identities listed in ``welcome``'s presence and in a ``presence`` frame's lists at most.
    "PRESENCE_LIST_MAX": 100,
    # Seconds between checks of the database for messages the channel layer did not deliver.
    "RECONCILE_INTERVAL": 2.0,
    # Seconds a process waits for a missing message id before reading it from the database.
    "GAP_GRACE": 0.5,
    # Seconds between re-joins of the channel layer groups (must be below the layer's
    # ``group_expiry``, 86400 by default).
    "GROUP_REFRESH_INTERVAL": 600,
    # Largest number of messages written in one database transaction.
    "WRITE_BATCH_SIZE": 500,
    # SQLite in WAL mode only: seconds between checkpoints of the write-ahead log in a thread,
    # so that no message's commit pays for one (see checkpoint.py); 0 leaves it to SQLite.
    "SQLITE_CHECKPOINT_INTERVAL": 0.5,
    # The channel layer alias the app uses.
    "CHANNEL_LAYER": "default",
    # Anonymous visitors may open a support conversation (the widget).
    "SUPPORT_ALLOW_ANONYMOUS": True,
    # Who is e-mailed when a visitor writes while no staff member is online: a list of
    # addresses, or None for every active staff user with an e-mail address.
    "SUPPORT_EMAILS": None,
    # Shown in the widget while no staff member is online, e.g. "We answer Mon-Fri, 9-17 CET."
    "SUPPORT_HOURS_TEXT": "",
    # Whom a user may start a direct message with (and add to their rooms): the dotted path of
    # a callable ``(user) -> QuerySet`` of users, or None for every active user.
    "DIRECT_MESSAGE_USERS": None,
    # Seconds between a process's batches of reactions and edits: the changes of one message
    # within one are one ``updated`` frame to its room (the first after a quiet interval at once).
    "CHANGE_INTERVAL": 0.5,
    # Seconds after sending during which the author may edit a message.
    "EDIT_WINDOW": 900,
    # Staff and a room's owners and moderators may edit anyone's message, at any time.
    "EDIT_BY_MODERATORS": False,
    # Largest attachment, in bytes.
    "ATTACHMENT_MAX_BYTES": 10 * 1024 * 1024,
    # Bytes one identity may upload in 24 hours.
    "ATTACHMENT_DAILY_BYTES": 100 * 1024 * 1024,
    # Attachments per message at most.
    "ATTACHMENTS_PER_MESSAGE": 10,
    # Anonymous visitors may upload attachments.
    "ATTACHMENTS_ALLOW_ANONYMOUS": False,
    # The alias in STORAGES of the storage that keeps attachments.
    "ATTACHMENT_STORAGE": "default",
    # Seconds a direct message or mention stays unread (and unseen by an open socket) before
    # its user is notified (e-mail, Web Push).
    "NOTIFY_DELAY": 600,
    # Seconds between two e-mails to one user at least (the next one holds all since).
    "NOTIFY_INTERVAL": 3600,
    # Seconds between the server processes' runs of the notification sender (0: only the
    # ``livechat_notify`` command sends).
    "NOTIFY_POLL": 30,
    # Days messages are kept (None: for ever); a room's ``retention_days`` overrides it.
    "RETENTION_DAYS": None,
    # Web Push: the VAPID key pair (``manage.py livechat_vapid`` makes one) and the contact
    # the push services may reach ("mailto:admin@example.com"); push is off without keys.
    "VAPID_PUBLIC_KEY": "",
    "VAPID_PRIVATE_KEY": "",
    "VAPID_SUBJECT": "",
    # Hosts of the push services a subscription's endpoint may name (".example.com": any host
    # under it); with DEBUG on, any (a local receiver). The browsers' own services by default.
    "PUSH_SERVICES": (
        "fcm.googleapis.com",  # Chrome, Opera, Samsung Internet, Brave
        "android.googleapis.com",  # older Chrome subscriptions
        "updates.push.services.mozilla.com",  # Firefox
        ".push.apple.com",  # Safari
        ".notify.windows.com",  # Edge
    ),
}

_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*s?\s*$")


@dataclass(frozen=True)
class Rate:
    """``count`` events per ``seconds``, with a burst of ``count``."""

    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds


def parse_rate(value: str | None) -> Rate | None:
    """Parse ``"N/S"`` into a :class:`Rate`; ``None``, ``""`` and ``"off"`` mean no limit.

    Raises ``ValueError`` with a readable message for anything else.
    """
    if value is not None and not isinstance(value, str | int | float):
        # A list or dict: unhashable for the cache below, and never a rate.
        raise ValueError(
            f"{value!r} is not a rate: use 'N/S' (N messages per S seconds), or 'off'."
        )
    return _parse_rate(value)


@lru_cache(maxsize=32)
def _parse_rate(value: str | int | float | None) -> Rate | None:
    if value is None or str(value).strip().lower() in ("", "off", "none"):
        return None
    match = _RATE_RE.match(str(value))
    if not match or int(match[1]) < 1 or float(match[2]) <= 0:
        raise ValueError(
            f"{value!r} is not a rate: use 'N/S' (N messages per S seconds, N >= 1), or 'off'."
        )
    return Rate(int(match[1]), float(match[2]))


class Settings:
    """Typed, lazy access to ``settings.LIVECHAT`` merged over :data:`DEFAULTS`."""

    def _get(self, name: str) -> Any:
        user = getattr(settings, "LIVECHAT", None) or {}
        return user.get(name, DEFAULTS[name])

    @property
    def ALLOW_ANONYMOUS(self) -> bool:
        return bool(self._get("ALLOW_ANONYMOUS"))

    @property
    def RATE_LIMIT(self) -> Rate | None:
        return parse_rate(self._get("RATE_LIMIT"))

    @property
    def IP_RATE_LIMIT(self) -> Rate | None:
        return parse_rate(self._get("IP_RATE_LIMIT"))

    @property
    def TRUSTED_PROXIES(self) -> int:
        return int(self._get("TRUSTED_PROXIES"))

    @property
    def MAX_CONNECTIONS_PER_IDENTITY(self) -> int:
        return int(self._get("MAX_CONNECTIONS_PER_IDENTITY"))

    @property
    def MAX_CONNECTIONS_PER_IP(self) -> int:
        return int(self._get("MAX_CONNECTIONS_PER_IP"))

    @property
    def MAX_BODY_LENGTH(self) -> int:
        return int(self._get("MAX_BODY_LENGTH"))

    @property
    def MAX_FRAME_BYTES(self) -> int:
        return int(self._get("MAX_FRAME_BYTES"))

    @property
    def WELCOME_MESSAGES(self) -> int:
        return int(self._get("WELCOME_MESSAGES"))

    @property
    def BACKLOG_PAGE_SIZE(self) -> int:
        return int(self._get("BACKLOG_PAGE_SIZE"))

    @property
    def HISTORY_PAGE_SIZE(self) -> int:
        return int(self._get("HISTORY_PAGE_SIZE"))

    @property
    def READ_INTERVAL(self) -> float:
        return float(self._get("READ_INTERVAL"))

    @property
    def INBOX_INTERVAL(self) -> float:
        return float(self._get("INBOX_INTERVAL"))

    @property
    def READ_LIST_MAX(self) -> int:
        return int(self._get("READ_LIST_MAX"))

    @property
    def PRESENCE_INTERVAL(self) -> float:
        return float(self._get("PRESENCE_INTERVAL"))

    @property
    def PRESENCE_LIST_MAX(self) -> int:
        return int(self._get("PRESENCE_LIST_MAX"))

    @property
    def PRESENCE_HEARTBEAT(self) -> float:
        return float(self._get("PRESENCE_HEARTBEAT"))

    @property
    def PRESENCE_TIMEOUT(self) -> float:
        return float(self._get("PRESENCE_TIMEOUT"))

    @property
    def RECONCILE_INTERVAL(self) -> float:
        return float(self._get("RECONCILE_INTERVAL"))

    @property
    def GAP_GRACE(self) -> float:
        return float(self._get("GAP_GRACE"))

    @property
    def GROUP_REFRESH_INTERVAL(self) -> float:
        return float(self._get("GROUP_REFRESH_INTERVAL"))

    @property
    def WRITE_BATCH_SIZE(self) -> int:
        return int(self._get("WRITE_BATCH_SIZE"))

    @property
    def SQLITE_CHECKPOINT_INTERVAL(self) -> float:
        return float(self._get("SQLITE_CHECKPOINT_INTERVAL") or 0)

    @property
    def CHANNEL_LAYER(self) -> str:
        return str(self._get("CHANNEL_LAYER"))

    @property
    def SUPPORT_ALLOW_ANONYMOUS(self) -> bool:
        return bool(self._get("SUPPORT_ALLOW_ANONYMOUS"))

    @property
    def SUPPORT_EMAILS(self) -> list[str] | None:
        value = self._get("SUPPORT_EMAILS")
        if isinstance(value, str):  # one address, not a list of its letters
            return [value]
        return None if value is None else list(value)

    @property
    def SUPPORT_HOURS_TEXT(self) -> str:
        return str(self._get("SUPPORT_HOURS_TEXT") or "")

    @property
    def DIRECT_MESSAGE_USERS(self) -> Callable[[Any], Any] | None:
        """The callable named by the dotted path (or given), None when unset; ImportError for a
        path that does not import (system check ``E011``)."""
        value = self._get("DIRECT_MESSAGE_USERS")
        if value is None or value == "":
            return None
        found = value if callable(value) else import_string(str(value))
        if not callable(found):
            raise ImportError(f"{value!r} is not callable.")
        return found  # type: ignore[no-any-return]

    @property
    def NOTIFY_DELAY(self) -> float:
        return float(self._get("NOTIFY_DELAY"))

    @property
    def NOTIFY_INTERVAL(self) -> float:
        return float(self._get("NOTIFY_INTERVAL"))

    @property
    def NOTIFY_POLL(self) -> float:
        return float(self._get("NOTIFY_POLL"))

    @property
    def RETENTION_DAYS(self) -> int | None:
        value = self._get("RETENTION_DAYS")
        return None if value in (None, "", 0) else int(value)

    @property
    def VAPID_PUBLIC_KEY(self) -> str:
        return str(self._get("VAPID_PUBLIC_KEY") or "")

    @property
    def VAPID_PRIVATE_KEY(self) -> str:
        return str(self._get("VAPID_PRIVATE_KEY") or "")

    @property
    def VAPID_SUBJECT(self) -> str:
        return str(self._get("VAPID_SUBJECT") or "")

    @property
    def PUSH_SERVICES(self) -> tuple[str, ...]:
        value = self._get("PUSH_SERVICES") or ()
        if isinstance(value, str):  # one host, not a list of its letters
            value = (value,)
        return tuple(str(host).strip().lower().rstrip(".") for host in value)

    @property
    def CHANGE_INTERVAL(self) -> float:
        return float(self._get("CHANGE_INTERVAL"))

    @property
    def EDIT_WINDOW(self) -> float:
        return float(self._get("EDIT_WINDOW"))

    @property
    def EDIT_BY_MODERATORS(self) -> bool:
        return bool(self._get("EDIT_BY_MODERATORS"))

    @property
    def ATTACHMENT_MAX_BYTES(self) -> int:
        return int(self._get("ATTACHMENT_MAX_BYTES"))

    @property
    def ATTACHMENT_DAILY_BYTES(self) -> int:
        return int(self._get("ATTACHMENT_DAILY_BYTES"))

    @property
    def ATTACHMENTS_PER_MESSAGE(self) -> int:
        return int(self._get("ATTACHMENTS_PER_MESSAGE"))

    @property
    def ATTACHMENTS_ALLOW_ANONYMOUS(self) -> bool:
        return bool(self._get("ATTACHMENTS_ALLOW_ANONYMOUS"))

    @property
    def ATTACHMENT_STORAGE(self) -> str:
        return str(self._get("ATTACHMENT_STORAGE"))


conf = Settings()
