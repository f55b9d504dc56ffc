"""Who may do what in private and direct rooms, on every path: the WebSocket join and its
frames (``message``, ``history``, ``delete``, ``mute``, ``lock``), the HTTP history and room
page, the template tag; and the rules of ``permissions`` alone.

The cast: a private room "team" with an owner, a moderator and a member; a user who is none
of those (the outsider); a staff member who is not a member; an anonymous visitor (a session
guest, with ``ALLOW_ANONYMOUS`` on in the test settings); and the direct room of the owner and
the member.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from django_livechat import membership, permissions
from django_livechat.models import Message, Participant, Room, RoomChange, Sanction
from tests.conftest import join, join_refused, receive_type

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = ("owner", "moderator", "member", "outsider", "staff")


@pytest.fixture
def cast(db):
    users = {
        name: get_user_model().objects.create_user(name, password="pw", is_staff=name == "staff")
        for name in NAMES
    }
    return SimpleNamespace(anonymous=None, **users)


@pytest.fixture
def team(cast):
    room = membership.create_room("Team", cast.owner, [cast.member], slug="team")
    membership.add(room, cast.moderator, "moderator")
    return room


@pytest.fixture
def direct(cast):
    return membership.open_direct(cast.owner, cast.member)


async def closed_with(socket):
    """The close code the server sends next, skipping the frames before it."""
    while True:
        out = await socket.receive_output(timeout=5)
        if out["type"] == "websocket.close":
            return out["code"]


async def post(socket, body, client_id):
    await socket.send_json_to({"type": "message", "body": body, "client_id": client_id})


# -- the WebSocket join --------------------------------------------------------------------


@pytest.mark.parametrize(("who", "code"), [("anonymous", 4401), ("outsider", 4403)])
async def test_a_private_room_refuses_the_anonymous_and_non_members(team, cast, clients, who, code):
    assert await join_refused(clients, "team", getattr(cast, who)) == code


@pytest.mark.parametrize(
    ("who", "role"),
    [("owner", "owner"), ("moderator", "moderator"), ("member", "member"), ("staff", None)],
)
async def test_a_private_room_admits_its_members_and_staff(team, cast, clients, who, role):
    _, welcome = await join(clients, "team", getattr(cast, who))
    assert welcome["room"]["kind"] == "private"
    assert welcome["you"].get("role") == role


@pytest.mark.parametrize(
    ("who", "code"), [("anonymous", 4401), ("outsider", 4403), ("moderator", 4403)]
)
async def test_a_direct_room_refuses_everyone_but_its_pair_and_staff(
    direct, cast, clients, who, code
):
    assert await join_refused(clients, direct.slug, getattr(cast, who)) == code


@pytest.mark.parametrize("who", ["owner", "member", "staff"])
async def test_a_direct_room_admits_its_pair_and_staff(direct, cast, clients, who):
    _, welcome = await join(clients, direct.slug, getattr(cast, who))
    assert welcome["room"]["kind"] == "direct"


async def test_a_public_room_still_admits_everyone(room, cast, clients):
    for user in (None, cast.outsider):
        _, welcome = await join(clients, "lobby", user)
        assert welcome["room"]["kind"] == "public" and "role" not in welcome["you"]


# -- frames --------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["member", "staff"])
async def test_members_and_staff_post_and_members_receive(team, cast, clients, who):
    owner, _ = await join(clients, "team", cast.owner)
    sender, _ = await join(clients, "team", getattr(cast, who))
    await post(sender, "hello team", "c1")
    assert (await receive_type(sender, "message"))["body"] == "hello team"
    assert (await receive_type(owner, "message"))["body"] == "hello team"


async def test_a_member_removed_silently_cannot_post_and_is_closed(team, cast, clients):
    """The removal's event lost (the role changed in the database alone): the writer still
    refuses the message, and the socket closes with 4403."""
    socket, _ = await join(clients, "team", cast.member)
    await database_sync_to_async(Participant.objects.filter(room=team, user=cast.member).update)(
        role=""
    )
    await post(socket, "still here?", "c1")
    error = await receive_type(socket, "error")
    assert (error["code"], error["client_id"]) == ("forbidden", "c1")
    assert await closed_with(socket) == 4403
    assert not await database_sync_to_async(Message.objects.exists)()


async def test_a_history_frame_checks_membership_again(team, cast, clients):
    socket, _ = await join(clients, "team", cast.member)
    await socket.send_json_to({"type": "history"})
    assert (await receive_type(socket, "history"))["messages"] == []
    await database_sync_to_async(Participant.objects.filter(room=team, user=cast.member).update)(
        role=""
    )
    await socket.send_json_to({"type": "history"})
    assert await closed_with(socket) == 4403


@pytest.mark.parametrize("who", ["owner", "moderator", "staff"])
async def test_owners_moderators_and_staff_delete_mute_and_lock(team, cast, clients, who):
    target, _ = await join(clients, "team", cast.member)
    moderator, _ = await join(clients, "team", getattr(cast, who))
    await post(target, "spam", "c1")
    seq = (await receive_type(target, "message"))["id"]
    await moderator.send_json_to({"type": "delete", "id": seq})
    assert (await receive_type(target, "deleted"))["id"] == seq
    await moderator.send_json_to({"type": "mute", "user": f"u:{cast.member.pk}", "minutes": 5})
    assert (await receive_type(target, "error"))["code"] == "muted"
    await moderator.send_json_to({"type": "lock", "locked": True})
    assert (await receive_type(target, "room"))["room"]["locked"] is True
    assert await database_sync_to_async(Sanction.objects.filter(room=team).count)() == 1


@pytest.mark.parametrize(
    ("actor", "target", "allowed"),
    [
        ("moderator", "owner", False),
        ("moderator", "moderator", False),
        ("owner", "moderator", True),
        ("moderator", "member", True),
        ("staff", "owner", True),
    ],
)
async def test_owners_and_moderators_sanction_only_those_below_them(
    team, cast, clients, actor, target, allowed
):
    """A room's moderator cannot mute its owner (nor another moderator); its owner can mute a
    moderator; staff anyone who is not staff."""
    victim = getattr(cast, target)
    if actor == target:  # another moderator of the room
        victim = await get_user_model().objects.acreate(username="mod2")
        await database_sync_to_async(membership.add)(team, victim, "moderator")
    socket, _ = await join(clients, "team", getattr(cast, actor))
    await socket.send_json_to({"type": "mute", "user": f"u:{victim.pk}", "minutes": 5})
    await socket.send_json_to({"type": "ping", "ts": 1})  # answered after the mute was handled
    frame = await socket.receive_json_from(timeout=5)
    if not allowed:
        assert (frame["type"], frame.get("code")) == ("error", "forbidden")
        frame = await socket.receive_json_from(timeout=5)
    assert frame == {"type": "pong", "ts": 1}
    muted = await Sanction.objects.filter(key=f"u:{victim.pk}", room=team).aexists()
    assert muted is allowed


async def test_members_may_not_moderate(team, cast, clients):
    owner, _ = await join(clients, "team", cast.owner)
    await post(owner, "mine", "c1")
    seq = (await receive_type(owner, "message"))["id"]
    member, _ = await join(clients, "team", cast.member)
    for frame in (
        {"type": "delete", "id": seq},
        {"type": "mute", "user": f"u:{cast.owner.pk}"},
        {"type": "ban", "user": f"u:{cast.owner.pk}"},
        {"type": "lock", "locked": True},
    ):
        await member.send_json_to(frame)
        assert (await receive_type(member, "error"))["code"] == "forbidden"
    assert not await database_sync_to_async(RoomChange.objects.exists)()
    assert not await database_sync_to_async(Sanction.objects.exists)()


async def test_a_room_moderator_moderates_only_their_room(team, room, cast, clients):
    """A frame's own ``room`` names another room: the role there is what counts."""
    socket, _ = await join(clients, "team", cast.moderator)
    for frame in (
        {"type": "lock", "locked": True, "room": "lobby"},
        {"type": "mute", "user": f"u:{cast.member.pk}", "room": "lobby"},
        {"type": "ban", "user": f"u:{cast.member.pk}", "scope": "site"},
    ):
        await socket.send_json_to(frame)
        assert (await receive_type(socket, "error"))["code"] == "forbidden"
    assert not (await Room.objects.aget(slug="lobby")).locked
    assert not await database_sync_to_async(Sanction.objects.exists)()


