"""A local Web Push service for the tests: an HTTP server on 127.0.0.1 (in a thread) that takes
pushes as a push service does, checks their VAPID signature (RFC 8292) and decrypts their
aes128gcm payload (RFC 8291) with the subscriber's keys, as the browser would.

``Subscriber`` plays the browser: a P-256 key pair and a 16-byte auth secret, made here, whose
public half goes into the subscription (``p256dh``, ``auth``). A push to
``/push/<status>/<token>`` is answered ``<status>`` (201: accepted; 404, 410: gone; 307: a
redirect to ``/push/201/<token>``; 500...);
``/slow/<seconds>/<token>`` answers 201 after a pause.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

#: The largest push a push service takes (RFC 8291, section 4: 4096 octets of payload).
MAX_BODY = 4096


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Subscriber:
    """A browser's side of one subscription: the keys that decrypt what is pushed to it."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.secret = os.urandom(16)

    @property
    def p256dh(self) -> str:
        return b64url(
            self.key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )

    @property
    def auth(self) -> str:
        return b64url(self.secret)

    def decrypt(self, body: bytes) -> bytes:
        return http_ece.decrypt(
            body, private_key=self.key, auth_secret=self.secret, version="aes128gcm"
        )


def verify_vapid(header: str, public_key: str) -> dict[str, Any]:
    """The claims of the ``Authorization: vapid t=<JWT>,k=<key>`` header, once its ES256
    signature is verified with ``public_key`` (the site's, base64url); AssertionError if not."""
    scheme, _, params = header.partition(" ")
    assert scheme == "vapid", header
    parts = dict(item.strip().split("=", 1) for item in params.split(","))
    assert parts["k"] == public_key, "signed with another key"
    signed, _, signature = parts["t"].rpartition(".")
    head = json.loads(unb64url(signed.split(".")[0]))
    assert head == {"typ": "JWT", "alg": "ES256"}, head
    raw = unb64url(signature)
    assert len(raw) == 64, "an ES256 signature is r || s, 32 bytes each"
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(public_key))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        key.verify(der, signed.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise AssertionError("the VAPID signature does not verify") from None
    return json.loads(unb64url(signed.split(".")[1]))


@dataclass
class Push:
    """One push the receiver took, decrypted (``payload``) when it was for a known token."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    payload: Any = None
    claims: dict[str, Any] = field(default_factory=dict)
    error: str = ""


class PushReceiver:
    """The local push service; ``with PushReceiver(vapid_public_key) as receiver: ...``."""

    def __init__(self, vapid_public_key: str) -> None:
        self.vapid_public_key = vapid_public_key
        self.subscribers: dict[str, Subscriber] = {}
        self.pushes: list[Push] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> PushReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def subscribe(self, status: int = 201, *, slow: float = 0) -> tuple[str, Subscriber]:
        """A new subscriber and the endpoint of its subscription (answered ``status``)."""
        token = b64url(os.urandom(12))
        subscriber = Subscriber()
        self.subscribers[token] = subscriber
        path = f"/slow/{slow}/{token}" if slow else f"/push/{status}/{token}"
        return self.url + path, subscriber

    def subscription_json(self, status: int = 201) -> tuple[dict[str, Any], Subscriber]:
        """A subscription as ``PushSubscription.toJSON()`` gives it."""
        endpoint, subscriber = self.subscribe(status)
        keys = {"p256dh": subscriber.p256dh, "auth": subscriber.auth}
        return {"endpoint": endpoint, "keys": keys}, subscriber

    def received(self, endpoint: str) -> list[Push]:
        path = endpoint.removeprefix(self.url)
        with self.lock:
            return [push for push in self.pushes if push.path == path]

    def wait_for(self, endpoint: str, timeout: float = 10) -> Push:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.received(endpoint)
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no push reached {endpoint}")

    def _take(self, path: str, headers: dict[str, str], body: bytes) -> int:
        kind, _, rest = path.strip("/").partition("/")
        value, _, token = rest.partition("/")
        if kind == "slow":
            time.sleep(float(value))
            status = 201
        else:
            status = int(value or 0) or 404
        if len(body) > MAX_BODY:
            status = 413  # as push services do (RFC 8030, section 7.2)
        push = Push(path=path, headers=headers, body=body, status=status)
        subscriber = self.subscribers.get(token)
        try:
            if subscriber is None:
                raise AssertionError(f"unknown subscription {token!r}")
            push.claims = verify_vapid(headers.get("authorization", ""), self.vapid_public_key)
            push.payload = json.loads(subscriber.decrypt(body))
        except Exception as error:  # recorded; the test asserts on it
            push.error = f"{type(error).__name__}: {error}"
        with self.lock:
            self.pushes.append(push)
        return status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                status = receiver._take(self.path, headers, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                if status == 201:
                    self.send_header("Location", f"{receiver.url}/message/{time.time_ns()}")
                elif 300 <= status < 400:  # to the same subscriber, accepted: if followed
                    token = self.path.rstrip("/").rpartition("/")[2]
                    self.send_header("Location", f"{receiver.url}/push/201/{token}")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
