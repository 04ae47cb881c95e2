"""A server that registered DeepResearchTenant moments ago may refuse it for a minute (its
search-attribute cache): the session still starts, its tenant in the memo."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.common import Priority
from temporalio.service import RPCError, RPCStatusCode

from workers.client.sessions import (
    BATCH_PRIORITY,
    INTERACTIVE_PRIORITY,
    Sessions,
    tenant_options,
)
from workers.config import Settings
from workers.workflows.models import ResearchInput
from workers.workflows.research import ResearchWorkflow


class RefusingClient:
    """Refuses the first start as a stale cache does, records every start."""

    def __init__(self, message: str) -> None:
        self.message, self.starts = message, []  # type: ignore[var-annotated]

    async def start_workflow(self, *args: Any, **options: Any) -> None:
        self.starts.append(options)
        if len(self.starts) == 1:
            raise RPCError(self.message, RPCStatusCode.INVALID_ARGUMENT, b"")


async def test_a_stale_attribute_cache_falls_back_to_the_memo() -> None:
    client = RefusingClient("Namespace default has no mapping defined for search attribute X")
    sessions = Sessions(client, Settings())  # type: ignore[arg-type]
    request = ResearchInput(question="q", indexed=True, tenant="alpha")
    await sessions._start_owned(ResearchWorkflow.run, request, request, id="s-1")
    first, second = client.starts
    assert first["memo"] == second["memo"] == {"tenant": "alpha"}
    assert "search_attributes" in first and "search_attributes" not in second


async def test_other_refusals_are_not_retried() -> None:
    client = RefusingClient("namespace not found")
    sessions = Sessions(client, Settings())  # type: ignore[arg-type]
    request = ResearchInput(question="q", indexed=True, tenant="alpha")
    with pytest.raises(RPCError, match="namespace not found"):
        await sessions._start_owned(ResearchWorkflow.run, request, request, id="s-1")
    assert len(client.starts) == 1


def test_unindexed_servers_get_the_memo_only() -> None:
    interactive = tenant_options(ResearchInput(question="q", tenant="beta"))
    assert interactive == {
        "memo": {"tenant": "beta"},
        "priority": Priority(priority_key=INTERACTIVE_PRIORITY, fairness_key="beta"),
    }
    batch = tenant_options(ResearchInput(question="q", tenant="beta"), BATCH_PRIORITY)
    assert batch["priority"].priority_key == BATCH_PRIORITY > INTERACTIVE_PRIORITY