async def test_the_owner_of_a_public_room_moderates_it(cast, clients):
    await database_sync_to_async(membership.create_room)(
        "Open", cast.owner, private=False, slug="open"
    )
    guest, _ = await join(clients, "open", None)
    owner, welcome = await join(clients, "open", cast.owner)
    assert welcome["you"]["role"] == "owner"
    await owner.send_json_to({"type": "lock", "locked": True})
    assert (await receive_type(guest, "room"))["room"]["locked"] is True
    await guest.send_json_to({"type": "lock", "locked": False})
    assert (await receive_type(guest, "error"))["code"] == "forbidden"


# -- HTTP ----------------------------------------------------------------------------------


def client_for(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("anonymous", 404),
        ("outsider", 404),
        ("member", 200),
        ("moderator", 200),
        ("owner", 200),
        ("staff", 200),
    ],
)
def test_the_history_endpoint_answers_members_and_staff_only(team, cast, who, status):
    response = client_for(getattr(cast, who)).get(reverse("livechat:history", args=["team"]))
    assert response.status_code == status
    if status == 200:
        assert response.json()["room"]["kind"] == "private"


@pytest.mark.parametrize(
    ("who", "status"), [("anonymous", 404), ("outsider", 404), ("member", 200), ("staff", 200)]
)
def test_the_history_of_a_direct_room(direct, cast, who, status):
    url = reverse("livechat:history", args=[direct.slug])
    assert client_for(getattr(cast, who)).get(url).status_code == status


