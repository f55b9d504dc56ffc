"""Who a connection is: a user, a session guest or a one-connection guest."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.base import SessionBase
from django.test import override_settings
from django.utils import translation

from django_livechat import identity

User = get_user_model()

SESSION_KEY_RE = re.compile(r"^g:[0-9a-f]{20}$")
CONNECTION_KEY_RE = re.compile(r"^c:[0-9a-f]{32}$")
GUEST_NAME_RE = re.compile(r"^Guest [0-9]{4}-[0-9]{4}$")


class FakeSession(SessionBase):
    """A session with a fixed key and no storage: from_scope only reads ``session_key``."""

    def __init__(self, key):
        super().__init__(session_key=key)


# -- users ---------------------------------------------------------------------------------


def test_user_identity_uses_the_full_name():
    user = User(pk=7, username="alice", first_name="Alice", last_name="Liddell")
    who = identity.for_user(user)
    assert who == identity.Identity(
        key="u:7", name="Alice Liddell", kind="user", user_id=7, is_staff=False
    )
    assert who.public() == {"id": "u:7", "name": "Alice Liddell", "kind": "user"}
    assert not who.is_anonymous


def test_user_identity_falls_back_to_the_username():
    assert identity.for_user(User(pk=8, username="bob")).name == "bob"
    assert identity.for_user(User(pk=9, username="carol", first_name="  ")).name == "carol"


def test_user_name_is_cut_to_150_characters():
    user = User(pk=1, username="x", first_name="a" * 100, last_name="b" * 100)
    assert len(identity.for_user(user).name) == 150


def test_staff_flag_only_for_active_staff():
    assert identity.for_user(User(pk=1, username="s", is_staff=True)).is_staff is True
    inactive = User(pk=2, username="t", is_staff=True, is_active=False)
    assert identity.for_user(inactive).is_staff is False
    assert identity.for_user(User(pk=3, username="u")).is_staff is False


# -- session guests ------------------------------------------------------------------------


def test_session_identity_is_stable_for_one_session():
    first = identity.for_session("k" * 32)
    again = identity.for_session("k" * 32)
    assert first == again
    assert SESSION_KEY_RE.match(first.key)
    assert first.kind == "guest" and first.is_anonymous
    assert first.user_id is None and first.is_staff is False


def test_session_identity_differs_between_sessions():
    assert identity.for_session("a" * 32).key != identity.for_session("b" * 32).key


def test_session_identity_reveals_nothing_of_the_session_key():
    session_key = "0123456789abcdef0123456789abcdef"
    who = identity.for_session(session_key)
    public = repr(who) + repr(who.public())
    for start in range(0, len(session_key) - 7):
        assert session_key[start : start + 8] not in public


def test_session_identity_is_keyed_by_the_secret_key():
    """A keyed hash: without SECRET_KEY, nobody can map a session key to its guest id."""
    first = identity.for_session("s" * 32).key
    with override_settings(SECRET_KEY="another-secret"):
        assert identity.for_session("s" * 32).key != first


# -- one-connection guests -----------------------------------------------------------------


def test_connection_identity_is_new_for_each_connection():
    keys = {identity.for_connection().key for _ in range(100)}
    assert len(keys) == 100
    assert all(CONNECTION_KEY_RE.match(key) for key in keys)


@translation.override("en")  # a zh-hans request of another test may leave zh-hans active
def test_guest_names():
    assert identity.guest_name("g:0f3a1234") == "Guest 5546-3988"  # 0x0f3a1234 % 10**8
    assert identity.guest_name("c:abcd") == "Guest 0004-3981"
    assert GUEST_NAME_RE.match(identity.for_connection().name)
    assert GUEST_NAME_RE.match(identity.for_session("x" * 32).name)
    with translation.override("zh-hans"):
        assert identity.guest_name("g:0f3a1234") == "访客 5546-3988"


def test_guest_names_rarely_collide():
    """4 hex digits gave one name in 65,536: 10,000 sessions shared ~700 names. Now one in 10^8:
    about 0.5 collisions expected among 10,000."""
    names = [identity.for_session(f"session-{i:026d}").name for i in range(10_000)]
    assert len(names) - len(set(names)) <= 5


def test_system_identity():
    assert identity.SYSTEM.public() == {"id": "system", "name": "System", "kind": "system"}
    assert not identity.SYSTEM.is_anonymous


def test_only_staff_authors_carry_the_staff_flag():
    staff = identity.for_user(User(pk=4, username="sam", is_staff=True))
    assert staff.public() == {"id": "u:4", "name": "sam", "kind": "user", "staff": True}
    assert "staff" not in identity.for_user(User(pk=5, username="uma")).public()
    assert "staff" not in identity.for_session("s" * 32).public()


@translation.override("en")
def test_a_name_like_a_reserved_one_is_changed_for_non_staff_users_only():
    reserved = {identity.name_key("System"), identity.name_key("Sam Spade")}
    for name in ("System", "  SYSTEM ", "ｓｙｓｔｅｍ", "sam   spade"):  # case, spaces, full width
        who = identity.Identity(key="u:9", name=name, kind="user", user_id=9)
        assert identity.unreserved(who, reserved).name == f"{name} (user 9)"
    staff = identity.Identity(key="u:3", name="Sam Spade", kind="user", user_id=3, is_staff=True)
    assert identity.unreserved(staff, reserved) is staff
    other = identity.Identity(key="u:9", name="Systems Ltd", kind="user", user_id=9)
    assert identity.unreserved(other, reserved) is other


# -- from_scope ----------------------------------------------------------------------------


def test_from_scope_with_a_user():
    user = User(pk=5, username="eve")
    assert identity.from_scope({"user": user, "session": FakeSession("z" * 32)}).key == "u:5"


def test_from_scope_anonymous_with_a_session():
    scope = {"user": AnonymousUser(), "session": FakeSession("q" * 32)}
    assert identity.from_scope(scope) == identity.for_session("q" * 32)


def test_from_scope_anonymous_without_session_gets_a_connection_identity():
    first = identity.from_scope({"user": AnonymousUser()})
    second = identity.from_scope({"user": AnonymousUser()})
    assert CONNECTION_KEY_RE.match(first.key) and CONNECTION_KEY_RE.match(second.key)
    assert first.key != second.key


def test_from_scope_with_a_session_that_has_no_key_yet():
    scope = {"user": AnonymousUser(), "session": FakeSession(None)}
    assert CONNECTION_KEY_RE.match(identity.from_scope(scope).key)


def test_from_scope_with_an_empty_scope():
    assert CONNECTION_KEY_RE.match(identity.from_scope({}).key)
