"""Shared fixtures: rooms, users with sessions, and WebSocket clients that always disconnect."""

from __future__ import annotations

import contextlib
import os

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from django_livechat.models import Room
from tests.asgi import application

ORIGIN = (b"origin", b"http://testserver")


def pytest_report_header(config):
    db = "PostgreSQL" if os.environ.get("LIVECHAT_TEST_DATABASE_URL") else "SQLite"
    layer = "Redis" if os.environ.get("LIVECHAT_TEST_REDIS_URL") else "in-memory"
    return f"django-livechat pass: {db} + {layer} channel layer"


@pytest.fixture(autouse=True)
def default_language():
    """Each test starts in LANGUAGE_CODE: a request's LocaleMiddleware leaves the language it
    activated to the thread, and a later test would read translated errors."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Rate-limit buckets live in the process: each test starts with full ones."""
    from django_livechat import limits

    limits.reset()
    yield
    limits.reset()


@pytest.fixture
def room(db):
    return Room.objects.create(slug="lobby", title="Lobby")


def session_cookie_for(user=None) -> bytes:
    """A real session (logged in as ``user`` if given), as a Cookie header value."""
    client = Client()
    if user is not None:
        client.force_login(user)
    else:
        session = client.session
        session["seen"] = True
        session.save()
        client.cookies["sessionid"] = session.session_key
    return f"sessionid={client.cookies['sessionid'].value}".encode()


asession_cookie_for = database_sync_to_async(session_cookie_for)


class Clients:
    """Opens communicators and disconnects every one of them at teardown."""

    def __init__(self):
        self.open: list[WebsocketCommunicator] = []

    async def connect(
        self,
        slug="lobby",
        *,
        query="",
        cookie: bytes | None = None,
        origin=ORIGIN,
        path=None,
        expect_welcome=True,
    ):
        headers = [origin] if origin else []
        if cookie:
            headers.append((b"cookie", cookie))
        path = path or f"/ws/livechat/rooms/{slug}/" + (f"?{query}" if query else "")
        communicator = WebsocketCommunicator(application, path, headers=headers)
        self.open.append(communicator)
        connected, _ = await communicator.connect(timeout=5)
        assert connected, f"not accepted: {path}"
        if not expect_welcome:
            return communicator, None
        welcome = await communicator.receive_json_from(timeout=5)
        assert welcome["type"] == "welcome", welcome
        return communicator, welcome

    async def close_all(self):
        for communicator in self.open:
            with contextlib.suppress(Exception):  # already closed by the server
                await communicator.disconnect(timeout=5)
        self.open.clear()


@pytest.fixture
async def clients():
    pool = Clients()
    yield pool
    await pool.close_all()


async def join(clients, slug, user):
    """A socket to room ``slug`` logged in as ``user``, and its welcome."""
    return await clients.connect(slug, cookie=await asession_cookie_for(user))


async def join_refused(clients, slug, user):
    """The close code of ``user``'s join of ``slug``, refused after the accept (nothing else
    comes first)."""
    socket, _ = await clients.connect(
        slug, cookie=await asession_cookie_for(user), expect_welcome=False
    )
    out = await socket.receive_output(timeout=5)
    assert out["type"] == "websocket.close", out
    return out["code"]


async def receive_type(communicator, type_, wait=5):
    """The next frame of ``type_``, skipping ephemeral frames in between (presence, typing,
    read, and the members/renamed hints of membership changes)."""
    while True:
        frame = await communicator.receive_json_from(timeout=wait)
        if frame["type"] == type_:
            return frame
        assert frame["type"] in ("presence", "typing", "read", "members", "renamed"), frame


@pytest.fixture
def media(settings, tmp_path):
    """Attachments stored under ``tmp_path`` (MEDIA_ROOT: the attachment storage is the
    default FileSystemStorage, bound when the model was imported, which reads MEDIA_ROOT)."""
    from django_livechat.models import Attachment

    root = tmp_path / "media"
    settings.MEDIA_ROOT = str(root)
    assert Attachment._meta.get_field("file").storage.path("x") == str(root / "x")
    return root
