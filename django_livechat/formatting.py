"""A message body's formatting, parsed by markdown-it-py into the ``rich`` node tree of
docs/protocol.md: a small, safe subset (bold, italic, strikethrough, inline code, code blocks,
quotes, lists, http(s) links). HTML in a body is text; no HTML is ever produced here.

A node is a string (text) or ``{"t": tag, "c": [nodes]}``; ``a`` has ``href``, ``ol`` may have
``start``, ``br`` has no ``c``. A body without formatting has no tree (:func:`rich` is None).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

Node = str | dict[str, Any]

#: The tags a ``rich`` tree may hold.
TAGS = frozenset(
    {"p", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li", "br", "a"}
)

# A body none of whose characters can start formatting has none: most chat messages.
_MAYBE_FORMATTED = re.compile(r"[*_`~\[>]|^\s{0,3}(?:[-+*]|\d{1,9}[.)])\s", re.MULTILINE)
_SAFE_LINK = re.compile(r"^https?://", re.IGNORECASE)

_parser = (
    MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    .disable(["heading", "lheading", "hr", "image", "html_block", "html_inline", "reference"])
    .enable("strikethrough")
)
_parser.options["maxNesting"] = 20

_OPEN = {
    "paragraph_open": "p",
    "blockquote_open": "blockquote",
    "bullet_list_open": "ul",
    "ordered_list_open": "ol",
    "list_item_open": "li",
    "strong_open": "strong",
    "em_open": "em",
    "s_open": "s",
    "link_open": "a",
}


@functools.lru_cache(maxsize=4096)
def _rich(body: str) -> tuple[Node, ...] | None:
    if not _MAYBE_FORMATTED.search(body):
        return None
    root: dict[str, Any] = {"t": "root", "c": []}
    _build(_parser.parse(body), root)
    nodes = root["c"]
    if _plain(nodes):
        return None
    return tuple(nodes)


def rich(body: str) -> list[Node] | None:
    """The ``rich`` tree of ``body``, or None when it has no formatting (cached per body)."""
    nodes = _rich(body)
    return None if nodes is None else list(nodes)


def _plain(nodes: list[Node]) -> bool:
    """Paragraphs of text only: nothing that plain text would not show the same."""
    return all(
        isinstance(n, dict)
        and n["t"] == "p"
        and all(isinstance(c, str) or c["t"] == "br" for c in n["c"])
        for n in nodes
    )


def _build(tokens: list[Token], root: dict[str, Any]) -> None:
    stack: list[dict[str, Any]] = [root]
    for token in tokens:
        parent = stack[-1]
        if token.type == "inline":
            _build(token.children or [], parent)
        elif token.type in ("paragraph_open", "paragraph_close") and token.hidden:
            continue  # a tight list's item: its text goes straight into the li
        elif token.type in _OPEN:
            node: dict[str, Any] = {"t": _OPEN[token.type], "c": []}
            if token.type == "ordered_list_open":
                start = token.attrGet("start")
                if start is not None and int(start) != 1:
                    node["start"] = int(start)
            if token.type == "link_open":
                href = str(token.attrGet("href") or "")
                if _SAFE_LINK.match(href):
                    node["href"] = href
                else:
                    node["t"] = "span"  # not a link: its text only (flattened on close)
            parent["c"].append(node)
            stack.append(node)
        elif token.type.endswith("_close"):
            if len(stack) > 1:
                node = stack.pop()
                if node["t"] == "span":
                    stack[-1]["c"].remove(node)
                    stack[-1]["c"].extend(node["c"])
        elif token.type == "text":
            _text(parent, token.content)
        elif token.type == "code_inline":
            parent["c"].append({"t": "code", "c": [token.content]})
        elif token.type in ("code_block", "fence"):
            parent["c"].append({"t": "pre", "c": [token.content.rstrip("\n")]})
        elif token.type in ("softbreak", "hardbreak"):
            parent["c"].append({"t": "br"})
        elif token.content:  # anything else (escapes, entities): its text
            _text(parent, token.content)


def _text(parent: dict[str, Any], text: str) -> None:
    if not text:
        return
    children = parent["c"]
    if children and isinstance(children[-1], str):
        children[-1] += text
    else:
        children.append(text)
