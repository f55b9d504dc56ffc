"""The soak's client: a compact ChatClient that follows its home server, or another one while
that one is down; its messages are ``c<index>-<n>``, their ids kept in an array."""

from __future__ import annotations

import asyncio
import contextlib
import random
from array import array
from typing import TYPE_CHECKING

from tests.integration.client import ChatClient
from tests.integration.harness import Server

if TYPE_CHECKING:
    from tests.integration.soak import Soak


class SoakClient(ChatClient):
    """A compact client on one of several servers; its messages are ``c<index>-<n>``."""

    def __init__(self, soak: Soak, index: int, home: Server, slug: str, **options) -> None:
        super().__init__(self.pick, slug, keep_frames=False, hold_when_locked=True, **options)
        self.soak = soak
        self.index = index
        self.home = home
        self.acked_seqs = array("q")  # n -> id of message c<index>-<n>, 0 until acknowledged
        self.stored_deleted: set[str] = set()  # resends answered with error "deleted"

    def pick(self) -> str:
        """Its home server, or another one while that is down."""
        running = [s for s in self.soak.servers if s.running]
        if self.home in running or not running:
            return self.home.url
        return random.choice(running).url

    async def post_next(self) -> None:
        n = len(self.acked_seqs)
        self.acked_seqs.append(0)
        await self.post(f"soak {self.index} {n}", client_id=f"c{self.index}-{n}")

    def acknowledged(self, client_id: str, seq: int) -> None:
        super().acknowledged(client_id, seq)
        self.acked_seqs[int(client_id.rsplit("-", 1)[1])] = seq
        self.soak.acked += 1
        self.soak._acked_event.set()
        self.soak.newest[self.slug] = max(self.soak.newest.get(self.slug, 0), seq)

    async def _on_error(self, frame: dict) -> None:
        if frame.get("code") == "deleted" and frame.get("client_id") in self.outbox:
            # Stored, then deleted by a moderator before its copy reached us: no copy comes.
            self.stored_deleted.add(frame["client_id"])
            self.soak.acked += 1
            self.soak._acked_event.set()
        await super()._on_error(frame)

    def acknowledgements(self):
        for n, seq in enumerate(self.acked_seqs):
            if seq:
                yield f"c{self.index}-{n}", seq

    async def changed(self, within: float) -> None:
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), within)
