"""The web page's server side: reports rendered safely with linked citations, pages escaped,
served with a strict Content-Security-Policy."""

from __future__ import annotations

import asyncio
import socket

from tests.api.conftest import Api
from tests.conftest import Stack
from tests.workflow.test_session import answer
from workers.api.markdown import report_html, split_sources
from workers.api.server import listen
from workers.hosting.devserver import free_port


def test_report_citations_link_to_the_pages_read() -> None:
    markdown = (
        "# Title\n\nA claim [1]; two claims [1, 2]; not a source [3]; a link "
        "[x](javascript:alert(1)) and <b onclick=x>raw</b>.\n\n"
        "## Sources\n\n[1] https://a.example/p?q=1&r=2\n[2] doc:notes.md\n"
    )
    body, sources = report_html(markdown)
    assert [(s.number, s.url, s.linkable) for s in sources] == [
        (1, "https://a.example/p?q=1&r=2", True),
        (2, "doc:notes.md", False),
    ]
    html = str(body)
    link = (
        '<a href="https://a.example/p?q=1&amp;r=2" target="_blank" '
        'rel="noopener noreferrer nofollow">1</a>'
    )
    assert f"A claim [{link}]" in html
    assert "two claims [1, 2]" in html  # 2 is not a web page: left as text
    assert "not a source [3]" in html
    assert "javascript:" not in html.replace("[x](javascript:alert(1))", "")
    assert 'href="javascript' not in html
    assert "&lt;b onclick=x&gt;raw&lt;/b&gt;" in html and "<b " not in html
    assert "Sources" not in html  # listed apart, below the body
    assert split_sources("no sources here") == ("no sources here", [])


async def test_pages_escape_and_forbid_inline_script(stack: Stack, api: Api) -> None:
    question = "Is <script>alert('x')</script> escaped?"
    stack.script(question, [answer("Yes <i>it is</i>.")])
    started = await api.http.post("/v1/sessions", json={"question": question, "id": "w-escape"})
    assert started.status_code == 202
    for _ in range(300):
        if (await api.http.get("/v1/sessions/w-escape")).json()["status"] == "completed":
            break
        await asyncio.sleep(0.1)
    index = await api.http.get("/", params={"q": "escaped"})
    assert index.status_code == 200
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in index.text
    assert "<script>alert" not in index.text
    csp = index.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert index.headers["x-content-type-options"] == "nosniff"
    assert index.headers["referrer-policy"] == "no-referrer"
    page = await api.http.get("/sessions/w-escape")
    assert page.status_code == 200
    assert "Yes &lt;i&gt;it is&lt;/i&gt;." in page.text and "<i>it is" not in page.text
    outcome = await api.http.get("/sessions/w-escape/outcome")
    assert 'id="answer"' in outcome.text and "&lt;i&gt;" in outcome.text
    missing = await api.http.get("/sessions/w-nope")
    assert missing.status_code == 404 and "no session with id" in missing.text
    script = await api.http.get("/static/app.js")
    assert script.status_code == 200 and "textContent" in script.text


def test_the_listening_socket_is_tcp() -> None:
    """asyncio sets TCP_NODELAY only on sockets whose protocol is TCP; a bare socket() costs
    every response a delayed ACK (about 40 ms)."""
    sock = listen("127.0.0.1", free_port())
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
