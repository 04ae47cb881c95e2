"""The web page in a real browser (Playwright driving Debian's chromium, never a downloaded
one) against `deepresearch api --worker` and the loopback fakes: ask, watch progress, read the
answer and report, follow a citation, cancel a second session. Hostile model text stays text.
Refreshes the screenshot of the session page with
DEEPRESEARCH_SCREENSHOT=docs/web-session.png."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import ApiProcess
from tests.conftest import Stack
from tests.workflow.test_session import QUESTION, answer, call

playwright = pytest.importorskip("playwright.async_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WRITER = "Write a research report that answers the question below"
HOSTILE = "Barto and Sutton <img src=x onerror=\"document.title='pwned'\"><b>bold</b>"
SECOND = "How do llamas keep warm in the Andes?"


@asynccontextmanager
async def browser_page(tmp_path: Path) -> AsyncIterator[Any]:
    """A page of a fresh chromium profile, at a desktop size, the page's CSP bypassed for
    the test's own scripts."""
    async with playwright.async_playwright() as driver:
        browser = await driver.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1200, "height": 900}, bypass_csp=True,
        )  # fmt: skip
        try:
            yield browser.pages[0] if browser.pages else await browser.new_page()
        finally:
            await browser.close()


async def test_ask_watch_read_cite_and_cancel(
    stack: Stack, api_process: list[ApiProcess], tmp_path: Path
) -> None:
    pages = [f"{stack.jina.url}/page/turing-{i}" for i in (1, 2)]
    stack.script(
        QUESTION,
        [
            call("search", {"query": ["turing award 2024"]}, thought="Search first."),
            call("visit", {"url": pages, "goal": "who won"}, thought="Read <script>x()</script>"),
            answer(HOSTILE),
        ],
    )
    stack.model.scripts[WRITER] = [
        "# The 2024 Turing Award\n\nBarto and Sutton won it [1] for reinforcement "
        "learning [2]. <script>alert(1)</script>\n"
    ]
    stack.script(SECOND, [call("search", {"query": ["llamas"]}), answer("Thick wool.")])
    stack.serper.latency = 1.0  # slow enough to watch, and to cancel the second session
    server = ApiProcess(stack, "--worker").wait_ready()
    api_process.append(server)

    async with playwright.async_playwright() as driver:
        browser = await driver.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh --user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport={"width": 1200, "height": 900},
            # the page's CSP forbids eval, which wait_for_function needs; without it the test
            # checks the escaping itself (an injected handler would run)
            bypass_csp=True,
        )
        try:
            page = browser.pages[0] if browser.pages else await browser.new_page()
            await page.goto(server.url + "/")
            await page.fill("#question", QUESTION)
            await page.check("#report")
            await page.click("#ask-button")
            await page.wait_for_url("**/sessions/**")
            # live progress: the node and the step counter move, steps appear as they finish
            await page.wait_for_function(
                "document.querySelector('#live-node').textContent !== '…'", timeout=30_000
            )
            await page.wait_for_selector("#steps li", timeout=30_000)
            await page.wait_for_selector("#answer", timeout=60_000)
            assert await page.text_content("#status") == "completed"
            assert await page.text_content("#question") == QUESTION
            assert await page.inner_text("#answer") == HOSTILE  # shown as text
            assert await page.locator("#answer img, #answer b").count() == 0
            assert await page.title() != "pwned"
            assert await page.locator("#report script").count() == 0
            assert "<script>alert(1)</script>" in await page.inner_text("#report")
            steps = await page.inner_text("#steps")
            assert "Read <script>x()</script>" in steps
            sources = await page.inner_text("#sources-so-far")
            assert pages[0] in sources
            # a citation in the report opens the page that was read
            citation = page.locator("#report a", has_text="1").first
            assert await citation.get_attribute("href") == pages[0]
            assert await citation.get_attribute("rel") == "noopener noreferrer nofollow"
            async with page.expect_popup() as popup_info:
                await citation.click()
            popup = await popup_info.value
            await popup.wait_for_load_state()
            assert popup.url == pages[0]
            assert "turing-1" in await popup.inner_text("h1")
            await popup.close()
            # docs/web-session.png is refreshed on request only: a test run leaves the tree as is
            target = os.environ.get("DEEPRESEARCH_SCREENSHOT")
            screenshot = Path(target) if target else tmp_path / "web-session.png"
            await page.screenshot(path=str(screenshot), full_page=True)

            # a second session, cancelled from its page
            await page.goto(server.url + "/")
            await page.fill("#question", SECOND)
            await page.click("#ask-button")
            await page.wait_for_url("**/sessions/**")
            await page.wait_for_function(
                "document.querySelector('#live-tools').textContent === '1'", timeout=30_000
            )
            await page.fill("#cancel-reason", "enough for now")
            await page.click("#cancel-button")
            await page.wait_for_function(
                "document.querySelector('#status').textContent === 'cancelled'", timeout=60_000
            )
            assert "cancelled" in await page.inner_text("#termination")

            # the list shows both, filtered by question words
            await page.goto(server.url + "/?q=llamas")
            rows = await page.inner_text("#sessions")
            assert "llamas" in rows and "Turing" not in rows and "cancelled" in rows
        finally:
            await browser.close()


