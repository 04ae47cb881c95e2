"""Processes that share nothing but Temporal and a bucket: two research workers, the client, `show`
and the codec server, each with its own data directory; a worker killed mid-session; the store
cut off mid-session."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import obstore
from obstore.store import from_url

from tests.conftest import CLI, REPO, Stack
from tests.scale.servers import S3Server, TcpProxy, s3_env
from tests.workflow.shown import payload_texts
from tests.workflow.test_codec_server import CLAIM_CHECK
from tests.workflow.test_session import ANSWER, QUESTION, ask_json, four_call_script
from workers.hosting import devserver

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def data_dirs(root: Path, *names: str) -> dict[str, Path]:
    dirs = {name: root / name for name in names}
    for path in dirs.values():
        path.mkdir()
    return dirs


def history_json(address: str, session_id: str, *extra: str) -> str:
    command = [devserver.temporal_binary(), "workflow", "show", "-w", session_id,
               "--address", address, "-o", "json", *extra]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def bucket_keys(s3: S3Server, bucket: str) -> set[str]:
    root = from_url(
        f"s3://{bucket}",
        endpoint=s3.url,
        access_key_id="testing",
        secret_access_key="testing",
        region="us-east-1",
        client_options={"allow_http": True},
    )
    return {meta["path"] for batch in obstore.list(root) for meta in batch}


def local_blobs(*dirs: Path) -> list[Path]:
    """Files of a local blob store under any of the data directories."""
    return [p for d in dirs for p in (d / "blobs").rglob("*") if p.is_file()]


def completions(stack: Stack) -> list[object]:
    """Model calls (research turns and extractions), not the inference pool's health checks."""
    return stack.model.records(lambda r: r.path.endswith("/chat/completions"))


def assert_ran_once(stack: Stack) -> None:
    assert sorted(stack.serper.queries()) == [
        "turing award 2024",
        "turing award reinforcement learning",
    ]
    assert sorted(r.meta["turn"] for r in stack.model.research_requests()) == [0, 1, 2]


def test_two_workers_one_bucket_no_local_blobs(
    stack: Stack, s3: S3Server, temporal_address: str, tmp_path: Path
) -> None:
    bucket = s3.create_bucket()
    shared = s3_env(s3.url, bucket)
    dirs = data_dirs(tmp_path, "client", "worker-a", "worker-b", "show", "codec")

    def env(name: str) -> dict[str, str]:
        return {**shared, "DEEPRESEARCH_DATA_DIR": str(dirs[name])}

    stack.script(QUESTION, four_call_script(stack))
    stack.jina.latency = 1.5  # page reads are in flight when worker A dies
    detached = stack.cli(
        "ask", QUESTION, "--id", "s-topology", "--detach", "--no-worker", **env("client")
    )
    assert detached.returncode == 0, detached.stderr
    first = stack.spawn_worker("worker-a.log", **env("worker-a"))
    second = None
    try:
        stack.jina.wait_for_requests(1, timeout=60)  # A ran both searches; a read has started
        second = stack.spawn_worker("worker-b.log", **env("worker-b"))
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        stack.jina.latency = 0
        report = ask_json(stack, "--id", "s-topology", "--no-worker", **env("client"))
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.terminate()
                worker.wait(20)
    assert report["answer"] == ANSWER and report["termination"] == "answer"
    assert report["tool_calls"] == 4
    assert_ran_once(stack)

    # `show` from a data directory that never saw the session decodes its whole trajectory.
    shown = stack.cli("show", "s-topology", "--json", **env("show"))
    assert shown.returncode == 0, shown.stderr
    timeline = json.loads(shown.stdout)
    assert timeline["status"] == "completed" and timeline["report"]["answer"] == ANSWER
    nodes = [step["node"] for step in timeline["steps"]]
    assert nodes.count("think") == 3 and nodes.count("read") == 2
    assert all(step.get("observation") for step in timeline["steps"] if step["node"] == "search")

    # The codec server from yet another data directory decodes every payload of the history.
    raw = history_json(temporal_address, "s-topology")
    digests = set(DIGEST.findall(" ".join(payload_texts(raw))))
    assert CLAIM_CHECK in raw and digests
    port = devserver.free_port()
    codec = subprocess.Popen(
        [*CLI, "codec-server", "--port", str(port)],
        env={**stack.env, **env("codec")},
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        devserver.wait_for_port(port, 30, codec)
        decoded = history_json(
            temporal_address, "s-topology", "--codec-endpoint", f"http://127.0.0.1:{port}"
        )
    finally:
        codec.terminate()
        codec.wait(10)
    assert CLAIM_CHECK not in decoded
    assert any("The useful information in" in text for text in payload_texts(decoded))

    # Every digest history holds is an object in the bucket; no process wrote a local blob.
    keys = bucket_keys(s3, bucket)
    for digest in digests:
        hexdigest = digest.removeprefix("sha256:")
        assert f"deepresearch/sha256/{hexdigest[:2]}/{hexdigest[2:]}" in keys
    assert local_blobs(*dirs.values(), stack.data_dir) == []


def test_store_outage_pauses_the_session(stack: Stack, s3: S3Server, tmp_path: Path) -> None:
    """The bucket becomes unreachable while pages are being read: the session waits, then
    completes once the store is back, with nothing lost and nothing run twice."""
    bucket = s3.create_bucket()
    proxy = TcpProxy(s3.port).start()
    env = {
        **s3_env(proxy.url, bucket),
        "DEEPRESEARCH_DATA_DIR": str(data_dirs(tmp_path, "all")["all"]),
        "DEEPRESEARCH_BLOB_RETRY_SECONDS": "60",
        "DEEPRESEARCH_HEARTBEAT_SECONDS": "30",
    }
    stack.script(QUESTION, four_call_script(stack))
    stack.jina.latency = 1.0
    try:
        detached = stack.cli("ask", QUESTION, "--id", "s-outage", "--detach", "--no-worker", **env)
        assert detached.returncode == 0, detached.stderr
        worker = stack.spawn_worker("worker.log", **env)
        try:
            stack.jina.wait_for_requests(1, timeout=60)
            proxy.stop()  # the pages come back while the store is gone
            cut = len(completions(stack))
            time.sleep(8)
            assert len(completions(stack)) == cut  # paused: no extraction, no next turn
            assert worker.poll() is None
            connections = proxy.connections
            proxy.start()
            report = ask_json(stack, "--id", "s-outage", "--no-worker", **env)
        finally:
            worker.terminate()
            worker.wait(20)
    finally:
        proxy.stop()
    assert proxy.connections > connections  # the worker came back to the store
    assert report["answer"] == ANSWER and report["termination"] == "answer"
    assert report["tool_calls"] == 4
    assert_ran_once(stack)
    visit_turn = stack.model.research_requests()[2].body["messages"][-1]["content"]
    assert visit_turn.count("Evidence in page") == 2 and "could not be accessed" not in visit_turn
    assert worker.returncode == 0


def test_unreachable_store_is_one_line_for_every_command(stack: Stack, s3: S3Server) -> None:
    env = s3_env("http://127.0.0.1:9", s3.create_bucket())
    for args in (("ask", QUESTION), ("list",), ("blobs", "gc", "--older-than", "30")):
        result = stack.cli(*args, **env)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("error: blob store s3://"), result.stderr
        assert "is unreachable at http://127.0.0.1:9" in result.stderr
        assert result.stderr.strip().count("\n") == 0
    worker = stack.cli("worker", **env)
    assert worker.returncode == 2 and "is unreachable" in worker.stderr
