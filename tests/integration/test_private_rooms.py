"""Private rooms and direct messages (issue 14) across real server processes.

- A member removed by the sync API (run in a separate process, as host code would: a view, a
  management command) loses her sockets to the room on both servers at once, cannot join
  again on either, and the HTTP history of both answers 404 to her; the other member's
  sockets stay and still talk.
- ``open_direct`` raced by two OS processes for the same pairs makes one room per pair, which
  both get, with its two members.
- ``POST direct/`` (``livechat:direct``) from both users of a pair at once, on two servers,
  answers both with the same room, the pair's only one, and lists it once in each user's inbox
  socket on the other server.

The test process reaches the servers' database and layer through ``manage.py shell`` of
example_site with the servers' settings (``harness.manage``), as ``login_cookie`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from tests.integration.client import open_socket
from tests.integration.conftest import unique
from tests.integration.harness import PYTHON, ROOT, manage, server_env

pytestmark = pytest.mark.integration


LOGIN = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django_livechat import api

def login(user):
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return "sessionid=" + session.session_key
"""

SETUP = (
    LOGIN
    + """
users = {n: get_user_model().objects.create_user(f"{n}-{TAG}", password="pw") for n in NAMES}
room = api.create_room("Team " + TAG, users["alice"], [users["bob"], users["carol"]], slug=SLUG)
print(json.dumps({"slug": room.slug, "cookies": {n: login(u) for n, u in users.items()}}))
"""
)

REMOVE = """
import json, time
from django.contrib.auth import get_user_model
from django_livechat import api
from django_livechat.models import Room
users = get_user_model().objects
room = Room.objects.get(slug=SLUG)
removed = api.remove_member(room, users.get(username=WHO), by=users.get(username=BY))
print(json.dumps({"removed": removed, "at": time.time()}))  # committed, its event sent
"""


def shell(database, redis_url, prefix, secret, script, **names) -> str:
    """Run ``script`` (with ``names`` defined) in ``manage.py shell`` of example_site against
    the servers' database and layer (their Redis, their key prefix): its last output line."""
    head = "".join(f"{name} = {value!r}\n" for name, value in names.items())
    output = manage(
        database.url,
        "shell",
        "-c",
        head + script,
        REDIS_URL=redis_url,
        LIVECHAT_IT_PREFIX=prefix,
        SECRET_KEY=secret,
    )
    return output.strip().splitlines()[-1]


