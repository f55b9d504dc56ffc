"""The diagnostics endpoint: echoes frames with the path and only the safe headers."""

from __future__ import annotations

import contextlib
import json

import pytest
from channels.testing import WebsocketCommunicator

from django_livechat.consumers.echo import SAFE_HEADERS, safe_headers
from tests.asgi import application
from tests.conftest import ORIGIN

# The auth middleware of tests/asgi.py looks the session cookie up in the database.
pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/ws/livechat/echo/"
HEADERS = [
    ORIGIN,
    (b"host", b"testserver"),
    (b"user-agent", b"pytest-echo/1.0"),
    (b"x-forwarded-for", b"203.0.113.7"),
    (b"cookie", b"sessionid=secret-session; csrftoken=secret-csrf"),
    (b"authorization", b"Bearer secret-token"),
    (b"proxy-authorization", b"Basic c2VjcmV0"),
    (b"x-api-key", b"secret-key"),
]


@pytest.fixture
async def echo():
    communicator = WebsocketCommunicator(application, PATH + "?probe=1", headers=HEADERS)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    yield communicator
    with contextlib.suppress(Exception):
        await communicator.disconnect(timeout=5)


async def test_echoes_text_with_path_and_safe_headers(echo):
    await echo.send_to(text_data="héllo 🙂")
    frame = await echo.receive_json_from(timeout=5)
    assert frame == {
        "type": "echo",
        "path": PATH,
        "headers": {
            "origin": "http://testserver",
            "host": "testserver",
            "user-agent": "pytest-echo/1.0",
            "x-forwarded-for": "203.0.113.7",
        },
        "data": "héllo 🙂",
    }


async def test_never_echoes_cookies_or_credentials(echo):
    await echo.send_to(text_data="x")
    raw = (await echo.receive_output(timeout=5))["text"]
    assert "secret" not in raw
    headers = json.loads(raw)["headers"]
    assert not {"cookie", "authorization", "proxy-authorization", "x-api-key"} & set(headers)


async def test_binary_frames_are_echoed_decoded(echo):
    await echo.send_to(bytes_data="bïnary".encode())
    assert (await echo.receive_json_from(timeout=5))["data"] == "bïnary"
    await echo.send_to(bytes_data=b"\xffok")
    assert (await echo.receive_json_from(timeout=5))["data"] == "\ufffdok"


async def test_each_frame_gets_one_echo_in_order(echo):
    for n in range(5):
        await echo.send_to(text_data=f"frame {n}")
    assert [(await echo.receive_json_from(timeout=5))["data"] for _ in range(5)] == [
        f"frame {n}" for n in range(5)
    ]
    assert await echo.receive_nothing(timeout=0.1)


def test_safe_headers_is_case_insensitive_and_filters():
    scope = {"headers": [(b"Host", b"a"), (b"Cookie", b"x"), (b"SEC-WEBSOCKET-VERSION", b"13")]}
    assert safe_headers(scope) == {"host": "a", "sec-websocket-version": "13"}
    assert "cookie" not in SAFE_HEADERS and "authorization" not in SAFE_HEADERS
