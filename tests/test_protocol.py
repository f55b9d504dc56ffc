"""Pure tests of the wire protocol (docs/protocol.md): parsing client frames, encoding ours."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from django_livechat import protocol
from django_livechat.models import Message
from django_livechat.protocol import (
    STAFF_PARSERS,
    Code,
    History,
    Ping,
    ProtocolError,
    Read,
    SendMessage,
    Typing,
    encode,
    message_frame,
    parse,
    parse_after,
)


def frame(**fields) -> str:
    return json.dumps(fields)


def error_of(text, binary=None, parsers=None) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse(text, binary, parsers)
    assert info.value.detail  # every error has a human-readable sentence
    return info.value


def strict_loads(text: str):
    """``json.loads`` that refuses what browsers' ``JSON.parse`` refuses (NaN, Infinity)."""

    def no_constant(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=no_constant)


# -- frame-level errors --------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "not json", "{", "{'type': 'ping'}", '{"type": "ping",}'])
def test_non_json_is_invalid_json(text):
    assert error_of(text).code == Code.INVALID_JSON


@pytest.mark.parametrize("text", ["[]", '[{"type": "ping"}]', "null", '"ping"', "42", "true"])
def test_json_that_is_not_an_object_is_invalid_json(text):
    assert error_of(text).code == Code.INVALID_JSON


def test_binary_frame_is_not_supported():
    assert error_of(None, b'{"type": "ping"}').code == Code.BINARY_NOT_SUPPORTED
    assert error_of(None).code == Code.BINARY_NOT_SUPPORTED


def test_frame_too_large_counts_characters():
    limit = 16384
    padding = "x" * (limit - len(frame(type="ping", ts="")))
    at_limit = frame(type="ping", ts=padding)
    assert len(at_limit) == limit
    assert parse(at_limit) == Ping(ts=padding)
    assert error_of(frame(type="ping", ts=padding + "x")).code == Code.FRAME_TOO_LARGE


def test_frame_too_large_counts_utf8_bytes():
    text = json.dumps({"type": "ping", "ts": "é" * 9000}, ensure_ascii=False)  # 18,000 bytes
    assert len(text) < 16384 < len(text.encode())
    assert error_of(text).code == Code.FRAME_TOO_LARGE


@override_settings(LIVECHAT={"MAX_FRAME_BYTES": 20})
def test_frame_limit_follows_settings():
    assert parse('{"type": "ping"}') == Ping(ts=None)
    error = error_of(frame(type="ping", ts="0123456789"))
    assert error.code == Code.FRAME_TOO_LARGE
    assert "20" in error.detail


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        '{"body": "hi"}',
        '{"type": null}',
        '{"type": "welcome"}',
        '{"type": "MESSAGE"}',
        '{"type": ""}',
        '{"type": 1}',
        '{"type": ["message"]}',
        '{"type": "__init__"}',
        '{"type": "claim", "conversation": "x"}',  # a staff console frame, not a room one
    ],
)
def test_missing_or_unknown_type(text):
    error = error_of(text)
    assert error.code == Code.UNKNOWN_TYPE
    assert "message" in error.detail  # names the expected types


def test_staff_parsers_know_console_frames_but_not_room_ones():
    assert parse('{"type": "claim", "conversation": "s-1"}', parsers=STAFF_PARSERS).type == "claim"
    assert error_of('{"type": "message"}', parsers=STAFF_PARSERS).code == Code.UNKNOWN_TYPE


def test_protocol_error_frame():
    error = ProtocolError(Code.EMPTY_BODY, "empty", "c1")
    assert error.frame() == {
        "type": "error",
        "code": "empty_body",
        "detail": "empty",
        "client_id": "c1",
    }
    assert "client_id" not in ProtocolError(Code.INVALID_JSON, "bad").frame()


# -- message -------------------------------------------------------------------------------


def test_message_is_parsed_and_stripped():
    command = parse(frame(type="message", body="  hello \n\t", client_id="abc-DEF_123"))
    assert command == SendMessage(body="hello", client_id="abc-DEF_123")
    assert command.type == "message"


def test_inner_white_space_is_kept():
    assert parse(frame(type="message", body=" a \n b ", client_id="c")).body == "a \n b"


def test_unknown_fields_are_ignored():
    command = parse(frame(type="message", body="hi", client_id="c", sender="u:1", extra=[1]))
    assert command == SendMessage(body="hi", client_id="c")


