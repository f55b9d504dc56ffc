"""What the soak counts, from what each client received and what the database holds."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tests.integration.client import RETRY_ERROR_CODES, ChatClient
from tests.integration.harness import Database

# Counts that must be 0: the soak exits non-zero otherwise.
MUST_BE_ZERO = (
    "lost live",
    "lost after a final resume",
    "duplicated",
    "out of order",
    "stored twice",
    "acknowledged but not stored",
    "stored but not acknowledged",
    "holes in stored ids",
    "deletions not seen",
    "unacknowledged at the end",
    "not acknowledged in time",
    "faults not run",
)


@dataclass
class Report:
    counts: Counter = field(default_factory=Counter)
    paths: dict[str, Counter] = field(default_factory=dict)  # "out of order" -> by path
    examples: dict[str, list[str]] = field(default_factory=dict)
    rss: dict[str, dict[str, int]] = field(default_factory=dict)  # server -> when -> kB
    clients_rss: dict[str, int] = field(default_factory=dict)  # when -> kB, this process
    notes: list[str] = field(default_factory=list)
    memory_failure: str = ""

    def example(self, what: str, text: str) -> None:
        kept = self.examples.setdefault(what, [])
        if len(kept) < 5:
            kept.append(text)

    def failures(self) -> dict[str, int]:
        found = {what: self.counts[what] for what in MUST_BE_ZERO if self.counts[what]}
        if self.memory_failure:
            found["memory growth"] = 1
        return found

    def lines(self) -> list[str]:
        c = self.counts
        out = [
            f"stored {c['stored']:,}, acknowledged {c['acknowledged']:,}, "
            f"deleted {c['deleted']:,}, refused while locked {c['refused while locked']:,} "
            f"(held and sent again after the unlock), resends answered `deleted` "
            f"{c['answered deleted']:,}, other refusals {c['refused']:,}",
        ]
        for what in MUST_BE_ZERO:
            line = f"  {what}: {c[what]:,}"
            if self.paths.get(what):
                line += " (" + ", ".join(f"{p} {n:,}" for p, n in self.paths[what].items()) + ")"
            if self.examples.get(what):
                line += "; e.g. " + "; ".join(self.examples[what])
            out.append(line)
        out.append(
            f"  (not failures: connections {c['connections']:,}; gap fills asked by clients "
            f"{c['gap fills']:,}; store_failed or rate_limited, retried {c['retried']:,})"
        )
        for name, when in self.rss.items():
            out.append(
                f"  RSS of {name}: "
                + ", ".join(f"{w} {kb / 1024:.0f} MB" for w, kb in when.items())
            )
        if self.clients_rss:
            out.append(
                "  RSS of the clients' process (not checked): "
                + ", ".join(f"{w} {kb / 1024:.0f} MB" for w, kb in self.clients_rss.items())
            )
        if self.memory_failure:
            out.append(f"  memory: {self.memory_failure}")
        out += [f"  {note}" for note in self.notes]
        return out


def expected_missing(client: ChatClient, last: int, deleted: set[int]) -> list[int]:
    """Ids 1..``last`` the client never received, leaving out deleted ones."""
    return [n for n in client.seen.missing(1, last) if n not in deleted]


def count_lost(report: Report, what: str, rooms: dict[str, list[ChatClient]], db: Database):
    """Stored, undeleted messages of each room that one of its clients does not have."""
    for slug, members in rooms.items():
        last, deleted = db.room_tally(slug)
        for client in members:
            missing = expected_missing(client, last, deleted)
            report.counts[what] += len(missing)
            if missing:
                closes = [c.close_code for c in client.connections[-3:]]
                report.example(
                    what,
                    f"{client.label} lacks {missing[:5]} of 1..{last} (last_id {client.last_id}, "
                    f"max_id {client.max_id}, ready {client.ready}, last closes {closes})",
                )


def count_sockets(report: Report, clients: list[ChatClient]) -> None:
    """Ids received after a higher id, or twice, on one connection, by path."""
    for what in ("out of order", "duplicated"):
        report.paths[what] = Counter()
    for client in clients:
        out_of_order, duplicated = client.socket_counts()
        report.paths["out of order"] += out_of_order
        report.paths["duplicated"] += duplicated
        report.counts["connections"] += len(client.connections)
        report.counts["gap fills"] += client.gap_requests
        report.counts["refused while locked"] += client.error_counts["room_locked"]
        report.counts["unacknowledged at the end"] += len(client.outbox)
        for problem in client.order_violations()[:2]:
            kind = "duplicated" if " again " in problem else "out of order"
            report.example(kind, problem)
    for what in ("out of order", "duplicated"):
        report.counts[what] = sum(report.paths[what].values())


def count_storage(report: Report, rooms: dict[str, list[ChatClient]], db: Database) -> None:
    """The database against the clients' acknowledgements and deletions seen."""
    report.counts["stored twice"] = db.stored_twice()
    for slug, members in rooms.items():
        rows = db.message_keys(slug)
        report.counts["stored"] += len(rows)
        holes = (rows[-1][0] if rows else 0) - len(rows)
        report.counts["holes in stored ids"] += holes
        if holes:
            report.example("holes in stored ids", f"{slug}: {holes}")
        by_seq = {row[0]: (row[1], row[2]) for row in rows}
        deleted = [row[0] for row in rows if row[3]]
        report.counts["deleted"] += len(deleted)
        matched = 0
        for client in members:
            # A resend answered with error "deleted": stored, then deleted, never acknowledged.
            gone, you = client.stored_deleted, client.you["id"]
            matched += sum(1 for row in rows if row[3] and row[2] in gone and row[1] == you)
            for client_id, seq in client.acknowledgements():
                report.counts["acknowledged"] += 1
                if by_seq.get(seq) == (client.you["id"], client_id):
                    matched += 1
                else:
                    report.counts["acknowledged but not stored"] += 1
                    report.example(
                        "acknowledged but not stored", f"{client_id} as {seq}: {by_seq.get(seq)}"
                    )
            for seq in deleted:
                if seq in client.seen and seq not in client.deleted_seen:
                    report.counts["deletions not seen"] += 1
                    report.example("deletions not seen", f"{client.label} still shows {seq}")
            for code, n in client.error_counts.items():
                if code in RETRY_ERROR_CODES:
                    report.counts["retried"] += n
                elif code == "deleted":  # a resend of a message deleted since it was stored
                    report.counts["answered deleted"] += n
                elif code != "room_locked":
                    report.counts["refused"] += n
        # Every message posted was acknowledged by the end: a stored one that was not is a
        # message stored twice (under another identity, or a client_id not recognised).
        report.counts["stored but not acknowledged"] += len(rows) - matched


