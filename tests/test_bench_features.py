"""The benchmark's ``features`` scenario (benchmarks/features.py, scenarios.features): its
clients react, take back and edit as its docstring says, against the real room consumer, and
its accounting of the ``updated`` frames (every change on every socket, in change order) counts
what it says; report.feature_problems makes a run with a lost or reordered change incorrect.
No timing is asserted."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict

import pytest

from benchmarks import load, report
from benchmarks.features import Features, FeaturesClient
from benchmarks.run import REPEATED
from benchmarks.scenarios import (
    SCENARIOS,
    SEVERAL_SERVERS,
    Sizes,
    bigroom_setup,
    room_counts,
    with_features,
)


class CommSocket:
    """A WebsocketCommunicator as the load client's connection: ``send`` a text frame, iterate
    over the text frames received until the server closes."""

    def __init__(self, communicator):
        self.communicator = communicator

    async def send(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    def __aiter__(self):
        return self._frames()

    async def _frames(self):
        while True:
            out = await self.communicator.receive_output(timeout=30)
            if out["type"] == "websocket.close":
                return
            if out.get("text"):
                yield out["text"]


def far() -> int:
    return time.monotonic_ns() + int(60e9)


@pytest.mark.django_db(transaction=True)
async def test_features_clients_against_the_room_consumer(room, clients):
    """Two clients of one room send 3 messages each: each reacts to the other's 3 (every
    message picked, every reader reacts), takes all 3 back a second later (under the server's
    5 per second), and edits its 2nd message: 14 changes, each reaching both sockets once (a
    frame may stand for several of one message), in change order, and no error."""
    features = Features(
        readers=1, react_share=1, reader_share=1, take_back_share=1,
        take_back_after=(1.05, 1.1), edit_share=0.5, max_rate=4,
    )  # fmt: skip
    pair: list[FeaturesClient] = []
    for index in range(2):
        communicator, _ = await clients.connect("lobby")
        client = FeaturesClient("ws://test", index, "lobby", True, [], features=features)
        client.ws, client.deadline = CommSocket(communicator), far()
        pair.append(client)
    readers = [asyncio.create_task(c.read()) for c in pair]
    try:
        await asyncio.gather(*(c.send_window(far(), 1, 3) for c in pair))
        assert [c.acked for c in pair] == [3, 3]
        await asyncio.sleep(1.3)  # the take-backs
        made = sum(c.changes_made for c in pair)
        assert made == 14
        for client in pair:
            client.expect_changes(made)
        await asyncio.wait_for(asyncio.gather(*(c.changes_done.wait() for c in pair)), 10)
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    for client in pair:
        counts = client.counts()
        assert counts["errors"] == 0, client.error_sample
        assert (client.reacted, client.taken_back, client.edited, client.skipped) == (3, 3, 1, 0)
        assert client.frames_sent == {"react": 6, "edit": 1}
        assert client.given == {}  # every reaction taken back
        # changes of one message that meet in one batch of the writer come as one frame
        assert 0 < counts["features_updated"] <= 14
        assert sorted(client.change_seen) == list(range(1, 15))
        assert counts["features_change_out_of_order"] == counts["features_change_gaps"] == 0
        assert counts["features_changes_lost"] == counts["features_changes_extra"] == 0
        assert counts["features_sockets_checked"] == 1
        assert (counts["lost"], counts["dups"], counts["gaps"]) == (0, 0, 0)


def updated(change: int, room: str = "lobby") -> str:
    return json.dumps({"type": "updated", "room": room, "change": change,
                       "message": {"id": 1}})  # fmt: skip


class FakeSocket:
    """Frames for ``read``, then the end of the connection; what is sent is kept."""

    def __init__(self, frames):
        self.frames, self.sent = frames, []

    async def send(self, text):
        self.sent.append(json.loads(text))

    def __aiter__(self):
        return self._gen()

    async def _gen(self):
        for frame in self.frames:
            yield frame


async def test_updated_frames_out_of_order_skipped_or_missing_are_counted():
    client = FeaturesClient("ws://x", 0, "lobby", False, [])
    client.ws = FakeSocket([updated(4), updated(5), updated(7), updated(6), updated(6),
                            updated(9, room="other")])  # fmt: skip
    client.closing = True
    await client.read()
    client.expect_changes(6)  # the room had 6 changes (say 2 to 7): 4, 5, 6, 7 came
    counts = client.counts()
    assert counts["features_updated"] == 6
    assert counts["features_change_gaps"] == 1  # 5 -> 7
    assert counts["features_change_out_of_order"] == 2  # 6 after 7, and 6 again
    assert counts["features_other_room"] == 1
    assert counts["features_changes_lost"] == 2 and client.changes_done.is_set() is False

    baseline = FeaturesClient("ws://x", 1, "lobby", False, [], features=Features(verify=False))
    baseline.expect_changes(6)  # the baseline sends no updated frames: not lost, not waited for
    assert baseline.changes_done.is_set() and baseline.counts()["features_changes_lost"] == 0


def message(seq: int, cid: str) -> dict:
    return {"type": "message", "id": seq, "room": "lobby", "body": f"{time.monotonic_ns()} x",
            "client_id": cid}  # fmt: skip


async def test_reactions_follow_the_policy_the_rate_cap_and_the_deadline():
    features = Features(readers=9, react_share=0.5, reader_share=1, max_per_message=9,
                        take_back_share=0, edit_share=0.25, max_rate=2)  # fmt: skip
    client = FeaturesClient("ws://x", 0, "lobby", True, [], features=features)
    client.ws, client.deadline = FakeSocket([]), far()
    for seq in range(1, 9):  # another's messages: the even ids are picked, 2 react frames a second
        client._take(message(seq, f"c1-{seq}"), time.monotonic_ns())
    client._take(message(9, "c0-4"), time.monotonic_ns())  # its own 4th: edited
    client._take(message(10, "c0-5"), time.monotonic_ns())  # its own 5th: not
    await asyncio.sleep(0.01)
    sent = client.ws.sent
    assert [(f["type"], f["id"]) for f in sent] == [("react", 2), ("react", 4), ("edit", 9)]
    assert sent[2]["body"].endswith(" (edited)")
    assert (client.reacted, client.skipped, client.edited, client.changes_made) == (2, 2, 1, 3)
    client.deadline = time.monotonic_ns()  # over: nothing more is sent
    client.recent.clear()
    client._take(message(12, "c1-12"), time.monotonic_ns())
    client._take(message(14, "c0-8"), time.monotonic_ns())
    await asyncio.sleep(0.01)
    assert len(client.ws.sent) == 3 and client.changes_made == 3


def test_the_policy_caps_reactions_per_message_in_a_big_room():
    small, big = Features(readers=4), Features(readers=999)
    assert small.reader_probability() == 0.1  # 1 in 10 readers
    assert big.reader_probability() == pytest.approx(3 / 999)  # about 3 per message, not 100
    assert [n for n in range(1, 11) if small.picked(n)] == [5, 10]  # 1 in 5, the same for all
    assert [n for n in range(1, 21) if small.edits(n)] == [10, 20]  # 1 in 10 of one's own


def test_the_scenario_is_wired_in():
    assert "features" in SCENARIOS and "features" in SEVERAL_SERVERS
    assert room_counts(Sizes())["features"] == Sizes().rooms
    assert report.PAIRED["features"] == "rooms-read"


def test_features_bigroom_is_bigroom_with_reactions_and_edits():
    """Its clients and mode are ``bigroom``'s (same members, senders, window; its own room),
    plus the features policy for 999 readers: about 3 reactions per picked message. It is
    paired with ``bigroom`` (targets and table), runs once like it, and has its room."""
    sizes = Sizes()
    plain_clients, plain_mode = bigroom_setup(sizes)
    clients, mode = bigroom_setup(sizes, "features-bigroom")
    assert [(i, s) for i, _, s in clients] == [(i, s) for i, _, s in plain_clients]
    assert {room for _, room, _ in clients} == {"features-bigroom-0"}
    assert sum(s for _, _, s in clients) == sizes.bigroom_senders == 4
    featured = with_features(mode, sizes.bigroom_clients - 1, livechat=True)
    assert {k: v for k, v in featured.items() if k != "features"} == plain_mode
    policy = Features(**featured["features"])
    assert policy.readers == 999 and policy.verify
    assert policy.reader_probability() * policy.readers == pytest.approx(3)
    assert policy.edits(10) and not policy.edits(9)
    assert not Features(**with_features(mode, 999, livechat=False)["features"]).verify
    assert "features-bigroom" in SCENARIOS and "features-bigroom" in SEVERAL_SERVERS
    assert "features-bigroom" not in REPEATED and "bigroom" not in REPEATED
    assert room_counts(sizes)["features-bigroom"] == 1
    assert report.PAIRED["features-bigroom"] == "bigroom"
    traffic = {"deliveries_per_s": 100.0, "latency_ms": {"p99": 1.0}, "join_seconds": 0.1,
               "server_cpu": 0.9, "connections": 1000}  # fmt: skip
    fine = {"reactions": 5, "taken_back": 1, "edits": 3, "skipped": 0, "changes_made": 9,
            "updated": 45, "change_out_of_order": 0, "change_gaps": 0, "other_room": 0,
            "changes_lost": 0, "changes_extra": 0, "sockets_checked": 5}  # fmt: skip
    layer = {
        "bigroom": {"livechat": traffic, "baseline": traffic},
        "features-bigroom": {"livechat": traffic | {"deliveries_per_s": 75.0,
                                                    "features": fine | {"frames_per_s": 90.0}},
                             "baseline": traffic},
    }  # fmt: skip
    targets = report.targets({"memory": layer})
    (vs,) = [t for t in targets if t["scenario"] == "features-bigroom" and t["kind"] ==
             "performance"]  # fmt: skip
    assert vs["ratio"] == 0.75 and vs["ok"]
    rows = {row[0]: row[1:] for row in report._rows("features-bigroom", layer["features-bigroom"],
                                                    layer)}  # fmt: skip
    assert rows["deliveries/s with / without reactions and edits"][0] == "0.75x"
    assert "time to open 1,000 members, s" in rows
    frames = "message + updated frames/s (/ the paired scenario's deliveries/s)"
    assert rows[frames][0] == "90 (0.90x)"


def test_feature_problems_make_a_run_incorrect():
    fine = {"reactions": 5, "taken_back": 1, "edits": 3, "skipped": 0, "changes_made": 9,
            "updated": 45, "change_out_of_order": 0, "change_gaps": 0, "other_room": 0,
            "changes_lost": 0, "changes_extra": 0, "sockets_checked": 5}  # fmt: skip
    assert report.feature_problems({"features": fine}) == {}
    assert report.feature_problems({}) == {}
    assert report.feature_problems({"features": fine | {"change_out_of_order": 2}}) == {
        "features_change_out_of_order": 2
    }
    assert report.feature_problems({"features": fine | {"updated": 0}}) == {"features_updated": 0}
    traffic = {"deliveries_per_s": 100.0, "latency_ms": {"p99": 1.0}, "join_seconds": 0.1}
    lossy = traffic | {"deliveries_per_s": 60.0, "features": fine | {"changes_lost": 1}}
    layer = {
        "rooms-read": {"livechat": traffic, "baseline": traffic},
        "features": {"livechat": lossy, "baseline": traffic},
    }
    targets = report.targets({"memory": layer})
    (vs,) = [t for t in targets if t["scenario"] == "features" and t["kind"] == "performance"]
    assert vs["ratio"] == 0.6 and not vs["ok"]  # 60 / 100 < 0.7
    (check,) = [t for t in targets if t["scenario"] == "features" and t["kind"] == "correctness"]
    assert not check["ok"] and check["problems"] == {"features_changes_lost": 1}


async def test_a_process_without_senders_reports_its_changes_once_the_sending_is_over(
    monkeypatch,
):
    """With reactions and edits, a client process reports the changes its clients made
    (``sent``) only at the deadline, even with no sender of its own (the readers of a big room
    split over processes, without ``realistic`` chatter to wait for): earlier, the changes its
    clients make afterwards would be missing from the room's count (``changes_extra``)."""
    events: list[tuple[str, int]] = []
    monkeypatch.setattr(load, "emit", lambda event, **data: events.append((event, load.mono())))
    spec = {"urls": ["ws://x"], "welcome": True, "clients": [], "duration": 0.3,
            "mode": "window", "window": 1, "features": asdict(Features())}  # fmt: skip
    worker = load.Worker(spec)
    for cmd in ("go", "expect", "exit"):
        worker.lines.put_nowait({"cmd": cmd})
    start = load.mono()
    await worker.traffic()
    assert [e for e, _ in events] == ["ready", "sent", "result"]
    assert events[1][1] - start >= 0.3e9