@pytest.mark.parametrize(
    "client_id",
    [None, "", "a" * 65, "has space", "dot.ted", "slash/", "é", "emoji🙂", 42, ["a"], {"a": 1}],
)
def test_invalid_client_id(client_id):
    fields = {"type": "message", "body": "hi"}
    if client_id is not None:
        fields["client_id"] = client_id
    error = error_of(json.dumps(fields))
    assert error.code == Code.INVALID_CLIENT_ID
    assert error.client_id is None  # there is no valid one to echo


@pytest.mark.parametrize(
    "client_id", ["a", "a" * 64, "5b0d8a1e-5c1e-4a53-9e55-2a3c1b7c0a61", "_-_"]
)
def test_valid_client_ids(client_id):
    assert parse(frame(type="message", body="hi", client_id=client_id)).client_id == client_id


def test_client_id_with_a_trailing_newline_is_invalid():
    error = error_of(frame(type="message", body="hi", client_id="abc\n"))
    assert error.code == Code.INVALID_CLIENT_ID


@pytest.mark.parametrize("body", [None, 5, ["hi"], {"text": "hi"}, True])
def test_body_of_the_wrong_type_is_invalid_frame_with_client_id(body):
    fields = {"type": "message", "client_id": "c1"}
    if body is not None:
        fields["body"] = body
    error = error_of(json.dumps(fields))
    assert error.code == Code.INVALID_FRAME
    assert error.client_id == "c1"


@pytest.mark.parametrize("body", ["", " ", "\n\t \r\n", "\u3000"])
def test_empty_body(body):
    error = error_of(frame(type="message", body=body, client_id="c1"))
    assert error.code == Code.EMPTY_BODY
    assert error.client_id == "c1"


def test_body_length_limit_is_inclusive_and_counted_after_stripping():
    exact = "x" * 2000
    assert parse(frame(type="message", body=exact, client_id="c")).body == exact
    assert parse(frame(type="message", body=f"  {exact}\n", client_id="c")).body == exact
    error = error_of(frame(type="message", body=exact + "y", client_id="c"))
    assert error.code == Code.BODY_TOO_LONG
    assert error.client_id == "c"
    assert "2000" in error.detail


def test_body_length_counts_characters_not_bytes():
    body = "é" * 2000
    assert parse(frame(type="message", body=body, client_id="c")).body == body


@override_settings(LIVECHAT={"MAX_BODY_LENGTH": 3})
def test_body_limit_follows_settings():
    assert parse(frame(type="message", body="abc", client_id="c")).body == "abc"
    assert error_of(frame(type="message", body="abcd", client_id="c")).code == Code.BODY_TOO_LONG


@pytest.mark.parametrize(
    "body",
    ["a\\u0000b", "\\u0000", "a\\ud800b", "\\udfff", "ok \\ud83d"],  # NUL; lone surrogates
)
def test_body_the_database_cannot_store_is_invalid_characters_with_its_client_id(body):
    """PostgreSQL refuses NUL in text; neither backend can encode a lone surrogate as UTF-8.
    Refused at parse time, with the client_id: the client drops the entry, never retries."""
    error = error_of('{"type": "message", "body": "' + body + '", "client_id": "c"}')
    assert (error.code, error.client_id) == (Code.INVALID_CHARACTERS, "c")
    assert "body" in error.detail


def test_body_with_a_surrogate_pair_or_other_control_characters_is_accepted():
    text = '{"type": "message", "body": "\\ud83d\\ude00 \\u0001\\u007f\\uffff", "client_id": "c"}'
    assert parse(text).body == "\U0001f600 \x01\x7f\uffff"


@pytest.mark.parametrize("reason", ["spam\\u0000", "spam\\ud800"])
@pytest.mark.parametrize("kind", ["mute", "ban"])
def test_sanction_reason_the_database_cannot_store_is_invalid_characters(kind, reason):
    error = error_of(f'{{"type": "{kind}", "user": "u:7", "reason": "{reason}"}}')
    assert error.code == Code.INVALID_CHARACTERS
    assert "reason" in error.detail


def test_a_lone_surrogate_in_a_field_that_is_not_stored_is_still_invalid_json():
    assert error_of('{"type": "ping", "ts": "\\ud800"}').code == Code.INVALID_JSON
    assert error_of('{"type": "typing", "x\\udc00": 1}').code == Code.INVALID_JSON
    assert parse('{"type": "ping", "ts": "\\u0000"}') == Ping(ts="\x00")  # echoed, not stored