ATTACK = """<!doctype html><html><body>
<iframe name="sink"></iframe>
<form id="start" method="post" action="{api}/v1/sessions" enctype="multipart/form-data"
      target="sink"><input name="question" value="Spend their credit (form)"></form>
<form id="cancel" method="post" action="{api}/v1/sessions/x-running/cancel" enctype="text/plain"
      target="sink"><input name='{{"reason": "' value='stop"}}'></form>
<form id="resume" method="post" action="{api}/v1/sessions/x-failed/resume" target="sink"></form>
<script>
  const api = "{api}";
  const blind = (path, init) => fetch(api + path, {{method: "POST", mode: "no-cors", ...init}})
    .catch(() => null);
  (async () => {{
    await blind("/v1/sessions", {{body: '{{"question": "Spend their credit (fetch)"}}',
                                   headers: {{"Content-Type": "text/plain"}}}});
    await blind("/v1/sessions/x-running/cancel", {{}});
    await blind("/v1/sessions/x-failed/resume", {{}});
    for (const id of ["start", "cancel", "resume"]) {{
      document.getElementById(id).submit();
      await new Promise((done) => setTimeout(done, 400));
    }}
    document.title = "sent";
  }})();
</script></body></html>"""


class AttackerSite:
    """A page on another origin (another loopback port, a real HTTP server) that tries to drive
    the API of whoever opens it."""

    def __init__(self, api: str) -> None:
        page = ATTACK.format(api=api).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


async def test_another_site_cannot_drive_the_api(
    stack: Stack, api_process: list[ApiProcess], tmp_path: Path
) -> None:
    """The key-less API on loopback, open in the same browser as a hostile page: its forms and
    no-cors fetches (start, cancel, resume; same-site and cross-site) reach the API and are
    refused there; nothing starts, the running session runs on, the failed one stays failed.
    The web page itself still starts a session (the first test drives it fully)."""
    stack.script(QUESTION, [call("search", {"query": [f"q{i}"]}) for i in range(40)])
    stack.serper.latency = 0.5
    server = ApiProcess(stack, "--worker").wait_ready()
    api_process.append(server)
    http = httpx.Client(base_url=server.url, timeout=30)
    assert (
        http.post("/v1/sessions", json={"question": QUESTION, "id": "x-running"}).status_code == 202
    )
    assert (
        http.post("/v1/sessions", json={"question": "No script", "id": "x-failed"}).status_code
        == 202
    )
    deadline = time.monotonic() + 120
    while http.get("/v1/sessions/x-failed").json()["status"] != "failed":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    before = sorted(
        row["session_id"] for row in http.get("/v1/sessions?limit=200").json()["sessions"]
    )
    sites = [AttackerSite(server.url), AttackerSite(f"http://localhost:{server.port}")]
    async with playwright.async_playwright() as driver:
        browser = await driver.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=ARGS
        )
        try:
            page = browser.pages[0] if browser.pages else await browser.new_page()
            await page.goto(server.url + "/")  # the user has the page open, too
            for site in sites:
                attack = await browser.new_page()
                await attack.goto(site.url)
                await attack.wait_for_function("document.title === 'sent'", timeout=30_000)
                await attack.wait_for_timeout(1000)
                await attack.close()
            await page.fill("#question", SECOND)
            await page.click("#ask-button")
            await page.wait_for_url("**/sessions/**", timeout=30_000)
        finally:
            await browser.close()
            for site in sites:
                site.close()
    after = sorted(
        row["session_id"] for row in http.get("/v1/sessions?limit=200").json()["sessions"]
    )
    assert len(after) == len(before) + 1  # the page's own session, nothing of the attacker's
    questions = [row["question"] for row in http.get("/v1/sessions?limit=200").json()["sessions"]]
    assert not [q for q in questions if q.startswith("Spend their credit")]
    assert http.get("/v1/sessions/x-running").json()["status"] == "running"
    assert http.get("/v1/sessions/x-failed").json()["status"] == "failed"
    # every attempt reached the API and was refused there (not stopped by the browser)
    log = server.log.read_text()
    refused = re.findall(r'"POST /v1/sessions[^"]* HTTP/1.1" (\d+)', log)
    assert refused.count("202") == 3, refused  # the two set-up starts and the page's own
    assert len([code for code in refused if code in ("403", "415")]) >= 12, refused