def history_status(port: int, slug: str, cookie: str) -> int:
    """The status of ``livechat:history`` of ``slug`` on the server at ``port``."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/chat/rooms/{slug}/history/",
        headers={"Cookie": cookie, "Host": "127.0.0.1"},
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            json.loads(response.read())  # a JSON page
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


async def test_a_member_removed_loses_her_sockets_on_both_servers(
    database, redis_url, servers, clients
):
    secret = "integration-private-" + uuid.uuid4().hex  # one session signer for both servers
    a = await servers.start("uvicorn", database.url, redis_url, name="a", SECRET_KEY=secret)
    b = await servers.start("daphne", database.url, redis_url, name="b", SECRET_KEY=secret)
    tag = uuid.uuid4().hex[:6]
    made = json.loads(
        await asyncio.to_thread(
            shell,
            database,
            redis_url,
            servers.prefix,
            secret,
            SETUP,
            TAG=tag,
            SLUG=unique("team"),
            NAMES=("alice", "bob", "carol"),
        )
    )
    slug, cookies = made["slug"], made["cookies"]
    carol = [
        await clients.connect(s.url, slug, cookie=cookies["carol"], label=f"carol-{s.name}")
        for s in (a, b)
    ]
    bob = [
        await clients.connect(s.url, slug, cookie=cookies["bob"], label=f"bob-{s.name}")
        for s in (a, b)
    ]
    for client in carol + bob:
        assert client.welcomes[-1]["room"]["kind"] == "private"
        assert client.you["role"] == "member"
    for server in (a, b):
        for who in ("carol", "bob"):
            assert await asyncio.to_thread(history_status, server.port, slug, cookies[who]) == 200

    async def closed_at(client) -> float:
        await client.wait_until(lambda: client.closed_for_good, 60, "closed")
        return time.time()

    watching = [asyncio.create_task(closed_at(client)) for client in carol]
    removal = await asyncio.to_thread(
        shell,
        database,
        redis_url,
        servers.prefix,
        secret,
        REMOVE,
        SLUG=slug,
        WHO=f"carol-{tag}",
        BY=f"alice-{tag}",
    )
    removal = json.loads(removal)
    assert removal["removed"] is True
    closes = [at - removal["at"] for at in await asyncio.wait_for(asyncio.gather(*watching), 10)]
    assert max(closes) < 5, f"closed {closes} s after the removal"
    for client in carol:
        assert [c.close_code for c in client.connections] == [4403], client.label
        assert [(e["code"], "client_id" in e) for e in client.errors] == [("forbidden", False)]

    # Her way back is shut on both servers: the socket (4403) and the HTTP history (404).
    for server in (a, b):
        again = await clients.connect(
            server.url, slug, cookie=cookies["carol"], ready=False, label=f"again-{server.name}"
        )
        await again.wait_until(lambda c=again: c.closed_for_good, 10, "the rejoin refused")
        assert [c.close_code for c in again.connections] == [4403]
        assert again.welcomes == []
        assert await asyncio.to_thread(history_status, server.port, slug, cookies["carol"]) == 404
        assert await asyncio.to_thread(history_status, server.port, slug, cookies["bob"]) == 200

    # Bob's sockets were left alone, on both servers, and still talk to each other.
    for sender, receiver in ((bob[0], bob[1]), (bob[1], bob[0])):
        sent = await sender.post(f"{sender.label} after the removal")
        await sender.wait_until(lambda s=sender, i=sent: i in s.acked, 10, "acknowledged")
        seq = sender.acked[sent]
        await receiver.wait_until(lambda r=receiver, n=seq: n in r.messages, 10, f"id {seq}")
    for client in bob:
        assert len(client.connections) == 1 and client.connections[-1].close_code is None
        assert client.errors == []
    stored = database.messages(slug)
    assert [row[3] for row in stored] == [f"{c.label} after the removal" for c in bob]
    assert not [row for row in stored if row[1] == carol[0].you["id"]]
    print(
        f"\n[removal] carol's sockets on a and b closed "
        f"{', '.join(f'{t:+.2f}' for t in closes)} s from the removal's commit"
    )


RACE = """
import json, sys, time
import django
django.setup()
from django.contrib.auth import get_user_model
from django_livechat import api, membership

side, spacing, pairs = int(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3])
users = get_user_model().objects.in_bulk([pk for pair in pairs for pk in pair])  # connected
print("ready", flush=True)
start = float(sys.stdin.readline())  # the barrier: the test sends it once both are ready
creates = []  # per pair: whether this process tried to create the room (its slug was drawn)
drawn = membership._random_slug
def counting(base):
    creates[-1] = True
    return drawn(base)
membership._random_slug = counting
got = []
for n, (one, two) in enumerate(pairs):
    first, second = (users[one], users[two]) if side == 0 else (users[two], users[one])
    creates.append(False)
    while time.time() < start + n * spacing:  # every pair at the same moment in both processes
        pass
    got.append(api.open_direct(first, second).pk)
