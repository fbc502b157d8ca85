"""Markdown is rendered to sanitised HTML: nothing executable survives."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from helpdesk.kb.markdown import render, sanitise


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>Hello",
        "Hello <SCRIPT SRC=//evil.example/x.js></SCRIPT>",
        "<scr<script>ipt>alert(1)</script>",
        "```\nok\n```\n<script>document.cookie</script>",
    ],
)
def test_script_elements_are_removed(source):
    html = render(source)
    assert "<script" not in html.lower() and "alert(1)</" not in html and "document.cookie" not in html


@pytest.mark.parametrize(
    "source",
    [
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        '<a href="javascript:alert(1)">click</a>',
        '<a href="jav&#x61;script:alert(1)">click</a>',
        '<a href=" javascript:alert(1)">click</a>',
        "[click](vbscript:msgbox(1))",
        "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "<javascript:alert(1)>",
    ],
)
def test_javascript_and_other_dangerous_links_are_removed(source):
    # Whatever is left is at most visible text: no link with a dangerous URL.
    for url in urls_in(render(source)):
        assert url.startswith(("http://", "https://", "mailto:", "/", "#")), url


def urls_in(html: str) -> list[str]:
    found: list[str] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.extend((value or "").strip().lower() for name, value in attrs if name in ("href", "src", "action"))

    Collector().feed(html)
    return found


def test_a_dangerous_link_keeps_no_href_at_all():
    html = render('<a href="javascript:alert(1)">click</a> [x](javascript:alert(1))')
    assert "href" not in html


@pytest.mark.parametrize(
    "source",
    [
        '<img src="x.png" onerror="alert(1)">',
        '<p onclick="alert(1)">tap</p>',
        '<a href="https://example.org" onmouseover="alert(1)">x</a>',
        '<details ontoggle="alert(1)" open>x</details>',
        '<body onload="alert(1)">',
    ],
)
def test_event_handler_attributes_are_removed(source):
    html = render(source).lower()
    assert "onerror" not in html and "onclick" not in html and "onmouseover" not in html
    assert "ontoggle" not in html and "onload" not in html and "alert(1)" not in html


@pytest.mark.parametrize(
    "source",
    [
        '<iframe src="https://evil.example"></iframe>',
        '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
        '<object data="x.swf"></object><embed src="x.swf">',
        "<frameset><frame src=x></frameset>",
    ],
)
def test_iframes_and_embedded_objects_are_removed(source):
    html = render(source).lower()
    assert "<iframe" not in html and "<object" not in html and "<embed" not in html and "<frame" not in html


@pytest.mark.parametrize(
    "source",
    [
        "<style>body { display:none }</style>Text",
        '<p style="position:fixed;top:0">overlay</p>',
        '<div style="background:url(javascript:alert(1))">x</div>',
        '<link rel="stylesheet" href="https://evil.example/x.css">',
    ],
)
def test_styles_are_removed(source):
    html = render(source).lower()
    assert "<style" not in html and "style=" not in html and "display:none" not in html and "<link" not in html


def test_ordinary_markdown_survives_and_links_are_safe():
    html = render(
        "# Title\n\nSome **bold** and *italic* text.\n\n- one\n- two\n\n"
        "[Portal](https://portal.example.org) · [Help](/help-centre) · [Mail](mailto:help@example.org)\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    assert "<h2>Title</h2>" in html and "<h1>" not in html  # the page's only h1 is the article title
    assert "<strong>bold</strong>" in html and "<em>italic</em>" in html and "<li>one</li>" in html
    assert '<a href="https://portal.example.org" rel="noopener noreferrer">Portal</a>' in html
    assert 'href="/help-centre"' in html and 'href="mailto:help@example.org"' in html
    assert "<table>" in html and "<td>1</td>" in html


def test_sanitise_is_idempotent():
    once = render('<p onclick="x">Hi <b>there</b></p><script>x</script>')
    assert sanitise(once) == once == "<p>Hi <b>there</b></p>"
