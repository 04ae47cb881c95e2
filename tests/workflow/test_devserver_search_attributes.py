"""The dev server reads search attributes from its cache (the CLI's forced reload is off), so
ours are registered when it creates its database: a session's first upsert works at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.worker import Worker

from tests.processes import DevServer
from workers.client.inputs import ensure_registered
from workers.workflows import search_attributes as attrs

RELOADS = "persistence GetCurrentClusterMetadata"


@workflow.defn(sandboxed=False)
class Indexed:
    """What a session upserts: its model, dialect and question, then steps and termination."""

    @workflow.run
    async def run(self, question: str) -> str:
        attrs.upsert_session(True, "fake-model", "tongyi", question)
        attrs.upsert(True, attrs.STEPS.value_set(2))
        attrs.upsert_termination(True, "answer")
        return question


async def run_indexed(client: Client, question: str) -> str:
    handle = await client.start_workflow(
        Indexed.run,
        question,
        id=f"sa-{uuid.uuid4().hex[:8]}",
        task_queue="sa",
        execution_timeout=timedelta(seconds=30),
    )
    await handle.result()
    kinds = [event.event_type async for event in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds  # no unknown attribute
    return handle.id


async def visible(client: Client, query: str, count: int = 1) -> list[str]:
    """The ids a visibility query finds once it finds `count` (it is eventually consistent)."""
    for _ in range(100):
        found = [execution.id async for execution in client.list_workflows(query)]
        if len(found) >= count:
            break
        await asyncio.sleep(0.1)
    return found


async def listed(client: Client) -> set[str]:
    request = ListSearchAttributesRequest(namespace=client.namespace)
    response = await client.operator_service.list_search_attributes(request)
    return set(response.custom_attributes)


async def test_ours_are_registered_with_the_database_and_read_from_the_cache(
    tmp_path: Path,
) -> None:
    db = tmp_path / "temporal.db"
    server = DevServer(db).start()
    try:
        client = await Client.connect(server.address)
        assert await listed(client) >= set(attrs.TYPES)  # before any client registered them
        async with Worker(client, task_queue="sa", workflows=[Indexed]):
            first = await run_indexed(client, "Who won the Turing award?")
            assert await visible(client, f"{attrs.QUESTION.name} = 'Turing'") == [first]
            before = server.requests()[RELOADS]
            ids = await asyncio.gather(*(run_indexed(client, f"batch {i}") for i in range(5)))
        assert sorted(await visible(client, f"{attrs.QUESTION.name} = 'batch'", 5)) == sorted(ids)
        # Cached, only each service's first read touches the database (none after the warm-up);
        # the CLI's default reloads on every read: 122 times here.
        assert server.requests()[RELOADS] - before < len(ids)
        both = f"{attrs.QUESTION.name} = 'Turing' AND {attrs.STEPS.name} = 2"
        assert await visible(client, both) == [first]
        assert await ensure_registered(client)
    finally:
        server.stop()

    # The same database again: the namespace exists, its attributes with it.
    server = DevServer(db).start()
    try:
        client = await Client.connect(server.address)
        assert await listed(client) >= set(attrs.TYPES)
        assert await ensure_registered(client)
    finally:
        server.stop()
