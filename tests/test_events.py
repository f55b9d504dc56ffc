"""The channel layer's vocabulary: namespaced names, one builder per event."""

from __future__ import annotations

from django_livechat import events


def test_event_types_are_namespaced_and_distinct():
    types = [
        events.MESSAGES,
        events.FRAME,
        events.CHANGE,
        events.SANCTION,
        events.REMOVED,
        events.STAFF_ONLINE,
        events.CONVERSATION,
        events.STAFF,
        events.SLOW,
        events.LAYER_BACK,
    ]
    assert len(set(types)) == len(types)
    assert all(t.startswith("livechat.") for t in types)
    # a consumer's handler is its type with dots as underscores (channels' dispatch)
    assert events.CONVERSATION.replace(".", "_") == "livechat_conversation"


def test_groups_are_namespaced():
    assert events.room_group(42) == "livechat.room.42"
    assert {events.STAFF_GROUP, events.VISITORS_GROUP} == {"livechat.staff", "livechat.visitors"}


def test_each_builder_gives_its_type_and_the_room_it_concerns():
    built = {
        events.MESSAGES: events.messages(3, [[1, "{}"]]),
        events.FRAME: events.frame(3, "{}", skip="g:1"),
        events.CHANGE: events.change(3, 2, "{}", deleted=5),
        events.SANCTION: events.sanction(3, "g:1", "ban", None),
        events.REMOVED: events.removed(3, "u:1"),
        events.CONVERSATION: events.conversation(3),
    }
    for kind, event in built.items():
        assert event["type"] == kind and event["room"] == 3
    assert events.change(3, 2, "{}", deleted=None) == {
        "type": "livechat.change",
        "room": 3,
        "change": 2,
        "text": "{}",
        "deleted": None,
    }
    assert events.staff_online(True) == {"type": "livechat.staff_online", "online": True}
    assert events.staff([]) == {"type": "livechat.staff", "staff": []}
