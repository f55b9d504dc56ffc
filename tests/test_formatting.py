"""formatting.rich: the safe markdown subset as a node tree, never HTML."""

from __future__ import annotations

import json

import pytest

from django_livechat.formatting import TAGS, rich


def tags(nodes) -> set[str]:
    found: set[str] = set()
    for node in nodes or ():
        if isinstance(node, dict):
            found.add(node["t"])
            found |= tags(node.get("c"))
    return found


def texts(nodes) -> str:
    out = []
    for node in nodes or ():
        out.append(node if isinstance(node, str) else texts(node.get("c")))
    return "".join(out)


@pytest.mark.parametrize("body", ["hello", "a_b_c", "line1\nline2", "2 * 3 = 6", "# not a head"])
def test_plain_bodies_have_no_tree(body):
    assert rich(body) is None


def test_bold_italic_strike_and_inline_code():
    nodes = rich("**b** *i* ~~s~~ `c`")
    assert nodes == [
        {
            "t": "p",
            "c": [
                {"t": "strong", "c": ["b"]},
                " ",
                {"t": "em", "c": ["i"]},
                " ",
                {"t": "s", "c": ["s"]},
                " ",
                {"t": "code", "c": ["c"]},
            ],
        }
    ]


def test_lists_quotes_and_code_blocks():
    nodes = rich("- a\n- b\n\n3. c\n\n> q\n\n```\nx = 1\n```")
    assert nodes[0] == {"t": "ul", "c": [{"t": "li", "c": ["a"]}, {"t": "li", "c": ["b"]}]}
    assert nodes[1] == {"t": "ol", "c": [{"t": "li", "c": ["c"]}], "start": 3}
    assert nodes[2] == {"t": "blockquote", "c": [{"t": "p", "c": ["q"]}]}
    assert nodes[3] == {"t": "pre", "c": ["x = 1"]}


def test_http_links_only():
    assert rich("[x](https://example.com/a?b=1)") == [
        {"t": "p", "c": [{"t": "a", "c": ["x"], "href": "https://example.com/a?b=1"}]}
    ]
    for body in ("[x](javascript:alert(1))", "[x](data:text/html,hi)", "[x](vbscript:y)"):
        assert "a" not in tags(rich(body) or []), body
    nodes = rich("[x](ftp://example.com) and **b**")  # not http(s): its text stays
    assert "a" not in tags(nodes) and "x" in texts(nodes)


@pytest.mark.parametrize(
    "body",
    [
        "<script>alert(1)</script> **x**",
        "`<img src=x onerror=alert(1)>`",
        "```\n<img src=x onerror=alert(1)>\n```",
        '[a](http://x "onmouseover=alert(1)") **b**',
        "[[nested [deeper]]](https://e.com)",
        "**" * 500 + "x",
        ">" * 200 + " deep",
    ],
)
def test_hostile_bodies_give_only_allowlisted_tags_and_no_markup(body):
    nodes = rich(body)
    assert tags(nodes) <= TAGS
    encoded = json.dumps(nodes)
    assert "onmouseover" not in encoded.split('"href"')[0] or "href" not in encoded
    for node in nodes or ():
        if isinstance(node, dict):
            assert set(node) <= {"t", "c", "href", "start"}


def test_html_is_text():
    nodes = rich("<b>x</b> **y**")
    assert "<b>x</b>" in texts(nodes)
