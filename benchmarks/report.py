"""Ratios, targets, the terminal table, the plot and the profile summary."""

from __future__ import annotations

import collections
import itertools
import math
import re
from pathlib import Path
from typing import Any

CATCHUP_NA = (
    "n/a: the tutorial pattern stores nothing, so a client that reconnects has no way to get "
    "what it missed: every missed message is lost to it"
)
TITLES = {
    "fanout": "fan-out 1x{fanout_clients}",
    "rooms": "many rooms {rooms}x{room_clients}",
    "latency": "latency {rooms}x{room_clients}",
    "idle": "idle {idle_connections} conns",
    "catchup": "catch-up",
    "fanout-read": "fan-out 1x{fanout_clients}, reads",
    "rooms-read": "many rooms {rooms}x{room_clients}, reads",
    "bigroom": "1 room of {bigroom_clients}",
    "manyrooms": "{manyrooms_rooms} rooms x{manyrooms_clients}, reads",
    "latency-light": "latency ~50/s {rooms}x{room_clients}",
    "idle-10k": "idle {idle10k_connections} conns",
    "direct": "{direct_rooms} direct rooms x2, inbox",
    "features": "many rooms {rooms}x{room_clients}, reads, reactions, edits",
    "features-bigroom": "1 room of {bigroom_clients}, reactions, edits",
}
TRAFFIC = (
    "fanout", "rooms", "fanout-read", "rooms-read", "bigroom", "manyrooms", "direct", "features",
    "features-bigroom",
)  # fmt: skip
# a scenario measured against another of the same run (django_livechat's deliveries/s over its
# own there, and the baseline's over the baseline's): the same load without something
PAIRED = {"features": "rooms-read", "features-bigroom": "bigroom"}
LATENCY = ("latency", "latency-light")
IDLE = ("idle", "idle-10k")
_sizes: dict[str, Any] = {}


def title(name: str) -> str:
    try:
        return TITLES[name].format(**_sizes)
    except KeyError:
        return TITLES[name].split(" ")[0]


CHECKS = ("lost", "dups", "gaps", "out_of_order")


def _num(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, str):
        return value
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _ratio(a: Any, b: Any) -> float | None:
    try:
        if a is None or b is None or b == 0:
            return None
        return round(a / b, 3)
    except TypeError:
        return None


def one_line(name: str, fig: dict[str, Any]) -> str:
    if "error" in fig:
        return "ERROR " + fig["error"].splitlines()[0]
    if "skipped" in fig:
        return "n/a"
    if name in TRAFFIC:
        sent = fig.get("frames_sent", {})
        return (
            f"{_num(fig['deliveries_per_s'])} deliveries/s, lost {fig['lost']}, dup "
            f"{fig['dups']}, server cpu {fig['server_cpu']:.0%}, client cpu "
            f"{'/'.join(f'{c:.0%}' for c in fig['client_cpu'])}, joins {fig['join_seconds']} s"
            + (f", sent read/typing/ping {sent['read']}/{sent['typing']}/{sent['ping']}, "
               f"rejoins {fig['rejoins']}" if any(sent.values()) else "")
            + (f", inbox {_inbox(fig)}" if "inbox" in fig else "")
            + (f", {_features(fig)}" if "features" in fig else "")
        )  # fmt: skip
    if name in LATENCY:
        lat = fig["latency_ms"]
        return (
            f"p50 {_num(lat['p50'], 2)} ms, p99 {_num(lat['p99'], 2)} ms, "
            f"{_num(fig['deliveries_per_s'])} deliveries/s, lost {fig['lost']}, dup {fig['dups']}"
        )
    if name in IDLE:
        return (
            f"{fig['connections']} conns, {_num(fig['kib_per_connection'], 1)} KiB/conn, "
            f"{_num(fig['opened_per_s'])} opened/s, failed {fig['connect_failed']}"
            + (f", idle cpu {fig['idle_cpu']:.1%}" if fig.get("idle_cpu") is not None else "")
        )
    if name == "catchup":
        return f"median {fig['median_ms']} ms for {fig['messages']}, lost {fig['lost']}"
    return str(fig)


