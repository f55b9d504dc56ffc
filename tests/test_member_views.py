"""The members endpoints (django_livechat/member_views.py): users, direct, room-create and
members, for anonymous visitors, outsiders, members, moderators, owners and staff; bad input;
DIRECT_MESSAGE_USERS; the members panel of the room page; and the ``members`` / ``renamed``
frames that reach the room's open sockets."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.urls import reverse

from django_livechat import membership
from django_livechat.models import AuditEntry, Participant, Room
from tests.conftest import asession_cookie_for, receive_type

pytestmark = pytest.mark.django_db

USERS = reverse("livechat:users")
DIRECT = reverse("livechat:direct")
CREATE = reverse("livechat:room-create")
JSON = {"HTTP_ACCEPT": "application/json"}


def make_user(name, **extra):
    return get_user_model().objects.create_user(name, password="pw", **extra)


def colleagues(user):
    """A DIRECT_MESSAGE_USERS callable for the tests: the users of the same last name."""
    return get_user_model().objects.filter(last_name=user.last_name)


def dm_users(path):
    return override_settings(LIVECHAT={**settings.LIVECHAT, "DIRECT_MESSAGE_USERS": path})


@pytest.fixture
def people(db):
    """ann owns the private room "team", mo moderates it, mem is a member; out is not; sam is
    staff (not a member)."""
    found = {
        "ann": make_user("ann", first_name="Ann", last_name="Lee"),
        "mo": make_user("mo", first_name="Mo", last_name="Lee"),
        "mem": make_user("mem", first_name="Mem"),
        "out": make_user("out", first_name="Otto", last_name="Lee"),
        "sam": make_user("sam", is_staff=True),
    }
    team = membership.create_room("Team", found["ann"], [found["mem"]], slug="team")
    membership.add(team, found["mo"], "moderator")
    found["team"] = team
    return found


def client_for(user=None, **kwargs):
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client


def members_url(slug="team"):
    return reverse("livechat:members", args=[slug])


def roles(room):
    rows = Participant.objects.filter(room=room).exclude(role="")
    return dict(rows.values_list("user__username", "role"))


def post(user, data, slug="team"):
    return client_for(user).post(members_url(slug), data, **JSON)


def is_error(response, status, code):
    body = response.json()
    return response.status_code == status and body["type"] == "error" and body["code"] == code


# -- livechat:users --------------------------------------------------------------------------


def test_users_needs_a_login(people):
    assert is_error(Client().get(USERS), 401, "forbidden")


def test_users_matches_username_and_names_never_the_requester(people):
    make_user("gone", first_name="Lee", is_active=False)  # inactive: never listed
    found = client_for(people["ann"]).get(USERS, {"q": "LEE"}).json()["users"]
    assert [u["username"] for u in found] == ["mo", "out"]  # last name Lee; not ann herself
    assert found[1] == {"id": people["out"].pk, "username": "out", "name": "Otto Lee"}
    by_name = client_for(people["ann"]).get(USERS, {"q": "ott"}).json()["users"]
    assert [u["username"] for u in by_name] == ["out"]


def test_users_without_q_lists_the_first_twenty_by_username(people):
    for i in range(25):
        make_user(f"z{i:02d}")
    found = client_for(people["sam"]).get(USERS).json()["users"]
    assert len(found) == 20
    assert [u["username"] for u in found[:4]] == ["ann", "mem", "mo", "out"]
    assert "sam" not in [u["username"] for u in found]


def test_users_honours_direct_message_users(people):
    with dm_users("tests.test_member_views.colleagues"):
        found = client_for(people["ann"]).get(USERS).json()["users"]
    assert [u["username"] for u in found] == ["mo", "out"]  # the Lees, ann excluded


def test_users_is_get_only(people):
    assert client_for(people["ann"]).post(USERS).status_code == 405


# -- livechat:direct -------------------------------------------------------------------------


def test_direct_opens_one_room_per_pair_and_redirects(people):
    ann, out = people["ann"], people["out"]
    response = client_for(ann).post(DIRECT, {"user": out.pk})
    room = Room.objects.get(kind=Room.Kind.DIRECT)
    assert response.status_code == 302
    assert response["Location"] == reverse("livechat:room", args=[room.slug])
    assert roles(room) == {"ann": "member", "out": "member"}
    again = client_for(out).post(DIRECT, {"username": "ann"}, **JSON)  # either side, by name
    assert again.json() == {"room": room.slug, "url": reverse("livechat:room", args=[room.slug])}
    assert Room.objects.filter(kind=Room.Kind.DIRECT).count() == 1


def test_direct_refuses_anonymous_unknown_inactive_and_oneself(people):
    gone = make_user("gone", is_active=False)
    assert is_error(Client().post(DIRECT, {"user": people["out"].pk}), 401, "forbidden")
    ann = client_for(people["ann"])
    for data in (
        {"user": 9999},
        {"user": "nobody"},
        {"user": "1" * 40},
        {"user": gone.pk},
        {"user": people["ann"].pk},
        {"username": ""},
        {},
    ):
        assert is_error(ann.post(DIRECT, data, **JSON), 404, "not_found"), data
        assert ann.post(DIRECT, data).status_code == 404  # a form's post: the 404 page
    assert ann.get(DIRECT).status_code == 405
    assert not Room.objects.filter(kind=Room.Kind.DIRECT).exists()


def test_direct_honours_direct_message_users(people):
    with dm_users("tests.test_member_views.colleagues"):
        ann = client_for(people["ann"])
        assert is_error(ann.post(DIRECT, {"user": people["mem"].pk}, **JSON), 404, "not_found")
        assert ann.post(DIRECT, {"user": people["out"].pk}).status_code == 302
    assert Room.objects.filter(kind=Room.Kind.DIRECT).count() == 1


def test_direct_needs_the_csrf_token(people):
    client = client_for(people["ann"], enforce_csrf_checks=True)
    assert client.post(DIRECT, {"user": people["out"].pk}).status_code == 403
    assert not Room.objects.filter(kind=Room.Kind.DIRECT).exists()


# -- livechat:room-create --------------------------------------------------------------------


def test_room_create_needs_a_login(people):
    response = Client().get(CREATE)
    assert response.status_code == 302 and response["Location"].startswith(settings.LOGIN_URL)
    assert Client().post(CREATE, {"title": "X"}).status_code == 302
    assert not Room.objects.filter(title="X").exists()


def test_room_create_makes_a_private_room_with_the_members(people):
    client = client_for(people["mem"])
    page = client.get(CREATE)
    assert page.status_code == 200 and 'name="members"' in page.content.decode()
    response = client.post(CREATE, {"title": "Book club", "members": "out, ann  mem,,"})
    room = Room.objects.get(title="Book club")
    assert response.status_code == 302
    assert response["Location"] == reverse("livechat:room", args=[room.slug])
    assert room.kind == Room.Kind.PRIVATE
    assert roles(room) == {"mem": "owner", "out": "member", "ann": "member"}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"title": "", "members": "out"}, "title"),
        ({"title": "   ", "members": ""}, "title"),
        ({"title": "Club", "members": "out nobody"}, "members"),
        ({"title": "Club\x00", "members": ""}, "title"),
    ],
)
def test_room_create_shows_form_errors(people, data, field):
    response = client_for(people["mem"]).post(CREATE, data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert Room.objects.count() == 1  # the team only


def test_room_create_members_must_be_direct_message_users(people):
    with dm_users("tests.test_member_views.colleagues"):
        response = client_for(people["ann"]).post(CREATE, {"title": "Club", "members": "mem"})
        assert "mem" in str(response.context["form"].errors["members"])
        assert client_for(people["ann"]).post(CREATE, {"title": "Club", "members": "out"})
    assert roles(Room.objects.get(title="Club")) == {"ann": "owner", "out": "member"}


def test_room_create_never_takes_the_slug_of_its_own_page(people):
    client_for(people["ann"]).post(CREATE, {"title": "New"})
    room = Room.objects.get(title="New")
    assert room.slug != "new" and room.slug.startswith("new-")
    assert (
        client_for(people["ann"]).get(reverse("livechat:room", args=[room.slug])).status_code == 200
    )


def test_room_create_needs_the_csrf_token(people):
    client = client_for(people["ann"], enforce_csrf_checks=True)
    assert client.post(CREATE, {"title": "Club"}).status_code == 403
    assert not Room.objects.filter(title="Club").exists()


# -- livechat:members, GET -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "role", "can_manage", "can_moderate"),
    [
        ("ann", "owner", True, True),
        ("mo", "moderator", True, True),
        ("mem", "member", False, False),
        ("sam", "", True, True),
    ],
)
def test_members_lists_the_members_for_who_may_enter(people, who, role, can_manage, can_moderate):
    body = client_for(people[who]).get(members_url()).json()
    assert (body["title"], body["kind"]) == ("Team", "private")
    assert [(m["username"], m["role"]) for m in body["members"]] == [
        ("ann", "owner"),
        ("mo", "moderator"),
        ("mem", "member"),
    ]
    assert body["members"][0] == {
        "id": people["ann"].pk,
        "username": "ann",
        "name": "Ann Lee",
        "role": "owner",
    }
    you = body["you"]
    assert (you["id"], you["role"]) == (people[who].pk, role)
    assert (you["can_manage"], you["can_moderate"]) == (can_manage, can_moderate)


@pytest.mark.parametrize("who", [None, "out"])
def test_members_is_404_for_who_may_not_enter(people, who):
    response = client_for(people[who] if who else None).get(members_url())
    assert response.status_code == 404
    assert client_for(people["ann"]).get(members_url("nowhere")).status_code == 404


def test_members_of_a_public_room_for_anonymous_visitors(people, room):
    """tests.settings allows anonymous visitors: they may enter, see, and change nothing."""
    membership.add(room, people["ann"], "owner")
    body = Client().get(members_url("lobby")).json()
    assert [m["username"] for m in body["members"]] == ["ann"]
    assert body["you"] == {"id": None, "role": "", "can_manage": False, "can_moderate": False}
    response = Client().post(members_url("lobby"), {"action": "leave"})
    assert is_error(response, 401, "forbidden")


def test_members_of_a_direct_room_cannot_be_managed(people):
    dm = membership.open_direct(people["ann"], people["out"])
    body = client_for(people["ann"]).get(members_url(dm.slug)).json()
    assert body["kind"] == "direct" and body["you"]["can_manage"] is False
    assert [m["username"] for m in body["members"]] == ["ann", "out"]


# -- livechat:members, POST: who may do what -------------------------------------------------


@pytest.mark.parametrize(
    ("who", "role", "allowed"),
    [
        ("ann", "member", True),
        ("ann", "owner", True),
        ("mo", "member", True),
        ("mo", "moderator", True),
        ("mo", "owner", False),  # moderators make no owners
        ("mem", "member", False),
        ("sam", "owner", True),  # staff, not a member
    ],
)
def test_add_by_role(people, who, role, allowed):
    response = post(people[who], {"action": "add", "user": people["out"].pk, "role": role})
    if allowed:
        assert response.status_code == 200
        assert roles(people["team"])["out"] == role
        assert ["out", role] in [[m["username"], m["role"]] for m in response.json()["members"]]
    else:
        assert is_error(response, 403, "forbidden")
        assert "out" not in roles(people["team"])


def test_add_by_username_with_the_default_role(people):
    response = post(people["ann"], {"action": "add", "user": "out"})
    assert response.status_code == 200 and roles(people["team"])["out"] == "member"
    assert AuditEntry.objects.filter(action="add_member", actor=people["ann"]).exists()


@pytest.mark.parametrize(("who", "status"), [(None, 404), ("out", 404)])
def test_outsiders_change_nothing(people, who, status):
    for data in (
        {"action": "add", "user": people["out"].pk},
        {"action": "remove", "user": people["mem"].pk},
        {"action": "rename", "title": "Mine"},
        {"action": "leave"},
    ):
        response = client_for(people[who] if who else None).post(members_url(), data)
        assert response.status_code == status, data
    assert roles(people["team"]) == {"ann": "owner", "mo": "moderator", "mem": "member"}
    assert Room.objects.get(slug="team").title == "Team"


@pytest.mark.parametrize(
    ("who", "target", "role", "allowed"),
    [
        ("ann", "mem", "moderator", True),
        ("ann", "mo", "owner", True),
        ("mo", "mem", "moderator", True),
        ("mo", "ann", "member", False),  # unmaking an owner
        ("mem", "mem", "moderator", False),
        ("sam", "mem", "owner", True),
    ],
)
def test_role_changes_by_role(people, who, target, role, allowed):
    before = roles(people["team"])[target]
    data = {"action": "role", "user": people[target].pk, "role": role}
    response = post(people[who], data)
    if allowed:
        assert response.status_code == 200 and roles(people["team"])[target] == role
    else:
        assert is_error(response, 403, "forbidden")
        assert roles(people["team"])[target] == before


@pytest.mark.parametrize(
    ("who", "target", "allowed"),
    [
        ("ann", "mo", True),
        ("mo", "mem", True),
        ("mo", "ann", False),  # an owner
        ("mem", "mo", False),
        ("sam", "ann", True),  # the last owner: ownership goes to mem, then the longest member
    ],
)
def test_remove_by_role(people, who, target, allowed):
    response = post(people[who], {"action": "remove", "user": people[target].pk})
    if allowed:
        assert response.status_code == 200
        assert target not in roles(people["team"])
        assert target not in [m["username"] for m in response.json()["members"]]
    else:
        assert is_error(response, 403, "forbidden")
        assert target in roles(people["team"])


def test_the_last_owner_cannot_demote_themself(people):
    response = post(people["ann"], {"action": "role", "user": people["ann"].pk, "role": "member"})
    assert is_error(response, 400, "invalid_frame")
    assert "last owner" in response.json()["detail"]


@pytest.mark.parametrize("who", ["mem", "mo", "ann"])
def test_leave(people, who):
    response = post(people[who], {"action": "leave"})
    assert response.status_code == 200 and response.json() == {"left": True}
    assert who not in roles(people["team"])
    assert client_for(people[who]).get(members_url()).status_code == 404  # out of the room


def test_staff_who_is_no_member_leaves_nothing(people):
    assert post(people["sam"], {"action": "leave"}).json() == {"left": False}


@pytest.mark.parametrize(
    ("who", "allowed"), [("ann", True), ("mo", True), ("mem", False), ("sam", True)]
)
def test_rename_by_role(people, who, allowed):
    response = post(people[who], {"action": "rename", "title": "  Design  "})
    title = Room.objects.get(slug="team").title
    if allowed:
        assert response.status_code == 200 and response.json()["title"] == "Design" == title
        entry = AuditEntry.objects.get(action="rename_room")
        assert entry.actor == people[who] and entry.detail["title"] == "Design"
    else:
        assert is_error(response, 403, "forbidden") and title == "Team"


# -- livechat:members, POST: bad input -------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        ({}, 400, "invalid_frame"),
        ({"action": "explode"}, 400, "invalid_frame"),
        ({"action": "add", "user": "nobody"}, 404, "not_found"),
        ({"action": "add", "user": "9" * 30}, 404, "not_found"),  # no database's integer
        ({"action": "remove", "user": "-1"}, 404, "not_found"),
        ({"action": "add", "user": ""}, 404, "not_found"),
        ({"action": "add", "user": "out", "role": "admin"}, 400, "invalid_frame"),
        ({"action": "role", "user": "mem"}, 400, "invalid_frame"),
        ({"action": "role", "user": "out", "role": "member"}, 404, "not_found"),  # no member
        ({"action": "remove", "user": "out"}, 404, "not_found"),
        ({"action": "rename", "title": "   "}, 400, "invalid_frame"),
        ({"action": "rename"}, 400, "invalid_frame"),
    ],
)
def test_bad_input_gets_a_clear_error(people, data, status, code):
    response = post(people["ann"], data)
    assert is_error(response, status, code), response.json()
    assert response.json()["detail"]
    assert roles(people["team"]) == {"ann": "owner", "mo": "moderator", "mem": "member"}
    assert Room.objects.get(slug="team").title == "Team"


def test_a_direct_room_changes_no_member_and_no_title(people):
    dm = membership.open_direct(people["ann"], people["out"])
    for data in (
        {"action": "add", "user": people["mem"].pk},
        {"action": "remove", "user": people["out"].pk},
        {"action": "role", "user": people["out"].pk, "role": "owner"},
        {"action": "leave"},
        {"action": "rename", "title": "Ours"},
    ):
        assert is_error(post(people["ann"], data, dm.slug), 400, "invalid_frame"), data
    assert roles(dm) == {"ann": "member", "out": "member"}
    assert Room.objects.get(pk=dm.pk).title == dm.title


def test_add_honours_direct_message_users(people):
    with dm_users("tests.test_member_views.colleagues"):
        assert is_error(post(people["ann"], {"action": "add", "user": "sam"}), 404, "not_found")
        assert post(people["ann"], {"action": "add", "user": "out"}).status_code == 200
        # a member already (not a Lee) may still get another role
        response = post(people["ann"], {"action": "add", "user": "mem", "role": "moderator"})
        assert response.status_code == 200
    assert roles(people["team"]) == {
        "ann": "owner",
        "mo": "moderator",
        "mem": "moderator",
        "out": "member",
    }


def test_members_post_needs_the_csrf_token(people):
    client = client_for(people["ann"], enforce_csrf_checks=True)
    response = client.post(members_url(), {"action": "remove", "user": people["mem"].pk})
    assert response.status_code == 403
    assert "mem" in roles(people["team"])


def test_members_is_get_and_post_only(people):
    assert client_for(people["ann"]).put(members_url()).status_code == 405


# -- the room page ---------------------------------------------------------------------------


def test_a_private_room_page_has_the_members_panel(people):
    html = client_for(people["mem"]).get(reverse("livechat:room", args=["team"])).content.decode()
    assert f'data-members-url="{members_url()}"' in html
    assert f'data-users-url="{USERS}"' in html
    assert 'data-i18n-role-moderator="moderator"' in html and "data-csrf-token=" in html


def test_a_public_room_page_has_the_panel_only_with_members(people, room):
    url = reverse("livechat:room", args=["lobby"])
    assert "data-livechat-members" not in Client().get(url).content.decode()
    membership.add(room, people["ann"], "owner")
    assert "data-livechat-members" in Client().get(url).content.decode()


def test_a_direct_room_page_is_titled_with_the_other_members_name(people):
    dm = membership.open_direct(people["ann"], people["out"])
    url = reverse("livechat:room", args=[dm.slug])
    for who, title in (("ann", "Otto Lee"), ("out", "Ann Lee"), ("sam", dm.title)):
        response = client_for(people[who]).get(url)
        assert response.context["title"] == title
        assert f"<title>{title}</title>" in response.content.decode().replace("&amp;", "&")


# -- frames to the room's open sockets -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_changes_reach_the_rooms_sockets_as_members_and_renamed_frames(people, clients):
    socket, welcome = await clients.connect("team", cookie=await asession_cookie_for(people["mem"]))
    assert welcome["you"]["role"] == "member"

    @database_sync_to_async
    def as_owner(data):
        return post(people["ann"], data).status_code

    assert await as_owner({"action": "add", "user": people["out"].pk}) == 200
    assert await receive_type(socket, "members") == {"type": "members", "room": "team"}
    assert await as_owner({"action": "role", "user": people["out"].pk, "role": "moderator"}) == 200
    assert await receive_type(socket, "members") == {"type": "members", "room": "team"}
    assert await as_owner({"action": "rename", "title": "Design"}) == 200
    renamed = await receive_type(socket, "renamed")
    assert renamed == {"type": "renamed", "room": "team", "title": "Design"}
    assert await as_owner({"action": "remove", "user": people["out"].pk}) == 200
    assert await receive_type(socket, "members") == {"type": "members", "room": "team"}
    assert await as_owner({"action": "explode"}) == 400  # refused: nothing is sent
    await socket.send_json_to({"type": "ping", "ts": 1})
    assert (await socket.receive_json_from(timeout=5))["type"] == "pong"


def test_the_panel_and_the_errors_speak_simplified_chinese(people):
    client = client_for(people["mem"])
    page = client.get(reverse("livechat:room", args=["team"]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = page.content.decode()
    assert "离开聊天室" in html and 'data-i18n-role-owner="所有者"' in html
    assert 'data-i18n-remove-confirm="要将 %(name)s 移出此聊天室吗？"' in html
    refused = client.post(members_url(), {"action": "rename"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert refused.json()["detail"] == "您无权在此聊天室中执行此操作。"
