"""Budgets over HTTP against a real API process, worker and dev server: a session's budget in
POST /v1/sessions, the top-up endpoint, GET /v1/usage per tenant, and a tenant's day budget
answering 429 on new sessions once spent."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from tests.api.conftest import ApiProcess
from tests.api.test_tenants import ALPHA, BETA, OPS, auth, keys_file, wait_done
from tests.conftest import Stack
from tests.workflow.test_session import QUESTION, answer, call

PRICES = json.dumps({"models": {"*": {"prompt": 10.0, "completion": 10.0}}, "search": 0.5})


def wait_awaiting(http: httpx.Client, session_id: str, key: str) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + 60
    while True:
        view = http.get(f"/v1/sessions/{session_id}", headers=auth(key)).json()
        if (view.get("progress") or {}).get("awaiting_budget"):
            return view
        assert view["status"] == "running", view
        assert time.monotonic() < deadline, view
        time.sleep(0.3)


def test_budgets_top_ups_and_usage_over_http(
    stack: Stack, api_process: list[ApiProcess], tmp_path: Path
) -> None:
    stack.script(
        QUESTION,
        [call("search", {"query": ["first"]}), call("search", {"query": ["second"]}), answer()],
    )
    budgets = tmp_path / "budgets.toml"
    budgets.write_text(
        "[tenants.beta]\nday = { usd = 0.4 }\n[tenants.alpha]\nsession = { pages = 7 }\n"
    )
    api = ApiProcess(
        stack, "--worker", DEEPRESEARCH_API_KEYS_FILE=str(keys_file(tmp_path)),
        DEEPRESEARCH_ADMIN_TENANTS="ops", DEEPRESEARCH_PRICES=PRICES,
        DEEPRESEARCH_TENANT_BUDGETS=str(budgets),
    ).wait_ready()  # fmt: skip
    api_process.append(api)
    http = httpx.Client(base_url=api.url, timeout=30)

    bad = http.post("/v1/sessions", json={"question": QUESTION, "budget": {"searches": -1}},
                    headers=auth(ALPHA))  # fmt: skip
    assert bad.status_code == 422 and bad.json()["error"].startswith("budget.searches:")
    odd = http.post("/v1/sessions", json={"question": QUESTION, "budget": {"dollars": 1}},
                    headers=auth(ALPHA))  # fmt: skip
    assert odd.status_code == 422 and "budget.dollars" in odd.json()["error"]

    earlier = http.get("/v1/usage", params={"since": "1d"}, headers=auth(ALPHA)).json()["usage"]
    before = {"sessions": 0, "usd": 0.0}
    for r in earlier:
        before = {
            "sessions": before["sessions"] + r["sessions"],
            "usd": before["usd"] + r["spent"]["usd"],
        }
    body = {"question": QUESTION, "id": "b-pause", "budget": {"searches": 1}, "on_budget": "pause"}
    assert http.post("/v1/sessions", json=body, headers=auth(ALPHA)).status_code == 202
    view = wait_awaiting(http, "b-pause", ALPHA)
    assert view["progress"]["awaiting_budget"] == "searches"
    assert view["progress"]["budget"] == {"tokens": None, "usd": None, "searches": 1, "pages": 7}
    assert view["progress"]["spent"]["searches"] == 1
    # another tenant's top-up is the missing session's; an empty one is refused
    theirs = http.post("/v1/sessions/b-pause/budget", json={"searches": 1}, headers=auth(BETA))
    assert theirs.status_code == 404
    empty = http.post("/v1/sessions/b-pause/budget", json={}, headers=auth(ALPHA))
    assert empty.status_code == 422 and "name an amount to add" in empty.json()["error"]
    topped = http.post("/v1/sessions/b-pause/budget", json={"searches": 1}, headers=auth(ALPHA))
    assert topped.status_code == 200, topped.text
    assert topped.json()["budget"]["searches"] == 2
    done = wait_done(http, "b-pause", ALPHA)
    assert done["result"]["termination"] == "answer"
    assert done["result"]["spent"]["searches"] == 2
    assert stack.serper.queries() == ["first", "second"]
    assert len(stack.model.research_requests()) == 3
    spent_usd = done["result"]["spent"]["usd"]
    assert spent_usd > 1.0  # two searches at $0.50 and the tokens at $10 per million

    page = httpx.Client(base_url=api.url, timeout=30)  # the web page shows what it spent
    token = page.get("/login").text.split('name="csrf" value="')[1].split('"')[0]
    assert page.post("/login", data={"key": ALPHA, "csrf": token}).status_code == 303
    shown = page.get("/sessions/b-pause").text
    assert f"· 2 searches · 0 pages · ${spent_usd:.4f}</p>" in shown, shown

    mine = http.get("/v1/usage", params={"since": "1d"}, headers=auth(ALPHA)).json()
    assert [r["tenant"] for r in mine["usage"]] == ["alpha"]
    row = mine["usage"][0]  # the shared dev server may hold alpha's sessions of other tests
    assert row["sessions"] == before["sessions"] + 1
    assert abs(row["spent"]["usd"] - before["usd"] - spent_usd) < 1e-6
    theirs = http.get("/v1/usage", headers=auth(BETA)).json()["usage"]
    assert {r["tenant"] for r in theirs} <= {"beta"}  # none of alpha's
    # an admin sees every tenant (the shared dev server also holds other tests' sessions)
    everyone = {r["tenant"]: r for r in http.get("/v1/usage", headers=auth(OPS)).json()["usage"]}
    assert everyone["alpha"]["sessions"] == before["sessions"] + 1
    only = http.get("/v1/usage", params={"tenant": "alpha"}, headers=auth(OPS)).json()["usage"]
    assert [r["tenant"] for r in only] == ["alpha"]
    assert http.get("/v1/usage", params={"since": "forever"}, headers=auth(OPS)).status_code == 422

    # beta's day budget: its first session spends past $0.40, the next is refused with 429
    stack.model.scripts.clear()
    stack.script(QUESTION, [call("search", {"query": ["third"]}), answer()])
    first = http.post("/v1/sessions", json={"question": QUESTION, "id": "b-beta-1"},
                      headers=auth(BETA))  # fmt: skip
    assert first.status_code == 202
    assert wait_done(http, "b-beta-1", BETA)["result"]["spent"]["usd"] > 0.4
    refused = http.post("/v1/sessions", json={"question": QUESTION, "id": "b-beta-2"},
                        headers=auth(BETA))  # fmt: skip
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"].startswith("tenant 'beta' spent $")
    assert "day budget (DEEPRESEARCH_TENANT_BUDGETS)" in refused.json()["error"]
    assert http.get("/v1/sessions/b-beta-2", headers=auth(BETA)).status_code == 404  # nothing ran
    # alpha is not bound by beta's budget
    again = http.post("/v1/sessions", json={"question": QUESTION, "id": "b-alpha-2"},
                      headers=auth(ALPHA))  # fmt: skip
    assert again.status_code == 202
