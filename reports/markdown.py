"""Markdown people write (comments, notes, decisions) rendered as HTML that cannot run anything.

Two independent layers, so a bug in one is not enough:

1. markdown-it-py parses with raw HTML **disabled**: ``<script>`` or ``<img onerror=...>`` in a
   comment become visible text, never tags; its link validator refuses ``javascript:``,
   ``vbscript:``, ``file:`` and ``data:`` (except images) URLs, leaving the text literal.
2. nh3 (the Rust ``ammonia`` sanitizer) then cleans the produced HTML against an allowlist of
   tags, attributes and URL schemes (http, https, mailto), dropping everything else: event
   handler attributes, ``style``, iframes, forms, images, and any URL scheme not listed.

Image syntax is off and ``img`` is not an allowed tag: nothing people write makes a reader's
browser fetch anything (no tracking pixels); the portal's Content-Security-Policy says the same.

Mentions (``@alice``) become ``<span class="mention">`` elements; code spans and blocks are left
alone. The portal shows the result with ``st.html`` (which sanitizes once more, with DOMPurify),
and provenance reports embed it in their HTML export. The browser test posts hostile comments
and checks nothing executes.
"""

from __future__ import annotations

import html
import re
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9][A-Za-z0-9._:+\-]*[A-Za-z0-9]|[A-Za-z0-9])")

ALLOWED_TAGS = frozenset(
    {
        "a", "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
        "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody",
        "tr", "th", "td", "span", "sup", "sub", "kbd",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "span": {"class"},
    "code": {"class"},
    "th": {"style"},
    "td": {"style"},
    "ol": {"start"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})


def _parser() -> MarkdownIt:
    # No image syntax: ``![x](http://host/p.png)`` would make every reader's browser fetch it
    # (a tracking pixel); it stays a plain link people choose to follow.
    return (
        MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
        .enable(["table", "strikethrough"])
        .disable("image")
    )


_MD = _parser()


def _split_mentions(token: Token) -> list[Token]:
    """A text token, split so each ``@user`` becomes an inline mention element."""
    text = token.content
    pieces: list[Token] = []
    last = 0
    for match in _MENTION.finditer(text):
        if match.start() > last:
            pieces.append(_text(text[last : match.start()]))
        mention = Token("html_inline", "", 0)
        user = html.escape(match.group(1))
        mention.content = f'<span class="mention">@{user}</span>'
        pieces.append(mention)
        last = match.end()
    if not pieces:
        return [token]
    if last < len(text):
        pieces.append(_text(text[last:]))
    return pieces


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


def _with_mentions(tokens: list[Token]) -> list[Token]:
    for token in tokens:
        if token.type == "inline" and token.children:
            children: list[Token] = []
            inside_link = 0
            for child in token.children:
                inside_link += (child.type == "link_open") - (child.type == "link_close")
                if child.type == "text" and not inside_link:
                    children.extend(_split_mentions(child))
                else:
                    children.append(child)
            token.children = children
    return tokens


def sanitize(unsafe_html: str) -> str:
    """Clean HTML against the allowlist (tags, attributes, URL schemes)."""
    cleaned: str = nh3.clean(
        unsafe_html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
    )
    return cleaned


def to_html(markdown: str) -> str:
    """Safe HTML for a markdown text (raw HTML shown as text, mentions highlighted)."""
    tokens = _with_mentions(_MD.parse(markdown))
    options: Any = _MD.options
    rendered: str = _MD.renderer.render(tokens, options, {})
    return sanitize(rendered)


def to_text(markdown: str) -> str:
    """The words of a markdown text without its markup, on one line: for an excerpt shown as
    plain text (a project card's latest comment). Rendered by the same safe pipeline, then every
    tag dropped and entities decoded; show it with ``reports.format.md`` (still user text)."""
    words: str = nh3.clean(to_html(markdown), tags=set())
    return " ".join(html.unescape(words).split())


MENTION_CSS = """
.mention { background: rgba(255, 189, 69, 0.25); border-radius: 4px; padding: 0 2px; }
"""
