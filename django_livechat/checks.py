"""System checks ``django_livechat.E001``... and ``W001``...: each has a hint that says the fix."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from django_livechat.conf import DEFAULTS, conf, parse_rate

IN_MEMORY_LAYER = "channels.layers.InMemoryChannelLayer"

_POSITIVE_NUMBERS = (
    "MAX_BODY_LENGTH",
    "MAX_FRAME_BYTES",
    "WELCOME_MESSAGES",
    "BACKLOG_PAGE_SIZE",
    "HISTORY_PAGE_SIZE",
    "PRESENCE_HEARTBEAT",
    "PRESENCE_TIMEOUT",
    "RECONCILE_INTERVAL",
    "GAP_GRACE",
    "GROUP_REFRESH_INTERVAL",
    "WRITE_BATCH_SIZE",
    "MAX_CONNECTIONS_PER_IDENTITY",
    "MAX_CONNECTIONS_PER_IP",
    "READ_INTERVAL",
    "INBOX_INTERVAL",
    "READ_LIST_MAX",
    "PRESENCE_INTERVAL",
    "PRESENCE_LIST_MAX",
    "EDIT_WINDOW",
    "CHANGE_INTERVAL",
    "ATTACHMENT_MAX_BYTES",
    "ATTACHMENT_DAILY_BYTES",
    "ATTACHMENTS_PER_MESSAGE",
)


def register() -> None:
    """Register the checks; called from ``LiveChatConfig.ready()``."""
    checks.register(check_channel_layers, checks.Tags.compatibility)
    checks.register(check_asgi_application, checks.Tags.compatibility)
    checks.register(check_runserver, checks.Tags.compatibility)
    checks.register(check_settings, checks.Tags.compatibility)
    checks.register(check_sqlite, checks.Tags.database)


def check_channel_layers(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    alias = conf.CHANNEL_LAYER if isinstance(getattr(settings, "LIVECHAT", {}), dict) else "default"
    if alias not in layers:
        return [
            checks.Error(
                f"CHANNEL_LAYERS has no {alias!r} layer: live chat cannot deliver messages.",
                hint=(
                    "Set CHANNEL_LAYERS, for example with "
                    "django_livechat.layers.channel_layers_from_env(): the in-memory layer "
                    "without REDIS_URL, channels-redis with it."
                ),
                id="django_livechat.E001",
            )
        ]
    backend = layers[alias].get("BACKEND", "")
    if backend == IN_MEMORY_LAYER and not settings.DEBUG:
        return [
            checks.Warning(
                "The in-memory channel layer is used while DEBUG is False: messages reach only "
                "the connections of the process that stored them until the next database "
                "reconciliation, and not at all across machines.",
                hint="Set REDIS_URL (or CHANNEL_LAYERS) to use channels-redis in production.",
                id="django_livechat.W001",
            )
        ]
    return []


def check_asgi_application(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if not getattr(settings, "ASGI_APPLICATION", None):
        return [
            checks.Error(
                "ASGI_APPLICATION is not set: no server will route WebSockets to live chat.",
                hint=(
                    "Point ASGI_APPLICATION at your asgi.py application, e.g. "
                    "'mysite.asgi.application', and route 'websocket' to "
                    "django_livechat.routing.websocket_urlpatterns there."
                ),
                id="django_livechat.E002",
            )
        ]
    return []


def check_sqlite(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """SQLite's default (deferred) transactions fail at once with "database is locked" when one
    read first and another connection committed in between: the chat's writer thread and the
    request threads write at the same time, so sends would fail with ``store_failed``."""
    warnings: list[checks.CheckMessage] = []
    for alias, database in (getattr(settings, "DATABASES", None) or {}).items():
        if database.get("ENGINE") != "django.db.backends.sqlite3":
            continue
        mode = str((database.get("OPTIONS") or {}).get("transaction_mode", "")).upper()
        if mode not in ("IMMEDIATE", "EXCLUSIVE"):
            warnings.append(
                checks.Warning(
                    f"DATABASES[{alias!r}] is SQLite with deferred transactions: messages sent "
                    "while another request writes can fail with 'database is locked'.",
                    hint=(
                        f"Set DATABASES[{alias!r}]['OPTIONS']['transaction_mode'] = "
                        "'IMMEDIATE' (and journal_mode=WAL in 'init_command'), or use PostgreSQL."
                    ),
                    id="django_livechat.W003",
                )
            )
    return warnings


def _running_runserver(argv: Iterable[str] | None = None) -> bool:
    argv = list(sys.argv if argv is None else argv)
    return len(argv) > 1 and argv[1] == "runserver"


def check_runserver(
    app_configs: Any = None, argv: Iterable[str] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    if not _running_runserver(argv):
        return []
    apps = list(settings.INSTALLED_APPS)
    if "daphne" not in apps:
        return [
            checks.Error(
                "runserver is serving without 'daphne' in INSTALLED_APPS: it speaks plain WSGI "
                "and every WebSocket to live chat will fail with 404.",
                hint="Add 'daphne' at the top of INSTALLED_APPS (pip install daphne).",
                id="django_livechat.E003",
            )
        ]
    static = "django.contrib.staticfiles"
    if static in apps and apps.index("daphne") > apps.index(static):
        return [
            checks.Error(
                "'daphne' comes after 'django.contrib.staticfiles' in INSTALLED_APPS, so the "
                "WSGI runserver of staticfiles wins and WebSockets fail.",
                hint="Move 'daphne' above 'django.contrib.staticfiles' in INSTALLED_APPS.",
                id="django_livechat.E004",
            )
        ]
    return []


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    user = getattr(settings, "LIVECHAT", {})
    if not isinstance(user, dict):
        return [
            checks.Error(
                f"LIVECHAT must be a dict, not {type(user).__name__}.",
                hint="Write LIVECHAT = {'ALLOW_ANONYMOUS': True, ...} in your settings.",
                id="django_livechat.E005",
            )
        ]
    errors: list[checks.CheckMessage] = []
    for key in sorted(set(user) - set(DEFAULTS)):
        errors.append(
            checks.Error(
                f"LIVECHAT has an unknown key {key!r}.",
                hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                id="django_livechat.E006",
            )
        )
    for key in ("RATE_LIMIT", "IP_RATE_LIMIT"):
        try:
            parse_rate(user.get(key, DEFAULTS[key]))
        except ValueError as exc:
            errors.append(
                checks.Error(
                    f"LIVECHAT[{key!r}]: {exc}",
                    hint="Examples: '10/5' (10 messages per 5 seconds), '1/1', or 'off'.",
                    id="django_livechat.E007",
                )
            )
    proxies = user.get("TRUSTED_PROXIES", 0)
    if isinstance(proxies, bool) or not isinstance(proxies, int) or proxies < 0:
        errors.append(
            checks.Error(
                f"LIVECHAT['TRUSTED_PROXIES'] must be a whole number >= 0, not {proxies!r}.",
                hint="0 without a proxy; 1 behind one nginx that sets X-Forwarded-For.",
                id="django_livechat.E008",
            )
        )
    interval = user.get("SQLITE_CHECKPOINT_INTERVAL", 0)
    if interval is not None and (
        isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 0
    ):
        errors.append(
            checks.Error(
                f"LIVECHAT['SQLITE_CHECKPOINT_INTERVAL'] must be a number >= 0, not {interval!r}.",
                hint="Seconds between WAL checkpoints, e.g. 0.5; 0 leaves them to SQLite.",
                id="django_livechat.E009",
            )
        )
    for key in _POSITIVE_NUMBERS:
        value = user.get(key, DEFAULTS[key])
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            errors.append(
                checks.Error(
                    f"LIVECHAT[{key!r}] must be a positive number, not {value!r}.",
                    hint=f"Remove it to use the default, {DEFAULTS[key]!r}.",
                    id="django_livechat.E010",
                )
            )
    errors.extend(_check_direct_message_users(user))
    errors.extend(_check_push_services(user))
    if not errors and conf.PRESENCE_TIMEOUT < 2 * conf.PRESENCE_HEARTBEAT:
        errors.append(
            checks.Warning(
                "LIVECHAT['PRESENCE_TIMEOUT'] is less than twice PRESENCE_HEARTBEAT: one late "
                "heartbeat makes live connections disappear from presence.",
                hint="Make PRESENCE_TIMEOUT at least 2 x PRESENCE_HEARTBEAT (defaults: 45 and 15).",
                id="django_livechat.W002",
            )
        )
    return errors


def _check_direct_message_users(user: dict[str, Any]) -> list[checks.CheckMessage]:
    value = user.get("DIRECT_MESSAGE_USERS")
    if value is None or value == "" or callable(value):
        return []
    try:
        found = import_string(str(value))
    except ImportError as exc:
        problem = f"does not import ({exc})"
    else:
        if callable(found):
            return []
        problem = "is not callable"
    return [
        checks.Error(
            f"LIVECHAT['DIRECT_MESSAGE_USERS'] {value!r} {problem}.",
            hint=(
                "The dotted path of a function (user) -> QuerySet of the users that user may "
                "message, e.g. 'mysite.chat.colleagues'; or None for every active user."
            ),
            id="django_livechat.E011",
        )
    ]


def _check_push_services(user: dict[str, Any]) -> list[checks.CheckMessage]:
    value = user.get("PUSH_SERVICES", ())
    hosts = (value,) if isinstance(value, str) else value
    if isinstance(hosts, list | tuple) and all(
        isinstance(host, str) and host.strip(". ") and "/" not in host and ":" not in host
        for host in hosts
    ):
        return []
    return [
        checks.Error(
            f"LIVECHAT['PUSH_SERVICES'] must be a list of host names, not {value!r}.",
            hint=(
                "Host names of push services, e.g. ['fcm.googleapis.com', '.push.apple.com'] "
                "('.' first: any host under it); remove it for the browsers' own services."
            ),
            id="django_livechat.E012",
        )
    ]