def _inbox(fig: dict[str, Any]) -> str:
    inbox = fig["inbox"]
    return (
        f"{inbox['connections']} sockets: activity {_num(inbox['activity'])} "
        f"({inbox['activity_per_message']:.2f}/message), seen {_num(inbox['seen'])}, "
        f"behind {inbox['behind']}, seen behind {inbox.get('seen_behind', 0)}, "
        f"settled {_num(inbox.get('settle_ms'))} ms after the rooms"
    )


def _features(fig: dict[str, Any]) -> str:
    f = fig["features"]
    return (
        f"react/take back/edit {f['reactions']}/{f['taken_back']}/{f['edits']} "
        f"(skipped {f['skipped']}), updated {_num(f['updated'])}, changes lost "
        f"{f['changes_lost']}, out of order {f['change_out_of_order']}, gaps {f['change_gaps']}"
    )


INBOX_CHECKS = ("unlisted_room", "foreign", "behind", "closed_early", "errors")
FEATURE_CHECKS = ("change_out_of_order", "change_gaps", "changes_lost", "changes_extra",
                  "other_room")  # fmt: skip


def feature_problems(fig: dict[str, Any]) -> dict[str, Any]:
    """What is wrong with the ``updated`` frames of a run of django_livechat (``features``):
    change numbers that stepped back or skipped one on a socket, changes that never reached a
    socket that stayed connected (or more than were made), a frame for another room; and no
    socket checked, or no ``updated`` frame at all although changes were made (the scenario
    measured nothing of them). Not called for the baseline, which sends no ``updated``."""
    feats = fig.get("features")
    if feats is None:
        return {}
    bad = {f"features_{k}": feats.get(k) for k in FEATURE_CHECKS if feats.get(k)}
    if not feats.get("sockets_checked"):
        bad["features_sockets_checked"] = 0
    if feats.get("changes_made") and not feats.get("updated"):
        bad["features_updated"] = 0
    if not feats.get("changes_made"):
        bad["features_changes_made"] = 0
    return bad


def inbox_problems(fig: dict[str, Any]) -> dict[str, Any]:
    """What is wrong with the inbox sockets of a run (``direct``): none open or no ``activity``
    at all (the scenario measured nothing of the inbox), a user's direct room missing from
    their ``inbox`` frame, an ``activity`` for another room, an inbox that never announced its
    room's newest message, a socket closed by the server, an ``error`` frame. A ``seen`` that
    never reached the newest id (``seen_behind``) is reported, not a failure: read positions
    are coalesced, and a process that dies loses up to an interval of them (fanout/coalesce.py)."""
    inbox = fig.get("inbox")
    if inbox is None:
        return {}
    bad = {f"inbox_{k}": inbox.get(k) for k in INBOX_CHECKS if inbox.get(k)}
    if not inbox.get("connections"):
        bad["inbox_connections"] = 0
    if not inbox.get("activity"):
        bad["inbox_activity"] = 0
    return bad


