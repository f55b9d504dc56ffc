"""HTTP pages: the room list, a room page, and the JSON history."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from django_livechat import identity, store
from django_livechat.models import Message, Participant, Room

pytestmark = pytest.mark.django_db

ROOM_LIST = reverse("livechat:room-list")
LOBBY = reverse("livechat:room", args=["lobby"])
HISTORY = reverse("livechat:history", args=["lobby"])
WHO = identity.for_session("views-test-session-000000000000")


def fill(room, count):
    store.write_messages(
        [store.NewMessage(room.pk, WHO, f"m{i}", f"c{i}") for i in range(1, count + 1)]
    )


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("walt", password="pw")


@pytest.fixture
def support_room(db):
    return Room.objects.create(slug="help-1", title="Help for Ann", kind=Room.Kind.SUPPORT)


# -- room list -----------------------------------------------------------------------------


def test_room_list_shows_public_rooms_only(client, room, support_room):
    Room.objects.create(slug="garden", title="Garden")
    response = client.get(ROOM_LIST)
    assert response.status_code == 200
    assert [r.slug for r in response.context["rooms"]] == ["garden", "lobby"]
    html = response.content.decode()
    assert LOBBY in html and "Garden" in html
    assert "Help for Ann" not in html and "help-1" not in html


def test_room_list_counts_unread_messages_for_a_user(client, room, user):
    fill(room, 5)
    Participant.objects.create(room=room, key=f"u:{user.pk}", display_name="walt", last_read=2)
    client.force_login(user)
    (listed,) = client.get(ROOM_LIST).context["rooms"]
    assert listed.unread == 3


def test_room_list_is_get_only(client, room):
    assert client.post(ROOM_LIST).status_code == 405


# -- room page -----------------------------------------------------------------------------


def test_room_page_has_the_paths_for_the_js_client(client, room):
    response = client.get(LOBBY)
    assert response.status_code == 200
    assert response.context["room"] == room
    assert response.context["ws_path"] == "/ws/livechat/rooms/lobby/"
    assert response.context["history_url"] == HISTORY == "/chat/rooms/lobby/history/"
    html = response.content.decode()
    assert 'data-ws-path="/ws/livechat/rooms/lobby/"' in html
    assert 'data-history-url="/chat/rooms/lobby/history/"' in html


def test_room_page_creates_a_session_for_an_anonymous_visitor(client, room):
    assert not Session.objects.exists()
    response = client.get(LOBBY)
    assert response.status_code == 200
    session_key = response.cookies["sessionid"].value
    assert Session.objects.filter(session_key=session_key).exists()
    client.get(LOBBY)  # the same visitor keeps its session, so its identity
    assert client.cookies["sessionid"].value == session_key
    assert Session.objects.count() == 1


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": False})
def test_room_page_redirects_to_login_when_anonymous_is_not_allowed(client, room, user):
    response = client.get(LOBBY)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={LOBBY}"
    client.force_login(user)
    assert client.get(LOBBY).status_code == 200


def test_room_page_404_for_an_unknown_room(client, db):
    assert client.get(reverse("livechat:room", args=["nowhere"])).status_code == 404


def test_room_page_404_for_a_support_room_as_non_staff(client, support_room, user):
    client.force_login(user)
    assert client.get(reverse("livechat:room", args=["help-1"])).status_code == 404


def test_room_page_of_a_support_room_for_staff(client, support_room):
    staff = get_user_model().objects.create_user("sam", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("livechat:room", args=["help-1"])).status_code == 200


def test_room_page_is_get_only(client, room):
    assert client.post(LOBBY).status_code == 405


# -- JSON history --------------------------------------------------------------------------


def ids(response) -> list[int]:
    return [m["id"] for m in response.json()["messages"]]


def test_history_latest(client, room):
    fill(room, 3)
    response = client.get(HISTORY)
    assert response.status_code == 200
    data = response.json()
    assert data["room"] == {"slug": "lobby", "title": "Lobby", "kind": "public", "locked": False}
    assert [m["body"] for m in data["messages"]] == ["m1", "m2", "m3"]
    assert data["has_more"] is False
    assert data["messages"][0]["author"] == WHO.public()
    assert set(data["messages"][0]) == {
        "type",
        "id",
        "room",
        "author",
        "body",
        "created",
        "client_id",
    }


def test_history_after(client, room):
    fill(room, 5)
    response = client.get(HISTORY, {"after": 2})
    assert ids(response) == [3, 4, 5] and response.json()["has_more"] is False
    response = client.get(HISTORY, {"after": 1, "limit": 2})
    assert ids(response) == [2, 3] and response.json()["has_more"] is True


@pytest.mark.parametrize("scope", ["room", "site"])
def test_history_is_not_for_a_banned_user(client, room, scope):
    from django_livechat.models import Sanction

    fill(room, 3)
    user = get_user_model().objects.create_user("mallory", password="x")
    client.force_login(user)
    assert ids(client.get(HISTORY, {"after": 0})) == [1, 2, 3]
    Sanction.objects.create(
        kind=Sanction.Kind.BAN, key=f"u:{user.pk}", room=room if scope == "room" else None
    )
    assert client.get(HISTORY, {"after": 0}).status_code == 404


def test_history_before_and_limit(client, room):
    fill(room, 5)
    response = client.get(HISTORY, {"before": 5, "limit": 2})
    assert ids(response) == [3, 4] and response.json()["has_more"] is True
    response = client.get(HISTORY, {"before": 3, "limit": 2})
    assert ids(response) == [1, 2] and response.json()["has_more"] is False


def test_history_leaves_out_deleted_messages(client, room):
    fill(room, 3)
    Message.objects.filter(room=room, seq=2).update(deleted=timezone.now())
    assert ids(client.get(HISTORY)) == [1, 3]


def test_history_empty_params_mean_absent(client, room):
    fill(room, 2)
    assert ids(client.get(HISTORY, {"after": "", "before": ""})) == [1, 2]


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": True, "HISTORY_PAGE_SIZE": 3})
def test_history_default_limit_never_exceeds_the_page_size(client, room):
    fill(room, 5)
    response = client.get(HISTORY)
    assert ids(response) == [3, 4, 5] and response.json()["has_more"] is True


def assert_bad_request(response, mentions: str):
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error" and error["code"] == "invalid_frame"
    assert mentions in error["detail"]


@pytest.mark.parametrize(
    ("params", "mentions"),
    [
        ({"after": "abc"}, "after"),
        ({"after": "-1"}, "after"),
        ({"before": "1.5"}, "before"),
        ({"limit": "ten"}, "limit"),
        ({"after": "1" * 19}, "after"),
        ({"after": "²"}, "after"),  # str.isdigit() is true for it, int() is not
        ({"after": "١٢"}, "after"),  # Arabic-Indic digits: not an id
        ({"after": 1, "before": 5}, "not both"),
        ({"limit": 0}, "between 1 and 100"),
        ({"limit": 101}, "between 1 and 100"),
    ],
)
def test_history_bad_params_are_400_with_an_error_object(client, room, params, mentions):
    assert_bad_request(client.get(HISTORY, params), mentions)


def test_history_limit_bounds_are_inclusive(client, room):
    fill(room, 2)
    assert ids(client.get(HISTORY, {"limit": 1})) == [2]
    assert ids(client.get(HISTORY, {"limit": 100})) == [1, 2]


def test_history_post_is_405(client, room):
    assert client.post(HISTORY).status_code == 405


def test_history_404_for_unknown_and_forbidden_rooms(client, support_room, user):
    assert client.get(reverse("livechat:history", args=["nowhere"])).status_code == 404
    client.force_login(user)
    assert client.get(reverse("livechat:history", args=["help-1"])).status_code == 404


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": False})
def test_history_404_for_anonymous_when_not_allowed(client, room):
    assert client.get(HISTORY).status_code == 404


def test_cookieless_history_reads_create_no_session(client, room):
    """A crawler's GETs must not grow the session table: a read needs no session."""
    fill(room, 3)
    for _ in range(5):
        response = client.get(HISTORY, {"after": 1})
        assert response.status_code == 200
        assert ids(response) == [2, 3]
        assert "sessionid" not in response.cookies
        client.cookies.clear()
    assert Session.objects.count() == 0


