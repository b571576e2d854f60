"""User text never becomes markup or a remote request (docs/permissions.md, X1): the renderers
every portal page and the provenance report go through, fed hostile text."""

from __future__ import annotations

import dataclasses
import enum
import html
import re
import types
import typing
from datetime import UTC, datetime
from typing import Any

import pytest

from query.provenance import ModelProvenance
from reports.format import md
from reports.markdown import to_html
from reports.provenance_report import provenance_html, provenance_markdown, report_fragment

HOSTILE = [
    "![x](http://tracker.example/p.png)",
    "feature/`x` ![x](http://tracker.example/p.png) `",
    "<img src=http://tracker.example/p.png>",
    '<script>alert("x")</script>',
    "[click](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2Zz4=)",
    "<iframe src='http://tracker.example/'></iframe>",
    "$\\href{http://tracker.example}{x}$",
    ":red[**boo**]",
    "<svg onload=alert(1)>",
]
REMOTE = re.compile(r"<(img|script|iframe|svg|object|embed|link|video|audio|source)\b", re.I)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_stays_text(text: str) -> None:
    for rendered in (
        to_html(text),
        to_html(f"> {text}"),
        report_fragment(f"| a |\n|---|\n| {text} |\n"),
        provenance_html(f"# report\n\n{text}\n", title=text),
    ):
        assert not REMOTE.search(rendered), rendered
        assert "javascript:" not in rendered.replace("javascript:alert", "")
        assert not re.search(r"<[^>]*\son\w+\s*=", rendered), rendered  # no event handler
    # Names shown with st.markdown are escaped so that nothing in them is Markdown at all.
    escaped = md(text)
    assert not re.search(r"(?<!\\)[`*_\[\]()<>!$:]", escaped), escaped


def test_images_are_never_rendered_but_links_stay_links() -> None:
    html = to_html("see ![chart](http://tracker.example/p.png) and [docs](https://example.org)")
    assert "<img" not in html
    assert '<a href="https://example.org"' in html


# --- the provenance report: every text field of every record, hostile -------------------------

REPORT_HOSTILE = (
    "x](http://tracker.example/a) ![p](http://tracker.example/p.png) **b** _i_ `c` | d"
    " <b>h</b> [l](http://tracker.example/) ``` ~~s~~ # h \\| &lt;"
)


def filled(kind: Any, text: str, depth: int = 0) -> Any:
    """A value of type ``kind`` whose every string (at any depth) is ``text``."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if kind is str:
        return text
    if kind is bool:
        return True
    if kind is int:
        return 3
    if kind is float:
        return 1.5
    if kind is datetime:
        return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return next(iter(kind))
    if origin in (types.UnionType, typing.Union):
        return filled(next(a for a in args if a is not type(None)), text, depth)
    if origin is tuple and (len(args) != 2 or args[1] is not Ellipsis):
        return tuple(filled(arg, text, depth + 1) for arg in args)
    if origin is tuple:
        return () if depth > 2 else (filled(args[0], text, depth + 1),)
    if origin in (list, frozenset, set):
        return origin([filled(args[0], text, depth + 1)])
    if origin is dict:
        return {text: filled(args[1], text, depth + 1)}
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        values = {
            f.name: filled(hints[f.name], text, depth + 1)
            for f in dataclasses.fields(kind)
            if f.init
        }
        return kind(**values)
    raise AssertionError(f"no value for {kind!r}")


def report_page(text: str, diff: str | None = None) -> str:
    """The provenance report's HTML with ``text`` in every string of every record (comment and
    decision bodies, Markdown by design, stay plain)."""
    report = filled(ModelProvenance, text)
    report = dataclasses.replace(
        report,
        comments=tuple(dataclasses.replace(c, body_markdown="fine") for c in report.comments),
        decisions=tuple(dataclasses.replace(d, body_markdown="fine") for d in report.decisions),
    )
    if diff is not None:
        report = dataclasses.replace(report, code=dataclasses.replace(report.code, diff=diff))
    markdown = provenance_markdown(report, lambda user: user, reader=text)
    return provenance_html(markdown, title=text).split("<body>", 1)[1]


def test_the_provenance_report_shows_user_text_as_text() -> None:
    """A model, run, datasets, params, tags, reasons, branch, people ... all named with Markdown
    and HTML: the report has exactly the markup it has for plain names (no link, image, emphasis,
    code span or extra table cell from user text) and shows the characters typed."""
    plain = report_page("plain")
    page = report_page(REPORT_HOSTILE)
    assert not REMOTE.search(page), page
    assert re.findall(r"<(/?\w+)", page) == re.findall(r"<(/?\w+)", plain)
    shown = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert shown.count(REPORT_HOSTILE) >= 50, shown
    # The diff stays one code block even when it contains a fence of its own.
    fenced = report_page("plain", diff="```\n**not bold**\n````\n[x](http://t.example)")
    assert re.findall(r"<(/?\w+)", fenced) == re.findall(r"<(/?\w+)", plain)
