"""LiveChatAuthMiddleware: what AuthMiddlewareStack gives a WebSocket scope, in one step."""

from __future__ import annotations

import pytest
from channels.auth import AuthMiddlewareStack, login, logout
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.base import SessionBase
from django.test import Client
from django.urls import path

from django_livechat.middleware import LiveChatAuthMiddleware
from django_livechat.routing import websocket_urlpatterns
from tests.conftest import ORIGIN, asession_cookie_for

pytestmark = pytest.mark.django_db(transaction=True)


def describe(scope):
    user, session = scope["user"], scope["session"]
    return {
        "user": user.pk if user.is_authenticated else None,
        "session_key": session.session_key,
        "cookies": scope["cookies"],
    }


class ScopeConsumer(AsyncJsonWebsocketConsumer):
    """Reports its scope; ``login``/``logout`` use Channels' helpers on it."""

    seen: list[dict] = []  # the scopes connected, for the test that looks at their objects

    async def connect(self):
        self.seen.append(self.scope)
        await self.accept()
        await self.send_json(describe(self.scope))

    async def receive_json(self, content, **kwargs):
        if content["do"] == "logout":
            await logout(self.scope)
        else:
            user = await database_sync_to_async(get_user_model().objects.get)(pk=content["pk"])
            await login(self.scope, user, backend="django.contrib.auth.backends.ModelBackend")
        await database_sync_to_async(self.scope["session"].save)()
        await self.send_json(describe(self.scope))


scope_routes = [path("scope/", ScopeConsumer.as_asgi())]
livechat_scope = LiveChatAuthMiddleware(URLRouter(scope_routes))
channels_scope = AuthMiddlewareStack(URLRouter(scope_routes))
livechat_rooms = AllowedHostsOriginValidator(
    LiveChatAuthMiddleware(URLRouter(websocket_urlpatterns))
)


@database_sync_to_async
def make_user(username):
    return get_user_model().objects.create_user(username=username, password="pw")


async def open_socket(app, path, cookie=None):
    headers = [ORIGIN] + ([(b"cookie", cookie)] if cookie else [])
    communicator = WebsocketCommunicator(app, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def scope_of(app, cookie=None):
    communicator = await open_socket(app, "/scope/", cookie)
    try:
        return await communicator.receive_json_from(timeout=5)
    finally:
        await communicator.disconnect()


async def you_in_room(cookie=None):
    communicator = await open_socket(livechat_rooms, "/ws/livechat/rooms/lobby/", cookie)
    try:
        welcome = await communicator.receive_json_from(timeout=5)
    finally:
        await communicator.disconnect()
    assert welcome["type"] == "welcome", welcome
    return welcome["you"]


@pytest.mark.parametrize("who", ["user", "guest", "nobody"])
async def test_the_scope_is_the_one_auth_middleware_stack_gives(db, who):
    user = await make_user("alice") if who == "user" else None
    cookie = None if who == "nobody" else await asession_cookie_for(user)
    if cookie is not None:
        cookie += b"; csrftoken=abc"
    ours, theirs = await scope_of(livechat_scope, cookie), await scope_of(channels_scope, cookie)
    assert ours == theirs
    assert ours["user"] == (user.pk if user else None)
    assert (ours["session_key"] is None) == (who == "nobody")
    if cookie is not None:
        assert ours["cookies"]["csrftoken"] == "abc"


async def test_the_session_and_user_are_loaded_objects_not_lazy_ones(db):
    user = await make_user("alice")
    ScopeConsumer.seen.clear()
    await scope_of(livechat_scope, await asession_cookie_for(user))
    (scope,) = ScopeConsumer.seen
    assert isinstance(scope["session"], SessionBase)
    assert type(scope["user"]) is get_user_model()


async def test_room_identities_user_session_guest_and_one_connection_guest(room):
    user = await make_user("alice")
    assert (await you_in_room(await asession_cookie_for(user)))["id"] == f"u:{user.pk}"
    guest_cookie = await asession_cookie_for(None)
    first, second = await you_in_room(guest_cookie), await you_in_room(guest_cookie)
    assert first["id"] == second["id"] and first["id"].startswith("g:")
    first, second = await you_in_room(), await you_in_room()
    assert first["id"] != second["id"] and first["id"].startswith("c:")


async def test_after_a_logout_the_old_cookie_is_nobody(room):
    user = await make_user("alice")
    client = Client()
    await database_sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    assert (await you_in_room(cookie))["id"] == f"u:{user.pk}"
    await database_sync_to_async(client.logout)()
    assert (await you_in_room(cookie))["id"].startswith("c:")


async def test_a_changed_password_logs_the_session_out(room):
    user = await make_user("alice")
    cookie = await asession_cookie_for(user)
    user.set_password("another")
    await database_sync_to_async(user.save)()
    assert (await you_in_room(cookie))["id"].startswith("c:")


async def test_channels_login_and_logout_work_on_the_scope(db):
    user = await make_user("alice")
    communicator = await open_socket(livechat_scope, "/scope/", await asession_cookie_for(None))
    try:
        before = await communicator.receive_json_from(timeout=5)
        assert before["user"] is None
        await communicator.send_json_to({"do": "login", "pk": user.pk})
        logged_in = await communicator.receive_json_from(timeout=5)
        assert logged_in["user"] == user.pk
        assert logged_in["session_key"] != before["session_key"]  # cycled at login
        await communicator.send_json_to({"do": "logout"})
        logged_out = await communicator.receive_json_from(timeout=5)
        assert logged_out["user"] is None
    finally:
        await communicator.disconnect()
    cookie = f"sessionid={logged_in['session_key']}".encode()
    assert (await scope_of(livechat_scope, cookie))["user"] is None  # flushed: gone for good


async def http_app(scope, receive, send):
    """Sets a session value: only a session middleware that saves it sends a cookie back."""
    scope["session"]["seen"] = scope["user"].is_authenticated
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def test_http_scopes_go_through_auth_middleware_stack(db):
    response = await HttpCommunicator(LiveChatAuthMiddleware(http_app), "GET", "/").get_response()
    assert response["status"] == 200
    cookies = [v for k, v in response["headers"] if k == b"Set-Cookie"]
    assert cookies and cookies[0].startswith(b"sessionid="), response["headers"]
