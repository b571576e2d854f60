"""User text never becomes markup or a remote request (docs/permissions.md, X1): the renderers
every portal page and the provenance report go through, fed hostile text."""

from __future__ import annotations

import re

import pytest

from reports.format import md
from reports.markdown import to_html
from reports.provenance_report import provenance_html, report_fragment

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
    for html in (
        to_html(text),
        to_html(f"> {text}"),
        report_fragment(f"| a |\n|---|\n| {text} |\n"),
        provenance_html(f"# report\n\n{text}\n", title=text),
    ):
        assert not REMOTE.search(html), html
        assert "javascript:" not in html.replace("javascript:alert", "")
        assert not re.search(r"<[^>]*\son\w+\s*=", html), html  # no event handler attribute
    # Names shown with st.markdown are escaped so that nothing in them is Markdown at all.
    escaped = md(text)
    assert not re.search(r"(?<!\\)[`*_\[\]()<>!$:]", escaped), escaped


def test_images_are_never_rendered_but_links_stay_links() -> None:
    html = to_html("see ![chart](http://tracker.example/p.png) and [docs](https://example.org)")
    assert "<img" not in html
    assert '<a href="https://example.org"' in html