def count_connections(report: Report, rooms: dict[str, list], servers: list, db: Database):
    """Presence rows against open sockets (a socket that ended without its cleanup leaves a
    row, and a count that refuses its identity or address with 4429 later)."""
    rows = [row for slug in rooms for row in db.connections(slug)]
    per_key = max(Counter(key for key, _ in rows).values(), default=0)
    clients = [client for members in rooms.values() for client in members]
    refused = sum(c.close_code == 4429 for client in clients for c in client.connections)
    warned = ", ".join(f"{s.name} {s.log_count('MAX_CONNECTIONS_PER_IP')}" for s in servers)
    report.notes.append(
        f"connection rows after the final resume: {len(rows):,} for {len(clients)} "
        f"clients (at most {per_key} for one identity); connections refused with 4429: "
        f"{refused:,}; 'MAX_CONNECTIONS_PER_IP' warnings in the logs: {warned}"
    )


def check_memory(report: Report, growth: float | None) -> None:
    """A server whose RSS at the end is more than ``growth`` times its first sample."""
    for name, samples in report.rss.items():
        early, end = next(iter(samples.values())), samples.get("at the end")
        if growth and end and len(samples) > 1 and end > early * growth:
            report.memory_failure += (
                f"{name} grew from {early / 1024:.0f} MB to {end / 1024:.0f} MB "
                f"(more than {growth}x). "
            )