# -- typing, history, read, ping -----------------------------------------------------------


def test_typing():
    assert parse('{"type": "typing", "active": false}') == Typing(active=False)
    assert parse('{"type": "typing"}') == Typing(active=True)
    assert error_of('{"type": "typing", "active": "yes"}').code == Code.INVALID_FRAME
    assert error_of('{"type": "typing", "active": 1}').code == Code.INVALID_FRAME


def test_history_defaults_to_the_latest_page_of_50():
    assert parse('{"type": "history"}') == History(before=None, after=None, limit=50)


@override_settings(LIVECHAT={"HISTORY_PAGE_SIZE": 20})
def test_history_default_limit_never_exceeds_the_page_size():
    assert parse('{"type": "history"}').limit == 20


def test_history_before_or_after():
    assert parse('{"type": "history", "before": 10, "limit": 5}') == History(10, None, 5)
    assert parse('{"type": "history", "after": 0}') == History(None, 0, 50)
    assert parse('{"type": "history", "before": null, "after": 3}') == History(None, 3, 50)


def test_history_before_and_after_together_is_invalid():
    assert error_of('{"type": "history", "before": 5, "after": 1}').code == Code.INVALID_FRAME


@pytest.mark.parametrize("value", [-1, 1.5, "3", True, [1], {"id": 1}])
@pytest.mark.parametrize("field", ["before", "after", "limit"])
def test_history_fields_must_be_non_negative_integers(field, value):
    error = error_of(json.dumps({"type": "history", field: value}))
    assert error.code == Code.INVALID_FRAME
    assert field in error.detail


def test_history_limit_range():
    assert parse('{"type": "history", "limit": 1}').limit == 1
    assert parse('{"type": "history", "limit": 100}').limit == 100
    for limit in (0, 101):
        error = error_of(json.dumps({"type": "history", "limit": limit}))
        assert error.code == Code.INVALID_FRAME
        assert "100" in error.detail


def test_read():
    assert parse('{"type": "read", "last_read": 42}') == Read(last_read=42)
    assert parse('{"type": "read", "last_read": 0}') == Read(last_read=0)
    for bad in ('{"type": "read"}', '{"type": "read", "last_read": -1}'):
        assert error_of(bad).code == Code.INVALID_FRAME
    assert error_of('{"type": "read", "last_read": "4"}').code == Code.INVALID_FRAME


@pytest.mark.parametrize(
    "ts", [None, 0, 1732526400123, -1.5, "abc", "é🙂", [1, "two", None], {"a": {"b": [True]}}]
)
def test_ping_ts_round_trips_through_pong(ts):
    command = parse(json.dumps({"type": "ping", "ts": ts}))
    assert command == Ping(ts=ts)
    pong = encode({"type": "pong", "ts": command.ts})
    assert strict_loads(pong) == {"type": "pong", "ts": ts}


def test_ping_without_ts():
    assert parse('{"type": "ping"}') == Ping(ts=None)


@pytest.mark.parametrize("ts", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_ping_with_a_non_json_number_never_gives_a_non_json_pong(ts):
    try:
        command = parse(f'{{"type": "ping", "ts": {ts}}}')
    except ProtocolError as error:
        assert error.code in (Code.INVALID_JSON, Code.INVALID_FRAME)
        return
    strict_loads(encode({"type": "pong", "ts": command.ts}))


@pytest.mark.parametrize("text", ["[" * 5000, '{"a":' * 3000])
def test_deeply_nested_json_is_invalid_json(text):
    assert error_of(text).code == Code.INVALID_JSON


# -- moderation frames (parsed here, authorized elsewhere) ---------------------------------


def test_moderation_frames():
    assert parse('{"type": "delete", "id": 3}') == protocol.Delete(id=3, room=None)
    mute = parse('{"type": "mute", "user": "u:7"}')
    assert (mute.type, mute.user, mute.minutes, mute.site) == ("mute", "u:7", 10, False)
    ban = parse('{"type": "ban", "user": "g:' + "0" * 20 + '", "scope": "site"}')
    assert (ban.type, ban.minutes, ban.site) == ("ban", None, True)
    assert parse('{"type": "lock", "locked": false}') == protocol.Lock(locked=False, room=None)


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "delete"}',
        '{"type": "mute", "user": "alice"}',
        '{"type": "mute", "user": "u:7", "minutes": 0}',
        '{"type": "mute", "user": "u:7", "minutes": 525601}',
        '{"type": "ban", "user": "u:7", "scope": "planet"}',
        '{"type": "ban", "user": "u:7", "reason": 5}',
        '{"type": "lock", "locked": "yes"}',
        '{"type": "lock", "room": "no spaces"}',
    ],
)
def test_bad_moderation_frames_are_invalid_frame(text):
    assert error_of(text).code == Code.INVALID_FRAME


