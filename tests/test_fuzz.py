"""Property-based fuzzing of the WebSocket protocol, per consumer (hypothesis).

Thousands of random and malformed frames: no unhandled exception, the connection stays usable
(a ping is answered after the storm), and nothing is stored that was not acknowledged.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_livechat.models import Message, Room
from tests.asgi import application
from tests.conftest import ORIGIN, session_cookie_for

pytestmark = pytest.mark.django_db(transaction=True)

FRAMES_PER_EXAMPLE = 60
EXAMPLES = 25  # x 60 = 1,500 frames per consumer and pass (the room consumer: twice, as a
# guest and as staff)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = [
    "body",
    "client_id",
    "before",
    "after",
    "limit",
    "last_read",
    "active",
    "ts",
    "id",
    "user",
    "minutes",
    "scope",
    "reason",
    "locked",
    "room",
    "conversation",
    "status",
]
TYPES = [
    "message",
    "typing",
    "history",
    "read",
    "ping",
    "delete",
    "mute",
    "ban",
    "lock",
    "claim",
    "assign",
    "close",
    "reopen",
    "status",
    "",
    "MESSAGE",
    "__init__",
    "on_message",
    "welcome",
]
field_values = {
    name: json_values
    | st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_:", min_size=1, max_size=70)
    | st.integers(0, 10**6)
    for name in FIELDS
}
json_frames = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES) | json_values}, optional=field_values
).map(lambda d: ("text", json.dumps(d)))
frames = st.one_of(
    json_frames,
    json_frames,
    json_frames,
    st.text(max_size=300).map(lambda t: ("text", t)),
    st.binary(max_size=64).map(lambda b: ("bytes", b)),
    st.sampled_from(["{", "[]", "null", '"x"', "1e999", '{"type": "message"}']).map(
        lambda t: ("text", t)
    ),
)
storm = st.lists(frames, min_size=FRAMES_PER_EXAMPLE, max_size=FRAMES_PER_EXAMPLE)
fuzz_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def run_storm(path, batch, cookie=None, first="welcome"):
    headers = [ORIGIN] + ([(b"cookie", cookie)] if cookie else [])
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    frames_seen = []
    try:
        if first:
            assert (await communicator.receive_json_from(timeout=10))["type"] == first
        for kind, payload in batch:  # raw ASGI events: empty frames included
            await communicator.send_input({"type": "websocket.receive", kind: payload})
        await communicator.send_to(text_data=json.dumps({"type": "ping", "ts": "end-of-storm"}))
        while True:
            output = await communicator.receive_output(timeout=10)
            assert output["type"] == "websocket.send", output  # never closed on us
            frame = json.loads(output["text"])
            frames_seen.append(frame)
            if frame.get("type") in ("pong", "echo") and "end-of-storm" in json.dumps(frame):
                break
        # Messages are stored in the background: their acknowledgements may follow the pong.
        while not await communicator.receive_nothing(timeout=0.5):
            frames_seen.append(json.loads((await communicator.receive_output())["text"]))
    finally:
        await communicator.disconnect()
    return frames_seen


@given(batch=storm)
@fuzz_settings
def test_room_consumer_survives_any_frames(room, batch):
    last_pk = Message.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    seen = async_to_sync(run_storm)("/ws/livechat/rooms/lobby/", batch)
    errors = [f for f in seen if f["type"] == "error"]
    assert all(f["code"] and f["detail"] for f in errors)
    acked = {f["client_id"] for f in seen if f["type"] == "message"}
    # What the storm stored is exactly what was acknowledged to it (a fresh guest each time).
    stored = set(Message.objects.filter(pk__gt=last_pk).values_list("client_id", flat=True))
    assert stored == acked
    assert Room.objects.get(pk=room.pk).locked is False  # a guest cannot moderate


@given(batch=storm)
@fuzz_settings
def test_room_consumer_survives_any_frames_from_staff(room, batch):
    """Staff reach the moderation handlers too: deletes, mutes, bans and locks at random."""
    user, _ = get_user_model().objects.get_or_create(
        username="fuzz-moderator", defaults={"is_staff": True}
    )
    last_pk = Message.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    seen = async_to_sync(run_storm)(
        "/ws/livechat/rooms/lobby/", batch, cookie=session_cookie_for(user)
    )
    assert all(f["code"] and f["detail"] for f in seen if f["type"] == "error")
    acked = {f["client_id"] for f in seen if f["type"] == "message"}
    stored = Message.objects.filter(pk__gt=last_pk, author_key=f"u:{user.pk}")
    assert set(stored.values_list("client_id", flat=True)) <= acked  # nothing unacknowledged


@given(batch=storm)
@fuzz_settings
def test_staff_consumer_survives_any_frames(db, batch):
    user, _ = get_user_model().objects.get_or_create(
        username="fuzz-staff", defaults={"is_staff": True}
    )
    seen = async_to_sync(run_storm)(
        "/ws/livechat/admin/", batch, cookie=session_cookie_for(user), first="queue"
    )
    assert all(f["code"] for f in seen if f["type"] == "error")


@given(batch=storm)
@fuzz_settings
def test_echo_consumer_survives_any_frames(batch):
    seen = async_to_sync(run_storm)("/ws/livechat/echo/", batch, first=None)
    assert len([f for f in seen if f["type"] == "echo"]) == len(batch) + 1