def best(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run that counts of one implementation, by the same rule for both sides: the most
    deliveries/s (what the server can do), or for the latency scenario the run with the median
    p99 (one run's p99 swings by 2x on a shared machine; the lowest would reward the luckier
    side). The others stay in ``runs``; a failed run always counts."""
    failed = [r for r in runs if "error" in r]
    if failed or len(runs) == 1:
        chosen = (failed or runs)[0]
    elif name in LATENCY:
        ranked = sorted(runs, key=lambda r: r["latency_ms"]["p99"] or float("inf"))
        chosen = ranked[(len(ranked) - 1) // 2]  # the median (the lower one of an even count)
    else:
        chosen = max(runs, key=lambda r: r.get("deliveries_per_s") or 0)
    out = dict(chosen)
    if len(runs) > 1:
        out["runs"] = [
            {k: v for k, v in r.items() if k not in ("profile", "error_sample")} for r in runs
        ]
        out["lost"] = max(r.get("lost", 0) for r in runs)  # correctness: the worst run counts
        for key in ("dups", "gaps", "out_of_order", "errors", "closed_early", "connect_failed"):
            out[key] = max(r.get(key, 0) for r in runs)
    return out


def ratios(name: str, entry: dict[str, Any]) -> dict[str, float | None]:
    a, b = entry.get("livechat", {}), entry.get("baseline", {})
    if "error" in a or "error" in b or "skipped" in b:
        return {}
    if name in TRAFFIC:
        return {
            "deliveries_per_s": _ratio(a["deliveries_per_s"], b["deliveries_per_s"]),
            "p99_ms": _ratio(a["latency_ms"]["p99"], b["latency_ms"]["p99"]),
            "join_seconds": _ratio(a["join_seconds"], b["join_seconds"]),
        }
    if name in LATENCY:
        return {
            "p50_ms": _ratio(a["latency_ms"]["p50"], b["latency_ms"]["p50"]),
            "p99_ms": _ratio(a["latency_ms"]["p99"], b["latency_ms"]["p99"]),
        }
    if name in IDLE:
        return {
            "kib_per_connection": _ratio(a["kib_per_connection"], b["kib_per_connection"]),
            "opened_per_s": _ratio(a["opened_per_s"], b["opened_per_s"]),
        }
    return {}


PERF_TARGETS = [
    # scenario, figure, comparison, bound, label; the figure is a ratio to the baseline, or
    # "livechat:<key>" (django_livechat's own figure), or "vs:<scenario>" (django_livechat's
    # deliveries/s over its own in that scenario, same layer)
    ("fanout", "deliveries_per_s", ">=", 2.0, "deliveries/s >= 2.0x (aim 5x)"),
    ("rooms", "deliveries_per_s", ">=", 2.0, "deliveries/s >= 2.0x"),
    ("latency", "p99_ms", "<=", 1.0, "p99 <= baseline"),
    ("idle", "kib_per_connection", "<=", 1.0, "memory/conn <= baseline"),
    ("fanout-read", "deliveries_per_s", ">=", 5.0, "deliveries/s >= 5x"),
    ("fanout-read", "vs:fanout", ">=", 0.8, "deliveries/s >= 80% of fan-out without reads"),
    ("rooms-read", "deliveries_per_s", ">=", 3.0, "deliveries/s >= 3x"),
    ("rooms-read", "vs:rooms", ">=", 0.8, "deliveries/s >= 80% of many rooms without reads"),
    ("bigroom", "deliveries_per_s", ">=", 5.0, "deliveries/s >= 5x"),
    ("bigroom", "join_seconds", "<=", 1.0, "time to open every member <= baseline"),
    ("manyrooms", "deliveries_per_s", ">=", 5.0, "deliveries/s >= 5x"),
    ("latency-light", "p99_ms", "<=", 1.0, "p99 <= baseline"),
    (
        "features",
        "vs:rooms-read",
        ">=",
        0.7,
        "deliveries/s >= 70% of many rooms with reads, without reactions and edits",
    ),
    (
        "features-bigroom",
        "vs:bigroom",
        ">=",
        0.7,
        "deliveries/s >= 70% of the big room without reactions and edits",
    ),
    ("idle", "opened_per_s", ">=", 1.0, "connections opened/s >= 1.0x"),
    ("idle", "livechat:kib_per_connection", "<=", 20, "KiB/conn <= 20 (absolute)"),
    ("idle-10k", "livechat:kib_per_connection", "<=", 20, "KiB/conn <= 20 (absolute)"),
    ("idle-10k", "livechat:idle_cpu", "<", 0.05, "server idle CPU < 5% of a core (absolute)"),
]


def _figure(by_name: dict[str, dict[str, Any]], name: str, key: str) -> float | None:
    """The value a target compares (see PERF_TARGETS)."""
    entry = by_name[name]
    if key.startswith("livechat:"):
        fig = entry.get("livechat", {})
        return None if "error" in fig else fig.get(key.split(":", 1)[1])
    if key.startswith("vs:"):
        other = by_name.get(key.split(":", 1)[1], {}).get("livechat", {})
        return _ratio(entry.get("livechat", {}).get("deliveries_per_s"),
                      other.get("deliveries_per_s"))  # fmt: skip
    return entry.get("ratio", {}).get(key)


def _meets(value: float | None, op: str, bound: float) -> bool:
    if value is None:
        return False
    return {">=": value >= bound, "<=": value <= bound, "<": value < bound}[op]


def targets(results: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    out = []
    for layer, by_name in results.items():
        for name, key, op, bound, label in PERF_TARGETS:
            if name not in by_name or (key.startswith("vs:") and key[3:] not in by_name):
                continue
            value = _figure(by_name, name, key)
            out.append(
                {"kind": "performance", "layer": layer, "scenario": name, "target": label,
                 "ratio": value, "absolute": key.startswith("livechat:"),
                 "ok": _meets(value, op, bound)}
            )  # fmt: skip
        for name, entry in by_name.items():
            fig = entry.get("livechat", {})
            bad = {k: fig.get(k) for k in CHECKS if fig.get(k)}
            if "error" in fig:
                bad["error"] = fig["error"]
            for k in ("connect_failed", "closed_early", "errors", "rejoin_failed"):
                if fig.get(k):
                    bad[k] = fig[k]
            bad |= inbox_problems(fig)
            bad |= feature_problems(fig)
            out.append(
                {"kind": "correctness", "layer": layer, "scenario": name,
                 "target": "zero lost, duplicated, gaps, out of order", "ok": not bad,
                 "problems": bad}
            )  # fmt: skip
    return out


def _checks(fig: dict[str, Any]) -> str:
    if "error" in fig:
        return "ERROR"
    if "skipped" in fig:
        return "n/a"
    return "/".join(str(fig.get(k, 0)) for k in ("lost", "dups"))


def _rows(
    name: str, entry: dict[str, Any], by_name: dict[str, dict[str, Any]] | None = None
) -> list[tuple[str, str, str, str]]:
    """(metric, livechat, baseline, ratio) rows of one scenario (``by_name``: the layer's
    scenarios, for the one it is paired with)."""
    a, b, r = entry.get("livechat", {}), entry.get("baseline", {}), entry.get("ratio", {})
    for fig in (a, b):
        if "error" in fig:
            return [("error", a.get("error", "ok")[:40], b.get("error", "ok")[:40], "")]

    def x(key: str) -> str:
        value = r.get(key)
        return "-" if value is None else f"{value:.2f}x"

    rows: list[tuple[str, str, str, str]] = []
    if name in TRAFFIC:
        rows.append(
            ("deliveries/s", _num(a["deliveries_per_s"]), _num(b["deliveries_per_s"]),
             x("deliveries_per_s"))
        )  # fmt: skip
        rows.append(
            ("p99 latency under load, ms", _num(a["latency_ms"]["p99"], 1),
             _num(b["latency_ms"]["p99"], 1), x("p99_ms"))
        )  # fmt: skip
        rows.append(
            ("server / client CPU", f"{a['server_cpu']:.0%} / {_cpu(a)}",
             f"{b['server_cpu']:.0%} / {_cpu(b)}", "")
        )  # fmt: skip
        if name in ("bigroom", "features-bigroom"):
            rows.append(
                (f"time to open {a['connections']:,} members, s", _num(a["join_seconds"], 2),
                 _num(b["join_seconds"], 2), x("join_seconds"))
            )  # fmt: skip
        sent = a.get("frames_sent", {})
        if any(sent.values()):
            rows.append(
                ("frames sent: read / typing / ping", _sent(a), _sent(b), "")
            )  # fmt: skip
        if "inbox" in a:
            inbox = a["inbox"]
            rows.append(
                (f"inbox ({_num(inbox['connections'])} sockets): activity (per message)",
                 f"{_num(inbox['activity'])} ({inbox['activity_per_message']:.2f})", "n/a", "")
            )  # fmt: skip
            rows.append(("inbox: seen frames", _num(inbox["seen"]), "n/a", ""))
            rows.append(
                ("inbox: last message shown and read, ms after the rooms",
                 _num(inbox.get("settle_ms")), "n/a", "")
            )  # fmt: skip
        if "features" in a:
            rows += _feature_rows(name, a, b, (by_name or {}).get(PAIRED.get(name, ""), {}))
    elif name in LATENCY:
        for q in ("p50", "p99"):
            rows.append(
                (f"{q} latency, ms", _num(a["latency_ms"][q], 2), _num(b["latency_ms"][q], 2),
                 x(f"{q}_ms"))
            )  # fmt: skip
        rows.append(("deliveries/s", _num(a["deliveries_per_s"]), _num(b["deliveries_per_s"]), ""))
    elif name in IDLE:
        rows.append(
            ("KiB per connection", _num(a["kib_per_connection"], 1),
             _num(b["kib_per_connection"], 1), x("kib_per_connection"))
        )  # fmt: skip
        rows.append(
            ("connections opened/s", _num(a["opened_per_s"]), _num(b["opened_per_s"]),
             x("opened_per_s"))
        )  # fmt: skip
        if a.get("idle_cpu") is not None:
            rows.append(
                ("server idle CPU, % of a core", f"{a['idle_cpu']:.1%}",
                 f"{b.get('idle_cpu') or 0:.1%}", "")
            )  # fmt: skip
    elif name == "catchup":
        rows.append(
            (f"time to get {a.get('messages', '?')} missed, ms", _num(a.get("median_ms"), 1),
             "n/a", "")
        )  # fmt: skip
    rows.append(("lost / duplicated", _checks(a), _checks(b), ""))
    return rows


def _feature_rows(
    name: str, a: dict[str, Any], b: dict[str, Any], plain: dict[str, Any]
) -> list[tuple[str, str, str, str]]:
    """``features``: the paired scenario's deliveries/s beside, the ratio of each side to its
    own there, and the reactions, edits and ``updated`` frames."""
    rows = []
    pa, pb = plain.get("livechat", {}), plain.get("baseline", {})
    if pa and pb and "error" not in pa and "error" not in pb:
        label = title(PAIRED[name])
        rows.append(
            (f"deliveries/s without reactions/edits ({label}, same run)",
             _num(pa["deliveries_per_s"]), _num(pb["deliveries_per_s"]),
             _x(_ratio(pa["deliveries_per_s"], pb["deliveries_per_s"])))
        )  # fmt: skip
        rows.append(
            ("deliveries/s with / without reactions and edits",
             _x(_ratio(a["deliveries_per_s"], pa["deliveries_per_s"])),
             _x(_ratio(b["deliveries_per_s"], pb["deliveries_per_s"])), "")
        )  # fmt: skip
    fa, fb = a["features"], b.get("features", {})

    def sent(f: dict[str, Any]) -> str:
        if not f:
            return "-"
        return " / ".join(_num(f.get(k)) for k in ("reactions", "taken_back", "edits"))

    rows.append(("reactions given / taken back / edits sent", sent(fa), sent(fb), ""))
    rows.append(
        ("changes per message", _num(fa.get("per_message"), 3),
         _num(fb.get("per_message"), 3) if fb else "-", "")
    )  # fmt: skip
    rows.append(
        ("updated frames received (per socket)",
         f"{_num(fa['updated'])} ({_num(fa.get('updated_per_socket'), 1)})", "n/a (ignored)", "")
    )  # fmt: skip
    if "frames_per_s" in fa and pa and "error" not in pa:
        vs = _x(_ratio(fa["frames_per_s"], pa["deliveries_per_s"]))
        rows.append(
            ("message + updated frames/s (/ the paired scenario's deliveries/s)",
             f"{_num(fa['frames_per_s'])} ({vs})", "n/a", "")
        )  # fmt: skip
    rows.append(
        ("updated: lost / out of order / gaps",
         "/".join(str(fa.get(k, 0)) for k in ("changes_lost", "change_out_of_order",
                                               "change_gaps")), "n/a", "")
    )  # fmt: skip
    return rows


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _sent(fig: dict[str, Any]) -> str:
    sent = fig.get("frames_sent", {})
    return " / ".join(_num(sent.get(k)) for k in ("read", "typing", "ping"))


def _cpu(fig: dict[str, Any]) -> str:
    return "+".join(f"{c:.0%}" for c in fig.get("client_cpu", []))


def table(doc: dict[str, Any]) -> str:
    _sizes.update(doc.get("sizes", {}))
    head = ("scenario", "layer", "metric", "django_livechat", "baseline", "ratio")
    lines = [head]
    for layer, by_name in doc["layers"].items():
        for name, entry in by_name.items():
            for i, (metric, a, b, r) in enumerate(_rows(name, entry, by_name)):
                lines.append((title(name) if i == 0 else "", layer if i == 0 else "", metric, a,
                              b, r))  # fmt: skip
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    out = []
    for j, row in enumerate(lines):
        cells = [
            cell.ljust(widths[i]) if i < 3 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ]
        out.append("  ".join(cells).rstrip())
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    out.append("")
    if doc.get("repeat", 1) > 1:
        out.append(
            f"{doc['repeat']} runs per side: fan-out and many rooms the best (most deliveries/s), "
            "latency the median (by p99); lost/duplicated: the worst run"
        )
    out.append("targets (ratios django_livechat / baseline, same run):")
    for t in doc["targets"]:
        mark = "ok  " if t["ok"] else "MISS"
        if t["kind"] == "performance":
            value = "-" if t["ratio"] is None else f"{t['ratio']:.2f}"
            if t["ratio"] is not None and not t.get("absolute"):
                value += "x"
            elif t["ratio"] is not None and "%" in t["target"]:
                value = f"{t['ratio']:.1%}"
            out.append(f"  {mark} {t['layer']:9} {title(t['scenario']):30} {t['target']}: {value}")
        elif not t["ok"]:
            out.append(f"  {mark} {t['layer']:9} {title(t['scenario']):30} {t['problems']}")
    correct = [t for t in doc["targets"] if t["kind"] == "correctness"]
    if all(t["ok"] for t in correct):
        out.append(
            f"  ok   django_livechat: nothing lost, duplicated or reordered ({len(correct)} runs)"
        )
    loads = [
        r.get("load_before", 0)
        for by_name in doc["layers"].values()
        for entry in by_name.values()
        for app in ("livechat", "baseline")
        for r in entry.get(app, {}).get("runs", [entry.get(app, {})])
    ]
    if loads and max(loads) > 1.0:
        out += [
            "",
            f"note: load average up to {max(loads):.1f} before runs (2 cores): other processes "
            "competed for the CPU; figures are noisier than on an idle machine",
        ]
    if doc.get("notes"):
        out += ["", *doc["notes"]]
    return "\n".join(out)


def markdown(doc: dict[str, Any]) -> str:
    """The same rows as :func:`table`, and the targets, as the README's Markdown table."""
    _sizes.update(doc.get("sizes", {}))
    out = ["| scenario | layer | metric | django_livechat | baseline | ratio |", "|---" * 6 + "|"]
    for layer, by_name in doc["layers"].items():
        for name, entry in by_name.items():
            for metric, a, b, r in _rows(name, entry, by_name):
                out.append(f"| {title(name)} | {layer} | {metric} | {a} | {b} | {r} |")
    out += ["", "| target | layer | scenario | measured | met |", "|---|---|---|---|---|"]
    for t in doc["targets"]:
        if t["kind"] != "performance":
            continue
        value = "-" if t["ratio"] is None else f"{t['ratio']:.2f}"
        if t["ratio"] is not None and not t.get("absolute"):
            value += "x"
        met = "yes" if t["ok"] else "**no**"
        out.append(f"| {t['target']} | {t['layer']} | {title(t['scenario'])} | {value} | {met} |")
    return "\n".join(out)


# -- plot ------------------------------------------------------------------------------------


def plot(doc: dict[str, Any], path: Path) -> str:
    _sizes.update(doc.get("sizes", {}))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return "plot: skipped (matplotlib is not installed)"
    layers = list(doc["layers"])
    apps = (
        ("livechat", "django_livechat", "#2a7ab0"),
        ("baseline", "tutorial baseline", "#c0c0c0"),
    )
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.2))
    # throughput
    ax = axes[0]
    groups = [(layer, name) for layer in layers for name in TRAFFIC
              if name in doc["layers"][layer]]  # fmt: skip
    for k, (app, label, color) in enumerate(apps):
        values = [
            doc["layers"][layer][name].get(app, {}).get("deliveries_per_s") or 0
            for layer, name in groups
        ]
        xs = [i + (k - 0.5) * 0.4 for i in range(len(groups))]
        ax.bar(xs, values, 0.4, label=label, color=color)
    ax.set_xticks(range(len(groups)), [f"{title(n)}\n{lay}" for lay, n in groups], fontsize=8)
    ax.set_ylabel("deliveries per second")
    ax.set_title("Throughput (higher is better)")
    ax.legend(fontsize=8)
    # latency percentiles
    ax = axes[1]
    qs = ("p50", "p90", "p99", "p999")
    for layer in layers:
        for name, marker in (("latency", "o"), ("latency-light", "s")):
            entry = doc["layers"][layer].get(name, {})
            for app, label, color in apps:
                lat = entry.get(app, {}).get("latency_ms")
                if not lat or lat["p50"] is None:
                    continue
                style = "-" if layer == "memory" else "--"
                load = "~1,000/s" if name == "latency" else "~50/s"
                ax.plot(qs, [lat[q] for q in qs], style, marker=marker, color=color if app ==
                        "livechat" else "#707070", label=f"{label}, {layer}, {load}")  # fmt: skip
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    lo, hi = ax.get_ylim()
    ax.set_yticks([t for t in (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if lo <= t <= hi])
    ax.set_ylim(lo, hi)
    ax.set_ylabel("end-to-end latency, ms (log)")
    ax.set_title("Latency at ~1,000 and ~50 deliveries/s (lower is better)")
    ax.legend(fontsize=7)
    # memory per connection
    ax = axes[2]
    names = [(layer, n) for layer in layers for n in IDLE if n in doc["layers"][layer]]
    for k, (app, label, color) in enumerate(apps):
        values = [
            doc["layers"][layer][n].get(app, {}).get("kib_per_connection") or 0
            for layer, n in names
        ]
        ax.bar([i + (k - 0.5) * 0.4 for i in range(len(names))], values, 0.4, label=label,
               color=color)  # fmt: skip
    ax.set_xticks(range(len(names)), [f"{title(n)}\n{lay}" for lay, n in names], fontsize=8)
    ax.set_ylabel("server RSS growth, KiB per idle connection")
    ax.set_title("Memory per idle connection (lower is better)")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.25)  # room for the legend above the bars
    ax.legend(fontsize=8, loc="upper right")
    m = doc["machine"]
    fig.suptitle(
        f"django_livechat vs Channels tutorial pattern: {doc['server']}, {m['cores']} cores, "
        f"{m['cpu']}, Python {m['python']} ({doc['taken']})",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"plot: {path}"


# -- profiles --------------------------------------------------------------------------------

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path})"


