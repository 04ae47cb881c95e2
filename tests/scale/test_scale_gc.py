"""`deepresearch blobs gc` on both backends: unreferenced old blobs go; blobs of running and
retained sessions, and young blobs, stay; every session still reads and completes afterwards."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from activities.blobstore import BlobStore
from tests.conftest import Stack
from tests.scale.servers import S3Server, s3_env
from tests.workflow.test_session import ANSWER, QUESTION, ask_json, call, four_call_script
from workers.config import Settings
from workers.hosting.blobs import blob_store

CUTOFF_DAYS = 6 / 86400  # six seconds: the test waits it out instead of faking clocks
OTHER = "Which 2024 prize went to reinforcement learning?"


def open_store(env: dict[str, str]) -> BlobStore:
    keys = ("DEEPRESEARCH_BLOB_URL", "AWS_ENDPOINT_URL", "AWS_ALLOW_HTTP", "AWS_REGION")
    settings = Settings(
        data_dir=Path(env["DEEPRESEARCH_DATA_DIR"]),
        **{  # type: ignore[arg-type]
            name: value
            for name, value in {
                "blob_url": env.get(keys[0]),
                "aws_endpoint_url": env.get(keys[1]),
                "aws_allow_http": env.get(keys[2], "false") == "true",
                "aws_region": env.get(keys[3]),
            }.items()
            if value is not None
        },
    )
    return blob_store(settings)


def gc(stack: Stack, env: dict[str, str], *extra: str) -> dict[str, object]:
    result = stack.cli("blobs", "gc", "--older-than", f"{CUTOFF_DAYS}", "--json", *extra, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_gc_keeps_what_histories_reference(
    backend: str, stack: Stack, s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"DEEPRESEARCH_DATA_DIR": str(stack.data_dir)}
    if backend == "s3":
        env.update(s3_env(s3.url, s3.create_bucket()))
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # for this process's own store
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = open_store(env)
    done, running_id = f"s-gc-done-{backend}", f"s-gc-running-{backend}"  # one dev server

    # A finished session, a running one held in its page reads, and a blob nothing references.
    stack.script(QUESTION, four_call_script(stack))
    page = f"{stack.jina.url}/page/held"
    turns = [
        call("search", {"query": ["rl prize"]}),
        call("visit", {"url": [page], "goal": "which prize"}),
        "<think>done</think>\n<answer>The Turing Award.</answer>",
    ]
    stack.script(OTHER, turns)
    finished = ask_json(stack, "--id", done, **env)
    assert finished["answer"] == ANSWER
    orphan = store.put(b"no history mentions me")
    stack.jina.latency = 15  # long enough for the gc below, short enough to wait out
    detached = stack.cli("ask", OTHER, "--id", running_id, "--detach", "--no-worker", **env)
    assert detached.returncode == 0, detached.stderr
    worker = stack.spawn_worker("worker.log", **env)
    try:
        stack.jina.wait_for_requests(1 + len(stack.jina.requests), timeout=60)
        time.sleep(CUTOFF_DAYS * 86400 + 1)  # everything so far is older than the cutoff
        before = {info.digest for info in store.scan()}
        dry = gc(stack, env, "--dry-run")
        assert dry["dry_run"] and orphan in dry["deleted_digests"]
        assert {info.digest for info in store.scan()} == before

        young = store.put(b"written just now, not yet in any history")
        before.add(young)

        report = gc(stack, env)
        deleted = set(report["deleted_digests"])  # type: ignore[arg-type]
        assert deleted == {orphan}, report
        assert report["kept_young"] >= 1 and report["kept_referenced"] >= 3
        after = {info.digest for info in store.scan()}
        assert after == before - deleted and young in after
        with pytest.raises(KeyError):
            store.get(orphan)

        # The running session's blobs were old but referenced: it goes on and completes.
        stack.jina.latency = 0
        running = stack.cli("ask", OTHER, "--id", running_id, "--no-worker", "--json", **env)
        assert running.returncode == 0, running.stderr
        assert json.loads(running.stdout)["answer"] == "The Turing Award."
    finally:
        worker.terminate()
        worker.wait(20)
    # Both histories still decode whole: nothing they reference went.
    for session_id, expected in ((done, ANSWER), (running_id, "The Turing Award.")):
        shown = stack.cli("show", session_id, "--json", **env)
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["report"]["answer"] == expected
        exported = stack.cli("export", session_id, **env)
        assert exported.returncode == 0, exported.stderr
    if backend == "local":
        assert os.path.isdir(stack.data_dir / "blobs")