print(json.dumps({"rooms": got, "creates": creates}))
"""

USERS = """
import json
from django.contrib.auth import get_user_model
get_user_model().objects.bulk_create(
    get_user_model()(username=f"{TAG}-{n}") for n in range(2 * COUNT)
)
pks = sorted(u.pk for u in get_user_model().objects.filter(username__startswith=TAG + "-"))
print(json.dumps([pks[i : i + 2] for i in range(0, len(pks), 2)]))
"""


def test_open_direct_raced_from_two_processes_makes_one_room_per_pair(database, redis_url):
    """Two OS processes open the direct rooms of the same 30 fresh pairs, one as (a, b), the
    other as (b, a), each pair at the same planned moment in both: one room per pair, the same
    pk in both processes, two member rows in it."""
    count, spacing = 30, 0.05
    prefix = f"lcit{uuid.uuid4().hex[:8]}"
    tag = f"dm{uuid.uuid4().hex[:6]}"
    pairs = json.loads(shell(database, redis_url, prefix, "race", USERS, TAG=tag, COUNT=count))
    assert len(pairs) == count
    env = server_env(database.url, redis_url, LIVECHAT_IT_PREFIX=prefix)
    racers = [
        subprocess.Popen(
            [PYTHON, "-c", RACE, str(side), str(spacing), json.dumps(pairs)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for side in (0, 1)
    ]
    results = []
    try:
        for racer in racers:  # both have loaded Django, their users, a database connection
            assert racer.stdout.readline().strip() == "ready", racer.communicate(timeout=30)
        start = time.time() + 0.5
        for racer in racers:
            racer.stdin.write(f"{start}\n")
            racer.stdin.flush()
        for racer in racers:
            out, err = racer.communicate(timeout=120)
            assert racer.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for racer in racers:
            racer.kill()
            racer.wait(timeout=10)

    first, second = results
    assert first["rooms"] == second["rooms"], "the two processes got different rooms"
    assert len(set(first["rooms"])) == count, "two pairs share a room"
    raced = sum(a and b for a, b in zip(first["creates"], second["creates"], strict=True))

    rows = database._rows(
        "SELECT r.id, r.kind, r.pair, "
        "array_agg(p.user_id ORDER BY p.user_id) FILTER (WHERE p.role = 'member'), "
        "count(p.id) "
        "FROM django_livechat_room r LEFT JOIN django_livechat_participant p ON p.room_id = r.id "
        "WHERE r.pair = ANY(%s) GROUP BY r.id",
        [f"{one}:{two}" for one, two in pairs],
    )
    by_pair = {row[2]: row for row in rows}
    assert len(rows) == count, f"{len(rows)} rooms for {count} pairs"
    for n, (one, two) in enumerate(pairs):
        room_pk, kind, _, members, total = by_pair[f"{one}:{two}"]
        assert (room_pk, kind) == (first["rooms"][n], "direct")
        assert (members, total) == ([one, two], 2), f"pair {n}: rows {members}, {total}"
    print(
        f"\n[open_direct] {count} pairs raced by two processes: {raced} with both trying to "
        f"create the room; one room each, the same in both"
    )
    assert raced > 0, "the processes never raced: the test proved nothing"


PAIRS = (
    LOGIN
    + """
model = get_user_model()
model.objects.bulk_create(model(username=f"{TAG}-{s}{n}") for n in range(COUNT) for s in "ab")
users = {u.username: u for u in model.objects.filter(username__startswith=TAG + "-")}
print(json.dumps([
    {s: {"pk": u.pk, "name": u.username, "cookie": login(u)}
     for s, u in (("a", users[f"{TAG}-a{n}"]), ("b", users[f"{TAG}-b{n}"]))}
    for n in range(COUNT)
]))
"""
)


@dataclass
class Poster:
    """One side of a pair: a logged-in user who posts ``direct/`` on the server at ``port``."""

    port: int
    cookie: str  # "sessionid=..."
    field: str  # "user" or "username"
    value: str
    token: str = ""  # the csrftoken cookie's value, from a page of that server

    def headers(self, csrf: bool = True) -> dict[str, str]:
        origin = f"http://127.0.0.1:{self.port}"
        headers = {
            "Cookie": f"{self.cookie}; csrftoken={self.token}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "Origin": origin,
            "Referer": f"{origin}/chat/inbox/",
        }
        if csrf:
            headers["X-CSRFToken"] = self.token
        return headers


def fetch_csrf_token(poster: Poster) -> str:
    """GET the inbox page (it renders a form with ``{% csrf_token %}``) as the poster: the
    ``csrftoken`` cookie the server sets."""
    connection = http.client.HTTPConnection("127.0.0.1", poster.port, timeout=15)
    try:
        connection.request("GET", "/chat/inbox/", headers={"Cookie": poster.cookie})
        response = connection.getresponse()
        response.read()
        assert response.status == 200, f"inbox page: {response.status}"
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, value = header.split(";", 1)[0].partition("=")
            if name.strip() == "csrftoken":
                return value
    finally:
        connection.close()
    raise AssertionError("no csrftoken cookie from the inbox page")


def post_direct(
    poster: Poster, barrier: threading.Barrier | None = None, csrf: bool = True
) -> tuple[int, dict, float, float]:
    """POST ``direct/`` naming the other user, once ``barrier`` lets both sides go (the TCP
    connection is open before): (status, JSON body, sent, answered) (``perf_counter``)."""
    connection = http.client.HTTPConnection("127.0.0.1", poster.port, timeout=15)
    try:
        connection.connect()
        body = urllib.parse.urlencode({poster.field: poster.value})
        headers = poster.headers(csrf)
        if barrier is not None:
            barrier.wait(timeout=15)
        sent = time.perf_counter()
        connection.request("POST", "/chat/direct/", body, headers)
        response = connection.getresponse()
        data = response.read()
        answered = time.perf_counter()
    finally:
        connection.close()
    content_type = response.headers.get("Content-Type", "")
    payload = json.loads(data) if content_type.startswith("application/json") else {}
    return response.status, payload, sent, answered


def race_pairs(sides: list[tuple[Poster, Poster]]) -> list[list[tuple[int, dict, float, float]]]:
    """The pairs one after the other; the two posts of a pair from two threads at once."""
    results = []
    with ThreadPoolExecutor(2) as pool:
        for pair in sides:
            barrier = threading.Barrier(2)
            futures = [pool.submit(post_direct, side, barrier) for side in pair]
            results.append([future.result(timeout=30) for future in futures])
    return results


class Inbox:
    """An inbox socket (``ws/livechat/inbox/``), every frame after the first one kept."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.frames: list[dict] = []
        self.first: dict = {}
        self.got_listed = asyncio.Event()

    async def open(self, stack: contextlib.AsyncExitStack, url: str, cookie: str) -> Inbox:
        ws = await stack.enter_async_context(
            open_socket(f"{url}/ws/livechat/inbox/", cookie=cookie)
        )
        self.first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        reader = asyncio.create_task(self._read(ws))
        stack.push_async_callback(self._stop, reader)
        return self

    async def _read(self, ws) -> None:
        with contextlib.suppress(Exception):
            async for text in ws:
                self.frames.append(json.loads(text))
                if self.frames[-1].get("type") == "listed":
                    self.got_listed.set()

    @staticmethod
    async def _stop(reader: asyncio.Task) -> None:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader

    def listed(self) -> list[str]:
        """The slugs of the ``listed`` frames, in order."""
        return [f["room"]["slug"] for f in self.frames if f.get("type") == "listed"]