def summarize_profile(path: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive time per function from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [_short(f) for f in stack.split(";") if f]
        if not frames:
            continue
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    return {
        "samples": samples,
        "self": [(f, round(100 * n / samples, 1)) for f, n in own.most_common(top)],
        "inclusive": [(f, round(100 * n / samples, 1)) for f, n in total.most_common(top + 10)],
    }


def profile_text(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    out = []
    for layer, by_name in results.items():
        for name, entry in by_name.items():
            apps = itertools.product(("livechat", "baseline"), ("join_profile", "profile"))
            for app, key in apps:
                prof = entry.get(app, {}).get(key)
                if not prof or not prof["samples"]:
                    continue
                what = "joins" if key == "join_profile" else "traffic"
                out.append(
                    f"\nprofile ({what}): {app}, {title(name)}, {layer} ({prof['samples']} samples)"
                )
                out.append("  self %:")
                out += [f"    {pct:5.1f}  {f}" for f, pct in prof["self"]]
                out.append("  inclusive %:")
                out += [f"    {pct:5.1f}  {f}" for f, pct in prof["inclusive"]]
    return "\n".join(out)


if __name__ == "__main__":  # python -m benchmarks.report results.json: the README's table
    import json
    import sys

    print(markdown(json.loads(Path(sys.argv[1]).read_text())))
