"""The ``direct`` scenario's data: users, their sessions and their direct rooms (issue 14).

``make_direct_rooms(count, secret)`` runs inside Django (``manage.py shell`` with the example
site's settings, on the template database, before any server starts; or in a test): it makes
the users ``bench-dm-<i>`` (``i`` from 0 to ``2 * count - 1``), a logged-in database session
for each (key :func:`session_key`), and for each pair ``2n, 2n + 1`` the direct room
``direct-<n>``, as ``api.open_direct`` makes it (kind ``direct``, ``pair =
identity.pair_key(a.pk, b.pk)``, the title ``"<a> & <b>"``, two ``member`` rows), in bulk, in
one transaction (``open_direct`` commits once per room, on SQLite with ``synchronous=FULL``).
The slug is the scenario's ``direct-<n>`` rather than ``open_direct``'s random ``dm-<hex>``, so
that the client processes and the baseline (which needs no database) name the same rooms.

The session keys derive from a per-run secret (the one the servers get as ``SECRET_KEY``,
which also signs the sessions): the client processes compute each user's cookie without a
file passed around. Users and sessions only exist in the run's throwaway database copy.
"""

from __future__ import annotations

import hashlib
from typing import Any

USERNAME = "bench-dm-{}"
ROOM = "direct-{}"


def room_name(n: int) -> str:
    return ROOM.format(n)


def session_key(secret: str, index: int) -> str:
    """The session key of user ``index`` (32 hex digits, like Django's own)."""
    return hashlib.sha256(f"{secret}:bench-direct-session:{index}".encode()).hexdigest()[:32]


def cookie(secret: str, index: int) -> str:
    """The ``Cookie`` header value of user ``index``'s sockets: ``sessionid`` (Django's default
    ``SESSION_COOKIE_NAME``, which the example site keeps)."""
    return f"sessionid={session_key(secret, index)}"


def make_direct_rooms(count: int, secret: str) -> list[Any]:
    """``count`` direct rooms of two users each, the users logged in (see the module's
    docstring); returns the rooms, in order."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from django_livechat import identity, permissions
    from django_livechat.models import Participant, Room

    user_model = get_user_model()
    engine = import_module(settings.SESSION_ENGINE)
    backend = settings.AUTHENTICATION_BACKENDS[0]
    unusable = make_password(None)  # nobody logs in with a password; one hash for all
    now = timezone.now()
    with transaction.atomic():
        names = [USERNAME.format(i) for i in range(2 * count)]
        user_model.objects.bulk_create(
            [user_model(username=name, password=unusable) for name in names]
        )
        by_name = {u.get_username(): u for u in user_model.objects.filter(username__in=names)}
        users = [by_name[name] for name in names]
        store = engine.SessionStore()
        if not hasattr(store, "get_model_class"):
            raise RuntimeError(f"{settings.SESSION_ENGINE}: the benchmark needs database sessions")
        session_model = store.get_model_class()
        expires = store.get_expiry_date()
        session_model.objects.bulk_create(
            [
                session_model(
                    session_key=session_key(secret, i),
                    session_data=store.encode(
                        {
                            SESSION_KEY: user._meta.pk.value_to_string(user),
                            BACKEND_SESSION_KEY: backend,
                            HASH_SESSION_KEY: user.get_session_auth_hash(),
                        }
                    ),
                    expire_date=expires,
                )
                for i, user in enumerate(users)
            ]
        )
        rooms = []
        for n in range(count):
            first, second = sorted(users[2 * n : 2 * n + 2], key=lambda u: u.pk)
            title = f"{identity.display_name(first)} & {identity.display_name(second)}"[:200]
            rooms.append(
                Room(
                    slug=room_name(n),
                    title=title,
                    kind=Room.Kind.DIRECT,
                    pair=identity.pair_key(first.pk, second.pk),
                )
            )
        Room.objects.bulk_create(rooms)
        by_slug = {r.slug: r for r in Room.objects.filter(slug__in=[r.slug for r in rooms])}
        rooms = [by_slug[room_name(n)] for n in range(count)]
        reserved: dict[str, set[str]] = {}
        Participant.objects.bulk_create(
            [
                Participant(
                    room=room,
                    key=identity.user_key(user.pk),
                    user=user,
                    display_name=permissions.resolve_author(identity.for_user(user), reserved).name,
                    role=permissions.MEMBER,
                    joined=now,
                )
                for n, room in enumerate(rooms)
                for user in users[2 * n : 2 * n + 2]
            ]
        )
    return rooms