async def test_direct_posted_at_once_on_two_servers_makes_one_room_per_pair(
    database, redis_url, servers
):
    """For 20 fresh pairs, a posts ``direct/`` naming b on server A (uvicorn) while b posts
    naming a on server B (daphne), at the same moment, with real CSRF (the token cookie from
    the inbox page, the header, the Origin and Referer of the server): both answers name the
    same room, which is the pair's only one, with its two member rows; each user's inbox socket,
    opened beforehand on the other server, lists that room exactly once.

    Whether a pair raced (both requests tried to insert the room) is told by the room ids: the
    pairs go one after the other, and a losing insert (the pair is unique) still draws an id
    from the room table's sequence, so a pair that raced leaves a gap of one before its room."""
    count = 20
    secret = "integration-direct-" + uuid.uuid4().hex  # one session signer for both servers
    a = await servers.start("uvicorn", database.url, redis_url, name="a", SECRET_KEY=secret)
    b = await servers.start("daphne", database.url, redis_url, name="b", SECRET_KEY=secret)
    tag = f"hd{uuid.uuid4().hex[:6]}"
    pairs = json.loads(
        await asyncio.to_thread(
            shell, database, redis_url, servers.prefix, secret, PAIRS, TAG=tag, COUNT=count
        )
    )
    assert len(pairs) == count
    # a names b by pk on A; b names a by username on B: both forms of the endpoint.
    sides = [
        (
            Poster(a.port, pair["a"]["cookie"], "user", str(pair["b"]["pk"])),
            Poster(b.port, pair["b"]["cookie"], "username", pair["a"]["name"]),
        )
        for pair in pairs
    ]
    started = time.perf_counter()
    tokens = await asyncio.gather(
        *(asyncio.to_thread(fetch_csrf_token, p) for pair in sides for p in pair)
    )
    for poster, token in zip([p for pair in sides for p in pair], tokens, strict=True):
        poster.token = token

    # CSRF is on: without the header the post is refused.
    status, _, _, _ = await asyncio.to_thread(post_direct, sides[0][0], None, False)
    assert status == 403, f"a post without the CSRF token answered {status}"

    async with contextlib.AsyncExitStack() as stack:
        # Each user's inbox on the other server than the one they post to.
        inboxes = [
            [
                await Inbox(f"a{n}@b").open(stack, b.url, pair["a"]["cookie"]),
                await Inbox(f"b{n}@a").open(stack, a.url, pair["b"]["cookie"]),
            ]
            for n, pair in enumerate(pairs)
        ]
        for inbox in (i for two in inboxes for i in two):
            assert inbox.first["type"] == "inbox", inbox.first
            assert inbox.first["rooms"] == [], f"{inbox.label}: {inbox.first['rooms']}"
        [(baseline,)] = database._rows(
            "SELECT nextval(pg_get_serial_sequence('django_livechat_room', 'id'))"
        )
        wired = time.perf_counter()
        results = await asyncio.to_thread(race_pairs, sides)
        raced_at = time.perf_counter()

        slugs = []
        for n, (mine, theirs) in enumerate(results):
            assert (mine[0], theirs[0]) == (200, 200), f"pair {n}: {mine[:2]} {theirs[:2]}"
            assert mine[1]["room"] == theirs[1]["room"], f"pair {n}: two rooms {mine} {theirs}"
            assert mine[1]["url"] == theirs[1]["url"] == f"/chat/rooms/{mine[1]['room']}/"
            slugs.append(mine[1]["room"])
        assert len(set(slugs)) == count, "two pairs share a room"

        everyone = [i for two in inboxes for i in two]
        try:
            await asyncio.wait_for(asyncio.gather(*(i.got_listed.wait() for i in everyone)), 10)
        except TimeoutError:
            missing = [i.label for i in everyone if not i.got_listed.is_set()]
            raise AssertionError(f"no listed frame in 10 s on {missing}") from None
        await asyncio.sleep(1.0)  # time enough for a second listed to arrive, if one were sent
        for n, (of_a, of_b) in enumerate(inboxes):
            for inbox, other in ((of_a, pairs[n]["b"]), (of_b, pairs[n]["a"])):
                assert inbox.listed() == [slugs[n]], f"{inbox.label}: listed {inbox.listed()}"
                [entry] = [f["room"] for f in inbox.frames if f.get("type") == "listed"]
                assert (entry["kind"], entry["with"]["id"]) == ("direct", f"u:{other['pk']}")

    rows = database._rows(
        "SELECT r.id, r.slug, r.kind, r.pair, "
        "array_agg(p.user_id ORDER BY p.user_id) FILTER (WHERE p.role = 'member'), "
        "count(p.id) "
        "FROM django_livechat_room r LEFT JOIN django_livechat_participant p ON p.room_id = r.id "
        "WHERE r.pair = ANY(%s) GROUP BY r.id",
        [identity_pair(pair) for pair in pairs],
    )
    by_pair = {row[3]: row for row in rows}
    assert len(rows) == count, f"{len(rows)} rooms for {count} pairs"
    [(direct_rooms,)] = database._rows(
        "SELECT count(*) FROM django_livechat_room r JOIN django_livechat_participant p "
        "ON p.room_id = r.id WHERE r.kind = 'direct' AND p.user_id = ANY(%s)",
        [pair[s]["pk"] for pair in pairs for s in "ab"],
    )
    assert direct_rooms == 2 * count, f"{direct_rooms} memberships of direct rooms"
    raced = []
    previous = baseline
    for n, pair in enumerate(pairs):
        room_id, slug, kind, _, members, total = by_pair[identity_pair(pair)]
        assert (slug, kind) == (slugs[n], "direct"), f"pair {n}"
        assert (members, total) == (sorted([pair["a"]["pk"], pair["b"]["pk"]]), 2), f"pair {n}"
        assert room_id > previous, f"pair {n}: room {room_id} before {previous}"
        if room_id - previous > 1:  # the other side's insert drew an id and lost
            raced.append(n)
        previous = room_id

    overlaps = sum(max(mine[2], theirs[2]) < min(mine[3], theirs[3]) for mine, theirs in results)
    latencies = sorted(r[3] - r[2] for pair in results for r in pair)
    print(
        f"\n[direct over HTTP] {count} pairs on {a.kind} and {b.kind}: {len(raced)} raced "
        f"(both servers inserted the room: pairs {raced}), {overlaps} with overlapping "
        f"requests; one room each, both answers the same, each inbox listed it once; "
        f"posts {latencies[len(latencies) // 2] * 1000:.0f} ms median, "
        f"{latencies[-1] * 1000:.0f} ms max; setup {wired - started:.1f} s, "
        f"race {raced_at - wired:.1f} s"
    )
    assert raced, "no pair raced (no request lost the insert): the test proved nothing"


def identity_pair(pair: dict) -> str:
    low, high = sorted((pair["a"]["pk"], pair["b"]["pk"]))
    return f"{low}:{high}"