# -- the query string ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "after"),
    [
        (b"", None),
        (b"x=1", None),
        (b"after=0", 0),
        (b"after=42", 42),
        (b"after=1&after=7", 7),
        (b"after=" + b"9" * 18, 10**18 - 1),
    ],
)
def test_parse_after(query, after):
    assert parse_after(query) == after


@pytest.mark.parametrize(
    "query", [b"after=abc", b"after=-1", b"after=1.5", b"after=+3", b"after=" + b"1" * 19]
)
def test_parse_after_rejects_malformed_values(query):
    with pytest.raises(ValueError):
        parse_after(query)


@pytest.mark.parametrize("query", [b"after=%EF%BC%91", b"after=%D9%A1%D9%A2"])
def test_parse_after_rejects_non_ascii_digits(query):
    with pytest.raises(ValueError):
        parse_after(query)


# -- server frames -------------------------------------------------------------------------


def test_encode_is_compact_and_keeps_unicode():
    assert encode({"type": "x", "body": "é🙂 <b>"}) == '{"type":"x","body":"é🙂 <b>"}'


def make_message(author_key="u:7", name="alice") -> Message:
    return Message(
        seq=43,
        author_key=author_key,
        display_name=name,
        body="hello <script>",
        client_id="c-1",
        created=datetime(2026, 11, 25, 9, 30, 0, 123456, tzinfo=UTC),
    )


def test_message_frame_matches_the_documented_shape():
    assert message_frame("lobby", make_message()) == {
        "type": "message",
        "id": 43,
        "room": "lobby",
        "author": {"id": "u:7", "name": "alice", "kind": "user"},
        "body": "hello <script>",
        "created": "2026-11-25T09:30:00.123456+00:00",
        "client_id": "c-1",
    }


@pytest.mark.parametrize(
    ("key", "kind"),
    [("u:7", "user"), ("g:" + "a" * 20, "guest"), ("c:" + "b" * 32, "guest"), ("system", "system")],
)
def test_message_frame_author_kind(key, kind):
    assert message_frame("lobby", make_message(key, "x"))["author"]["kind"] == kind


def test_message_frame_encodes_to_strict_json():
    text = encode(message_frame("lobby", make_message()))
    assert strict_loads(text)["body"] == "hello <script>"


# -- property-based ------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(
    ["body", "client_id", "before", "after", "limit", "last_read", "active", "ts", "id", "user"]
    + ["minutes", "scope", "reason", "locked", "room", "conversation", "status", "type"]
)
frame_types = st.sampled_from(sorted(set(protocol.PARSERS) | set(STAFF_PARSERS))) | st.text()
json_objects = st.builds(
    lambda kind, fields: {"type": kind, **fields},
    frame_types,
    st.dictionaries(field_names | st.text(), json_values, max_size=6),
) | st.dictionaries(st.text(), json_values)


@given(text=st.text())
def test_arbitrary_text_raises_only_protocol_errors(text):
    try:
        parse(text)
    except ProtocolError as error:
        assert error.code and error.detail


@given(data=json_objects, staff=st.booleans())
def test_arbitrary_json_objects_raise_only_protocol_errors(data, staff):
    try:
        command = parse(json.dumps(data), parsers=STAFF_PARSERS if staff else None)
    except ProtocolError as error:
        assert error.code and error.detail
    else:
        assert command.type == data["type"]


def test_js_final_close_codes_are_the_protocol_ones():
    """connection.js's FINAL_CLOSE_CODES and STAFF_FINAL_CLOSE_CODES are Close.FINAL/STAFF_FINAL."""
    import re
    from pathlib import Path

    import django_livechat

    js = Path(django_livechat.__file__).parent / "static/django_livechat/js/connection.js"
    source = js.read_text()

    def js_set(name):
        found = re.search(rf"export const {name} = new Set\(\[([\d, ]*)\]\);", source)
        assert found, name
        return frozenset(int(code) for code in found[1].split(","))

    assert js_set("FINAL_CLOSE_CODES") == protocol.Close.FINAL
    assert js_set("STAFF_FINAL_CLOSE_CODES") == protocol.Close.STAFF_FINAL