# -- the inbox page ------------------------------------------------------------------------


def test_inbox_page_needs_a_login(client):
    response = client.get(reverse("livechat:inbox"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_inbox_page_lists_the_users_rooms_escaped(client, django_user_model):
    from django_livechat import api

    alice = django_user_model.objects.create_user("alice", password="pw")
    bob = django_user_model.objects.create_user("bob", password="pw")
    team = api.create_room("<b>Team</b>", alice, [bob])
    api.post_message(team, "<img src=x onerror=alert(1)>", bob)
    client.force_login(alice)
    response = client.get(reverse("livechat:inbox"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-ws-path="/ws/livechat/inbox/"' in html
    assert f'data-room="{team.slug}"' in html and 'data-unread="1"' in html
    assert "&lt;b&gt;Team&lt;/b&gt;" in html and "<b>Team</b>" not in html
    assert "&lt;img src=x" in html and "<img src=x" not in html


# -- revisions (issue 15) ------------------------------------------------------------------


def test_revisions_are_for_moderators_only(db, client):
    from django.contrib.auth import get_user_model

    from django_livechat import api

    make = get_user_model().objects.create_user
    ann, bob = make("ann", password="pw"), make("bob", password="pw")
    staff = make("staffer", password="pw", is_staff=True)
    lobby = Room.objects.create(slug="lobby2", title="Lobby")
    message = api.post_message(lobby, "first", ann)
    api.edit_message(message, ann, "second")
    api.edit_message(message, ann, "third")
    url = f"/chat/rooms/lobby2/messages/{message.seq}/revisions/"
    client.force_login(bob)
    assert client.get(url).status_code == 404
    client.force_login(staff)
    answer = client.get(url).json()
    assert answer["body"] == "third" and answer["edited"]
    assert [r["body"] for r in answer["revisions"]] == ["first", "second"]
    assert {r["by"] for r in answer["revisions"]} == {f"u:{ann.pk}"}