async def test_plan_follow_up_and_schedules_on_the_page(
    stack: Stack, api_process: list[ApiProcess], tmp_path: Path
) -> None:
    """Plan first: the plan card waits, an edited plan is approved and reaches the model; the
    finished session's follow-up box starts a linked session; a schedule is created, paused
    and deleted from the schedules page."""
    from tests.workflow.test_follow_up import FOLLOW, FOLLOW_ANSWER, script_follow_ups
    from tests.workflow.test_plan import DRAFT, EDITED, first_user_message

    stack.script(QUESTION, [answer()])
    stack.model.plans[QUESTION] = DRAFT
    stack.script(FOLLOW, [answer(FOLLOW_ANSWER)])
    script_follow_ups(stack)
    server = ApiProcess(stack, "--worker").wait_ready()
    api_process.append(server)
    async with browser_page(tmp_path) as page:
        await page.goto(server.url + "/")
        await page.fill("#question", QUESTION)
        await page.check("#plan")
        await page.click("#ask-button")
        await page.wait_for_url("**/sessions/**")
        await page.wait_for_selector("#plan-form:not([hidden])", timeout=30_000)
        assert "1. Find the laureates." in await page.inner_text("#plan-text")
        assert "2024 or the one for 2024?" in await page.inner_text("#plan-questions")
        assert stack.model.research_requests() == []  # nothing before the decision
        await page.fill("#plan-edit", EDITED)
        await page.fill("#plan-answer-1", "The one for 2024.")
        await page.click("#approve-button")
        await page.wait_for_selector("#answer", timeout=60_000)
        assert "approved (edited)" in await page.inner_text("#plan-decision")
        assert EDITED in first_user_message(stack)

        await page.fill("#follow-up-question", FOLLOW)
        await page.click("#follow-up-button")
        await page.wait_for_selector("#follow-up-of", timeout=30_000)
        await page.wait_for_selector("#answer", timeout=60_000)
        assert await page.inner_text("#answer") == FOLLOW_ANSWER

        await page.goto(server.url + "/schedules")
        assert await page.locator("#no-schedules").count() == 1
        await page.fill("#schedule-question", QUESTION)
        await page.fill("#schedule-every", "1h")
        await page.click("#schedule-button")
        await page.wait_for_selector("article.schedule", timeout=30_000)
        card = page.locator("article.schedule").first
        assert await card.locator(".schedule-state").inner_text() == "active"
        await card.locator("[data-action=pause]").click()
        await page.wait_for_selector("[data-action=unpause]", timeout=30_000)
        assert await card.locator(".schedule-state").inner_text() == "paused"
        await page.locator("[data-action=delete]").first.click()
        await page.wait_for_selector("#no-schedules", timeout=30_000)


async def test_fork_from_a_step_on_the_page(
    stack: Stack, api_process: list[ApiProcess], tmp_path: Path
) -> None:
    """A step's "Fork here" starts a fork at the step before it, with the model name typed
    in; the fork's page links to its original and ends with the fork's own answer."""
    from tests.workflow.test_fork import FORK_ANSWER, FORK_MODEL, script_fork, six_steps

    stack.script(QUESTION, six_steps(stack))
    script_fork(stack)
    server = ApiProcess(stack, "--worker").wait_ready()
    api_process.append(server)
    http = httpx.Client(base_url=server.url, timeout=30)
    started = http.post("/v1/sessions", json={"question": QUESTION, "id": "k-web"})
    assert started.status_code == 202, started.text
    async with browser_page(tmp_path) as page:
        await page.goto(server.url + "/sessions/k-web")
        await page.wait_for_selector("#answer", timeout=60_000)
        buttons = page.locator("button.fork-here")
        # the steps come over the feed (a finished session's outcome is there at once)
        await buttons.nth(4).wait_for(timeout=30_000)
        assert await buttons.count() == 5  # turns 2..6
        await buttons.nth(2).click()  # turn 4: steps 1-3 taken over
        assert "live from step 4" in await page.inner_text("#fork-at")
        await page.fill("#fork-model", FORK_MODEL)
        await page.click("#fork-button")
        await page.wait_for_selector("#forked-from", timeout=30_000)
        assert "k-web" in await page.inner_text("#forked-from")
        await page.wait_for_selector("#answer", timeout=60_000)
        assert await page.inner_text("#answer") == FORK_ANSWER
