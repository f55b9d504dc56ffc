"""Authors that cannot be faked: staff and system authors are marked in the author object, and a
user's display name that could pass for the system or a staff member is changed."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import translation

from django_livechat import api, identity, permissions, store
from django_livechat.models import Connection, Message
from tests.conftest import asession_cookie_for, receive_type

User = get_user_model()


def make_user(username, **extra):
    return User.objects.create_user(username=username, password="pw", **extra)


def answer_support_group():
    group = Group.objects.create(name="support")
    group.permissions.add(Permission.objects.get(codename="answer_support"))
    return group


@pytest.mark.django_db
def test_staff_users_are_the_ones_user_is_staff_accepts():
    flagged = make_user("flag", is_staff=True)
    make_user("off", is_staff=True, is_active=False)
    direct = make_user("direct")
    direct.user_permissions.add(Permission.objects.get(codename="answer_support"))
    grouped = make_user("grouped")
    grouped.groups.add(answer_support_group())
    root = User.objects.create_superuser("root", password="pw")
    make_user("plain")
    found = set(permissions.staff_users())
    assert found == {flagged, direct, grouped, root}
    assert all(permissions.user_is_staff(u) for u in found)


@pytest.mark.django_db
@translation.override("en")
def test_a_user_cannot_take_the_name_of_the_system_or_of_a_staff_member():
    make_user("sam", first_name="Sam", last_name="Spade").groups.add(answer_support_group())
    for first, last in (("System", ""), ("sam", "SPADE")):
        user = make_user(f"x{first}", first_name=first, last_name=last)
        who = permissions.resolve_author(identity.for_user(user))
        assert who.name == f"{first} {last}".strip() + f" (user {user.pk})"
    honest = make_user("honest", first_name="Sam", last_name="Small")
    assert permissions.resolve_author(identity.for_user(honest)).name == "Sam Small"
    sam = User.objects.get(username="sam")
    who = permissions.resolve_author(identity.for_user(sam))
    assert (who.name, who.is_staff) == ("Sam Spade", True)


@pytest.mark.django_db
def test_messages_and_history_mark_staff_authors(client, room):
    staff = make_user("sam", first_name="Sam", is_staff=True)
    guest = identity.for_session("authors-test-session-0000000000")
    api.post_message(room, "hello from staff", staff)
    api.post_message(room, "announcement")
    store.write_messages([store.NewMessage(room.pk, guest, "hi", "c1")])
    assert list(Message.objects.order_by("seq").values_list("author_staff", flat=True)) == [
        True,
        False,
        False,
    ]
    messages = client.get(reverse("livechat:history", args=["lobby"])).json()["messages"]
    assert [m["author"] for m in messages] == [
        {"id": f"u:{staff.pk}", "name": "Sam", "kind": "user", "staff": True},
        {"id": "system", "name": "System", "kind": "system"},
        guest.public(),
    ]


@pytest.mark.django_db(transaction=True)
async def test_sockets_see_staff_marked_and_an_impostor_renamed(room, clients):
    with translation.override("en"):  # the sockets inherit it
        staff = await database_sync_to_async(make_user)("sam", first_name="Sam", is_staff=True)
        impostor = await database_sync_to_async(make_user)("imp", first_name="Sam")
        sam, welcome = await clients.connect(cookie=await asession_cookie_for(staff))
        assert welcome["you"]["staff"] is True and welcome["you"]["is_staff"] is True
        imp, welcome = await clients.connect(cookie=await asession_cookie_for(impostor))
        renamed = f"Sam (user {impostor.pk})"
        assert welcome["you"] == {
            "id": f"u:{impostor.pk}",
            "name": renamed,
            "kind": "user",
            "can_post": True,
            "is_staff": False,
        }
        sam_author = {"id": f"u:{staff.pk}", "name": "Sam", "kind": "user", "staff": True}
        assert sam_author in welcome["presence"]
        assert (await receive_type(sam, "presence"))["joined"][0]["name"] == renamed
        await sam.send_json_to({"type": "message", "body": "from staff", "client_id": "s1"})
        await imp.send_json_to({"type": "message", "body": "from impostor", "client_id": "i1"})
        received = [await receive_type(imp, "message"), await receive_type(imp, "message")]
        authors = {m["body"]: m["author"] for m in received}
        assert authors["from staff"] == sam_author
        assert authors["from impostor"] == {
            "id": f"u:{impostor.pk}",
            "name": renamed,
            "kind": "user",
        }
        assert await Connection.objects.filter(staff=True).acount() == 1


@pytest.mark.django_db
def test_badges_and_renamed_names_in_simplified_chinese(client, room):
    html = client.get(
        reverse("livechat:room", args=["lobby"]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    assert 'data-i18n-badge-staff="工作人员"' in html
    assert 'data-i18n-badge-system="系统"' in html
    assert 'data-field="badge" hidden' in html  # in the message template
    who = identity.Identity(key="u:9", name="System", kind="user", user_id=9)
    with translation.override("zh-hans"):
        assert identity.unreserved(who, {"system"}).name == "System（用户 9）"
