"""``LiveChatAuthMiddleware``: Channels' ``AuthMiddlewareStack`` in one step, for WebSockets."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from channels.auth import AuthMiddlewareStack, get_user
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import parse_cookie


class LiveChatAuthMiddleware:
    """A drop-in for ``AuthMiddlewareStack``: a WebSocket scope gets the same ``cookies``,
    ``session`` and ``user``, resolved once at connect, without a copy of the scope.

    Channels' stack is three middlewares (cookie, session, auth): each copies the scope and
    stays suspended for the socket's life, the session one wraps ``send``, and the session and
    the user sit behind lazy objects. Here the session is the engine's ``SessionStore`` and
    the user the one ``channels.auth.get_user`` finds (the same checks: the backend, the
    session's auth hash), loaded together in one database thread hop, none at all without a
    session cookie. The ``send`` is not wrapped: on a WebSocket, Channels' session wrapper
    never saves anything. That saves about 3.5 KiB per idle socket (docs/deployment.md).
    ``channels.auth.login()`` and ``logout()`` work on this scope as on the stack's.

    Other scopes (``http``) go through Channels' ``AuthMiddlewareStack``, which saves the
    session and sets its cookie on the response.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.stack = AuthMiddlewareStack(inner)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            return await self.stack(scope, receive, send)
        cookies = _cookies(scope)
        session = scope.get("session")  # one set by a session middleware above this one
        if session is None:
            engine = import_module(settings.SESSION_ENGINE)
            session = engine.SessionStore(cookies.get(settings.SESSION_COOKIE_NAME))
        user = scope.get("user")
        if user is None:
            if session.session_key is None:  # no session: nobody, and no thread hop to say so
                user = AnonymousUser()
            else:
                user = await get_user({"session": session})  # loads the session too
        # Added to the scope in place, as Starlette's middlewares do: the scope is this
        # connection's alone, and a copy would live as long as the socket (0.4 KiB).
        scope.update(cookies=cookies, session=session, user=user)
        return await self.inner(scope, receive, send)


def _cookies(scope: dict[str, Any]) -> dict[str, str]:
    """The cookies of the request, as ``channels.sessions.CookieMiddleware`` parses them."""
    for name, value in scope["headers"]:
        if name == b"cookie":
            cookies: dict[str, str] = parse_cookie(value.decode("latin1"))
            return cookies
    return {}