def test_the_room_page_sends_the_anonymous_to_log_in_and_hides_from_others(team, cast):
    url = reverse("livechat:room", args=["team"])
    response = client_for(None).get(url)
    assert response.status_code == 302 and "login" in response["Location"]
    assert client_for(cast.outsider).get(url).status_code == 404
    assert client_for(cast.member).get(url).status_code == 200


@pytest.mark.parametrize(("who", "shown"), [("member", True), ("outsider", False)])
def test_the_template_tag_embeds_a_private_room_for_its_members_only(team, cast, who, shown):
    from django.template import Context, Template
    from django.test import RequestFactory

    request = RequestFactory().get("/page/")
    request.user = getattr(cast, who)
    html = Template('{% load livechat %}{% livechat_room "team" %}').render(
        Context({"request": request})
    )
    assert ('data-ws-path="/ws/livechat/rooms/team/"' in html) is shown


# -- the rules alone -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("by", "before", "after", "allowed"),
    [
        ("owner", "", "owner", True),
        ("owner", "owner", "", True),
        ("moderator", "", "member", True),
        ("moderator", "member", "moderator", True),
        ("moderator", "moderator", "", True),
        ("moderator", "", "owner", False),
        ("moderator", "owner", "", False),
        ("member", "", "member", False),
        ("outsider", "", "member", False),
        ("staff", "owner", "", True),
        ("anonymous", "", "member", False),
    ],
)
def test_who_may_change_members(team, cast, by, before, after, allowed):
    assert permissions.may_manage(team, getattr(cast, by), before, after) is allowed


def test_may_moderate_reads_the_role_now(team, cast):
    assert permissions.may_moderate(team, cast.moderator)
    Participant.objects.filter(room=team, user=cast.moderator).update(role="member")
    assert not permissions.may_moderate(team, cast.moderator)
    assert permissions.may_moderate(team, cast.staff) and permissions.may_moderate(None, cast.staff)
    assert not permissions.may_moderate(None, cast.owner)


def test_an_inactive_owner_may_do_nothing(team, cast):
    cast.owner.is_active = False
    cast.owner.save()
    assert not permissions.may_moderate(team, cast.owner)
    assert not permissions.may_manage(team, cast.owner, "", "member")


def test_a_reader_row_is_not_a_membership(room, team, cast):
    """Joining a room makes a row for read positions, with no role: no member."""
    from django_livechat import identity, store

    store.join_room("lobby", identity.for_user(cast.outsider), "chan-1", "proc")
    assert Participant.objects.get(room=room, user=cast.outsider).role == ""
    assert not permissions.is_member(room, cast.outsider.pk)
    assert permissions.is_member(team, cast.member.pk)


class _EveryonesPermissionBackend:
    """A host's own backend: it gives every active user the staff permission."""

    def authenticate(self, request, **credentials):
        return None

    def has_perm(self, user, perm, obj=None):
        return user.is_active and perm == permissions.STAFF_PERMISSION


@pytest.mark.django_db
def test_staff_of_a_batch_agrees_with_user_is_staff_whatever_the_backends(settings):
    model = get_user_model()
    plain = model.objects.create_user("plain")
    flagged = model.objects.create_user("flagged", is_staff=True)
    boss = model.objects.create_superuser("boss", password="pw")
    gone = model.objects.create_user("gone", is_staff=True, is_active=False)
    agent = model.objects.create_user("agent")
    group = Group.objects.create(name="agents")
    group.permissions.add(Permission.objects.get(codename="answer_support"))
    agent.groups.add(group)
    everyone = [plain, flagged, boss, gone, agent]
    pks = {u.pk for u in everyone} | {987654}  # and a user that does not exist

    def each():
        return {u.pk: permissions.user_is_staff(model.objects.get(pk=u.pk)) for u in everyone}

    batch = permissions.staff_of(pks)
    assert batch.pop(987654) is False
    assert (
        batch
        == each()
        == {plain.pk: False, flagged.pk: True, boss.pk: True, gone.pk: False, agent.pk: True}
    )
    settings.AUTHENTICATION_BACKENDS = [f"{__name__}._EveryonesPermissionBackend"]
    batch = permissions.staff_of(pks)
    assert batch.pop(987654) is False
    assert batch == each() and batch[plain.pk] is True  # the host's backend is asked
