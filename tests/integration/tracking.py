"""What a test client received, kept compactly.

- :class:`IdSet`: message ids as sorted, disjoint ranges. A room's ids are 1, 2, 3, ... so what
  a client received is one range or a few: a million ids cost a few list entries, not a million
  set or dict entries.
- :class:`Connection`: what one WebSocket connection brought, with the ids that arrived after a
  higher one or twice, counted by the path that brought them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

PROBLEMS_KEPT = 20  # examples of out-of-order or duplicated ids kept per connection


class IdSet:
    """Positive integers as ranges ``[lo, hi]``, sorted, neither overlapping nor touching."""

    __slots__ = ("_lo", "_hi", "_count")

    def __init__(self, ids: tuple[int, ...] | list[int] = ()) -> None:
        self._lo: list[int] = []
        self._hi: list[int] = []
        self._count = 0
        for n in ids:
            self.add(n)

    def add(self, n: int) -> bool:
        """Add ``n``; False if it was there already."""
        lo, hi = self._lo, self._hi
        if not hi or n > hi[-1] + 1:  # the usual case: past the end
            lo.append(n)
            hi.append(n)
        elif n == hi[-1] + 1:
            hi[-1] = n
        else:
            i = bisect_right(lo, n) - 1  # the range starting at or before n
            if i >= 0 and n <= hi[i]:
                return False
            left = i >= 0 and hi[i] == n - 1
            right = i + 1 < len(lo) and lo[i + 1] == n + 1
            if left and right:
                hi[i] = hi[i + 1]
                del lo[i + 1], hi[i + 1]
            elif left:
                hi[i] = n
            elif right:
                lo[i + 1] = n
            else:
                lo.insert(i + 1, n)
                hi.insert(i + 1, n)
        self._count += 1
        return True

    def __contains__(self, n: object) -> bool:
        if not isinstance(n, int):
            return False
        i = bisect_right(self._lo, n) - 1
        return i >= 0 and n <= self._hi[i]

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        for lo, hi in zip(self._lo, self._hi, strict=True):
            yield from range(lo, hi + 1)

    def __repr__(self) -> str:
        return f"IdSet({', '.join(f'{a}-{b}' if a != b else str(a) for a, b in self.ranges())})"

    def ranges(self) -> Iterator[tuple[int, int]]:
        return zip(self._lo, self._hi, strict=True)

    def run_end(self, n: int) -> int:
        """The end of the run of ids that holds ``n + 1``, or ``n`` if ``n + 1`` is missing."""
        i = bisect_right(self._lo, n + 1) - 1
        return self._hi[i] if i >= 0 and n + 1 <= self._hi[i] else n

    def missing(self, first: int, last: int) -> Iterator[int]:
        """The ids of ``first..last`` not in the set, in order."""
        n = first
        i = max(bisect_right(self._lo, first) - 1, 0)
        while n <= last:
            if i < len(self._lo) and self._lo[i] <= n:
                n = max(n, self._hi[i] + 1)
                i += 1
                continue
            stop = min(last, self._lo[i] - 1) if i < len(self._lo) else last
            yield from range(n, stop + 1)
            n = stop + 1


@dataclass
class Connection:
    """What one WebSocket connection brought (history replies, asked for, are not counted)."""

    url: str
    opened: float
    keep_ids: bool = True
    ids: list[int] = field(default_factory=list)  # in arrival order (with keep_frames only)
    received: IdSet = field(default_factory=IdSet)
    highest: int = 0
    out_of_order: Counter = field(default_factory=Counter)  # path -> ids after a higher one
    duplicated: Counter = field(default_factory=Counter)  # path -> ids received again
    problems: list[str] = field(default_factory=list)  # the first PROBLEMS_KEPT, described
    close_code: int | None = None

    def note(self, seq: int, path: str) -> None:
        """``seq`` arrived by ``path`` ("welcome", "backlog", "live" or "resend-ack")."""
        if self.keep_ids:
            self.ids.append(seq)
        if not self.received.add(seq):
            self.duplicated[path] += 1
            problem = f"{seq} again ({path})"
        elif seq < self.highest:
            self.out_of_order[path] += 1
            problem = f"{seq} after {self.highest} ({path})"
        else:
            self.highest = seq
            return
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append(problem)
